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

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
        CREATE FUNCTION mtlid_notify_service_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'TRUNCATE' THEN
                PERFORM pg_notify('mtlid_services_changed', '');
            ELSIF TG_OP = 'DELETE' THEN
                PERFORM pg_notify('mtlid_services_changed', OLD.service_id);
            ELSE
                PERFORM pg_notify('mtlid_services_changed', NEW.service_id);
                IF TG_OP = 'UPDATE' AND NEW.service_id <> OLD.service_id THEN
                    PERFORM pg_notify('mtlid_services_changed', OLD.service_id);
                END IF;
            END IF;
            RETURN NULL;
        END $$""")
    op.execute("CREATE TRIGGER services_changed AFTER INSERT OR UPDATE OR DELETE ON services"
               " FOR EACH ROW EXECUTE FUNCTION mtlid_notify_service_changed()")
    op.execute("CREATE TRIGGER services_truncated AFTER TRUNCATE ON services"
               " FOR EACH STATEMENT EXECUTE FUNCTION mtlid_notify_service_changed()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS services_truncated ON services")
    op.execute("DROP TRIGGER IF EXISTS services_changed ON services")
    op.execute("DROP FUNCTION IF EXISTS mtlid_notify_service_changed()")
