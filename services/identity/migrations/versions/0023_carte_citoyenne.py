"""The carte citoyenne (issue 23): offers, card access tokens, issued cards.

- ``card_offers``: a Credential Offer's pre-authorized code and transaction code, as SHA-256
  hashes only (OpenID4VCI 1.0 s. 4.1.1); single use, ten minutes, three wrong codes; the
  holder's attributes Mon compte read from accounts, sealed with the key-encryption key
  (``holder_sealed``), kept while the wallet may renew the card (``refresh_hash``, a
  refresh token's hash, until ``renewable_until``; a renewal must prove the wallet key of the
  first card, ``wallet_jkt``) and erased at revocation.
- ``card_access_tokens``: the access token the token endpoint gave for the offer (hash only).
- ``issued_cards``: one row per card issued: its status list index (unique: one bit per card
  in the Token Status List), lifetime and revocation. No claim value is stored: the card
  itself lives only in the resident's wallet.

Revision ID: 0023
Revises: 0021
"""
import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "card_offers",
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("tx_code_hash", sa.String(64), nullable=False),
        sa.Column("resident_id", sa.String(32), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("holder_sealed", sa.LargeBinary),
        sa.Column("used", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("failed_attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("refresh_hash", sa.String(64)),
        sa.Column("renewable_until", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("wallet_jkt", sa.String(64)),
        sa.PrimaryKeyConstraint("code_hash", name="pk_card_offers"),
        sa.UniqueConstraint("refresh_hash", name="uq_card_offers_refresh_hash"),
    )
    op.create_index("ix_card_offers_resident_id", "card_offers", ["resident_id"])
    op.create_table(
        "card_access_tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("resident_id", sa.String(32), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("offer_code_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name="pk_card_access_tokens"),
    )
    op.create_table(
        "issued_cards",
        sa.Column("card_id", sa.String(36), nullable=False),
        sa.Column("resident_id", sa.String(32), nullable=False),
        sa.Column("status_index", sa.Integer, nullable=False),
        sa.Column("issued_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger),
        sa.Column("revoked_reason", sa.String(32)),
        sa.PrimaryKeyConstraint("card_id", name="pk_issued_cards"),
        sa.UniqueConstraint("status_index", name="uq_issued_cards_status_index"),
    )
    op.create_index("ix_issued_cards_resident_id", "issued_cards", ["resident_id"])


def downgrade() -> None:
    op.drop_index("ix_issued_cards_resident_id", table_name="issued_cards")
    op.drop_table("issued_cards")
    op.drop_table("card_access_tokens")
    op.drop_index("ix_card_offers_resident_id", table_name="card_offers")
    op.drop_table("card_offers")
