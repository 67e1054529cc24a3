"""consent: purpose versions are immutable (a new wording is a new version)

Revision ID: 0002
Revises: 0001
A consent points at the exact wording the resident saw (purpose_id, version, and its
SHA-256 in the ledger leaf); the database refuses to change or delete a version, the same
way it refuses to rewrite the ledger.
"""
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE TRIGGER purposes_append_only BEFORE UPDATE OR DELETE ON purposes "
                   "FOR EACH ROW EXECUTE FUNCTION consent_append_only()")
        op.execute("CREATE TRIGGER purposes_no_truncate BEFORE TRUNCATE ON purposes "
                   "FOR EACH STATEMENT EXECUTE FUNCTION consent_append_only()")
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER purposes_no_{action.lower()} BEFORE {action} ON purposes "
                       f"BEGIN SELECT RAISE(ABORT, 'purpose versions are immutable'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS purposes_append_only ON purposes")
        op.execute("DROP TRIGGER IF EXISTS purposes_no_truncate ON purposes")
    else:
        for action in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS purposes_no_{action}")
