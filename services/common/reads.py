"""Point reads for the hot paths: one SQL statement, no ORM, no unit of work.

The token endpoint, introspection, ``ValidateToken`` and consent's ``Check`` each need one or
two facts that must be read fresh on every request (a revoked token's ``jti``, a client that
may have been disabled). Through an ORM unit of work each such read cost BEGIN, the query
through the identity map, and COMMIT: 30–40 % of the request's CPU in the issue 8 profiles.
A :class:`PointReads` runs one statement with the driver directly:

- **PostgreSQL**: a small asyncpg pool of its own. A single statement outside a transaction
  is atomic and sees a consistent snapshot (PostgreSQL docs, "Transaction Isolation": each
  statement in autocommit mode takes its own snapshot), so no BEGIN/COMMIT round trips;
  asyncpg prepares and caches each statement per connection.
- **SQLite** (the embedded default): a connection of its own in ``query_only`` mode, queried
  on the event loop's thread. In WAL mode a reader takes no lock a writer waits for, and a
  primary-key lookup takes microseconds, less than the thread hop of an async driver; the
  service engine, by contrast, opens every transaction with ``BEGIN IMMEDIATE`` (the write
  lock), which a read must not queue behind.
- anything else (``:memory:`` databases in unit tests): through the service's engine.

Statements use ``:name`` parameters (SQLite's own style), rewritten to ``$n`` for asyncpg once
per statement. Only reads: nothing here may write — except :class:`PointWrites`, PostgreSQL's
single-statement writes for the hot paths, on a pool of its own.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import json
import re
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

Row = Sequence[Any]
_NAMED = re.compile(r"(?<!:):([A-Za-z_][A-Za-z0-9_]*)")


def connection_broke(error: BaseException) -> bool:
    """Whether an asyncpg call failed because its connection is gone (server restart, terminated
    backend, network): the outcome of the statement is unknown and the connection unusable."""
    import asyncpg

    return isinstance(error, (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
                              asyncpg.exceptions.OperatorInterventionError,
                              asyncpg.exceptions._base.InternalClientError))


def json_list(value: Any) -> tuple[str, ...]:
    """A JSON array column as a point read returns it: text through asyncpg (no codec set) as
    through sqlite3."""
    if value is None:
        return ()
    if isinstance(value, (str, bytes)):
        value = json.loads(value)
    return tuple(value or ())


def postgres_dsn(engine: AsyncEngine) -> str:
    """The libpq DSN of a PostgreSQL engine, for asyncpg connections of one's own (never log it:
    it may hold a password)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def _positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """``:name`` → ``$n`` (asyncpg), with the parameter order."""
    names: list[str] = []

    def number(match: re.Match) -> str:
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _NAMED.sub(number, sql), tuple(names)


