"""What the accounts service layer needs from the outside world, as narrow interfaces.

The SQL adapters (``services.accounts.adapters``) and the gRPC adapters implement them; unit
tests pass in-memory fakes (tests/unit/accounts/fakes.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from services.common.events import Event

from ..domain.catalogue import CatalogueService, ServiceKind
from ..domain.counter import AgentAction, DocumentCheck
from ..domain.profile import Profile
from ..domain.release import Basis, ConsentDecision
from ..domain.service_account import AccountState, ServiceAccount


# ---- storage ------------------------------------------------------------------------------

class ProfileRepository(Protocol):
    async def get(self, resident_id: str) -> Profile | None: ...
    async def add(self, profile: Profile) -> None: ...
    async def save(self, profile: Profile) -> None: ...
    async def forget(self, resident_id: str) -> int: ...
    async def find(self, *, email: str | None = None, phone: str | None = None,
                   family_name: str | None = None, given_name: str | None = None,
                   date_of_birth: str | None = None, limit: int = 10) -> list[Profile]: ...


class ServiceRepository(Protocol):
    async def get(self, service_id: str) -> CatalogueService | None: ...
    async def get_by_client(self, client_id: str) -> CatalogueService | None: ...
    async def add(self, service: CatalogueService) -> None: ...
    async def save(self, service: CatalogueService) -> None: ...
    async def list(self, *, kind: ServiceKind | None, borough: str | None, after: str | None,
                   limit: int) -> list[CatalogueService]: ...


class AccountRepository(Protocol):
    async def get(self, account_id: str) -> ServiceAccount | None: ...
    async def add(self, account: ServiceAccount) -> None: ...
    async def save(self, account: ServiceAccount) -> None: ...
    async def open_for(self, resident_id: str, service_id: str) -> ServiceAccount | None: ...
    async def open_by_reference(self, service_id: str, account_reference: str) -> ServiceAccount | None: ...
    async def forget_references(self, resident_id: str) -> int: ...
    async def list(self, *, resident_id: str | None, service_id: str | None, state: AccountState | None,
                   after: str | None, limit: int, account_reference: str | None = None) -> list[ServiceAccount]: ...


class CounterJournal(Protocol):
    """Document checks and the journal of agent actions (append-only)."""

    async def add_check(self, check: DocumentCheck) -> None: ...
    async def get_check(self, check_id: str) -> DocumentCheck | None: ...
    async def checks_for(self, resident_id: str) -> list[DocumentCheck]: ...
    async def record(self, action: AgentAction) -> None: ...
    async def actions_for(self, resident_id: str) -> list[AgentAction]: ...
    async def forget_checks(self, resident_id: str) -> int: ...


class AccountsUnitOfWork(Protocol):
    profiles: ProfileRepository
    services: ServiceRepository
    accounts: AccountRepository
    counter: CounterJournal

    async def __aenter__(self) -> "AccountsUnitOfWork": ...
    async def __aexit__(self, *exc) -> None: ...
    def add_event(self, event: Event) -> None: ...
    async def commit(self) -> None: ...


class ReleaseReads(Protocol):
    """What ``ReleaseAttributes`` reads before it asks the consent ledger, outside any unit of
    work (adapters/release_reads.py). Nothing returned may be older than the last commit,
    except a service entry whose change has not been announced yet (PostgreSQL's
    notification, delivered at commit)."""

    async def service(self, service_id: str) -> CatalogueService | None: ...

    async def live_account_and_profile(self, resident_id: str,
                                       service_id: str) -> tuple[ServiceAccount | None, Profile | None]:
        """The resident's open account with the service (or None) and their profile (or None)."""

    def catalogue_changed(self, service_id: str) -> None:
        """This process committed a change to the service: forget any copy of it now."""


class ReleaseOutbox(Protocol):
    """Where a release leaves its ``attributes_released`` event once the ledger recorded the
    access (adapters/release_outbox.py)."""

    async def add(self, event: Event) -> None:
        """Write the event to the outbox in one atomic, committed write before returning."""


def publish(uow: AccountsUnitOfWork, aggregates: Iterable[object]) -> None:
    """Move the events the aggregates raised into the unit of work's outbox."""
    for aggregate in aggregates:
        events: list[Event] = getattr(aggregate, "events")
        for event in events:
            uow.add_event(event)
        events.clear()


