"""The sign-in history names the session each sign-in opened or used, so "this was not me"
from an entry of the history names it even after the session ended (issue 21).

Revision ID: 0018
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sign_ins", sa.Column("session_id", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("sign_ins") as batch:
        batch.drop_column("session_id")
