"""Housekeeping every replica may run (idempotent, safe concurrently): forget login
counters past their ``forget_after``, delete retired signing keys whose tokens have all
expired (their encrypted private halves go with them), and forget sign-ins past their
retention (``domain/sign_ins.py``); and purge the accounts closed longer than the
closed-account retention period (``closed_accounts.py``, issue 21), in their own transactions."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

from services.identity.domain.throttling import ACCOUNT_POLICY, ADDRESS_POLICY, TOTP_POLICY
from services.identity.service_layer.closed_accounts import DEFAULT_RETENTION_DAYS, PurgeClosedAccounts, \
    purge_closed_accounts
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


async def purge_closed(uow_factory, retention_days: int = DEFAULT_RETENTION_DAYS,
                       now: dt.datetime | None = None) -> dict[str, int]:
    """The closed-account purge, with counts only for the log (no identifier, no address)."""
    purged = await purge_closed_accounts(PurgeClosedAccounts(retention_days=retention_days, now=now), uow_factory)
    return {"closed_accounts_purged": len(purged.residents), "rows_deleted": purged.rows_deleted}


def maintenance_task(uow_factory, closed_account_retention_days: int = DEFAULT_RETENTION_DAYS):
    async def identity_maintenance(stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), INTERVAL_SECONDS)
            if stop.is_set():
                return
            try:
                log.info("identity maintenance", extra={
                    **await prune(uow_factory()),
                    **await purge_closed(uow_factory, closed_account_retention_days)})
            except Exception as error:  # try again next hour; never kill the service for it
                log.warning("identity maintenance failed: %s", type(error).__name__)
    return identity_maintenance
