"""The office in accounts' counter journal (issue 17: every agent action is journaled with the
agent, the client and the office). ``agent_actions.office``: the access token's ``office``
claim (token exchange), "" for lines written before this revision or when the agent's system
gives none.

Revision ID: 0006
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agent_actions") as batch:
        batch.add_column(sa.Column("office", sa.String(100), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("agent_actions") as batch:
        batch.drop_column("office")
