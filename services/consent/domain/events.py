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
