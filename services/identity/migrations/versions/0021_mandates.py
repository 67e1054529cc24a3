"""Signing in on someone's behalf under a mandate (issue 22, docs/mandates.md): a client flag
(the relying party accepts it; without it, never a represented resident) and, on an
authorization code, the represented resident, the mandate and the RFC 9396 authorization
details its tokens carry.

Revision ID: 0021
Revises: 0018
"""
import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("clients", sa.Column("accepts_mandates", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("oauth_codes", sa.Column("represented_id", sa.String(12)))
    op.add_column("oauth_codes", sa.Column("mandate_id", sa.String(36)))
    op.add_column("oauth_codes", sa.Column("authorization_details", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("oauth_codes") as batch:
        batch.drop_column("authorization_details")
        batch.drop_column("mandate_id")
        batch.drop_column("represented_id")
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("accepts_mandates")
