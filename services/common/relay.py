"""The outbox relay: publishes committed events to JetStream, at least once, deduplicated.

Each row is published with ``Nats-Msg-Id`` = event id, then marked sent. A relay that dies
between the two republishes the row on restart and JetStream's duplicate window drops the
copy, so consumers see each event once in effect. When NATS is down, rows wait in the
outbox; writes never depend on NATS being up.

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
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from services.common.outbox import stream_name, utcnow
from services.common.uow import OUTBOX

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(self, service: str, session_factory: async_sessionmaker,
                 jetstream: Callable[[], object | None], *, batch_size: int = 256,
                 poll_interval: float = 1.0, gather: float = 0.0,
                 after_publish: Callable[[str], Awaitable[None]] | None = None) -> None:
        """``jetstream`` returns the current JetStream context, or None while not connected.

        ``gather``: seconds to wait after a wake before the pass, so that commits made in the
        meantime are published by the same pass (one claim and one mark for several rows
        instead of one each: issue 24, a login commits three events within ~100 ms).

        ``after_publish`` is a test seam: it runs after a row is published and before it is
        marked sent, where a crash is the interesting case.
        """
        self.service = service
        self.stream = stream_name(service)
        self._session_factory = session_factory
        self._jetstream = jetstream
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.gather = gather
        self._wake = asyncio.Event()
        self._after_publish = after_publish
        self.published = 0

    def wake(self) -> None:
        """Called after a commit that wrote events: publish now rather than at the next poll."""
        self._wake.set()

    async def publish_pending(self) -> int:
        """Publish every unsent row; returns how many were published. Raises if NATS fails."""
        total = 0
        while True:
            js = self._jetstream()
            if js is None:
                raise ConnectionError("not connected to NATS")
            async with self._session_factory() as session:
                if session.bind.dialect.name == "postgresql":
                    # Claim the batch for the length of the transaction; other replicas skip it.
                    async with session.begin():
                        rows = (await session.execute(self._query().with_for_update(skip_locked=True))).all()
                        sent, error = await self._publish(js, rows)
                        await self._mark(session, sent)
                else:
                    # SQLite has one writer at a time: don't hold its lock while talking to NATS.
                    # One relay per SQLite file (the embedded default), so nothing to claim.
                    async with session.begin():
                        rows = (await session.execute(self._query())).all()
                    sent, error = await self._publish(js, rows)
                    async with session.begin():
                        await self._mark(session, sent)
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

    async def _publish(self, js, rows) -> tuple[list[int], Exception | None]:
        sent: list[int] = []
        for row in rows:
            headers = {**json.loads(row.headers), "Nats-Msg-Id": row.event_id}
            try:
                await js.publish(row.subject, row.envelope.encode(), stream=self.stream,
                                 headers=headers, timeout=2.0)
            except Exception as error:  # keep what went out; the rest waits for the next try
                return sent, error
            sent.append(row.seq)
            if self._after_publish is not None:
                await self._after_publish(row.event_id)
        return sent, None

    @staticmethod
    async def _mark(session, sent: list[int]) -> None:
        if sent:
            await session.execute(update(OUTBOX).where(OUTBOX.c.seq.in_(sent)).values(published_at=utcnow()))

    async def run(self, stop: asyncio.Event) -> None:
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
            try:
                await self.publish_pending()
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as error:  # NATS down or the database busy: retry, never drop
                log.warning("outbox relay could not publish; will retry",
                            extra={"error": type(error).__name__, "retry_in": backoff})
                await _sleep_or_stop(stop, backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            await _wait_wake_or_stop(self._wake, stop, self.poll_interval)
            if self.gather and self._wake.is_set():
                await _sleep_or_stop(stop, self.gather)


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
