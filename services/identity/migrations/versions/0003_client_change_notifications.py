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

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
        CREATE FUNCTION mtlid_notify_client_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'TRUNCATE' THEN
                PERFORM pg_notify('mtlid_clients_changed', '');
            ELSIF TG_OP = 'DELETE' THEN
                PERFORM pg_notify('mtlid_clients_changed', OLD.client_id);
            ELSE
                PERFORM pg_notify('mtlid_clients_changed', NEW.client_id);
                IF TG_OP = 'UPDATE' AND NEW.client_id <> OLD.client_id THEN
                    PERFORM pg_notify('mtlid_clients_changed', OLD.client_id);
                END IF;
            END IF;
            RETURN NULL;
        END $$""")
    op.execute("CREATE TRIGGER clients_changed AFTER INSERT OR UPDATE OR DELETE ON clients"
               " FOR EACH ROW EXECUTE FUNCTION mtlid_notify_client_changed()")
    op.execute("CREATE TRIGGER clients_truncated AFTER TRUNCATE ON clients"
               " FOR EACH STATEMENT EXECUTE FUNCTION mtlid_notify_client_changed()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS clients_truncated ON clients")
    op.execute("DROP TRIGGER IF EXISTS clients_changed ON clients")
    op.execute("DROP FUNCTION IF EXISTS mtlid_notify_client_changed()")
