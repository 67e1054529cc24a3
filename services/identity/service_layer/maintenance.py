"""Housekeeping every replica may run (idempotent, safe concurrently): forget login
counters past their ``forget_after``, delete retired signing keys whose tokens have all
expired (their encrypted private halves go with them), and forget sign-ins past their
retention (``domain/sign_ins.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

from services.identity.domain.throttling import ACCOUNT_POLICY, ADDRESS_POLICY, TOTP_POLICY
from services.identity.service_layer.sign_ins import purge_expired

INTERVAL_SECONDS = 3600.0
log = logging.getLogger(__name__)


async def prune(uow, now: dt.datetime | None = None) -> dict[str, int]:
    now = now or dt.datetime.now(dt.timezone.utc)
    horizon = max(p.forget_after for p in (ACCOUNT_POLICY, ADDRESS_POLICY, TOTP_POLICY))
    async with uow:
        throttles = await uow.throttles.prune(now - dt.timedelta(seconds=horizon))
        keys = await uow.signing_keys.delete_expired(now)
        sign_ins = await purge_expired(uow, now)
        await uow.commit()
    return {"throttles": throttles, "signing_keys": keys, "sign_ins": sign_ins}


def maintenance_task(uow_factory):
    async def identity_maintenance(stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), INTERVAL_SECONDS)
            if stop.is_set():
                return
            try:
                log.info("identity maintenance", extra=await prune(uow_factory()))
            except Exception as error:  # try again next hour; never kill the service for it
                log.warning("identity maintenance failed: %s", type(error).__name__)
    return identity_maintenance
