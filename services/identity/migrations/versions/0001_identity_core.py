"""Identity core: residents, clients, signing keys, login throttles, TOTP used steps,
agent actions, and the outbox/inbox.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

from services.common.outbox import create_tables_in_migration, drop_tables_in_migration

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    create_tables_in_migration(op)
    op.create_table(
        "residents",
        sa.Column("resident_id", sa.String(12), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("password_hash", sa.String(200)),
        sa.Column("email_verified", sa.Boolean, nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("preferred_language", sa.String(2), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("totp_secret_encrypted", sa.LargeBinary),
        sa.Column("totp_pending_encrypted", sa.LargeBinary),
        sa.Column("email_code_hash", sa.String(100)),
        sa.Column("email_code_expires_at", TZ),
        sa.Column("registered_by", sa.String(10), nullable=False),
        sa.PrimaryKeyConstraint("resident_id", name="pk_residents"),
    )
    op.create_index("uq_residents_email_lower", "residents", [sa.text("lower(email)")], unique=True)
    op.create_table(
        "clients",
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("secret_hash", sa.String(100)),
        sa.Column("redirect_uris", sa.JSON, nullable=False),
        sa.Column("post_logout_redirect_uris", sa.JSON, nullable=False),
        sa.Column("grant_types", sa.JSON, nullable=False),
        sa.Column("scopes", sa.JSON, nullable=False),
        sa.Column("audiences", sa.JSON, nullable=False),
        sa.Column("subject_type", sa.String(10), nullable=False),
        sa.Column("sector_identifier", sa.String(255), nullable=False),
        sa.Column("id_token_signed_response_alg", sa.String(10), nullable=False),
        sa.Column("token_endpoint_auth_method", sa.String(30), nullable=False),
        sa.Column("is_city_client", sa.Boolean, nullable=False),
        sa.Column("purposes", sa.JSON, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("client_id", name="pk_clients"),
    )
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(64), nullable=False),
        sa.Column("alg", sa.String(10), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("public_jwk", sa.JSON, nullable=False),
        sa.Column("private_key_encrypted", sa.LargeBinary, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("activated_at", TZ),
        sa.Column("retired_at", TZ),
        sa.Column("not_after", TZ),
        sa.PrimaryKeyConstraint("kid", name="pk_signing_keys"),
    )
    for state in ("current", "next"):
        op.create_index(f"uq_signing_keys_{state}", "signing_keys", ["alg"], unique=True,
                        sqlite_where=sa.text(f"state = '{state}'"),
                        postgresql_where=sa.text(f"state = '{state}'"))
    op.create_table(
        "login_throttles",
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_failure_at", TZ),
        sa.PrimaryKeyConstraint("key", name="pk_login_throttles"),
    )
    op.create_table(
        "totp_used_steps",
        sa.Column("resident_id", sa.String(12), nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("used_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("resident_id", "step", name="pk_totp_used_steps"),
    )
    op.create_table(
        "agent_actions",
        sa.Column("action_id", sa.String(36), nullable=False),
        sa.Column("agent_id", sa.String(200), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("resident_id", sa.String(12), nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("action_id", name="pk_agent_actions"),
    )
    op.create_index("ix_agent_actions_resident_id", "agent_actions", ["resident_id"])


def downgrade() -> None:
    op.drop_index("ix_agent_actions_resident_id", table_name="agent_actions")
    for table in ("agent_actions", "totp_used_steps", "login_throttles"):
        op.drop_table(table)
    for state in ("current", "next"):
        op.drop_index(f"uq_signing_keys_{state}", table_name="signing_keys")
    op.drop_table("signing_keys")
    op.drop_table("clients")
    op.drop_index("uq_residents_email_lower", table_name="residents")
    op.drop_table("residents")
    drop_tables_in_migration(op)
