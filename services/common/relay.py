"""The outbox relay: publishes committed events to JetStream, at least once, deduplicated.

Each row is published with ``Nats-Msg-Id`` = event id, then marked sent. A relay that dies
between the two republishes the row on restart and JetStream's duplicate window drops the
copy, so consumers see each event once in effect. When NATS is down, rows wait in the
outbox; writes never depend on NATS being up.

A pass reads a batch of unsent rows, publishes them pipelined (all written, then the acks
awaited together) and marks the acknowledged ones sent in one ``UPDATE … WHERE seq IN (…)``.
Commits wake the relay; while they keep coming, it passes at most every ``COALESCE_SECONDS``
so that one pass carries every event committed meanwhile (issue 15: one pass per sign-in was
most of what recording releases cost the token endpoint).

Several replicas may run a relay against one PostgreSQL database: each claims a batch with
``FOR UPDATE SKIP LOCKED`` so they share the work instead of racing on the same rows.

Published rows are kept ``MTLID_OUTBOX_RETENTION_HOURS`` (168: a week, to answer "was this
event sent, and when") and then deleted by ``purge_published``, in batches of
``PURGE_BATCH`` rows, each its own short transaction, so writers and relays are never held
up. ``outbox_status`` gives the figures an operator (``mtlid events outbox``) or a metric
watches: rows waiting and the age of the oldest.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

import datetime as dt
from typing import Any, NamedTuple

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from services.common.outbox import stream_name, utcnow
from services.common.uow import OUTBOX

log = logging.getLogger(__name__)


#: A relay pass at most this often (seconds) while commits keep waking it: the rows committed
#: meanwhile go out together in the next pass. An idle relay's first wake passes at once.
COALESCE_SECONDS = 0.1
#: How long a pass waits for JetStream's acks of its publishes (seconds).
PUBLISH_TIMEOUT_SECONDS = 2.0
#: Rows handed over in memory and not yet published, at most (beyond: the outbox pass finds them).
HANDED_MAX = 10_000


#: Handed-over rows, published, marked sent (PostgreSQL).
_PG_MARK_SENT = "UPDATE outbox SET published_at = $2 WHERE event_id = ANY($1::varchar[]) AND published_at IS NULL"


class _Row(NamedTuple):
    """An outbox row as a pass publishes it (``seq`` is None for a handed-over row)."""
    seq: int | None
    event_id: str
    subject: str
    envelope: str
    headers: str


class OutboxRelay:
    def __init__(self, service: str, session_factory: async_sessionmaker,
                 jetstream: Callable[[], object | None], *, batch_size: int = 256,
                 poll_interval: float = 1.0, coalesce: float = COALESCE_SECONDS,
                 publish_timeout: float = PUBLISH_TIMEOUT_SECONDS,
                 after_publish: Callable[[str], Awaitable[None]] | None = None) -> None:
        """``jetstream`` returns the current JetStream context, or None while not connected.

        ``after_publish`` is a test seam: it runs after a row's publish is acknowledged and
        before the row is marked sent, where a crash is the interesting case.
        """
        self.service = service
        self.stream = stream_name(service)
        # A pass is two or three Core statements on one connection: no ORM session to build
        # per pass (the relay has no objects to track).
        self._engine = session_factory.kw["bind"]
        self._jetstream = jetstream
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.coalesce = coalesce
        self.publish_timeout = publish_timeout
        self._wake = asyncio.Event()
        self._after_publish = after_publish
        self.published = 0
        #: passes that read the outbox, and passes that published handed-over rows (tests and
        #: benches: how well commits were coalesced, and how often the outbox was read back)
        self.passes = 0
        self.handed_passes = 0
        # Rows this process committed, in commit order, not yet published (``hand_over``).
        self._handed: list[_Row] = []
        # The next pass reads the outbox: at start, after a failure, after an overflow, and
        # at least every ``poll_interval`` (rows other processes wrote, rows left by a crash).
        self._outbox_pass_due = True
        self._last_outbox_pass = float("-inf")
        self._inbox: _AckInbox | None = None

    def wake(self) -> None:
        """Called after a commit that wrote events: publish now rather than at the next poll."""
        self._wake.set()

    def hand_over(self, rows: list[dict[str, Any]]) -> None:
        """A unit of work's outbox rows, just committed by this process (``SqlUnitOfWork``'s
        ``hand_over``): the next pass publishes them as they are and marks them sent, without
        a transaction to read the outbox back (one statement instead of four round trips on
        PostgreSQL). They are in the outbox already: if this process dies first, or the
        publish fails, the outbox pass publishes them (JetStream drops a copy by its id)."""
        room = HANDED_MAX - len(self._handed)
        if len(rows) > room:
            self._outbox_pass_due = True
        self._handed.extend(_Row(None, r["event_id"], r["subject"], r["envelope"], r["headers"])
                            for r in rows[:max(room, 0)])
        self._wake.set()

    async def publish_handed(self) -> int:
        """Publish the rows handed over (a batch of them) and mark them sent in one statement;
        returns how many. Raises if NATS or the database fails (the outbox pass then takes
        over: nothing handed over is lost, the rows wait in the outbox)."""
        js = self._jetstream()
        if js is None:
            raise ConnectionError("not connected to NATS")
        rows = self._handed[:self.batch_size]
        del self._handed[:len(rows)]
        self.handed_passes += 1
        sent, error = await self._publish(js, rows)
        if sent:
            try:
                ids = [row.event_id for row in sent]
                async with self._engine.connect() as connection:
                    if connection.dialect.driver == "asyncpg":
                        # One prepared statement in its own transaction (autocommit: no
                        # BEGIN/COMMIT round trips), the same text whatever the batch's size.
                        driver = (await connection.get_raw_connection()).driver_connection
                        await driver.execute(_PG_MARK_SENT, ids, utcnow())
                    else:
                        async with connection.begin():
                            await connection.execute(update(OUTBOX).where(OUTBOX.c.event_id.in_(ids),
                                                                          OUTBOX.c.published_at.is_(None))
                                                     .values(published_at=utcnow()))
            except Exception:
                self._outbox_pass_due = True
                raise
        self.published += len(sent)
        if error is not None:
            self._outbox_pass_due = True
            raise error
        return len(sent)

    async def publish_pending(self) -> int:
        """Publish every unsent row; returns how many were published. Raises if NATS fails."""
        total = 0
        while True:
            js = self._jetstream()
            if js is None:
                raise ConnectionError("not connected to NATS")
            self.passes += 1
            async with self._engine.connect() as connection:
                if connection.dialect.name == "postgresql":
                    # Claim the batch for the length of the transaction; other replicas skip it.
                    async with connection.begin():
                        rows = (await connection.execute(self._query().with_for_update(skip_locked=True))).all()
                        sent, error = await self._publish(js, rows)
                        await self._mark(connection, sent)
                else:
                    # SQLite has one writer at a time: don't hold its lock while talking to NATS.
                    # One relay per SQLite file (the embedded default), so nothing to claim.
                    async with connection.begin():
                        rows = (await connection.execute(self._query())).all()
                    sent, error = await self._publish(js, rows)
                    if sent:
                        async with connection.begin():
                            await self._mark(connection, sent)
            total += len(sent)
            self.published += len(sent)
            if error is not None:
                raise error
            if len(rows) < self.batch_size:
                return total

    def _query(self):
        return (select(OUTBOX.c.seq, OUTBOX.c.event_id, OUTBOX.c.subject, OUTBOX.c.envelope,
                       OUTBOX.c.headers)
                .where(OUTBOX.c.published_at.is_(None)).order_by(OUTBOX.c.seq).limit(self.batch_size))

    async def _publish(self, js, rows) -> tuple[list[Any], Exception | None]:
        """Publish ``rows`` pipelined: every message is written first, in ``seq`` order on one
        connection (so JetStream stores them in that order), then the acks are awaited
        together, instead of one round trip (and one fsync wait) per row.

        Only the rows up to the first failure count as sent: the rest wait for the next
        pass, and any of them JetStream did store is dropped then as a duplicate (same
        ``Nats-Msg-Id``), as after a crash between publish and mark."""
        if not rows:
            return [], None
        inbox = await self._acks_on(js)
        acks: list[asyncio.Future] = []
        error: Exception | None = None
        for row in rows:
            headers = {**json.loads(row.headers), "Nats-Msg-Id": row.event_id, "Nats-Expected-Stream": self.stream}
            try:
                acks.append(await inbox.publish(row.subject, row.envelope.encode(), headers))
            except Exception as failed:  # not written: this row and the later ones wait
                error = failed
                break
        if acks:
            await asyncio.wait(acks, timeout=self.publish_timeout)
        sent: list[Any] = []
        for row, ack in zip(rows, acks):
            if not ack.done():
                inbox.forget(ack)
                error = error or asyncio.TimeoutError(f"no JetStream ack within {self.publish_timeout}s")
            elif ack.cancelled():  # the connection closed under it
                error = error or ConnectionError("publish cancelled")
            elif ack.exception() is not None:
                error = error or ack.exception()
            if error is not None:
                continue  # after the first failure nothing counts as sent (see above)
            sent.append(row)
            if self._after_publish is not None:
                await self._after_publish(row.event_id)
        return sent, error

    async def _acks_on(self, js) -> "_AckInbox":
        """The reply inbox of ``js``'s connection (a new one after the runtime reconnected)."""
        connection = js._nc  # nats-py's JetStreamContext keeps its client there
        if self._inbox is None or self._inbox.connection is not connection:
            self._inbox = await _AckInbox.open(connection)
        return self._inbox

    @staticmethod
    async def _mark(connection, sent: list[Any]) -> None:
        """One statement for the whole batch."""
        if sent:
            await connection.execute(update(OUTBOX).where(OUTBOX.c.seq.in_([row.seq for row in sent]))
                                     .values(published_at=utcnow()))

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        backoff = 0.1
        while not stop.is_set():
            # Cleared before the pass, not after: a commit that wakes us during the pass is
            # then seen at once instead of waiting for the next poll.
            self._wake.clear()
            if self._jetstream() is None:
                # Not connected yet (the moments after start) or reconnecting: rows wait in
                # the outbox, the runtime's connector says so if it lasts, and wakes us once
                # connected. Not a failure to publish, so no warning here.
                await _wait_wake_or_stop(self._wake, stop, self.poll_interval)
                continue
            started = loop.time()
            try:
                if (self._handed and not self._outbox_pass_due
                        and started - self._last_outbox_pass < self.poll_interval):
                    await self.publish_handed()
                    if self._handed:  # more than a batch was handed over
                        self._wake.set()
                else:
                    # Rows handed over before this pass reads the outbox are committed: the
                    # pass publishes them (or another replica's, which claimed them, does).
                    handed = len(self._handed)
                    self._outbox_pass_due = False
                    await self.publish_pending()
                    del self._handed[:handed]
                    self._last_outbox_pass = started
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as error:  # NATS down or the database busy: retry, never drop
                self._outbox_pass_due = True
                log.warning("outbox relay could not publish; will retry",
                            extra={"error": type(error).__name__, "retry_in": backoff})
                await _sleep_or_stop(stop, backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            await _wait_wake_or_stop(self._wake, stop, self.poll_interval)
            # Coalesce wakes: under a stream of commits (one per sign-in) a pass per commit
            # costs a transaction and a round trip to NATS per event; at most one pass per
            # ``coalesce`` seconds takes every row committed meanwhile. A wake after a quiet
            # spell (the last pass longer ago) passes at once: a lone event is not delayed.
            rest = started + self.coalesce - loop.time()
            if rest > 0 and self._wake.is_set() and len(self._handed) < self.batch_size:  # no backlog
                await _sleep_or_stop(stop, rest)


class _AckInbox:
    """JetStream publishing without nats-py's per-message machinery (issue 15).

    A JetStream publish is a core NATS publish whose reply subject gets the stream's
    acknowledgement (``{"stream": …, "seq": …}``, or ``{"error": …}``). nats-py's
    ``publish_async`` wraps each one in a task (``asyncio.wait_for`` on a semaphore), a
    future with callbacks and a parsed ``PubAck``: measured, 136 µs of CPU per message. Here
    one subscription per connection takes every ack, a future per message is all the
    bookkeeping, and an ack is parsed only if it is not the usual success: 57 µs. The
    semantics are the same: ``Nats-Expected-Stream`` makes the server refuse a subject that is
    not in the service's stream, and a missing stream answers "no responders" (status 503,
    no body), which counts as a failure like any error."""

    def __init__(self, connection, prefix: str) -> None:
        self.connection = connection
        self._prefix = prefix
        self._next = 0
        self._waiting: dict[str, asyncio.Future] = {}

    @classmethod
    async def open(cls, connection) -> "_AckInbox":
        inbox = cls(connection, connection.new_inbox() + ".")
        await connection.subscribe(inbox._prefix + "*", cb=inbox._on_ack)
        return inbox

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str]) -> asyncio.Future:
        """Write one message; the future is done when JetStream acknowledged (or refused) it."""
        self._next += 1
        reply = f"{self._prefix}{self._next}"
        ack = asyncio.get_running_loop().create_future()
        self._waiting[reply] = ack
        try:
            await self.connection.publish(subject, payload, reply=reply, headers=headers)
        except BaseException:
            self._waiting.pop(reply, None)
            raise
        return ack

    def forget(self, ack: asyncio.Future) -> None:
        """An ack no longer awaited (timed out): a late answer is dropped."""
        ack.cancel()
        for reply, waiting in list(self._waiting.items()):
            if waiting is ack:
                del self._waiting[reply]
                break

    async def _on_ack(self, msg) -> None:
        ack = self._waiting.pop(msg.subject, None)
        if ack is None or ack.done():
            return
        data = msg.data
        if data.startswith(b'{"stream":') and b'"error"' not in data:
            ack.set_result(None)
            return
        try:
            answer = json.loads(data) if data else {}
        except ValueError:
            answer = {}
        problem = answer.get("error") if isinstance(answer, dict) else None
        if problem is None and isinstance(answer, dict) and answer.get("stream"):
            ack.set_result(None)
            return
        status = (msg.headers or {}).get("Status", "")
        ack.set_exception(PublishRefused(
            (problem or {}).get("description") if isinstance(problem, dict) else
            ("no stream answers on this subject" if status == "503" else f"unexpected answer {data[:80]!r}")))


