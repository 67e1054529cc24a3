"""Durable, idempotent event consumers (JetStream pull consumers + an inbox table).

For each message: in one transaction, insert the event id into ``inbox`` and run the
handler; commit; then acknowledge. A redelivered event (the ack was lost, or a replica
crashed after commit) finds its id in the inbox and is acknowledged without being applied
again. The handler never commits: the consumer commits the inbox row, the handler's changes
and the handler's own outbox events together.

A consumer may also be given ``settled``: a read-only check, outside any transaction, that
the event's effect is already in place by the handler's own idempotency key (consent: the
access an ``attributes_released`` event reports, recorded first by accounts' RecordAccess
call, which is the common case). Such an event is acknowledged without a unit of work, which
saves a transaction of five or six statements per event. ``settled`` must answer True only
when applying the event would change nothing and log nothing; when in doubt, False (the
handler then decides, as before).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence

from opentelemetry import propagate, trace
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from services.common.errors import Unavailable, dependency_unavailable
from services.common.events import CloudEvent
from services.common.metrics import DEAD_LETTERS
from services.common.nats import ensure_stream
from services.common.outbox import utcnow
from services.common.uow import INBOX

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

Handler = Callable[[CloudEvent, object], Awaitable[None]]

# Redeliveries of an event held up by an unreachable dependency before it is worth a warning
# (at 2 s apart: the first seconds of ``mtlid up``, or of a rollout).
QUIET_REDELIVERIES = 5


def delivery_count(msg) -> int:
    """How many times JetStream has delivered ``msg`` (1 the first time)."""
    try:
        return int(msg.metadata.num_delivered)
    except Exception:  # noqa: BLE001 - a message without JetStream metadata
        return 1
Settled = Callable[[CloudEvent], Awaitable[bool]]


class EventConsumer:
    def __init__(self, *, jetstream: Callable[[], object | None], uow_factory: Callable[[], object],
                 durable: str, stream_service: str, subjects: Sequence[str], handler: Handler,
                 batch: int = 64, settled: Settled | None = None) -> None:
        self._jetstream = jetstream
        self._uow_factory = uow_factory
        self.durable = durable
        self.stream_service = stream_service
        self.subjects = list(subjects)
        self.handler = handler
        self.batch = batch
        self.settled = settled
        self.applied = 0
        self.duplicates = 0
        self.already_settled = 0  # acknowledged by ``settled`` without a transaction
        self._stop = asyncio.Event()  # run()'s, once running

    async def apply(self, event: CloudEvent) -> bool:
        """Apply one event exactly once; returns False when it had been applied already."""
        if self.settled is not None and await self.settled(event):
            self.already_settled += 1
            return False
        async with self._uow_factory() as uow:
            session = uow.session
            seen = await session.scalar(select(INBOX.c.event_id).where(
                INBOX.c.consumer == self.durable, INBOX.c.event_id == event.id))
            if seen is not None:
                self.duplicates += 1
                return False
            await session.execute(insert(INBOX).values(consumer=self.durable, event_id=event.id,
                                                       processed_at=utcnow()))
            await self.handler(event, uow)
            try:
                await uow.commit()
            except IntegrityError:
                # Another replica applied the same event between our check and our commit.
                self.duplicates += 1
                return False
        self.applied += 1
        return True

    async def _subscriptions(self, js):
        stream = await ensure_stream(js, self.stream_service)
        subs = []
        # One durable consumer per subject: works on every JetStream server version
        # (multiple filter subjects need nats-server 2.10+).
        for subject in self.subjects:
            name = f"{self.durable}--{subject.rsplit('.', 1)[-1]}"
            config = ConsumerConfig(durable_name=name, filter_subject=subject,
                                    ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL,
                                    ack_wait=30, max_ack_pending=1000)
            subs.append(await js.pull_subscribe(subject, durable=name, stream=stream, config=config))
        return subs

    async def _handle(self, msg) -> None:
        try:
            event = CloudEvent.from_envelope(json.loads(msg.data))
        except (ValueError, KeyError, TypeError):
            log.error("dropping a message that is not a CloudEvents envelope",
                      extra={"subject": msg.subject, "consumer": self.durable})
            DEAD_LETTERS.add(1, {"consumer": self.durable})
            await msg.term()
            return
        context = propagate.extract(dict(msg.headers or {}))
        with tracer.start_as_current_span(f"consume {msg.subject}", context=context,
                                          kind=trace.SpanKind.CONSUMER):
            try:
                await self.apply(event)
            except Exception as error:
                if self._stop.is_set():
                    # Shutting down: channels and sessions close under the handler; the event
                    # is redelivered to whoever consumes next. Not an error to look at.
                    log.info("stopping; the event will be redelivered",
                             extra={"event_id": event.id, "consumer": self.durable})
                elif isinstance(error, Unavailable) or dependency_unavailable(error):
                    # Another service or the database not reachable yet (its start, a rollout):
                    # redelivery is the remedy; worth a warning only when it keeps happening.
                    level = logging.INFO if delivery_count(msg) < QUIET_REDELIVERIES else logging.WARNING
                    log.log(level, "event waits for a dependency; will be redelivered",
                            extra={"event_id": event.id, "consumer": self.durable,
                                   "error": type(error).__name__})
                else:
                    log.exception("event handler failed; will be redelivered",
                                  extra={"event_id": event.id, "consumer": self.durable})
                await msg.nak(delay=2)
                return
        await msg.ack()

    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        DEAD_LETTERS.add(0, {"consumer": self.durable})  # the series exists before the first
        subs = None
        while not stop.is_set():
            js = self._jetstream()
            if js is None:
                await asyncio.sleep(0.2)
                continue
            try:
                if subs is None:
                    subs = await self._subscriptions(js)
                got = False
                for sub in subs:
                    try:
                        messages = await sub.fetch(self.batch, timeout=0.5 if len(subs) > 1 else 1.0)
                    except (NatsTimeoutError, asyncio.TimeoutError):
                        continue
                    got = True
                    for msg in messages:
                        await self._handle(msg)
                if not got:
                    await asyncio.sleep(0)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("consumer could not fetch; will retry",
                            extra={"consumer": self.durable, "error": type(error).__name__})
                await asyncio.sleep(1.0)
