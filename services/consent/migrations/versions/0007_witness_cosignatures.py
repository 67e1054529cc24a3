"""consent: witnesses' cosignatures of the ledger's tree heads

Revision ID: 0007
Revises: 0004
One row per (tree size, witness): the C2SP cosignature/v1 a configured witness gave for the
checkpoint of that size, verified before it is stored (services/consent/domain/witness.py,
LEDGER.md "Witnesses"). The root is kept with it so the published note can be rebuilt
without recomputing the tree. Rows are only added (a witness cosigning the same size again
replaces nothing).
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ledger_cosignatures',
                    sa.Column('tree_size', sa.BigInteger(), autoincrement=False, nullable=False),
                    sa.Column('witness', sa.String(length=100), nullable=False),
                    sa.Column('key_id', sa.LargeBinary(length=4), nullable=False),
                    sa.Column('root_hash', sa.LargeBinary(length=32), nullable=False),
                    sa.Column('cosigned_at', sa.BigInteger(), nullable=False),
                    sa.Column('signature', sa.LargeBinary(length=64), nullable=False),
                    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
                    sa.PrimaryKeyConstraint('tree_size', 'witness', name=op.f('pk_ledger_cosignatures')))


def downgrade() -> None:
    op.drop_table('ledger_cosignatures')
