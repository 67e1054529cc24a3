"""What accounts tells when a resident closes (and a counter reopens) their Montréal account
(issue 21): which events go into the unit of work's outbox with the state changes, in the
same commit, and that they carry identifiers only."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from services.accounts.domain.events import (ServiceAccountReactivated, ServiceAccountStateChanged,
                                             ServiceAccountSuspended)
from services.accounts.domain.service_account import AccountState, ServiceAccount
from services.accounts.service_layer.resident_closure import resident_closed, resident_reopened
from services.identity.domain.citizen_number import CitizenNumber

from .fakes import FakeUnitOfWork, _Store

AT = dt.datetime(2026, 12, 5, 21, 0, tzinfo=dt.timezone.utc)


def _account(store: _Store, resident_id: str, service_id: str, state: AccountState) -> ServiceAccount:
    account = ServiceAccount.link(account_id=str(uuid.uuid4()), resident_id=resident_id, service_id=service_id,
                                  account_reference=f"REF-{service_id}", actor=service_id, at=AT)
    if state is not AccountState.PENDING:
        account.activate(service_id, "opened", AT)
    if state is AccountState.SUSPENDED:
        account.suspend(service_id, "the service's own reason", AT)
    account.events.clear()
    store.accounts[account.account_id] = account
    return account


async def _apply(handler, resident_id: str, store: _Store) -> list:
    async with FakeUnitOfWork(store) as uow:
        before = len(store.outbox)
        await handler(resident_id, uow, clock=lambda: AT)
        assert len(store.outbox) == before   # nothing leaves before the commit
        await uow.commit()
    return store.outbox[before:]


async def test_closing_tells_each_active_service_and_reopening_tells_it_again():
    store, resident = _Store(), CitizenNumber.new().canonical
    active = _account(store, resident, "bixi", AccountState.ACTIVE)
    pending = _account(store, resident, "bibliotheques", AccountState.PENDING)
    suspended_by_service = _account(store, resident, "piscines", AccountState.SUSPENDED)
    _account(store, CitizenNumber.new().canonical, "bixi", AccountState.ACTIVE)   # someone else's

    closing = await _apply(resident_closed, resident, store)
    told = [e for e in closing if isinstance(e, ServiceAccountSuspended)]
    assert told == [ServiceAccountSuspended(account_id=active.account_id, resident_id=resident,
                                            service_id="bixi", reason="resident_closed")]
    # the pending link (never gave the service anything) and the active one change state;
    # what the service had suspended itself is left alone
    assert {(e.account_id, e.to_state) for e in closing if isinstance(e, ServiceAccountStateChanged)} == {
        (active.account_id, "suspended"), (pending.account_id, "closed")}
    assert suspended_by_service.account_id not in {getattr(e, "account_id", None) for e in closing}
    # identifiers only
    assert set(dataclasses.asdict(told[0])) == {"account_id", "resident_id", "service_id", "reason"}

    reopening = await _apply(resident_reopened, resident, store)
    assert [e for e in reopening if isinstance(e, ServiceAccountReactivated)] == [
        ServiceAccountReactivated(account_id=active.account_id, resident_id=resident, service_id="bixi",
                                  reason="resident_reopened")]
    assert store.accounts[suspended_by_service.account_id].state is AccountState.SUSPENDED
    assert store.accounts[active.account_id].state is AccountState.ACTIVE

    # a second reopening event: nothing left to reactivate, nothing told twice
    again = await _apply(resident_reopened, resident, store)
    assert again == []
