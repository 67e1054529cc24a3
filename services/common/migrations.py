"""Alembic plumbing shared by the services: each service keeps its own migration history.

A service's ``migrations/env.py`` is two lines::

    from services.common.migrations import run_migrations
    from services.consent.adapters.orm import Base
    run_migrations(Base.metadata, service="consent")
"""

from __future__ import annotations

import asyncio
import pathlib
import zlib

from alembic import command, context
from alembic.config import Config
from sqlalchemy import text

from services.common.db import create_engine

SERVICES_DIR = pathlib.Path(__file__).resolve().parent.parent


def alembic_config(service: str, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SERVICES_DIR / service / "migrations"))
    # '%' is ConfigParser interpolation syntax; a password may contain it.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["service"] = service
    return config


def migrate(service: str, url: str, revision: str = "head") -> None:
    """Upgrade a service's database (synchronous: run it in a thread from async code)."""
    command.upgrade(alembic_config(service, url), revision)


async def migrate_async(service: str, url: str) -> None:
    await asyncio.to_thread(migrate, service, url)


def run_migrations(target_metadata, *, service: str) -> None:
    config = context.config
    url = config.get_main_option("sqlalchemy.url")
    options = dict(target_metadata=target_metadata, version_table=f"alembic_version_{service}",
                   render_as_batch=url.startswith("sqlite"), compare_type=True)
    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_online(url, service, options))


async def _run_online(url: str, service: str, options: dict) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                # Two replicas starting at once must not both run the same migration.
                await connection.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                                         {"k": zlib.crc32(f"mtlid-migrate-{service}".encode())})

            def _do(sync_connection):
                context.configure(connection=sync_connection, **options)
                with context.begin_transaction():
                    context.run_migrations()

            await connection.run_sync(_do)
            await connection.commit()
    finally:
        await engine.dispose()


def create_change_notifications(op, *, table: str, key: str, channel: str) -> None:
    """PostgreSQL: ``pg_notify(channel, <key of the row>)`` whenever a row of ``table`` is
    inserted, updated or deleted (an empty payload for TRUNCATE: "forget everything"), for the
    caches of ``services.common.reads.NotifiedCache``. A notification is delivered when the
    writing transaction commits, never before and never for a rollback (PostgreSQL docs,
    NOTIFY). Nothing on SQLite, which has no notifications (and no such cache)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    function = f"mtlid_notify_{table}_changed"
    op.execute(f"""
        CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'TRUNCATE' THEN
                PERFORM pg_notify('{channel}', '');
            ELSIF TG_OP = 'DELETE' THEN
                PERFORM pg_notify('{channel}', OLD.{key});
            ELSE
                PERFORM pg_notify('{channel}', NEW.{key});
                IF TG_OP = 'UPDATE' AND NEW.{key} <> OLD.{key} THEN
                    PERFORM pg_notify('{channel}', OLD.{key});
                END IF;
            END IF;
            RETURN NULL;
        END $$""")
    op.execute(f"CREATE TRIGGER {table}_changed AFTER INSERT OR UPDATE OR DELETE ON {table}"
               f" FOR EACH ROW EXECUTE FUNCTION {function}()")
    op.execute(f"CREATE TRIGGER {table}_truncated AFTER TRUNCATE ON {table}"
               f" FOR EACH STATEMENT EXECUTE FUNCTION {function}()")


def drop_change_notifications(op, *, table: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP TRIGGER IF EXISTS {table}_truncated ON {table}")
    op.execute(f"DROP TRIGGER IF EXISTS {table}_changed ON {table}")
    op.execute(f"DROP FUNCTION IF EXISTS mtlid_notify_{table}_changed()")
