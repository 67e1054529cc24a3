"""The carte citoyenne's key rotation (issue 23): each issued card names the card key that
signed it (``issued_cards.kid``), so the issuer publishes an earlier key while a card it
signed is still valid, and no longer. Cards issued before this revision have none: the first
generation signed them.

Revision ID: 0116
Revises: 0115
"""
import sqlalchemy as sa
from alembic import op

revision = "0116"
down_revision = "0115"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("issued_cards") as batch:
        batch.add_column(sa.Column("kid", sa.String(64)))
    op.create_index("ix_issued_cards_expires_at", "issued_cards", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_issued_cards_expires_at", table_name="issued_cards")
    with op.batch_alter_table("issued_cards") as batch:
        batch.drop_column("kid")
