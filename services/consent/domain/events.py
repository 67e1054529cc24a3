"""Domain events of the consent ledger (docs/contracts.md, subjects montreal.consent.v1.*).

Identifiers only: no attribute value ever travels in them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import ClassVar

from services.common.events import Event


@dataclasses.dataclass(frozen=True)
class ConsentGiven(Event):
    NAME: ClassVar[str] = "consent_given"
    consent_id: str
    resident_id: str
    recipient_id: str
    purpose_id: str
    purpose_version: int
    categories: tuple[str, ...]
    expires_at: dt.datetime | None = None

    def aggregate_id(self) -> str | None:
        return self.consent_id


@dataclasses.dataclass(frozen=True)
class ConsentWithdrawn(Event):
    NAME: ClassVar[str] = "consent_withdrawn"
    consent_id: str
    resident_id: str

    def aggregate_id(self) -> str | None:
        return self.consent_id


@dataclasses.dataclass(frozen=True)
class ConsentExpired(Event):
    NAME: ClassVar[str] = "consent_expired"
    consent_id: str
    resident_id: str

    def aggregate_id(self) -> str | None:
        return self.consent_id


@dataclasses.dataclass(frozen=True)
class MinorTurnedFourteen(Event):
    """Issue 22: a minor turned 14; the mandates for them on a minor's basis stop covering
    ``consent`` (Law 25), recorded as ``mandate_narrowed`` entries in the same transaction.
    ``mandates``: per mandate, ``<basis>:<action>+<action>…`` — what it still covers (bases
    and actions only: no one's identifier but the minor's)."""

    NAME: ClassVar[str] = "minor_turned_fourteen"
    resident_id: str
    turned_14_at: dt.datetime
    mandate_ids: tuple[str, ...]
    mandates: tuple[str, ...]

    def aggregate_id(self) -> str | None:
        return self.resident_id
