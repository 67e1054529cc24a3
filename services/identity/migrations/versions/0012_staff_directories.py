"""A borough system's own staff directory (issue 17): a token-exchange client may name the
issuer of its staff directory and that directory's public keys (a JWK Set, or the URL where it
publishes them); the directory's signed tokens about its staff are then accepted as the
``subject_token`` of the exchange (RFC 8693 s. 2.1).

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("clients", sa.Column("staff_directory_issuer", sa.String(2048), nullable=False, server_default=""))
    op.add_column("clients", sa.Column("staff_directory_jwks", sa.JSON))
    op.add_column("clients", sa.Column("staff_directory_jwks_uri", sa.String(2048), nullable=False,
                                       server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("staff_directory_jwks_uri")
        batch.drop_column("staff_directory_jwks")
        batch.drop_column("staff_directory_issuer")
