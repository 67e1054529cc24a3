"""consent: a catalogue version, bumped by the database on every catalogue change

Revision ID: 0003
Revises: 0002
Check keeps the catalogue (purposes, data categories, recipients) in memory and reads this
single row in the same statement as the resident's consent entries
(services/consent/adapters/reads.py): a cached catalogue older than the version that
statement saw is reloaded before deciding. Triggers, not application code, bump the
version, so every path that changes the catalogue — the service, another replica, a later
migration, an operator's SQL — is seen by the very next Check of every replica.
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

CATALOGUE = ("purposes", "data_categories", "recipients")


def upgrade() -> None:
    op.create_table('catalogue_version',
                    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
                    sa.Column('version', sa.BigInteger(), nullable=False),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalogue_version')))
    op.bulk_insert(sa.table("catalogue_version", sa.column("id", sa.Integer), sa.column("version", sa.BigInteger)),
                   [{"id": 1, "version": 1}])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION consent_catalogue_changed() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              UPDATE catalogue_version SET version = version + 1 WHERE id = 1;
              RETURN NULL;
            END $$""")
        for table in CATALOGUE:
            op.execute(f"CREATE TRIGGER {table}_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION consent_catalogue_changed()")
    else:
        for table in CATALOGUE:
            for action in ("INSERT", "UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {table}_{action.lower()}_changed AFTER {action} ON {table} "
                           f"BEGIN UPDATE catalogue_version SET version = version + 1 WHERE id = 1; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in CATALOGUE:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_changed ON {table}")
        op.execute("DROP FUNCTION IF EXISTS consent_catalogue_changed()")
    else:
        for table in CATALOGUE:
            for action in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_{action}_changed")
    op.drop_table('catalogue_version')
