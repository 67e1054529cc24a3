"""What accounts does when a resident closes their Montréal account, and when a counter
reopens it (identity's ``resident_closed`` / ``resident_reopened``, issue 21).

Closed: each live link to a service stops giving that service the resident's information
(``ServiceAccount.may_receive_attributes``): an active account is suspended, a pending one
(never activated) is closed; each change is a ``service_account_state_changed`` event, which
is how the linked services are told. Each suspension is also a ``service_account_suspended``
event (reason ``resident_closed``), in the same transaction through the outbox: the consent
register appends it to the resident's history ("Service X informé de la fermeture du
compte"), the answer to "what linked services are told". A pending link never gave the
service anything: its closing is only the state change. The profile and the history stay (the Access Act's
retention rules apply to them, not a deletion here).

Reopened: the accounts suspended *because of the closure* (their last transition is ours)
become active again, each with a ``service_account_reactivated`` event (reason
``resident_reopened``); whatever a service itself suspended or closed stays as the service left
it.

Purged (identity's ``resident_purged``, after the closed-account retention period; Access
Act s. 73): every link still open is closed (the services are told, as above), then the
profile's values, the document checks and the services' references are deleted. Kept: the
profile row (dates only), the links' states and dates, and the agents' actions.

All run in the consumer's unit of work (one transaction with the inbox row): applied once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from ..domain.events import ServiceAccountReactivated, ServiceAccountSuspended
from ..domain.service_account import AccountState
from .addressing import canonical_resident_id
from .ports import AccountsUnitOfWork, publish

ACTOR = "identity"
CLOSED_REASON = "the resident closed their Montréal account"
REOPENED_REASON = "the resident's Montréal account was reopened at a counter"
PURGED_REASON = "the resident's closed Montréal account reached the end of its retention period"
PAGE = 200
#: The ``reason`` of the events below (docs/contracts.md): a word, not the journal's sentence.
RESIDENT_CLOSED = "resident_closed"
RESIDENT_REOPENED = "resident_reopened"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


async def _accounts_of(uow: AccountsUnitOfWork, resident_id: str):
    after = None
    while True:
        page = await uow.accounts.list(resident_id=resident_id, service_id=None, state=None, after=after, limit=PAGE)
        for account in page:
            yield account
        if len(page) < PAGE:
            return
        after = page[-1].account_id


async def resident_closed(resident_id: str, uow: AccountsUnitOfWork, *,
                          clock: Callable[[], dt.datetime] = _utcnow) -> int:
    """Suspend (active) or close (pending) every live link of the resident; returns how many."""
    resident_id, now, changed = canonical_resident_id(resident_id), clock(), []
    async for account in _accounts_of(uow, resident_id):
        if account.state is AccountState.ACTIVE:
            account.suspend(ACTOR, CLOSED_REASON, now)
            account.events.append(ServiceAccountSuspended(
                account_id=account.account_id, resident_id=account.resident_id,
                service_id=account.service_id, reason=RESIDENT_CLOSED))
        elif account.state is AccountState.PENDING:
            account.close(ACTOR, CLOSED_REASON, now)
        else:
            continue
        await uow.accounts.save(account)
        changed.append(account)
    publish(uow, changed)
    return len(changed)


async def resident_reopened(resident_id: str, uow: AccountsUnitOfWork, *,
                            clock: Callable[[], dt.datetime] = _utcnow) -> int:
    """Reactivate the accounts the closure suspended (and only those); returns how many."""
    resident_id, now, changed = canonical_resident_id(resident_id), clock(), []
    async for account in _accounts_of(uow, resident_id):
        last = account.transitions[-1] if account.transitions else None
        if (account.state is AccountState.SUSPENDED and last is not None and last.actor == ACTOR
                and last.reason == CLOSED_REASON):
            account.activate(ACTOR, REOPENED_REASON, now)
            account.events.append(ServiceAccountReactivated(
                account_id=account.account_id, resident_id=account.resident_id,
                service_id=account.service_id, reason=RESIDENT_REOPENED))
            await uow.accounts.save(account)
            changed.append(account)
    publish(uow, changed)
    return len(changed)


async def resident_purged(resident_id: str, uow: AccountsUnitOfWork, *,
                          clock: Callable[[], dt.datetime] = _utcnow) -> dict[str, int]:
    """Close every link still open, then delete the profile's values, the document checks and
    the references (see the module's docstring); returns the counts. A second delivery finds
    nothing left to change."""
    resident_id, now, changed = canonical_resident_id(resident_id), clock(), []
    async for account in _accounts_of(uow, resident_id):
        if account.state is not AccountState.CLOSED:
            account.close(ACTOR, PURGED_REASON, now)
            await uow.accounts.save(account)
            changed.append(account)
    publish(uow, changed)
    return {"accounts_closed": len(changed), "attributes": await uow.profiles.forget(resident_id),
            "document_checks": await uow.counter.forget_checks(resident_id),
            "references": await uow.accounts.forget_references(resident_id)}
