"""Issue 15: the repeat window of releases shared by every identity process.

- ``release_windows``: per window key (SHA-256 of channel, client, resident and categories:
  no identifier in clear), when the last record of that repeated read was written. A read
  records only if it can claim the key (insert, or update a row older than the window) in
  the transaction that writes ``data_released``: replicas and workers share the window.
  Rows older than a day are purged by identity's maintenance.
- ``oauth_codes.resident_id`` indexed: a withdrawal, "end the connection", a closure or
  "this was not me" looks up the grant families of the resident's recent codes, whose access
  tokens it revokes (``tokens_revoked``).

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "release_windows",
        sa.Column("window_key", sa.String(64), primary_key=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_release_windows_recorded_at", "release_windows", ["recorded_at"])
    # the grant families a resident's codes started (access tokens to revoke on withdrawal)
    op.create_index("ix_oauth_codes_resident_id", "oauth_codes", ["resident_id"])


def downgrade() -> None:
    op.drop_index("ix_oauth_codes_resident_id", table_name="oauth_codes")
    op.drop_index("ix_release_windows_recorded_at", table_name="release_windows")
    op.drop_table("release_windows")
