"""Closed accounts purged after the retention period (issue 21), against the real front and
database: a resident who signed in to a service and to Mon compte, reported "this was not
me" and closed their account more than the retention period ago loses, at the next purge,
their address, password and every trace of use (sign-ins, sessions, codes, refresh tokens,
grants); their citizen number stays (closed, never given to anyone else) with the closure's
receipt, the report and the agents' actions. ``resident_purged`` goes through the outbox in
the same transaction, with identifiers and dates only. An account closed more recently, and
an open one, are untouched; a second run changes nothing; a purged account is not reopened."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select, update

from services.common.errors import FailedPrecondition
from services.identity.adapters.oauth_orm import GrantRow, RefreshTokenRow, SsoSessionRow
from services.identity.adapters.orm import ResidentClosureRow, ResidentRow, SecurityReportRow, SignInRow
from services.identity.domain.assurance import LevelOfAssurance
from services.identity.service_layer import account_closure as closure
from services.identity.service_layer import suspicious_activity as suspicious
from services.identity.service_layer.agents import Agent
from services.identity.service_layer.maintenance import purge_closed
from tests.integration.identity_oidc.conftest import PASSWORD, Browser, add_resident
from tests.integration.identity_oidc.flows import rp_client, tokens_for
from tests.integration.identity_oidc.test_account_closure import _events, _sign_in_to_account

RETENTION = 730


async def _count(front, row, resident_id: str) -> int:
    async with front.sessions() as session:
        return (await session.execute(select(func.count()).select_from(row).where(
            row.resident_id == resident_id))).scalar_one()


async def _closed_days_ago(front, resident_id: str, days: int) -> None:
    """The closure happened ``days`` ago (the resident's row and its receipt)."""
    when = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)
    async with front.sessions() as session:
        await session.execute(update(ResidentRow).where(ResidentRow.resident_id == resident_id).values(closed_at=when))
        await session.execute(update(ResidentClosureRow).where(ResidentClosureRow.resident_id == resident_id)
                              .values(closed_at=when))
        await session.commit()


async def _used_then_closed(front, email: str) -> str:
    resident = await add_resident(front.uow, email, LevelOfAssurance.VERIFIED, False)
    browser, laptop = Browser(front.base), Browser(front.base)
    client = rp_client(scope="openid offline_access")
    try:
        await tokens_for(front, browser, client, email=email, scopes=["offline_access"])
        assert (await _sign_in_to_account(laptop, email)).headers["location"] == "/account"
    finally:
        await browser.close()
        await laptop.close()
        await client.aclose()
    await suspicious.report_suspicious_activity(suspicious.ReportSuspiciousActivity(resident.resident_id), front.uow())
    async with front.uow() as uow:      # a new password chosen since
        again = await uow.residents.get(resident.resident_id)
        again.password_change_required = False
        await uow.residents.save(again)
        await uow.commit()
    await closure.close_account(closure.CloseAccount(resident.resident_id, PASSWORD), front.uow())
    return resident.resident_id


async def test_a_closed_account_past_its_retention_is_purged_and_its_number_stays_reserved(front):
    old = await _used_then_closed(front, "ferme.depuis.longtemps@example.ca")
    recent = await _used_then_closed(front, "ferme.recemment@example.ca")
    still_open = (await add_resident(front.uow, "toujours.ouvert@example.ca", LevelOfAssurance.SELF_ASSERTED,
                                     False)).resident_id
    await _closed_days_ago(front, old, RETENTION + 1)
    await _closed_days_ago(front, recent, RETENTION - 1)
    assert await _count(front, SignInRow, old) >= 2 and await _count(front, GrantRow, old) == 1
    assert await _count(front, RefreshTokenRow, old) >= 1

    counts = await purge_closed(front.uow, RETENTION)
    assert counts["closed_accounts_purged"] == 1 and counts["rows_deleted"] > 0

    async with front.uow() as uow:
        purged = await uow.residents.get(old)
        kept = await uow.residents.get(recent)
        untouched = await uow.residents.get(still_open)
    # the number stays, closed, with nothing that reaches or identifies the person
    assert purged is not None and purged.closed and purged.disabled and purged.purged_at is not None
    assert purged.email is None and purged.password_hash is None and not purged.email_verified
    assert purged.level == LevelOfAssurance.SELF_ASSERTED and purged.totp_secret_encrypted is None
    for row in (SignInRow, SsoSessionRow, RefreshTokenRow, GrantRow):
        assert await _count(front, row, old) == 0, row.__tablename__
    # what the law requires kept is kept: the receipt and the report
    assert await _count(front, ResidentClosureRow, old) == 1 and await _count(front, SecurityReportRow, old) == 1
    # journaled through the outbox, in the purge's transaction: identifiers and dates only
    [event] = await _events(front, "resident_purged", old)
    assert set(event) == {"resident_id", "closed_at", "purged_at"}
    assert "ferme.depuis.longtemps" not in json.dumps(event)

    # the others are as they were
    assert kept.email == "ferme.recemment@example.ca" and kept.purged_at is None
    assert await _count(front, SignInRow, recent) >= 2
    assert untouched.email == "toujours.ouvert@example.ca" and not untouched.closed
    assert await _events(front, "resident_purged", recent) == []

    # idempotent: nothing more to do
    assert (await purge_closed(front.uow, RETENTION))["closed_accounts_purged"] == 0
    assert len(await _events(front, "resident_purged", old)) == 1

    # not reopened (nothing left to reopen); the address is free, the number is not reused
    with pytest.raises(FailedPrecondition) as refused:
        await closure.reopen_account(closure.ReopenAccount(
            Agent("agent-0042", "acces-montreal-counter"), old, "passport"), front.uow())
    assert refused.value.reason == "PURGED"
    again = await add_resident(front.uow, "ferme.depuis.longtemps@example.ca", LevelOfAssurance.SELF_ASSERTED, False)
    assert again.resident_id != old


async def test_the_retention_period_is_the_configured_one(front):
    resident = await _used_then_closed(front, "ferme.il.y.a.dix.jours@example.ca")
    await _closed_days_ago(front, resident, 10)

    async def purged() -> bool:
        async with front.uow() as uow:
            return (await uow.residents.get(resident)).purged_at is not None

    await purge_closed(front.uow, 30)
    assert not await purged()
    await purge_closed(front.uow, 9)
    assert await purged()
