"""The mailer's JetStream consumer: mail events in, messages out, each acknowledged only once
sent (or dead-lettered), built on the common consumer (services/common/consumer.py) like
every other consumer of mtlid.

At least once, never lost: a message is acknowledged after the relay accepted it. A crash
between the two resends it; the Message-ID is the event id, so the resident's mail system
sees the same message twice at worst (no inbox table: the mailer has no database).
Temporary failures (``TemporaryDeliveryFailure``: the relay down, a 4xx) are redelivered by
JetStream with an exponential backoff (``backoff_base`` × 2^(delivery-1), capped); after
``max_deliveries``, and at once for a permanent one (``PermanentDeliveryFailure``: a 5xx
refusal, an event that cannot become a mail), the event goes to the mailer's dead-letter
stream ``MTLID_MAILER_DEAD_LETTERS`` (issue 16): ``mtlid events dead-letters --service
mailer`` lists it, ``mtlid events replay mailer:<n>`` sends it again once the cause is fixed.
Expired codes are not sent: the resident asks for a new one.

The consumers are durable (``mailer--<event>``, one per kind of mail in the registry
services/mailer/mails.py) on identity's stream, with their own NATS user in deploy/.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from services.common.consumer import EventConsumer
from services.common.events import CloudEvent
from services.common.metrics import DEAD_LETTERS, meter
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


class MailQueue(EventConsumer):
    def __init__(self, *, jetstream: Callable[[], object | None], send: Send, sender: str,
                 durable: str = "mailer", max_deliveries: int = 10, backoff_base: float = 5.0,
                 backoff_cap: float = 900.0, clock: Callable[[], dt.datetime] | None = None,
                 replicas: int = 1) -> None:
        # One message per fetch: a send may take the relay's whole timeout (20 s), and a
        # batch must be handled within the consumer's ack wait (30 s) or it is redelivered.
        super().__init__(jetstream=jetstream, uow_factory=None, durable=durable, stream_service="identity",
                         subjects=SUBJECTS, handler=self._deliver_event, batch=1, service="mailer",
                         max_deliveries=max_deliveries, backoff=self.backoff_delay, replicas=replicas)
        self._send = send
        self.sender = sender
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))
        # What an operator counts (and the metrics export): by outcome.
        self.sent = 0
        self.failed = 0            # temporary failures, each retried
        self.expired = 0

    def backoff_delay(self, delivery: int) -> float:
        return min(self.backoff_base * 2 ** max(delivery - 1, 0), self.backoff_cap)

    async def deliver(self, event: CloudEvent) -> bool:
        """Render and send one mail event; False when its code had expired (not sent).
        Raises ``PermanentDeliveryFailure`` or ``TemporaryDeliveryFailure``."""
        try:
            request = MailRequest.from_event(event)
        except UndeliverableMail as error:
            raise PermanentDeliveryFailure("NOT_A_MAIL", str(error)) from None
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

    async def _deliver_event(self, event: CloudEvent, _uow) -> None:
        try:
            await self.deliver(event)
        except TemporaryDeliveryFailure:
            self.failed += 1
            MAIL_FAILED.add(1, {"failure": "temporary", "mail": _mail_of(event.type)})
            raise

    async def _dead_letter(self, msg, event_id, reason, deliveries) -> None:
        before = self.dead_lettered
        await super()._dead_letter(msg, event_id, reason, deliveries)
        if self.dead_lettered > before:
            subject = (msg.headers or {}).get("Mtlid-Original-Subject", msg.subject)
            MAIL_FAILED.add(1, {"failure": "dead_lettered", "mail": _mail_of(subject)})

    async def run(self, stop) -> None:
        # Every series exists from the start, so rates and alerts work before the first mail.
        DEAD_LETTERS.add(0, {"consumer": self.durable})
        for mail in PURPOSES.values():
            MAIL_SENT.add(0, {"mail": mail})
            for failure in ("temporary", "dead_lettered"):
                MAIL_FAILED.add(0, {"failure": failure, "mail": mail})
        await super().run(stop)


def _mail_of(subject_or_type: str) -> str:
    return PURPOSES.get(str(subject_or_type).rsplit(".", 1)[-1], "unknown")
