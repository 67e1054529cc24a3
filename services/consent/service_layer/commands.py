"""Commands: what a caller asks the consent register to do (small frozen dataclasses).

``actor`` is recorded in the ledger: ``resident`` (their own session), ``agent:<id>`` (a
counter agent acting), ``client:<client_id>`` (a system), ``event:<source>`` (a consumed
event). ``for_client`` restricts a recipient's client to its own recipient (None: a broker).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping

from services.consent.domain.grant_rules import RequestedConsent


@dataclasses.dataclass(frozen=True)
class GiveConsent:
    resident_id: str
    recipient_id: str
    items: tuple[RequestedConsent, ...]
    collection_method: str = "account_page"
    explicit_act: bool = False
    language: str = "fr"
    actor: str = "resident"
    # The resident's fresh authentication before a biometric consent (grant_rules).
    reauthenticated_at: dt.datetime | None = None
    reauthentication_method: str = ""


@dataclasses.dataclass(frozen=True)
class WithdrawConsent:
    resident_id: str
    consent_id: str
    actor: str = "resident"
    reason: str = "resident"


@dataclasses.dataclass(frozen=True)
class CheckConsent:
    resident_id: str
    recipient_id: str
    purpose_id: str
    data_categories: tuple[str, ...]
    for_client: str | None = None


@dataclasses.dataclass(frozen=True)
class RecordAccess:
    access_id: str
    resident_id: str
    recipient_id: str
    purpose_id: str
    data_categories: tuple[str, ...]
    bases: Mapping[str, str]
    consent_ids: tuple[str, ...] = ()
    withheld_categories: tuple[str, ...] = ()
    accessed_at: dt.datetime | None = None
    for_client: str | None = None
    source: str = "grpc"
    #: the counter agent who saw the file (identity's ``counter_file_accessed``), else ""
    agent: str = ""


@dataclasses.dataclass(frozen=True)
class RequestRectification:
    resident_id: str
    data_categories: tuple[str, ...]
    recipient_id: str | None = None
    actor: str = "resident"


@dataclasses.dataclass(frozen=True)
class ListPage:
    resident_id: str
    page_size: int = 0
    page_token: str = ""
    recipient_id: str | None = None
    include_inactive: bool = False
    #: ``history`` only: the entry types to list (empty: every entry).
    types: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class RequestExport:
    resident_id: str
    actor: str = "resident"


@dataclasses.dataclass(frozen=True)
class DefinePurpose:
    purpose: "object"  # a domain Purpose; version and created_at are assigned


@dataclasses.dataclass(frozen=True)
class RegisterRecipient:
    recipient: "object"  # a domain Recipient


@dataclasses.dataclass(frozen=True)
class CheckAndRecord:
    """Decide (as Check) and record the access (as RecordAccess) under one hold of the
    ledger's head lock (issue 24). ``available_categories``: of ``data_categories``, those the
    caller holds and releases when allowed."""

    access_id: str
    resident_id: str
    recipient_id: str
    purpose_id: str
    data_categories: tuple[str, ...]
    available_categories: tuple[str, ...] = ()
    withheld_categories: tuple[str, ...] = ()
    for_client: str | None = None
    source: str = ""

    @property
    def question(self) -> CheckConsent:
        return CheckConsent(self.resident_id, self.recipient_id, self.purpose_id, self.data_categories,
                            for_client=self.for_client)