class PublishRefused(Exception):
    """JetStream did not store a message (its answer, or no stream listening)."""


async def _wait_wake_or_stop(wake: asyncio.Event, stop: asyncio.Event, timeout: float) -> None:
    waiter = asyncio.ensure_future(wake.wait())
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({waiter, stopper}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    stopper.cancel()


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except asyncio.TimeoutError:
        pass


PURGE_BATCH = 500
PURGE_INTERVAL_SECONDS = 300.0


async def purge_published(session_factory: async_sessionmaker, *, before: dt.datetime,
                          batch: int = PURGE_BATCH) -> int:
    """Delete rows published before ``before``, ``batch`` at a time; returns how many.

    Only published rows are touched (never one still waiting: ``published_at`` is set only
    after JetStream acknowledged it). Each batch is a transaction of its own; on PostgreSQL
    rows another replica's purge holds are skipped (``SKIP LOCKED``), and writers, which
    insert new rows, and relays, which lock unpublished ones, never wait for a purge."""
    total = 0
    while True:
        async with session_factory() as session:
            async with session.begin():
                chosen = (select(OUTBOX.c.seq).where(OUTBOX.c.published_at.is_not(None),
                                                     OUTBOX.c.published_at < before)
                          .order_by(OUTBOX.c.published_at).limit(batch))
                if session.bind.dialect.name == "postgresql":
                    chosen = chosen.with_for_update(skip_locked=True)
                seqs = list((await session.scalars(chosen)).all())
                if seqs:
                    await session.execute(delete(OUTBOX).where(OUTBOX.c.seq.in_(seqs)))
        total += len(seqs)
        if len(seqs) < batch:
            return total
        await asyncio.sleep(0)  # let writers in between batches (SQLite has one writer)


async def outbox_status(session_factory: async_sessionmaker, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """``unpublished``: rows waiting for the relay; ``oldest_unpublished_age_seconds``: how
    long the oldest has waited (0 when none: a growing figure means NATS is away or the
    relay is stuck); ``published_kept``: published rows not purged yet."""
    now = now or utcnow()
    async with session_factory() as session:
        waiting, oldest = (await session.execute(
            select(func.count(), func.min(OUTBOX.c.created_at)).where(OUTBOX.c.published_at.is_(None)))).one()
        kept = await session.scalar(select(func.count()).select_from(OUTBOX).where(OUTBOX.c.published_at.is_not(None)))
    if oldest is not None and oldest.tzinfo is None:  # SQLite gives naive UTC datetimes back
        oldest = oldest.replace(tzinfo=dt.timezone.utc)
    age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    return {"unpublished": int(waiting), "oldest_unpublished_age_seconds": round(age, 3),
            "published_kept": int(kept or 0)}


async def purge_forever(session_factory: async_sessionmaker, retention: dt.timedelta, stop: asyncio.Event, *,
                        interval: float = PURGE_INTERVAL_SECONDS) -> None:
    """The runtime's purge task: every ``interval`` seconds, rows published more than
    ``retention`` ago go."""
    while not stop.is_set():
        try:
            removed = await purge_published(session_factory, before=utcnow() - retention)
            if removed:
                log.info("published outbox rows purged", extra={"removed": removed})
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - the next round tries again
            log.warning("outbox purge failed; will retry", extra={"error": type(error).__name__})
        await _sleep_or_stop(stop, interval)