# ---- other services ----------------------------------------------------------------------

class ConsentGateway(Protocol):
    """The consent ledger (montreal.consent.v1), reached as the broker of every release."""

    async def check(self, *, resident_id: str, recipient_id: str, purpose_id: str,
                    categories: Sequence[str]) -> Mapping[str, ConsentDecision]:
        """One decision per category; raises ``Unavailable`` when the ledger cannot answer."""

    async def record_access(self, *, access_id: str, resident_id: str, recipient_id: str, purpose_id: str,
                            categories: Sequence[str], bases: Mapping[str, Basis], consent_ids: Sequence[str],
                            withheld: Sequence[str], at: dt.datetime) -> None:
        """Idempotent by ``access_id``; raises ``Unavailable`` when the record is not written."""

    async def check_and_record(self, *, access_id: str, resident_id: str, recipient_id: str, purpose_id: str,
                               categories: Sequence[str], available: Sequence[str], withheld: Sequence[str]
                               ) -> tuple[Mapping[str, ConsentDecision], tuple[str, ...]]:
        """One decision per category and, under the same ledger lock, the record of the
        access (issue 24): the categories allowed among ``available`` are recorded as
        released, the rest as withheld. Returns (decisions, the categories recorded as
        released). Idempotent by ``access_id``; raises ``Unavailable`` when the ledger cannot
        decide or record (nothing may then be released)."""


class MandateRegister(Protocol):
    """The consent register's mandates (issue 22), as accounts asks it for a service. Refusals
    come back as the register's errors (FAILED_PRECONDITION with the decision's reason)."""

    async def decide_mandates(self, questions: Sequence[tuple[str, str, str, str]]
                              ) -> list[tuple[bool, str, str]]:
        """(mandatary, represented, service, action) → (allowed, mandate_id, reason), in order."""
        ...

    async def record_mandate_act(self, *, mandate_id: str, act_id: str, service: str, action: str,
                                 service_client_id: str = "") -> tuple[dt.datetime | None, bool]:
        """→ (act time, already recorded)."""
        ...

    async def check_and_record_for(self, *, access_id: str, resident_id: str, mandatary_id: str,
                                   recipient_id: str, purpose_id: str, categories: Sequence[str],
                                   available: Sequence[str], withheld: Sequence[str]
                                   ) -> tuple[Mapping[str, ConsentDecision], tuple[str, ...], str]:
        """CheckAndRecord for a release to a mandatary: (decisions, released, mandate_id)."""
        ...


class SubjectResolver(Protocol):
    """Pairwise subject identifiers (OpenID Connect Core 1.0, s. 8.1), computed by identity only.

    Only partners' ids go through it; city services see the universal identifier.
    """

    async def resident_for(self, client_id: str, subject: str) -> str | None:
        """The citizen identifier behind ``subject`` as ``client_id`` sees it, or None."""

    async def subject_for(self, client_id: str, resident_id: str) -> str:
        """The pairwise subject ``client_id`` sees for ``resident_id``."""


@dataclass(frozen=True)
class ResidentContact:
    email: str
    email_verified: bool
    preferred_language: str


class IdentityDirectory(Protocol):
    """What identity tells accounts about a resident (``GetResidentContact``)."""

    async def contact(self, resident_id: str) -> ResidentContact | None:
        """None when identity has no such resident; ``Unavailable`` when it cannot answer."""


@dataclass(frozen=True)
class Caller:
    """Who calls, as the service layer needs it (built from the verified access token)."""

    client_id: str
    subject: str
    scopes: frozenset[str]
    #: The counter agent operating the client (token ``act.sub``), if any.
    agent_id: str | None = None
    #: The agent's office (token-exchange claim ``office``), for the ledger's recipient.
    office: str | None = None

    def has(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def actor(self) -> str:
        """How a transition records its author."""
        if self.agent_id:
            return f"agent:{self.agent_id}"
        if self.has(RESIDENT):
            return "resident"
        return f"client:{self.client_id}"


RESIDENT = "resident"
RELEASE = "accounts:release"
LINK = "accounts:link"
AGENT = "accounts:agent"
ADMIN = "accounts:admin"
