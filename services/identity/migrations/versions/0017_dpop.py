"""DPoP (RFC 9449, issue 20).

- ``clients.dpop_bound_access_tokens`` (s. 5.2): the client must send a DPoP proof with
  every token request, so all its tokens are sender-constrained.
- ``oauth_refresh_tokens.dpop_jkt``: the key a public client's refresh token is bound to
  (s. 5); rotation keeps it, so the whole family answers only to that key.
- ``oauth_codes.dpop_jkt``: the key an authorization request named (``dpop_jkt``, s. 10);
  the code is redeemable only with a proof by it.
- ``oauth_dpop_proofs``: proofs already used (s. 11.1), the hash of key thumbprint and
  ``jti``, kept until the proof is too old to be accepted anyway; shared by every replica.

Revision ID: 0017
Revises: 0016
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("dpop_bound_access_tokens", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
    op.add_column("oauth_refresh_tokens", sa.Column("dpop_jkt", sa.String(64)))
    op.add_column("oauth_codes", sa.Column("dpop_jkt", sa.String(64)))
    op.create_table(
        "oauth_dpop_proofs",
        sa.Column("proof_key", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("proof_key", name="pk_oauth_dpop_proofs"),
    )
    op.create_index("ix_oauth_dpop_proofs_expires_at", "oauth_dpop_proofs", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_oauth_dpop_proofs_expires_at", table_name="oauth_dpop_proofs")
    op.drop_table("oauth_dpop_proofs")
    op.drop_column("oauth_codes", "dpop_jkt")
    op.drop_column("oauth_refresh_tokens", "dpop_jkt")
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("dpop_bound_access_tokens")
