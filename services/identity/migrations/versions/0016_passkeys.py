"""Passkeys (issue 20): WebAuthn credentials of residents and of counter agents, and the
challenges of the ceremonies in progress.

- ``passkeys``: one row per credential (``credential_id``, unique across residents and
  agents: the authenticator chose it), whose it is (``owner_kind`` resident | agent,
  ``owner_id``), its COSE public key, the signature counter (clone detection, WebAuthn L3
  s. 6.1.1), whether it is synced (``multi_device``: the "backup eligible" flag), the name
  the owner gave it, when it was added and last used.
- ``webauthn_challenges``: each challenge handed to a browser (WebAuthn L3 s. 13.4.3: random,
  at least 16 bytes, used once), what it is for and for whom, until it expires; deleted when
  used, so a response can be verified once only.

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "passkeys",
        sa.Column("credential_id", sa.String(1400), nullable=False),
        sa.Column("owner_kind", sa.String(10), nullable=False),
        sa.Column("owner_id", sa.String(12), nullable=False),
        sa.Column("public_key", sa.LargeBinary, nullable=False),
        sa.Column("sign_count", sa.BigInteger, nullable=False),
        sa.Column("multi_device", sa.Boolean, nullable=False),
        sa.Column("transports", sa.JSON, nullable=False),
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("last_used_at", TZ),
        sa.PrimaryKeyConstraint("credential_id", name="pk_passkeys"),
    )
    op.create_index("ix_passkeys_owner", "passkeys", ["owner_kind", "owner_id"])
    op.create_table(
        "webauthn_challenges",
        sa.Column("challenge", sa.String(100), nullable=False),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("subject", sa.String(40)),
        sa.Column("expires_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("challenge", name="pk_webauthn_challenges"),
    )
    op.create_index("ix_webauthn_challenges_expires_at", "webauthn_challenges", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_webauthn_challenges_expires_at", table_name="webauthn_challenges")
    op.drop_table("webauthn_challenges")
    op.drop_index("ix_passkeys_owner", table_name="passkeys")
    op.drop_table("passkeys")
