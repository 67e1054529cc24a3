"""Recovery codes (issue 20): ten single-use codes a resident keeps on paper, usable in place
of the second factor when the phone is lost (NIST SP 800-63B s. 5.1.2, look-up secrets).

- ``recovery_codes``: one row per code, only its keyed hash (HMAC-SHA-256 with a key derived
  from the key-encryption key, bound to the resident); ``used_at`` set once, never cleared.
  A new set replaces the old one (the old rows are deleted).

Revision ID: 0015
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0012"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "recovery_codes",
        sa.Column("resident_id", sa.String(12), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("used_at", TZ),
        sa.PrimaryKeyConstraint("resident_id", "code_hash", name="pk_recovery_codes"),
    )


def downgrade() -> None:
    op.drop_table("recovery_codes")
