"""The unit of work: one transaction, and the domain events it produced, atomically.

Shape from *Architecture Patterns with Python*: ``async with uow:`` opens a session, the
handler works and calls ``await uow.commit()``; leaving the block without committing rolls
back. Unlike the book, events are not published after commit (a dual write): ``commit()``
inserts them into the ``outbox`` table inside the same transaction, and the relay publishes
them afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sqlalchemy import MetaData, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.common.events import Event
from services.common.metrics import record_committed
from services.common.outbox import add_outbox_tables, outbox_row

# Every service's outbox and inbox have the same columns, so these Table objects write to
# whichever database the session is bound to.
OUTBOX, INBOX = add_outbox_tables(MetaData())


#: The outbox rows of one commit, in their order (``seq`` follows it: the relay publishes by seq).
_PG_OUTBOX_INSERT = (
    "INSERT INTO outbox (event_id, subject, envelope, headers, created_at) "
    "SELECT event_id, subject, envelope, headers, created_at FROM unnest("
    "$1::varchar[], $2::varchar[], $3::text[], $4::text[], $5::timestamptz[]) "
    "WITH ORDINALITY AS r(event_id, subject, envelope, headers, created_at, n) ORDER BY n")


#: The same on SQLite (aiosqlite): one ``executemany``, one hop to the database's thread.
_SQLITE_OUTBOX_INSERT = "INSERT INTO outbox (event_id, subject, envelope, headers, created_at) VALUES (?, ?, ?, ?, ?)"


async def _driver_in_transaction(session: AsyncSession):
    """The driver's connection under ``session`` (asyncpg's or aiosqlite's) when its
    transaction has begun (SQLAlchemy begins it with the first statement: a statement sent
    before that would run outside it), else None."""
    if session.bind is None or session.bind.dialect.driver not in ("asyncpg", "aiosqlite"):
        return None
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    if driver is None:
        return None
    began = driver.is_in_transaction() if session.bind.dialect.driver == "asyncpg" else driver.in_transaction
    return driver if began else None


def _sqlite_created_at(dialect):
    """SQLAlchemy's own way of writing ``created_at`` on SQLite (a string of its format), so
    rows written here read back like the others."""
    return OUTBOX.c.created_at.type.dialect_impl(dialect).bind_processor(dialect) or (lambda value: value)


class SqlUnitOfWork:
    """Base unit of work; a service subclasses it and opens its repositories."""

    def __init__(self, session_factory: async_sessionmaker, service: str, *,
                 on_commit: Callable[[], None] | None = None,
                 hand_over: Callable[[list[dict]], None] | None = None) -> None:
        """``on_commit``: called after a commit that wrote events (wakes the relay).
        ``hand_over``: given those events' outbox rows after the commit (the relay's
        ``hand_over``: it publishes them without reading the outbox back)."""
        self._session_factory = session_factory
        self.service = service
        self._on_commit = on_commit
        self._hand_over = hand_over
        self._events: list[Event] = []
        self.session: AsyncSession | None = None
        self.committed = False

    # -- hooks for subclasses ---------------------------------------------------------
    def _open_repositories(self, session: AsyncSession) -> None:
        """Attach the service's repositories to ``self``."""

    def collect_new_events(self) -> Iterable[Event]:
        """Events raised by aggregates the repositories have seen (override if used)."""
        return ()

    # -- unit of work -----------------------------------------------------------------
    async def __aenter__(self):
        if self.session is not None:
            raise RuntimeError("a unit of work is used once; build a new one per request")
        self.session = self._session_factory()
        self._events = []
        self.committed = False
        self._open_repositories(self.session)
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        assert self.session is not None
        try:
            if not self.committed or exc_type is not None:
                await self.session.rollback()
        finally:
            await self.session.close()

    def add_event(self, event: Event) -> None:
        self._events.append(event)

    @property
    def pending_events(self) -> list[Event]:
        return list(self._events)

    async def commit(self) -> None:
        assert self.session is not None, "commit() outside 'async with uow'"
        events = [*self._events, *self.collect_new_events()]
        rows = [outbox_row(self.service, e) for e in events]
        if rows:
            await self._write_outbox(rows)
        await self.session.commit()
        self._events = []
        self.committed = True
        if events:
            record_committed(events)
            if self._hand_over is not None:
                self._hand_over(rows)
            if self._on_commit is not None:
                self._on_commit()

    async def _write_outbox(self, rows: list[dict]) -> None:
        """The events' rows, in this transaction. On PostgreSQL one prepared statement sent
        straight through the transaction's own asyncpg connection, whatever the number of
        rows (issue 15: through the ORM session the INSERT cost a code exchange twice the CPU
        of the statement itself — about a third of what recording a release costs there); on
        SQLite one ``executemany`` on aiosqlite's connection; before the transaction has sent
        anything (or on another driver), through SQLAlchemy."""
        driver = await _driver_in_transaction(self.session)
        if driver is None:
            await self.session.execute(insert(OUTBOX), rows)
            return
        dialect = self.session.bind.dialect
        if dialect.driver == "aiosqlite":
            # Through SQLAlchemy's adapter a statement is three hops to aiosqlite's thread
            # (cursor, execute, close); one here.
            created = _sqlite_created_at(dialect)
            await driver.executemany(_SQLITE_OUTBOX_INSERT, [
                (r["event_id"], r["subject"], r["envelope"], r["headers"], created(r["created_at"])) for r in rows])
            return
        await driver.execute(_PG_OUTBOX_INSERT, [r["event_id"] for r in rows], [r["subject"] for r in rows],
                             [r["envelope"] for r in rows], [r["headers"] for r in rows],
                             [r["created_at"] for r in rows])

    async def rollback(self) -> None:
        assert self.session is not None
        await self.session.rollback()
        self._events = []

