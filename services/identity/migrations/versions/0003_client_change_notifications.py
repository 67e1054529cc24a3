"""PostgreSQL: a notification on channel ``mtlid_clients_changed`` whenever a client row
changes, so every replica's client cache forgets it at once (``adapters/hot_reads.py``).

The payload is the ``client_id`` (empty for TRUNCATE: forget everything). ``pg_notify`` is
delivered when the writing transaction commits, never before, never for a rollback
(PostgreSQL docs, NOTIFY). SQLite has no notifications: there identity reads the client on
every request (a local primary-key read), so nothing is needed.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

from services.common.migrations import create_change_notifications, drop_change_notifications

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_change_notifications(op, table="clients", key="client_id", channel="mtlid_clients_changed")


def downgrade() -> None:
    drop_change_notifications(op, table="clients")
