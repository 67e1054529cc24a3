"""The counter, for everyone (issue 17): staff agents and their sessions kept apart from
residents; the office in the agents' journal; residents enrolled at a counter without an
e-mail address, with a one-time activation code printed on their letter.

- ``agents``: staff accounts (never deleted: disabled), password (argon2id) and TOTP secret
  (AES-GCM with the KEK), ``last_totp_step`` so a code is accepted once (RFC 6238 s. 5.2);
- ``agent_sessions``: an agent's sign-in at the identity front (8 h at most, 15 min idle);
- ``agent_actions.office``: every agent action names the office it was done from;
- ``residents.email`` becomes optional (NULLs do not collide in the unique index on
  ``lower(email)``, on SQLite as on PostgreSQL); ``activation_code_hash`` / ``_expires_at``.

Revision ID: 0006
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("agent_id", sa.String(12), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("office", sa.String(100), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("totp_secret_encrypted", sa.LargeBinary, nullable=False),
        sa.Column("last_totp_step", sa.BigInteger),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("disabled_at", TZ),
        sa.PrimaryKeyConstraint("agent_id", name="pk_agents"),
    )
    op.create_index("uq_agents_email_lower", "agents", [sa.text("lower(email)")], unique=True)
    op.create_table(
        "agent_sessions",
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("agent_id", sa.String(12), nullable=False),
        sa.Column("amr", sa.JSON, nullable=False),
        sa.Column("auth_time", sa.BigInteger, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("last_seen_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("ended_at", TZ),
        sa.PrimaryKeyConstraint("session_id", name="pk_agent_sessions"),
    )
    op.create_index("ix_agent_sessions_secret_hash", "agent_sessions", ["secret_hash"], unique=True)
    op.create_index("ix_agent_sessions_agent_id", "agent_sessions", ["agent_id"])
    with op.batch_alter_table("agent_actions") as batch:
        batch.add_column(sa.Column("office", sa.String(100)))
    op.create_index("ix_agent_actions_agent_id", "agent_actions", ["agent_id"])
    op.create_index("ix_agent_actions_created_at", "agent_actions", ["created_at"])
    # The expression index is dropped around the batch (SQLite rebuilds the table) and made again.
    op.drop_index("uq_residents_email_lower", table_name="residents")
    with op.batch_alter_table("residents") as batch:
        batch.alter_column("email", existing_type=sa.String(254), nullable=True)
        batch.add_column(sa.Column("activation_code_hash", sa.String(100)))
        batch.add_column(sa.Column("activation_code_expires_at", TZ))
    op.create_index("uq_residents_email_lower", "residents", [sa.text("lower(email)")], unique=True)


def downgrade() -> None:
    op.drop_index("uq_residents_email_lower", table_name="residents")
    with op.batch_alter_table("residents") as batch:
        batch.drop_column("activation_code_expires_at")
        batch.drop_column("activation_code_hash")
        batch.alter_column("email", existing_type=sa.String(254), nullable=False)
    op.create_index("uq_residents_email_lower", "residents", [sa.text("lower(email)")], unique=True)
    op.drop_index("ix_agent_actions_created_at", table_name="agent_actions")
    op.drop_index("ix_agent_actions_agent_id", table_name="agent_actions")
    with op.batch_alter_table("agent_actions") as batch:
        batch.drop_column("office")
    op.drop_index("ix_agent_sessions_agent_id", table_name="agent_sessions")
    op.drop_index("ix_agent_sessions_secret_hash", table_name="agent_sessions")
    op.drop_table("agent_sessions")
    op.drop_index("uq_agents_email_lower", table_name="agents")
    op.drop_table("agents")
