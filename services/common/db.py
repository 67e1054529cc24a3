"""Database engines: SQLite (the embedded default, under ./var/) or PostgreSQL (asyncpg).

Each service owns its own database; no service reads another's tables.
"""

from __future__ import annotations

import pathlib
import time

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from services.common.telemetry import instrument_engine


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An async engine tuned for the backend.

    SQLite: WAL so readers don't block the writer, a busy timeout instead of instant
    "database is locked", foreign keys on (off by default in SQLite), and BEGIN IMMEDIATE so
    two writers queue at the start of a transaction rather than failing at upgrade time.
    ``hide_parameters``: SQL errors end up in logs; bound values may be attribute values.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            pathlib.Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        sync_engine = engine.sync_engine

        @event.listens_for(sync_engine, "connect")
        def _on_connect(dbapi_connection, _record):  # pragma: no cover - exercised in every test
            # Let SQLAlchemy, not pysqlite, decide when transactions begin (pysqlite recipe).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(sync_engine, "begin")
        def _on_begin(connection):  # pragma: no cover
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        instrument_engine(engine)
        return engine
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, hide_parameters=True)
    ping_when_idle(engine)
    instrument_engine(engine)  # spans per statement only when tracing is exported
    return engine


# A pooled connection that served a transaction less than this long ago is used without a
# ping (see ``ping_when_idle``).
PING_AFTER_IDLE_SECONDS = 10.0


def ping_when_idle(engine: AsyncEngine) -> None:
    """Pessimistic disconnect handling, for connections that sat idle only.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout; on asyncpg a ping is three round
    trips (BEGIN, a statement, ROLLBACK), paid by every unit of work before its first
    statement. Connections die while idle (a database restart or failover, an idle timeout
    on the way), so only a connection idle for ``PING_AFTER_IDLE_SECONDS`` or more is pinged
    here; a dead one is replaced before the transaction starts (the pool's checkout-event
    protocol: ``DisconnectionError`` makes it connect again). A connection that dies while
    busy fails its statement either way: SQLAlchemy then invalidates the whole pool, and the
    caller gets UNAVAILABLE / 503 ``temporarily_unavailable`` with Retry-After
    (``errors.dependency_unavailable``), as when the database is away.
    """
    pool_target = engine.sync_engine

    @event.listens_for(pool_target, "connect")
    @event.listens_for(pool_target, "checkin")
    def _stamp(_dbapi_connection, record) -> None:  # pragma: no cover - every unit of work
        record.info["mtlid_idle_since"] = time.monotonic()

    @event.listens_for(pool_target, "checkout")
    def _ping_if_idle(dbapi_connection, record, _proxy) -> None:  # pragma: no cover
        since = record.info.get("mtlid_idle_since")
        if since is not None and time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dbapi_connection.ping()
        except Exception as error:
            raise DisconnectionError(f"idle connection failed its ping: {type(error).__name__}") from error


def conflict_insert(session):
    """The ``insert`` of the session's dialect, which takes ``on_conflict_do_nothing`` /
    ``on_conflict_do_update`` (PostgreSQL's and SQLite's both speak ``ON CONFLICT``)."""
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def session_factory(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)