class PointReads:
    """Single-statement reads on a service's database (see the module docstring)."""

    def __init__(self, engine: AsyncEngine, *, pool_size: int = 8) -> None:
        self._engine = engine
        self._pool_size = pool_size
        url = engine.url
        self.backend = url.get_backend_name()
        self._pg_dsn = postgres_dsn(engine) if self.backend == "postgresql" else None
        database = url.database or ""
        self._sqlite_path = (database if self.backend == "sqlite" and database not in ("", ":memory:")
                             and not database.startswith("file:") else None)
        self._pool: _Connections | None = None
        self._sqlite: sqlite3.Connection | None = None
        self._pg_statements: dict[str, tuple[str, tuple[str, ...]]] = {}

    # -- public ---------------------------------------------------------------------------
    @property
    def postgres_dsn(self) -> str | None:
        """The libpq DSN when the database is PostgreSQL (for a ``ChangeFeed``), else None."""
        return self._pg_dsn

    async def one(self, sql: str, params: Mapping[str, Any] | None = None) -> Row | None:
        """The first row of ``sql`` (a tuple-like row) or None."""
        rows = await self._run(sql, params or {}, first_only=True)
        return rows[0] if rows else None

    async def all(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        return await self._run(sql, params or {}, first_only=False)

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
        connection, self._sqlite = self._sqlite, None
        if connection is not None:
            connection.close()

    # -- backends -------------------------------------------------------------------------
    async def _run(self, sql: str, params: Mapping[str, Any], *, first_only: bool) -> list[Row]:
        if self._pg_dsn is not None:
            return await self._run_pg(sql, params, first_only)
        if self._sqlite_path is not None:
            return self._run_sqlite(sql, params, first_only)
        return await self._run_engine(sql, params, first_only)

    async def _run_pg(self, sql: str, params: Mapping[str, Any], first_only: bool) -> list[Row]:
        statement = self._pg_statements.get(sql)
        if statement is None:
            statement = self._pg_statements[sql] = _positional(sql)
        text, names = statement
        args = [params[name] for name in names]
        if self._pool is None:
            self._pool = _Connections(self._pg_dsn, self._pool_size)
        pool = self._pool
        for attempt in (1, 2):
            connection = await pool.acquire()
            broken = False
            try:
                if first_only:
                    row = await connection.fetchrow(text, *args)
                    return [] if row is None else [tuple(row)]
                return [tuple(row) for row in await connection.fetch(text, *args)]
            except Exception as error:  # noqa: BLE001 - a broken connection is replaced, once
                # A server restart or a terminated backend breaks pooled connections (what
                # the engine's idle ping covers for units of work, db.ping_when_idle): drop this one and try a fresh one.
                broken = connection_broke(error)
                if not broken or attempt == 2:
                    raise
            finally:
                pool.release(connection, broken=broken)
        raise AssertionError("unreachable")

    def _run_sqlite(self, sql: str, params: Mapping[str, Any], first_only: bool) -> list[Row]:
        connection = self._sqlite
        if connection is None:
            connection = sqlite3.connect(self._sqlite_path, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA query_only=ON")
            connection.execute("PRAGMA busy_timeout=5000")
            self._sqlite = connection
        cursor = connection.execute(sql, dict(params))
        try:
            if first_only:
                row = cursor.fetchone()
                return [] if row is None else [row]
            return cursor.fetchall()
        finally:
            cursor.close()

    async def _run_engine(self, sql: str, params: Mapping[str, Any], first_only: bool) -> list[Row]:
        from sqlalchemy import text

        async with self._engine.connect() as connection:
            result = await connection.execute(text(sql), dict(params))
            rows = [tuple(row) for row in result]
        return rows[:1] if first_only else rows


class PointWrites:
    """Single-statement writes of the hot paths, on PostgreSQL: a statement whose one answer is
    how many rows it changed — a single-use record (``INSERT … ON CONFLICT DO NOTHING``: was
    this request the first?). Each runs in autocommit on a small asyncpg pool of its own
    (writable; the reads' pool is read-only): a statement outside a transaction is atomic and
    durable on its own (PostgreSQL docs, "Transactions"), so no BEGIN, no ORM, no COMMIT round
    trip — the unit of work was three quarters of a DPoP proof's cost in the issue 20 profiles.

    Not retried: a write whose connection broke may have committed, and trying again would
    answer "not first" to the request that was. The error goes to the caller (an answer of
    ``server_error``; the client tries again with a fresh proof or assertion).

    SQLite has none (``for_engine`` gives None): its one writer lock is taken by the engine's
    units of work (``BEGIN IMMEDIATE``), which such a write must queue behind."""

    def __init__(self, dsn: str, *, pool_size: int = 4) -> None:
        self._pool = _Connections(dsn, pool_size, read_only=False)
        self._statements: dict[str, tuple[str, tuple[str, ...]]] = {}

    @classmethod
    def for_engine(cls, engine: AsyncEngine) -> "PointWrites | None":
        return cls(postgres_dsn(engine)) if engine.url.get_backend_name() == "postgresql" else None

    async def changed(self, sql: str, params: Mapping[str, Any]) -> int:
        """The number of rows ``sql`` (``:name`` parameters) inserted, updated or deleted."""
        statement = self._statements.get(sql)
        if statement is None:
            statement = self._statements[sql] = _positional(sql)
        text, names = statement
        connection = await self._pool.acquire()
        broken = False
        try:
            status = await connection.execute(text, *[params[name] for name in names])
        except Exception as error:
            broken = connection_broke(error)
            raise
        finally:
            self._pool.release(connection, broken=broken)
        # the command tag: "INSERT 0 1", "UPDATE 3", "DELETE 0"
        return int(status.rsplit(" ", 1)[-1])

    async def aclose(self) -> None:
        await self._pool.close()


class _Connections:
    """A few asyncpg connections for single statements, with the fewest moving parts.

    asyncpg's own ``Pool`` (timeouts, holders, reset queries) was two thirds of a point read's
    CPU in the profiles; here taking an idle connection is a list pop. Idle connections wait
    on a stack; when all ``size`` are busy, callers wait in arrival order. Sessions are
    read-only (``default_transaction_read_only``): a statement that would write fails, as with
    SQLite's ``query_only``.
    """

    def __init__(self, dsn: str, size: int, *, read_only: bool = True) -> None:
        self._dsn = dsn
        self._size = size
        self._settings = ({"default_transaction_read_only": "on", "application_name": "mtlid-reads"} if read_only
                          else {"application_name": "mtlid-writes"})
        self._open = 0                      # connections open, being opened, or reserved
        self._idle: list[Any] = []
        # a waiter gets a connection, or None: "a slot is yours, open a connection"
        self._waiters: collections.deque[asyncio.Future] = collections.deque()

    async def acquire(self) -> Any:
        while self._idle:
            connection = self._idle.pop()
            if not connection.is_closed():
                return connection
            self._open -= 1
        if self._open < self._size:
            self._open += 1
            return await self._connect()
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            handed = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._give_back(waiter.result())   # handed over just as we were cancelled
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise
        return handed if handed is not None else await self._connect()

    async def _connect(self) -> Any:
        """Open a connection in a slot already counted in ``_open``."""
        import asyncpg

        try:
            # command_timeout: a database that stops answering fails the read (UNAVAILABLE,
            # 503) after 10 s instead of holding the request until the client gives up
            return await asyncpg.connect(self._dsn, timeout=10, command_timeout=10,
                                         server_settings=dict(self._settings))
        except BaseException:
            self._give_back(None)
            raise

    def release(self, connection: Any, *, broken: bool = False) -> None:
        if broken or connection.is_closed():
            connection.terminate()
            self._give_back(None)
        else:
            self._give_back(connection)

    def _give_back(self, connection: Any | None) -> None:
        """A connection (or, if None, its slot) goes to the first live waiter, else back to idle."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        if connection is None:
            self._open -= 1
        else:
            self._idle.append(connection)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 2)
        self._open -= len(idle)


class ChangeFeed:
    """PostgreSQL ``LISTEN`` on one channel, kept up, for caches that must forget at once.

    A cache in front of point reads is allowed only where the database tells every replica
    about each change (a trigger calls ``pg_notify``, delivered at commit). The feed is
    ``live`` only while it is surely listening: connection lost, health check failed, or
    not yet connected, and it is not — then ``on_gap()`` is called (forget everything: changes
    may have been missed) and the cache's owner reads through until it is live again. A
    ``SELECT 1`` every ``check_every`` seconds catches a connection that died silently.
    """

    def __init__(self, reads: PointReads, channel: str, on_change, on_gap, *,
                 check_every: float = 5.0, retry_after: float = 1.0) -> None:
        self._dsn = reads.postgres_dsn
        self.channel = channel
        self._on_change = on_change
        self._on_gap = on_gap
        self._check_every = check_every
        self._retry_after = retry_after
        self.live = False

    async def run(self, stop: asyncio.Event) -> None:
        import asyncpg

        while not stop.is_set():
            connection = None
            lost = asyncio.Event()
            try:
                connection = await asyncpg.connect(self._dsn, server_settings={"application_name": "mtlid-feed"})
                connection.add_termination_listener(lambda _c: lost.set())
                await connection.add_listener(self.channel, self._notified)
                self._on_gap()          # whatever changed before we listened is unknown
                self.live = True
                while not stop.is_set() and not lost.is_set():
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(_first(stop, lost), self._check_every)
                    if not stop.is_set() and not lost.is_set():
                        await asyncio.wait_for(connection.fetchval("SELECT 1"), self._check_every)
            except Exception as error:  # noqa: BLE001 - stay down, read through, retry
                import logging

                logging.getLogger(__name__).warning(
                    "change feed %s down, reading through: %s", self.channel, type(error).__name__)
            finally:
                self.live = False
                self._on_gap()
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(connection.close(), 2)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self._retry_after)

    def _notified(self, _connection, _pid, _channel, payload: str) -> None:
        self._on_change(payload)



class NotifiedCache:
    """Rows that rarely change, kept in memory only while the database announces every change.

    ``load(key)`` reads one row (a fresh point read) or None. On PostgreSQL, a ``ChangeFeed``
    on ``channel`` (a trigger calls ``pg_notify(channel, key)``; an empty key means "all")
    makes the cache forget at commit; while the feed is not ``live`` every call reads through,
    and a gap empties the cache. Elsewhere (SQLite, one host) nothing is kept. A read that
    began before a change announced during it does not fill the cache (the generation count),
    so an old row is never kept. Unknown keys are not cached (anyone can make them up), and
    at most ``max_entries`` are.
    """

    def __init__(self, reads: PointReads, channel: str, load, *, max_entries: int = 10_000) -> None:
        self._load = load
        self._max = max_entries
        self._entries: dict[str, Any] = {}
        self._generation = 0
        self.feed: ChangeFeed | None = None
        if reads.postgres_dsn is not None:
            self.feed = ChangeFeed(reads, channel, self.forget, self.forget_all)

    @property
    def cached(self) -> dict[str, Any]:
        """What is kept now (tests and diagnostics; do not modify)."""
        return self._entries

    async def get(self, key: str) -> Any:
        feed = self.feed
        if feed is None or not feed.live:
            return await self._load(key)
        value = self._entries.get(key)
        if value is not None:
            return value
        generation = self._generation
        value = await self._load(key)
        if (value is not None and feed.live and generation == self._generation
                and len(self._entries) < self._max):
            self._entries[key] = value
        return value

    def forget(self, key: str) -> None:
        """Forget one key, or everything when ``key`` is empty (a notification, a local commit)."""
        self._generation += 1
        if key:
            self._entries.pop(key, None)
        else:
            self._entries.clear()

    def forget_all(self) -> None:
        self.forget("")


async def _first(*events: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


class Groups:
    """Concurrent requests answered one group at a time, each group by one statement.

    ``answer_group(items)`` returns one result per item, in order, or raises: then every
    request of the group gets that error. One group in flight at a time; requests arriving
    meanwhile form the next group, so a request is always served by a statement that *starts*
    after it was made (a read sees what was committed before it was asked; a write is its own
    group commit). Stopped (the task cancelled), every waiting request gets ``stopped()``.

    The groups run in a context of their own, not the context of the request that happened
    to start them: a group serves many requests, and one request's id (``request_id_var``)
    or span must not label what is done for the others.
    """

    def __init__(self, answer_group, *, stopped=lambda: RuntimeError("stopped")) -> None:
        self._answer_group = answer_group
        self._stopped = stopped
        self._pending: list[tuple[Any, asyncio.Future]] = []
        self._runner: asyncio.Task | None = None

    async def submit(self, item: Any, *, shield: bool = False) -> Any:
        """``item``'s result. ``shield``: a caller that goes away does not cancel its group."""
        answer = asyncio.get_running_loop().create_future()
        self._pending.append((item, answer))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._answer_groups(), context=contextvars.Context())
            self._runner.add_done_callback(self._runner_ended)
        return await (asyncio.shield(answer) if shield else answer)

    def _runner_ended(self, runner: asyncio.Task) -> None:
        # Cancelled before it ever ran (the loop shutting down at once), the runner's own
        # ``finally`` never ran either: nobody may wait for a group that never comes.
        if runner.cancelled() and runner is self._runner:
            pending, self._pending = self._pending, []
            _fail(pending, self._stopped)

    async def wait_idle(self, timeout: float) -> None:
        """Let the group in flight finish (on stop)."""
        if self._runner is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._runner), timeout)

    async def _answer_groups(self) -> None:
        group: list[tuple[Any, asyncio.Future]] = []
        try:
            while self._pending:
                group, self._pending = self._pending, []
                try:
                    results = await self._answer_group([item for item, _ in group])
                except Exception as error:  # noqa: BLE001 - every request of the group is told
                    _fail(group, lambda: error)
                    continue
                for (_, answer), result in zip(group, results):
                    if not answer.done():
                        answer.set_result(result)
        finally:
            # cancelled (the process stops): nobody may wait for a statement that never comes
            _fail(group, self._stopped)
            pending, self._pending = self._pending, []
            _fail(pending, self._stopped)


def _fail(group: list[tuple[Any, asyncio.Future]], error) -> None:
    for _, answer in group:
        if not answer.done():
            answer.set_exception(error())


class GroupedLookup:
    """Concurrent point lookups of one kind ("was this ``jti`` revoked?"), one
    ``WHERE key = ANY(:keys)`` statement per group (``Groups``): under load a round trip and the
    driver's work per statement are shared, and freshness is unchanged.

    ``fetch_found(keys)`` returns the subset of ``keys`` that exist.
    """

    def __init__(self, fetch_found) -> None:
        self._fetch_found = fetch_found
        self._groups = Groups(self._answer)
        #: statements sent (tests: how many groups the lookups formed)
        self.statements = 0

    async def contains(self, key: str) -> bool:
        return await self._groups.submit(key)

    async def _answer(self, keys: list[str]) -> list[bool]:
        found = await self._fetch_found(list(set(keys)))
        self.statements += 1
        return [key in found for key in keys]
