"""The ``attributes_released`` outbox rows of releases, in one statement per group (PostgreSQL).

After the consent ledger recorded the access, a release has exactly one thing to write in
accounts: its outbox event. Through a unit of work that cost an ORM session, a pool checkout
(whose ping was then itself BEGIN, a query and ROLLBACK on asyncpg), BEGIN, the INSERT and
COMMIT — more than half of the release's own database work in the issue 8 profiles.

``PostgresReleaseOutbox`` keeps one asyncpg connection of its own and writes **group
commits**: the rows of every release waiting at that moment go out in one ``INSERT … SELECT
FROM unnest(…)`` statement; releases that arrive meanwhile form the next group. Outside any
explicit transaction PostgreSQL runs a statement as its own transaction and commits it when
it succeeds (PostgreSQL docs, "Transactions"), so a group is written whole or not at all,
and ``add`` returns only once its row is committed — what the unit of work guaranteed, before
the release answers. The rows are the ones the unit of work writes
(``services.common.outbox.outbox_row``); the relay publishes each with ``Nats-Msg-Id`` = its
event id, so consumers see it once in effect.

A connection that broke mid-statement leaves the outcome unknown: the group is sent once more
on a fresh connection. Event ids are fresh UUIDs, so a unique violation on that second try
can only mean the first one committed (the statement is atomic: all its rows did) — success,
and never a second copy. Any other failure fails every release of the group with
UNAVAILABLE, and wakes nothing.

SQLite keeps the unit of work (``UnitOfWorkReleaseOutbox``): there every write goes through
the engine's ``BEGIN IMMEDIATE``, the one writer lock.

``CoalescedWake``: each relay pass is a transaction of its own (claim the unsent rows, publish,
mark them sent), whatever the number of rows. Woken after every release, the relay made one
pass per event — a quarter of the service's CPU under load in the issue 8 profiles. The
release wakes it ``RELEASE_WAKE_DELAY`` seconds after the first of a burst of commits
instead, so one pass takes the whole burst. The event is committed before the release
answers either way; only its publication may come up to that delay later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.errors import Unavailable
from services.common.events import Event
from services.common.outbox import outbox_row
from services.common.reads import Groups, connection_broke, postgres_dsn

logger = logging.getLogger(__name__)

#: How long a release's event may wait for the relay's next pass (seconds).
RELEASE_WAKE_DELAY = 0.05
#: A group's INSERT that has not committed by then is cancelled (PostgreSQL rolls it back) and
#: its releases answer UNAVAILABLE, rather than every release waiting on a database that
#: stopped answering until its caller's deadline (seconds).
STATEMENT_TIMEOUT = 10.0

_INSERT_GROUP = (
    "INSERT INTO outbox (event_id, subject, envelope, headers, created_at)"
    " SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::text[], $4::text[], $5::timestamptz[])")


class PostgresReleaseOutbox:
    """``ReleaseOutbox`` (service_layer/ports.py) for PostgreSQL; see the module docstring."""

    def __init__(self, engine: AsyncEngine, service: str, *, on_commit: Callable[[], None] | None = None,
                 statement_timeout: float = STATEMENT_TIMEOUT) -> None:
        if engine.url.get_backend_name() != "postgresql":
            raise ValueError("PostgresReleaseOutbox needs a PostgreSQL engine")
        self._dsn = postgres_dsn(engine)
        self._service = service
        self._on_commit = on_commit
        self._timeout = statement_timeout
        self._connection: Any = None
        # group commits: the rows of every release waiting at that moment, one INSERT
        self._groups = Groups(self._write_group, stopped=_not_released)
        #: statements sent (tests: how many groups the releases formed)
        self.statements = 0

    def __repr__(self) -> str:  # never show the DSN: it may hold a password
        return f"PostgresReleaseOutbox(service={self._service!r})"

    async def add(self, event: Event) -> None:
        """Commit the event's outbox row; returns once it is committed, raises if it is not."""
        # shielded: a caller that goes away does not cancel the statement of its whole group
        await self._groups.submit(outbox_row(self._service, event), shield=True)
        if self._on_commit is not None:
            self._on_commit()

    async def aclose(self) -> None:
        await self._groups.wait_idle(5)
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 2)

    async def _write_group(self, rows: list[dict]) -> list[None]:
        try:
            await self._insert(rows)
        except Exception as error:  # every release of the group is told, with one status
            logger.warning("release events not written", extra={"error": type(error).__name__, "events": len(rows)})
            raise _not_released() from error
        return [None] * len(rows)

    async def _insert(self, rows: list[dict]) -> None:
        import asyncpg

        columns = [[row[name] for row in rows] for name in ("event_id", "subject", "envelope", "headers", "created_at")]
        for attempt in (1, 2):
            connection = await self._open()
            try:
                await connection.execute(_INSERT_GROUP, *columns, timeout=self._timeout)
                self.statements += 1
                return
            except asyncpg.UniqueViolationError:
                if attempt == 2:
                    return      # the first try committed before its answer was lost (see above)
                raise
            except Exception as error:
                if not (connection.is_closed() or connection_broke(error)):
                    raise
                self._connection = None
                connection.terminate()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable: the second try returns or raises")

    async def _open(self) -> Any:
        connection = self._connection
        if connection is not None and not connection.is_closed():
            return connection
        import asyncpg

        self._connection = await asyncpg.connect(self._dsn, server_settings={
            "application_name": "mtlid-accounts-outbox"})
        return self._connection


def _not_released() -> Unavailable:
    return Unavailable("the release's event could not be written; nothing was released")


class CoalescedWake:
    """Calls ``wake`` once, ``delay`` seconds after the first of any number of calls."""

    def __init__(self, wake: Callable[[], None], delay: float = RELEASE_WAKE_DELAY) -> None:
        self._wake = wake
        self._delay = delay
        self._pending: asyncio.TimerHandle | None = None

    def __call__(self) -> None:
        if self._pending is None:
            self._pending = asyncio.get_running_loop().call_later(self._delay, self._fire)

    def _fire(self) -> None:
        self._pending = None
        self._wake()
