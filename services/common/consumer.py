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

Poison events (issue 16). An event a handler cannot apply must neither block its stream nor
be retried forever:
- a *permanent* failure is dead-lettered at once: the handler raises ``PermanentFailure``
  (the public API for handlers), ``InvalidArgument``, ``PermissionDenied`` or ``NotFound``;
  or another service refused with INVALID_ARGUMENT, PERMISSION_DENIED or NOT_FOUND (found
  anywhere in the exception's chain, also when an adapter re-raised it as ``Unavailable``);
  or the message is not a CloudEvents envelope;
- anything else is *transient*: redelivered after ``BACKOFF_SECONDS`` (1 s, 2 s, 5 s, 15 s,
  30 s), and dead-lettered after ``MAX_DELIVERIES`` (6) deliveries;
- a dead letter is published to the consuming service's dead-letter stream
  ``MTLID_<SVC>_DEAD_LETTERS`` (subject ``montreal.<svc>.dead_letters.dead.<durable>``: the
  original envelope, the reason and the origin in headers — never an attribute value in a
  header or a log line), and only once JetStream has it is the original acknowledged;
- logged once, at ERROR, when dead-lettered; a transient failure is logged at WARNING on its
  first delivery only (with its traceback), not once per try;
- ``mtlid events dead-letters`` lists them, ``mtlid events replay ID…`` sends one back to
  the consumer that failed it (subject ``montreal.<svc>.dead_letters.replay.<durable>``, read
  by that consumer alone) after a fix; services.common.dead_letters holds both.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence

from opentelemetry import trace
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from services.common import errors
from services.common.errors import Unavailable, dependency_unavailable
from services.common.events import CloudEvent
from services.common.metrics import DEAD_LETTERS
from services.common.nats import DUPLICATE_WINDOW_SECONDS, ensure_configured, ensure_stream
from services.common.outbox import utcnow
from services.common.telemetry import event_context
from services.common.uow import INBOX

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

Handler = Callable[[CloudEvent, object], Awaitable[None]]


def delivery_count(msg) -> int:
    """How many times JetStream has delivered ``msg`` (1 the first time)."""
    try:
        return int(msg.metadata.num_delivered)
    except Exception:  # noqa: BLE001 - a message without JetStream metadata
        return 1


Settled = Callable[[CloudEvent], Awaitable[bool]]

MAX_DELIVERIES = 6
REPLAY_CHECK_SECONDS = 2.0
BACKOFF_SECONDS = (1.0, 2.0, 5.0, 15.0, 30.0)  # before delivery n + 1, after n failures


class PermanentFailure(Exception):
    """Raised by a handler for an event that can never be applied as it is (it names
    something that does not exist, breaks a rule, comes from a version we do not read): the
    event is dead-lettered at once instead of retried. ``reason`` is a stable code (upper
    snake case) that goes into the dead letter and the log; never put an attribute value in
    it or in the message."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message or reason)
        self.reason = reason


_PERMANENT_ERRORS = ((errors.InvalidArgument, "INVALID_ARGUMENT"),
                     (errors.PermissionDenied, "PERMISSION_DENIED"),
                     (errors.NotFound, "NOT_FOUND"))
_PERMANENT_CODES = frozenset({"INVALID_ARGUMENT", "PERMISSION_DENIED", "NOT_FOUND"})


def permanent_reason(error: BaseException) -> str | None:
    """Why ``error`` can never succeed on retry, or None when it may (see the module
    docstring). A gRPC refusal is found also behind an adapter's ``Unavailable``."""
    if isinstance(error, PermanentFailure):
        return error.reason
    for kind, reason in _PERMANENT_ERRORS:
        if isinstance(error, kind):
            return reason
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        code = getattr(current, "code", None)
        if callable(code) and type(current).__module__.startswith("grpc"):
            try:
                name = code().name
            except Exception:  # noqa: BLE001 - not a gRPC status after all
                name = None
            if name in _PERMANENT_CODES:
                return f"REMOTE_{name}"
        current = current.__cause__ or current.__context__
    return None


def backoff_for(deliveries: int) -> float:
    return BACKOFF_SECONDS[min(deliveries, len(BACKOFF_SECONDS)) - 1]


def dead_letter_stream_name(service: str) -> str:
    return f"MTLID_{service.upper()}_DEAD_LETTERS"


def dead_letter_subject(service: str, kind: str, durable: str) -> str:
    """``kind``: ``dead`` (a dead letter) or ``replay`` (sent back to ``durable``)."""
    return f"montreal.{service}.dead_letters.{kind}.{durable}"


def dead_letter_stream_config(service: str, replicas: int = 1) -> StreamConfig:
    """One per consuming service, kept until replayed or removed (no age limit: a dead
    letter is work for an operator, not noise to expire)."""
    return StreamConfig(name=dead_letter_stream_name(service), subjects=[f"montreal.{service}.dead_letters.>"],
                        storage=StorageType.FILE, duplicate_window=DUPLICATE_WINDOW_SECONDS,
                        num_replicas=replicas)


class EventConsumer:
    """``service``: the consuming service, whose dead-letter stream receives this consumer's
    dead letters (default: the durable name's first word, ``consent`` for
    ``consent-accounts``).

    ``uow_factory=None``: a consumer without a database (the mailer), whose handler is called
    with ``None`` for a unit of work and is idempotent by its own means (the mailer's
    Message-ID); no inbox row. ``backoff``: the delay before delivery n + 1 after n failures
    (default ``backoff_for``), for a consumer whose transient failures last longer (a relay
    that is down)."""

    def __init__(self, *, jetstream: Callable[[], object | None], uow_factory: Callable[[], object] | None,
                 durable: str, stream_service: str, subjects: Sequence[str], handler: Handler,
                 batch: int = 64, settled: Settled | None = None, replicas: int = 1,
                 service: str | None = None, max_deliveries: int = MAX_DELIVERIES,
                 backoff: Callable[[int], float] | None = None) -> None:
        self._jetstream = jetstream
        self._uow_factory = uow_factory
        self.durable = durable
        self.stream_service = stream_service
        self.subjects = list(subjects)
        self.handler = handler
        self.batch = batch
        self.settled = settled
        self.replicas = replicas
        self.service = service or durable.split("-", 1)[0]
        self.max_deliveries = max_deliveries
        self.backoff = backoff or backoff_for
        self.dead_lettered = 0
        self.applied = 0
        self.duplicates = 0
        self.already_settled = 0  # acknowledged by ``settled`` without a transaction
        self._stop = asyncio.Event()  # run()'s, once running

    async def apply(self, event: CloudEvent) -> bool:
        """Apply one event exactly once; returns False when it had been applied already."""
        if self.settled is not None and await self.settled(event):
            self.already_settled += 1
            return False
        if self._uow_factory is None:
            await self.handler(event, None)
            self.applied += 1
            return True
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
        stream = await ensure_stream(js, self.stream_service, replicas=self.replicas, owner=False)
        dead_letters = await ensure_configured(js, dead_letter_stream_config(self.service, self.replicas))
        subs = []
        # One durable consumer per subject: works on every JetStream server version
        # (multiple filter subjects need nats-server 2.10+).
        for subject in self.subjects:
            name = f"{self.durable}--{subject.rsplit('.', 1)[-1]}"
            subs.append(await self._pull(js, stream, subject, name))
        # Dead letters sent back by `mtlid events replay`, for this consumer only.
        replay = await self._pull(js, dead_letters, dead_letter_subject(self.service, "replay", self.durable),
                                  f"{self.durable}--replay")
        return subs, replay

    @staticmethod
    async def _pull(js, stream: str, subject: str, name: str):
        config = ConsumerConfig(durable_name=name, filter_subject=subject,
                                ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL,
                                ack_wait=30, max_ack_pending=1000)
        return await js.pull_subscribe(subject, durable=name, stream=stream, config=config)

    async def _handle(self, msg) -> None:
        deliveries = delivery_count(msg)
        try:
            envelope = json.loads(msg.data)
            event = CloudEvent.from_envelope(envelope)
        except (ValueError, KeyError, TypeError):
            await self._dead_letter(msg, None, "UNDECODABLE", deliveries)
            return
        # The producer's trace: the envelope's CloudEvents tracing extension, else the headers.
        context = event_context(envelope, msg.headers)
        with tracer.start_as_current_span(f"consume {msg.subject}", context=context,
                                          kind=trace.SpanKind.CONSUMER):
            try:
                await self.apply(event)
            except Exception as error:  # noqa: BLE001 - every failure is sorted, none is lost
                if self._stop.is_set():
                    # Shutting down: channels and sessions close under the handler; the event
                    # is redelivered to whoever consumes next. Not an error to look at.
                    log.info("stopping; the event will be redelivered",
                             extra={"event_id": event.id, "consumer": self.durable})
                    await msg.nak(delay=2)
                    return
                reason = permanent_reason(error)   # first: a refusal may hide behind an Unavailable
                if reason is None and deliveries < self.max_deliveries:
                    if deliveries <= 1:  # once per event, not once per try
                        # Another service or the database away (its start, a rollout) is the
                        # expected moment, not a bug: said quietly, without a traceback.
                        waiting = isinstance(error, Unavailable) or dependency_unavailable(error)
                        log.log(logging.INFO if waiting else logging.WARNING, "event handler failed; will retry",
                                exc_info=None if waiting else error,
                                extra={"event_id": event.id, "consumer": self.durable,
                                       "error": type(error).__name__})
                    await msg.nak(delay=self.backoff(deliveries))
                    return
                await self._dead_letter(msg, event.id, reason or f"RETRIES_EXHAUSTED:{type(error).__name__}",
                                        deliveries)
                return
        await msg.ack()
        await self._forget_replay(msg)

    async def _forget_replay(self, msg) -> None:
        """A replayed dead letter, applied or dead again, leaves the dead-letter stream
        (best effort: one left behind is only listed nowhere and takes a little disk)."""
        if not msg.subject.startswith(dead_letter_subject(self.service, "replay", "")):
            return
        js = self._jetstream()
        try:
            await js.delete_msg(dead_letter_stream_name(self.service), msg.metadata.sequence.stream)
        except Exception as error:  # noqa: BLE001
            log.info("replayed dead letter not removed", extra={"error": type(error).__name__})

    async def _dead_letter(self, msg, event_id: str | None, reason: str, deliveries: int) -> None:
        """Publish the message to the dead-letter stream, then acknowledge the original (in
        that order: a crash between the two redelivers it, and the dead letter's
        ``Nats-Msg-Id`` makes the second copy a duplicate JetStream drops)."""
        headers = dict(msg.headers or {})
        original_subject = headers.get("Mtlid-Original-Subject", msg.subject)
        meta = getattr(msg, "metadata", None)
        origin = (f"{meta.stream}:{meta.sequence.stream}" if meta is not None else original_subject)
        dead = {
            "Nats-Msg-Id": f"dead:{self.durable}:{origin}:{event_id or ''}",
            "Mtlid-Consumer": self.durable,
            "Mtlid-Event-Id": event_id or "",
            "Mtlid-Original-Subject": original_subject,
            "Mtlid-Original": headers.get("Mtlid-Original", origin),
            "Mtlid-Reason": reason,
            "Mtlid-Deliveries": str(deliveries),
            "Mtlid-Dead-At": utcnow().isoformat().replace("+00:00", "Z"),
        }
        if "traceparent" in headers:
            dead["traceparent"] = headers["traceparent"]
        js = self._jetstream()
        try:
            if js is None:
                raise ConnectionError("not connected to NATS")
            ack = await js.publish(dead_letter_subject(self.service, "dead", self.durable), msg.data,
                                   stream=dead_letter_stream_name(self.service), headers=dead, timeout=5.0)
        except Exception as error:  # noqa: BLE001 - not dead-lettered: keep it, try again later
            log.warning("could not dead-letter an event; will retry",
                        extra={"event_id": event_id, "consumer": self.durable, "error": type(error).__name__})
            await msg.nak(delay=backoff_for(max(deliveries, 1)))
            return
        await msg.term()
        await self._forget_replay(msg)
        self.dead_lettered += 1
        DEAD_LETTERS.add(1, {"consumer": self.durable})
        log.error("event dead-lettered", extra={
            "event_id": event_id, "consumer": self.durable, "reason": reason, "deliveries": deliveries,
            "dead_letter": f"{self.service}:{ack.seq}", "subject": original_subject})

    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        DEAD_LETTERS.add(0, {"consumer": self.durable})  # the series exists before the first
        subs = replay = None
        loop = asyncio.get_running_loop()
        next_replay_check = 0.0
        while not stop.is_set():
            js = self._jetstream()
            if js is None:
                await asyncio.sleep(0.2)
                continue
            try:
                if subs is None:
                    subs, replay = await self._subscriptions(js)
                got = False
                for sub in subs:
                    if stop.is_set():  # a stop is not kept waiting for every subject's fetch
                        break
                    try:
                        messages = await sub.fetch(self.batch, timeout=0.5 if len(subs) > 1 else 1.0)
                    except (NatsTimeoutError, asyncio.TimeoutError):
                        continue
                    got = True
                    for msg in messages:
                        await self._handle(msg)
                if loop.time() >= next_replay_check:
                    # Replays are an operator's occasional act: looked for every REPLAY_CHECK
                    # seconds, so the events' own latency does not pay for them.
                    next_replay_check = loop.time() + REPLAY_CHECK_SECONDS
                    try:
                        for msg in await replay.fetch(self.batch, timeout=0.1):
                            got = True
                            await self._handle(msg)
                    except (NatsTimeoutError, asyncio.TimeoutError):
                        pass
                if not got:
                    await asyncio.sleep(0)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("consumer could not fetch; will retry",
                            extra={"consumer": self.durable, "error": type(error).__name__})
                await asyncio.sleep(1.0)
