"""OpenID provider: authorization codes, refresh-token families, grants, SSO sessions,
revoked access-token ids.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "oauth_codes",
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("resident_id", sa.String(12), nullable=False),
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("redirect_uri", sa.String(2048), nullable=False),
        sa.Column("scope", sa.String(1024), nullable=False),
        sa.Column("code_challenge", sa.String(128), nullable=False),
        sa.Column("code_challenge_method", sa.String(10), nullable=False),
        sa.Column("nonce", sa.String(512)),
        sa.Column("auth_time", sa.Integer, nullable=False),
        sa.Column("acr", sa.String(40), nullable=False),
        sa.Column("amr", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("consumed_at", TS),
        sa.Column("family_id", sa.String(36)),
        sa.PrimaryKeyConstraint("code_hash", name="pk_oauth_codes"),
    )
    op.create_index("ix_oauth_codes_expires_at", "oauth_codes", ["expires_at"])

    op.create_table(
        "oauth_refresh_tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("family_id", sa.String(36), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("resident_id", sa.String(12), nullable=False),
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("scope", sa.String(1024), nullable=False),
        sa.Column("auth_time", sa.Integer, nullable=False),
        sa.Column("acr", sa.String(40), nullable=False),
        sa.Column("amr", sa.JSON, nullable=False),
        sa.Column("issued_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name="pk_oauth_refresh_tokens"),
    )
    op.create_index("ix_oauth_refresh_tokens_family_id", "oauth_refresh_tokens", ["family_id"])
    op.create_index("ix_oauth_refresh_tokens_resident_id", "oauth_refresh_tokens", ["resident_id"])
    op.create_index("ix_oauth_refresh_tokens_session_id", "oauth_refresh_tokens", ["session_id"])

    op.create_table(
        "oauth_grants",
        sa.Column("grant_id", sa.String(36), nullable=False),
        sa.Column("resident_id", sa.String(12), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("scopes", sa.JSON, nullable=False),
        sa.Column("scopes_refused", sa.JSON, nullable=False),
        sa.Column("purposes_accepted", sa.JSON, nullable=False),
        sa.Column("purposes_refused", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("withdrawn_at", TS),
        sa.PrimaryKeyConstraint("grant_id", name="pk_oauth_grants"),
    )
    op.create_index("ix_oauth_grants_resident_client", "oauth_grants", ["resident_id", "client_id"])

    op.create_table(
        "sso_sessions",
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("resident_id", sa.String(12), nullable=False),
        sa.Column("auth_time", sa.Integer, nullable=False),
        sa.Column("amr", sa.JSON, nullable=False),
        sa.Column("acr", sa.String(40), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("ended_at", TS),
        sa.PrimaryKeyConstraint("session_id", name="pk_sso_sessions"),
        sa.UniqueConstraint("secret_hash", name="uq_sso_sessions_secret_hash"),
    )
    op.create_index("ix_sso_sessions_resident_id", "sso_sessions", ["resident_id"])

    op.create_table(
        "revoked_access_tokens",
        sa.Column("jti", sa.String(64), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("jti", name="pk_revoked_access_tokens"),
    )
    op.create_index("ix_revoked_access_tokens_expires_at", "revoked_access_tokens", ["expires_at"])


def downgrade() -> None:
    for index, table in (("ix_revoked_access_tokens_expires_at", "revoked_access_tokens"),
                         ("ix_sso_sessions_resident_id", "sso_sessions"),
                         ("ix_oauth_grants_resident_client", "oauth_grants"),
                         ("ix_oauth_refresh_tokens_session_id", "oauth_refresh_tokens"),
                         ("ix_oauth_refresh_tokens_resident_id", "oauth_refresh_tokens"),
                         ("ix_oauth_refresh_tokens_family_id", "oauth_refresh_tokens"),
                         ("ix_oauth_codes_expires_at", "oauth_codes")):
        op.drop_index(index, table_name=table)
    for table in ("revoked_access_tokens", "sso_sessions", "oauth_grants", "oauth_refresh_tokens", "oauth_codes"):
        op.drop_table(table)
