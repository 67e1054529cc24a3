"""A resident's account with one service, and its guarded lifecycle.

::

                 activate              suspend
    (link) ──▶ pending ──────▶ active ─────────▶ suspended
                  │              ▲  │  ◀─────────  │
                  │              │  │   activate   │
                  │  close       │  │ close        │ close
                  └──────────────┼──┴──────────────┴────────▶ closed  (terminal)

* ``pending``: linked (by the service, or by an agent with the resident present), not yet
  confirmed by the service;
* ``active``: in use; ``suspended``: on hold (unpaid fees, a dispute), may come back;
* ``closed``: final; the history stays, and a new link creates a new account.

Every transition is kept with its actor, reason and time (Zitadel/Hydra style guarded
methods); an illegal one is refused with FAILED_PRECONDITION and a reason the caller can act
on. The resident does not close an account themself: they ask the service to unlink
(``request_unlink``), because a service may have to keep it (a tax account with a balance).
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass, field

from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.events import Event

from .events import ServiceAccountLinked, ServiceAccountStateChanged, ServiceAccountUnlinkRequested


class AccountState(str, enum.Enum):
    PENDING = "pending"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CLOSED = "closed"


#: The guarded transitions: the diagram above, as data.
TRANSITIONS: dict[AccountState, frozenset[AccountState]] = {
    AccountState.PENDING: frozenset({AccountState.ACTIVE, AccountState.CLOSED}),
    AccountState.ACTIVE: frozenset({AccountState.SUSPENDED, AccountState.CLOSED}),
    AccountState.SUSPENDED: frozenset({AccountState.ACTIVE, AccountState.CLOSED}),
    AccountState.CLOSED: frozenset(),
}

_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/#-]{0,127}$")


def check_account_reference(reference: str, field_name: str = "account_reference") -> str:
    reference = (reference or "").strip()
    if not _REFERENCE.match(reference):
        raise InvalidArgument(field_name, "1..128 characters: letters, digits and . _ : / # -")
    return reference


@dataclass(frozen=True)
class Transition:
    from_state: AccountState | None
    to_state: AccountState
    actor: str
    reason: str
    at: dt.datetime


@dataclass
class ServiceAccount:
    account_id: str
    resident_id: str
    service_id: str
    account_reference: str
    state: AccountState
    created_at: dt.datetime
    updated_at: dt.datetime
    unlink_requested_at: dt.datetime | None = None
    transitions: list[Transition] = field(default_factory=list)
    events: list[Event] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def link(cls, *, account_id: str, resident_id: str, service_id: str, account_reference: str,
             actor: str, at: dt.datetime, reason: str = "linked") -> "ServiceAccount":
        account = cls(account_id=account_id, resident_id=resident_id, service_id=service_id,
                      account_reference=check_account_reference(account_reference),
                      state=AccountState.PENDING, created_at=at, updated_at=at)
        account.transitions.append(Transition(None, AccountState.PENDING, actor, reason, at))
        account.events.append(ServiceAccountLinked(account_id=account_id, resident_id=resident_id,
                                                   service_id=service_id))
        return account

    @property
    def is_open(self) -> bool:
        return self.state is not AccountState.CLOSED

    @property
    def may_receive_attributes(self) -> bool:
        """A service reads a resident's data only through a live link (pending or active)."""
        return self.state in (AccountState.PENDING, AccountState.ACTIVE)

    def activate(self, actor: str, reason: str, at: dt.datetime) -> None:
        self._move(AccountState.ACTIVE, actor, reason or "activated", at)

    def suspend(self, actor: str, reason: str, at: dt.datetime) -> None:
        self._move(AccountState.SUSPENDED, actor, reason, at)

    def close(self, actor: str, reason: str, at: dt.datetime) -> None:
        self._move(AccountState.CLOSED, actor, reason, at)
        self.unlink_requested_at = None

    def request_unlink(self, at: dt.datetime) -> None:
        if self.state is AccountState.CLOSED:
            raise FailedPrecondition("ACCOUNT_CLOSED", "the account is already closed")
        if self.unlink_requested_at is None:  # asking twice is one request
            self.unlink_requested_at = at
            self.updated_at = at
            self.events.append(ServiceAccountUnlinkRequested(account_id=self.account_id,
                                                             resident_id=self.resident_id,
                                                             service_id=self.service_id))

    def _move(self, to: AccountState, actor: str, reason: str, at: dt.datetime) -> None:
        if to not in TRANSITIONS[self.state]:
            if self.state is AccountState.CLOSED:
                raise FailedPrecondition("ACCOUNT_CLOSED", "the account is closed; link a new one")
            if to is self.state:
                raise FailedPrecondition(f"ACCOUNT_ALREADY_{to.name}", f"the account is already {to.value}")
            allowed = ", ".join(sorted(s.value for s in TRANSITIONS[self.state]))
            raise FailedPrecondition("ILLEGAL_ACCOUNT_TRANSITION",
                                     f"a {self.state.value} account cannot become {to.value} (allowed: {allowed})")
        previous = self.state
        self.state = to
        self.updated_at = at
        self.transitions.append(Transition(previous, to, actor, reason, at))
        self.events.append(ServiceAccountStateChanged(account_id=self.account_id,
                                                      from_state=previous.value, to_state=to.value))
