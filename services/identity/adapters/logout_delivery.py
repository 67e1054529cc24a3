"""Sends the back-channel logouts ``oidc/logout.py`` recorded (OpenID Connect Back-Channel
Logout 1.0 s. 2.5): a POST of ``logout_token`` to each client's URI, no redirect followed,
200 or 204 is success; anything else (an error status, a refused connection, a timeout) is
retried with exponential backoff and the outcome recorded on the delivery.

Several replicas may run it: each delivery is claimed by one (a lease on its next attempt
time, a conditional UPDATE) before it is sent. Woken right after a logout commits, and polls
in any case (deliveries written by another replica, retries that came due).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

import httpx

from services.identity.oidc.logout import MAX_ATTEMPTS, RETRY_BASE_SECONDS, after_attempt, mint_logout_token
from services.identity.oidc.records import utcnow

log = logging.getLogger(__name__)


class BackchannelLogoutSender:
    def __init__(self, provider, *, base_delay: float = RETRY_BASE_SECONDS, max_attempts: int = MAX_ATTEMPTS,
                 interval: float = 2.0, timeout: float = 5.0, batch: int = 20) -> None:
        self.provider = provider
        self.base_delay, self.max_attempts = base_delay, max_attempts
        self.interval, self.timeout, self.batch = interval, timeout, batch
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def deliver_due(self, http: httpx.AsyncClient) -> int:
        """Attempt every delivery that is due now; returns how many were attempted."""
        now = utcnow()
        async with self.provider.uow_factory() as uow:
            due = await uow.logout_deliveries.due(now, self.batch)
        attempted = 0
        for delivery in due:
            lease = now + dt.timedelta(seconds=self.timeout + 30)
            async with self.provider.uow_factory() as uow:
                claimed = await uow.logout_deliveries.claim(delivery.delivery_id, now, lease)
                client = await uow.clients.get(delivery.client_id)
                await uow.commit()
            if not claimed:
                continue
            attempted += 1
            error = await self._send(http, delivery, client)
            after_attempt(delivery, utcnow(), error, base=self.base_delay, max_attempts=self.max_attempts)
            async with self.provider.uow_factory() as uow:
                await uow.logout_deliveries.record(delivery)
                await uow.commit()
            log.info("back-channel logout", extra={"client_id": delivery.client_id, "attempts": delivery.attempts,
                                                   "delivered": delivery.delivered_at is not None,
                                                   "gave_up": delivery.gave_up_at is not None,
                                                   "error": error or ""})
        return attempted

    async def _send(self, http: httpx.AsyncClient, delivery, client) -> str | None:
        if client is None or client.disabled:
            return "client gone or disabled"
        await self.provider.refresh_keys()
        token = mint_logout_token(self.provider.keys, self.provider.config, client=client,
                                  resident_id=delivery.resident_id, session_id=delivery.session_id)
        try:
            response = await http.post(delivery.uri, data={"logout_token": token}, timeout=self.timeout,
                                       headers={"Cache-Control": "no-store"})
        except httpx.HTTPError as exc:
            return f"request failed: {type(exc).__name__}"
        if response.status_code in (200, 204):
            return None
        return f"HTTP {response.status_code}"

    async def run(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(follow_redirects=False) as http:
            while not stop.is_set():
                self._wake.clear()
                try:
                    await self.deliver_due(http)
                except Exception as error:  # noqa: BLE001 - the next round retries
                    log.warning("back-channel logout round failed", extra={"error": type(error).__name__})
                waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())}
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED), self.interval)
                for waiter in waiters:
                    waiter.cancel()
