"""Grants remember the categories ticked per purpose; the sign-in history.

- ``oauth_grants.purpose_categories``: {purpose: [categories]} exactly as the resident ticked
  them on the consent screen (Law 25: what is recorded is what was ticked), so a later
  withdrawal of one purpose narrows what the client receives.
- ``sign_ins``: every sign-in of a resident (when, which service, how, the level reached,
  refused or not) for the resident's own history in Mon compte and the export. No address,
  no device fingerprint: the security use (recognising a sign-in that was not theirs) needs no
  more. Kept 12 months (``services/identity/README.md``).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("oauth_grants") as batch:
        batch.add_column(sa.Column("purpose_categories", sa.JSON, nullable=True))
    op.create_table(
        "sign_ins",
        sa.Column("sign_in_id", sa.String(36), nullable=False),
        sa.Column("resident_id", sa.String(12), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client_id", sa.String(64)),
        sa.Column("client_name", sa.String(200)),
        sa.Column("methods", sa.JSON, nullable=False),
        sa.Column("acr", sa.String(40)),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(40)),
        sa.PrimaryKeyConstraint("sign_in_id", name="pk_sign_ins"),
    )
    op.create_index("ix_sign_ins_resident_time", "sign_ins", ["resident_id", "occurred_at"])
    op.create_index("ix_sign_ins_occurred_at", "sign_ins", ["occurred_at"])


def downgrade() -> None:
    op.drop_index("ix_sign_ins_occurred_at", table_name="sign_ins")
    op.drop_index("ix_sign_ins_resident_time", table_name="sign_ins")
    op.drop_table("sign_ins")
    with op.batch_alter_table("oauth_grants") as batch:
        batch.drop_column("purpose_categories")
