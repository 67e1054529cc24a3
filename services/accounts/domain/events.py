"""Domain events of the accounts service (docs/contracts.md, "Events").

They travel through the outbox on ``montreal.accounts.v1.<NAME>``. They carry identifiers and
attribute *names*, never attribute values: the consent ledger and the other consumers need to
know what was touched, not what it says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from services.common.events import Event


@dataclass(frozen=True)
class ProfileChanged(Event):
    NAME: ClassVar[str] = "profile_changed"
    resident_id: str
    attributes: tuple[str, ...]

    def aggregate_id(self) -> str | None:
        return self.resident_id


@dataclass(frozen=True)
class AttributeVerified(Event):
    NAME: ClassVar[str] = "attribute_verified"
    resident_id: str
    attribute: str
    provenance: str
    agent_id: str | None = None

    def aggregate_id(self) -> str | None:
        return self.resident_id


@dataclass(frozen=True)
class ResidentEnrolled(Event):
    """A profile created or completed at a counter by a named agent."""

    NAME: ClassVar[str] = "resident_enrolled"
    resident_id: str
    agent_id: str

    def aggregate_id(self) -> str | None:
        return self.resident_id


@dataclass(frozen=True)
class DocumentChecked(Event):
    """An agent checked an identity document. Neither its number nor its last digits travel."""

    NAME: ClassVar[str] = "document_checked"
    check_id: str
    resident_id: str
    document_type: str
    agent_id: str

    def aggregate_id(self) -> str | None:
        return self.resident_id


@dataclass(frozen=True)
class ServiceRegistered(Event):
    NAME: ClassVar[str] = "service_registered"
    service_id: str
    client_id: str
    name_fr: str
    name_en: str
    kind: str
    owner: str
    purposes: tuple[str, ...]
    attributes: tuple[str, ...]

    def aggregate_id(self) -> str | None:
        return self.service_id


@dataclass(frozen=True)
class ServiceUpdated(ServiceRegistered):
    """Same payload as ``service_registered`` (consumers upsert the recipient), plus its state."""

    NAME: ClassVar[str] = "service_updated"
    state: str = "active"


@dataclass(frozen=True)
class ServiceAccountLinked(Event):
    NAME: ClassVar[str] = "service_account_linked"
    account_id: str
    resident_id: str
    service_id: str

    def aggregate_id(self) -> str | None:
        return self.account_id


@dataclass(frozen=True)
class ServiceAccountStateChanged(Event):
    NAME: ClassVar[str] = "service_account_state_changed"
    account_id: str
    from_state: str
    to_state: str

    def to_payload(self) -> dict[str, Any]:
        # The contract names the fields `from` and `to`, which Python reserves.
        return {"account_id": self.account_id, "from": self.from_state, "to": self.to_state}

    def aggregate_id(self) -> str | None:
        return self.account_id


@dataclass(frozen=True)
class ServiceAccountSuspended(Event):
    """A service account suspended because of something that happened to the resident, not
    to the service (issue 21: ``reason`` ``resident_closed``). The consent register records
    that the service was told (a ``service_informed`` ledger entry); the service, which
    already follows ``service_account_state_changed``, learns why. Identifiers only."""

    NAME: ClassVar[str] = "service_account_suspended"
    account_id: str
    resident_id: str
    service_id: str
    reason: str

    def aggregate_id(self) -> str | None:
        return self.account_id


@dataclass(frozen=True)
class ServiceAccountReactivated(Event):
    """The converse: a suspension ``resident_closed`` lifted (``reason`` ``resident_reopened``)."""

    NAME: ClassVar[str] = "service_account_reactivated"
    account_id: str
    resident_id: str
    service_id: str
    reason: str

    def aggregate_id(self) -> str | None:
        return self.account_id


@dataclass(frozen=True)
class ServiceAccountUnlinkRequested(Event):
    NAME: ClassVar[str] = "service_account_unlink_requested"
    account_id: str
    resident_id: str
    service_id: str

    def aggregate_id(self) -> str | None:
        return self.account_id


@dataclass(frozen=True)
class AttributesReleased(Event):
    """A release, with the same ``access_id`` as the consent ledger's data-access record."""

    NAME: ClassVar[str] = "attributes_released"
    access_id: str
    resident_id: str
    service_id: str
    purpose_id: str
    categories: tuple[str, ...]
    withheld: tuple[str, ...]
    bases: dict[str, str] = field(default_factory=dict)
    consent_ids: tuple[str, ...] = ()

    def aggregate_id(self) -> str | None:
        return self.access_id


@dataclass(frozen=True)
class CounterActionRecorded(Event):
    """A counter agent (or a borough system's staff member, token exchange ``act.sub``) read or
    acted on a resident's file through accounts (issue 17, point 5; DESIGN "every release is a
    ledger fact"): the consent ledger records it as a data access, so the resident sees it in
    "Qui a vu mes données" and in their file. Written in the transaction of the counter
    journal's line. ``office``: the token's ``office`` claim, "" when the agent's system gives
    none (the ledger's recipient is then the calling client's); ``agent_reference``: ``act.sub``
    (``AG…`` or ``client:sub``), never a name; ``action``: the journal's action
    (``find_resident``, ``view_profile``, ``export_resident_data``, ``enroll_resident``,
    ``verify_attribute``, ``record_document_check``, ``link_account``); ``categories``: what the
    agent saw or touched, as categories (never the values)."""

    NAME: ClassVar[str] = "counter_action_recorded"
    access_id: str
    resident_id: str
    office: str
    agent_reference: str
    action: str
    client_id: str
    categories: tuple[str, ...] = ()

    def aggregate_id(self) -> str | None:
        return self.resident_id
