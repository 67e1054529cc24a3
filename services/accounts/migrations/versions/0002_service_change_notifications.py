"""PostgreSQL: a notification on channel ``mtlid_services_changed`` whenever a catalogue row
changes, so every replica's in-memory copy of that service is forgotten at once
(``adapters/release_reads.py``): a retired service stops releasing attributes on every
replica as soon as the change commits.

The payload is the ``service_id`` (empty for TRUNCATE: forget everything). ``pg_notify`` is
delivered when the writing transaction commits, never before, never for a rollback
(PostgreSQL docs, NOTIFY). SQLite has no notifications: there the release reads the service
on every call (a local primary-key read), so nothing is needed.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

from services.common.migrations import create_change_notifications, drop_change_notifications

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_change_notifications(op, table="services", key="service_id", channel="mtlid_services_changed")


def downgrade() -> None:
    drop_change_notifications(op, table="services")
