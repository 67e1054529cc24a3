"""Issue 20's provider changes. Logout everywhere (OpenID Connect Back-Channel Logout 1.0,
Front-Channel Logout 1.0): the clients' logout URIs, which clients each SSO session signed in
to, and the back-channel deliveries (durable, retried with backoff, recorded). Stronger client
authentication (``private_key_jwt``, RFC 7523): the clients' public keys (``jwks`` or
``jwks_uri``) and the client assertions' ``jti`` already used (replay protection). Pushed
authorization requests (RFC 9126): the pushed requests, and a per-client flag requiring them.

Revision ID: 0009
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0006"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("backchannel_logout_uri", sa.String(2048), nullable=False, server_default=""))
        batch.add_column(sa.Column("frontchannel_logout_uri", sa.String(2048), nullable=False, server_default=""))
        batch.add_column(sa.Column("jwks", sa.JSON))
        batch.add_column(sa.Column("jwks_uri", sa.String(2048), nullable=False, server_default=""))
        batch.add_column(sa.Column("require_pushed_authorization_requests", sa.Boolean, nullable=False,
                                   server_default=sa.false()))

    op.create_table(
        "oauth_pushed_requests",
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("request_hash", name="pk_oauth_pushed_requests"),
    )
    op.create_index("ix_oauth_pushed_requests_expires_at", "oauth_pushed_requests", ["expires_at"])

    op.create_table(
        "oauth_client_assertions",
        sa.Column("jti", sa.String(200), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("client_id", "jti", name="pk_oauth_client_assertions"),
    )
    op.create_index("ix_oauth_client_assertions_expires_at", "oauth_client_assertions", ["expires_at"])

    op.create_table(
        "oauth_session_clients",
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("session_id", "client_id", name="pk_oauth_session_clients"),
    )

    op.create_table(
        "oauth_logout_deliveries",
        sa.Column("delivery_id", sa.String(36), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("resident_id", sa.String(12), nullable=False),
        sa.Column("uri", sa.String(2048), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("delivered_at", TS),
        sa.Column("gave_up_at", TS),
        sa.Column("last_error", sa.String(200), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("delivery_id", name="pk_oauth_logout_deliveries"),
    )
    op.create_index("ix_oauth_logout_deliveries_next_attempt_at", "oauth_logout_deliveries", ["next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_oauth_logout_deliveries_next_attempt_at", "oauth_logout_deliveries")
    op.drop_table("oauth_logout_deliveries")
    op.drop_table("oauth_session_clients")
    op.drop_index("ix_oauth_pushed_requests_expires_at", "oauth_pushed_requests")
    op.drop_table("oauth_pushed_requests")
    op.drop_index("ix_oauth_client_assertions_expires_at", "oauth_client_assertions")
    op.drop_table("oauth_client_assertions")
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("require_pushed_authorization_requests")
        batch.drop_column("jwks_uri")
        batch.drop_column("jwks")
        batch.drop_column("frontchannel_logout_uri")
        batch.drop_column("backchannel_logout_uri")
