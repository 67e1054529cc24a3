"""A resident's account life (issue 21): changing the sign-in address, closing the account
(and reopening it at a counter), and "this was not me".

- ``residents``: the new address waiting for its code (``pending_email`` and the code's hash
  and expiry, apart from the confirmation/reset code so neither cancels the other),
  ``password_change_required`` (after "this was not me": the next sign-in must choose a new
  password), ``closed_at`` (closed at the resident's request; ``disabled`` stays the switch
  that refuses sign-in).
- ``resident_closures``: the kept record of each closure (the receipt's number) and of its
  reopening at a counter, by which agent.
- ``security_reports``: each "this was not me", with what it ended.

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Plain ADD COLUMN (SQLite has it natively): a batch "move and copy" would rebuild the
    # table without its expression index on lower(email), which SQLite cannot reflect.
    op.add_column("residents", sa.Column("pending_email", sa.String(254)))
    op.add_column("residents", sa.Column("pending_email_code_hash", sa.String(100)))
    op.add_column("residents", sa.Column("pending_email_expires_at", TZ))
    op.add_column("residents", sa.Column("password_change_required", sa.Boolean, nullable=False,
                                         server_default=sa.false()))
    op.add_column("residents", sa.Column("closed_at", TZ))
    op.create_table(
        "resident_closures",
        sa.Column("closure_id", sa.String(36), nullable=False),
        sa.Column("resident_id", sa.String(12), nullable=False),
        sa.Column("closed_at", TZ, nullable=False),
        sa.Column("closed_by", sa.String(20), nullable=False),
        sa.Column("reopened_at", TZ),
        sa.Column("reopened_by", sa.String(200)),
        sa.PrimaryKeyConstraint("closure_id", name="pk_resident_closures"),
    )
    op.create_index("ix_resident_closures_resident_id", "resident_closures", ["resident_id"])
    op.create_table(
        "security_reports",
        sa.Column("report_id", sa.String(36), nullable=False),
        sa.Column("resident_id", sa.String(12), nullable=False),
        sa.Column("reported_at", TZ, nullable=False),
        sa.Column("session_id", sa.String(36)),
        sa.Column("sessions_ended", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("report_id", name="pk_security_reports"),
    )
    op.create_index("ix_security_reports_resident_id", "security_reports", ["resident_id"])


def downgrade() -> None:
    op.drop_index("ix_security_reports_resident_id", table_name="security_reports")
    op.drop_table("security_reports")
    op.drop_index("ix_resident_closures_resident_id", table_name="resident_closures")
    op.drop_table("resident_closures")
    for column in ("closed_at", "password_change_required", "pending_email_expires_at",
                   "pending_email_code_hash", "pending_email"):
        op.drop_column("residents", column)
