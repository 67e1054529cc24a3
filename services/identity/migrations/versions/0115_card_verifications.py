"""The carte citoyenne's online verification (issue 23, OpenID4VP 1.0): one row per request a
borough system made.

- ``card_verifications``: the transaction id the borough system fetches its result by, the
  client that asked, the claims asked (a DCQL query of one credential), the nonce and the
  ``state`` the wallet must answer with (``request_id``, also the request object's path; no
  secret: whoever scans the QR code reads it), the lifetime (five minutes), and the
  outcome: ``pending``, ``accepted`` (the disclosed values, JSON, until the borough system
  fetched them once; then erased: the values live with the borough system, not here) or
  ``refused`` (a reason). ``resident_id`` is the card's holder, found by its status index
  once the presentation verified; it is what the consent ledger's access is recorded for.

Revision ID: 0115
Revises: 0023
"""
import sqlalchemy as sa
from alembic import op

revision = "0115"
down_revision = "0100"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "card_verifications",
        sa.Column("transaction_id", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("claims", sa.String(400), nullable=False),
        sa.Column("purpose", sa.String(200), nullable=False, server_default=""),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("reason", sa.String(40)),
        sa.Column("disclosed", sa.Text),
        sa.Column("resident_id", sa.String(32)),
        sa.Column("answered_at", sa.BigInteger),
        sa.Column("delivered_at", sa.BigInteger),
        sa.PrimaryKeyConstraint("transaction_id", name="pk_card_verifications"),
        sa.UniqueConstraint("request_id", name="uq_card_verifications_request_id"),
    )
    op.create_index("ix_card_verifications_expires_at", "card_verifications", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_card_verifications_expires_at", table_name="card_verifications")
    op.drop_table("card_verifications")
