"""The mailer's JetStream consumer: mail events in, messages out, each acknowledged only once
sent (or known to be undeliverable).

At least once, never lost: a message is acknowledged after the relay accepted it. A crash
between the two resends it; the Message-ID is the event id, so the resident's mail system
sees the same message twice at worst. Temporary failures are redelivered by JetStream with
an exponential backoff (``backoff_base`` × 2^(delivery-1), capped); after ``max_deliveries``
the message, and at once an undeliverable one, goes to the dead-letter path.
Expired codes are not sent: the resident asks for a new one.

The consumer is durable (``mailer--<event>``) on identity's stream, with its own NATS user in
deploy/ (subscribe to the two mail subjects only).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.common.consumer import delivery_count
from services.common.events import CloudEvent
from services.common.metrics import DEAD_LETTERS, meter
from services.common.nats import ensure_stream
from services.mailer.delivery import PermanentDeliveryFailure, TemporaryDeliveryFailure
from services.mailer.messages import PURPOSES, SUBJECTS, MailRequest, UndeliverableMail, render

log = logging.getLogger(__name__)
_meter = meter(__name__)
MAIL_SENT = _meter.create_counter("mtlid.mail.sent", unit="{mail}", description="Mails the relay accepted, by mail")
MAIL_FAILED = _meter.create_counter(
    "mtlid.mail.failed", unit="{mail}",
    description="Failed sends: failure=temporary (retried) or dead_lettered (given up), by mail")
MAIL_EXPIRED = _meter.create_counter("mtlid.mail.expired", unit="{mail}",
                                     description="Mails not sent because their code had expired")

Send = Callable[[object], Awaitable[None]]


class MailQueue:
    def __init__(self, *, jetstream: Callable[[], object | None], send: Send, sender: str,
                 durable: str = "mailer", max_deliveries: int = 10, backoff_base: float = 5.0,
                 backoff_cap: float = 900.0, clock: Callable[[], dt.datetime] | None = None) -> None:
        self._jetstream = jetstream
        self._send = send
        self.sender = sender
        self.durable = durable
        self.max_deliveries = max_deliveries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))
        # What an operator counts (and the metrics export): by outcome.
        self.sent = 0
        self.failed = 0            # temporary failures, each retried
        self.dead_lettered = 0
        self.expired = 0

    def backoff(self, delivery: int) -> float:
        return min(self.backoff_base * 2 ** max(delivery - 1, 0), self.backoff_cap)

    async def deliver(self, event: CloudEvent) -> bool:
        """Render and send one mail event; False when its code had expired (not sent).
        Raises ``PermanentDeliveryFailure`` or ``TemporaryDeliveryFailure``."""
        try:
            request = MailRequest.from_event(event)
        except UndeliverableMail as error:
            raise PermanentDeliveryFailure(str(error)) from None
        now = self._clock()
        if request.expired(now):
            self.expired += 1
            MAIL_EXPIRED.add(1, {"mail": request.purpose})
            log.info("code expired before it could be sent; not sent",
                     extra={"event_id": event.id, "mail": request.purpose})
            return False
        await self._send(render(request, sender=self.sender, now=now))
        self.sent += 1
        MAIL_SENT.add(1, {"mail": request.purpose})
        log.info("mail sent", extra={"event_id": event.id, "mail": request.purpose, "language": request.language})
        return True

    async def dead_letter(self, msg, event_id: str | None, reason: str) -> None:
        """The dead-letter path: stop redelivering (``term``) and say so loudly, with the
        event id only. The message stays in identity's stream for ``mtlid events`` to replay
        once the cause is fixed."""
        self.dead_lettered += 1
        MAIL_FAILED.add(1, {"failure": "dead_lettered", "mail": _mail_of(msg)})
        DEAD_LETTERS.add(1, {"consumer": self.durable})
        log.error("mail not deliverable; dead-lettered",
                  extra={"event_id": event_id, "consumer": self.durable, "reason": reason})
        await msg.term()

    async def handle(self, msg) -> None:
        delivery = delivery_count(msg)
        try:
            event = CloudEvent.from_envelope(json.loads(msg.data))
        except (ValueError, KeyError, TypeError):
            await self.dead_letter(msg, None, "not a CloudEvents envelope")
            return
        try:
            await self.deliver(event)
        except PermanentDeliveryFailure as error:
            await self.dead_letter(msg, event.id, str(error))
            return
        except TemporaryDeliveryFailure as error:
            self.failed += 1
            MAIL_FAILED.add(1, {"failure": "temporary", "mail": _mail_of(msg)})
            if delivery >= self.max_deliveries:
                await self.dead_letter(msg, event.id, f"{error}; gave up after {delivery} tries")
                return
            delay = self.backoff(delivery)
            log.warning("mail not sent yet; will retry",
                        extra={"event_id": event.id, "reason": str(error), "try": delivery, "retry_in": delay})
            await msg.nak(delay=delay)
            return
        await msg.ack()

    async def _subscriptions(self, js):
        stream = await ensure_stream(js, "identity")
        subscriptions = []
        for subject in SUBJECTS:
            name = f"{self.durable}--{subject.rsplit('.', 1)[-1]}"
            config = ConsumerConfig(durable_name=name, filter_subject=subject, ack_policy=AckPolicy.EXPLICIT,
                                    deliver_policy=DeliverPolicy.ALL, ack_wait=60, max_ack_pending=100)
            subscriptions.append(await js.pull_subscribe(subject, durable=name, stream=stream, config=config))
        return subscriptions

    async def run(self, stop: asyncio.Event) -> None:
        # Every series exists from the start, so rates and alerts work before the first mail.
        DEAD_LETTERS.add(0, {"consumer": self.durable})
        for mail in PURPOSES.values():
            MAIL_SENT.add(0, {"mail": mail})
            for failure in ("temporary", "dead_lettered"):
                MAIL_FAILED.add(0, {"failure": failure, "mail": mail})
        subscriptions = None
        while not stop.is_set():
            js = self._jetstream()
            if js is None:
                await asyncio.sleep(0.2)
                continue
            try:
                if subscriptions is None:
                    subscriptions = await self._subscriptions(js)
                for subscription in subscriptions:
                    try:
                        messages = await subscription.fetch(16, timeout=0.5)
                    except (NatsTimeoutError, asyncio.TimeoutError):
                        continue
                    for msg in messages:
                        await self.handle(msg)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - NATS hiccup: retry, never drop
                log.warning("mailer could not fetch; will retry", extra={"error": type(error).__name__})
                await asyncio.sleep(1.0)


def _mail_of(msg) -> str:
    return PURPOSES.get(str(getattr(msg, "subject", "")).rsplit(".", 1)[-1], "unknown")
