"""Organizations registered with the city (issue 22, docs/mandates.md "Organizations"): the
organization's number (the citizen number's shape, its own series), name, kind, and its
Québec enterprise number (NEQ) as an external reference only (unique when given: an
organization is registered once).

Revision ID: 0100
Revises: 0023
"""
import sqlalchemy as sa
from alembic import op

revision = "0100"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("organization_id", sa.String(12), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("neq", sa.String(10)),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("registered_by", sa.String(64), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("organization_id", name="pk_organizations"),
        sa.UniqueConstraint("neq", name="uq_organizations_neq"),
    )


def downgrade() -> None:
    op.drop_table("organizations")
