"""Issue 21: the sign-in history names the session each sign-in opened or used, so "this was
not me" from an entry of the history names it even after the session ended; and a closed
account's personal data is purged after the retention period (``residents.purged_at``,
``service_layer/closed_accounts.py``).

Revision ID: 0018
Revises: 0017
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (see 0010: no batch rebuild of residents and its expression index).
    op.add_column("sign_ins", sa.Column("session_id", sa.String(64)))
    op.add_column("residents", sa.Column("purged_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("sign_ins") as batch:
        batch.drop_column("session_id")
    op.drop_column("residents", "purged_at")
