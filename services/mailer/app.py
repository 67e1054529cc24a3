"""``mtlid serve mailer``: the mail sender, one process (its own Deployment in deploy/).

No database and no gRPC: it reads identity's mail events (the registry ``mails.py``) from
JetStream with its own durable consumers, and sends (``services.mailer.queue``). Stopping:
the current mail finishes or is redelivered; nothing is acknowledged unsent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from services.common.config import Settings
from services.common.nats import connect
from services.mailer.config import MailerSettings
from services.mailer.delivery import sender_for
from services.mailer.queue import MailQueue

log = logging.getLogger(__name__)


class Mailer:
    def __init__(self, settings: Settings, mailer_settings: MailerSettings, **queue_options) -> None:
        self.settings = settings
        self.mailer_settings = mailer_settings
        self.nats = None
        self.js = None
        # Its dead-letter stream has as many replicas as the services' streams (3 in deploy/).
        queue_options.setdefault("replicas", settings.nats_stream_replicas)
        self.queue = MailQueue(jetstream=lambda: self.js, send=sender_for(mailer_settings).send,
                               sender=mailer_settings.sender, **queue_options)

    async def _connect(self, stop: asyncio.Event) -> None:
        delay, waited = 0.2, 0.0
        while not stop.is_set():
            try:
                self.nats = await connect(self.settings.nats_url, name="mtlid-mailer")
                self.js = self.nats.jetstream()
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - retried; reported if it lasts
                waited += delay
                log.log(logging.WARNING if waited > 10 else logging.DEBUG, "cannot reach NATS yet; mail waits",
                        extra={"error": type(error).__name__})
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, 5.0)

    async def run(self, stop: asyncio.Event) -> None:
        target = (f"{self.mailer_settings.smtp_host}:{self.mailer_settings.smtp_port}"
                  if self.mailer_settings.smtp_host else str(self.mailer_settings.mailbox_dir))
        log.info("mailer started", extra={"delivers_to": target})
        connecting = asyncio.create_task(self._connect(stop))
        try:
            await self.queue.run(stop)
        finally:
            connecting.cancel()
            await asyncio.gather(connecting, return_exceptions=True)
            if self.nats is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.nats.close(), timeout=2.0)
            log.info("mailer stopped")


async def serve(settings: Settings, mailer_settings: MailerSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await Mailer(settings, mailer_settings).run(stop)
