"""consent: the ledger's signing key can be rotated

Revision ID: 0010
Revises: 0007
``log_keys.announcement``: for every key after the first, the compact JWS by which the key
it replaces hands over to it (``mtlid ledger rotate-key``; typ
``mtlid-log-key-rotation+json``, LEDGER.md "Key rotation"). The key that signs is the newest
announced one (none announced: the oldest key, as before). Published with the keys, so a
witness that pinned the old key follows the rotation by verifying the announcement.
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('log_keys') as batch:
        batch.add_column(sa.Column('announcement', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('log_keys') as batch:
        batch.drop_column('announcement')
