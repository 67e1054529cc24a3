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
    #: issue 22: given by a mandatary (``actor`` ``mandatary:<id>``) under this mandate
    mandate_id: str = ""


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
    #: issue 22: released to a mandatary under this mandate (both or neither)
    mandatary_id: str = ""
    mandate_id: str = ""


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
    #: issue 22: the mandatary asking for the represented resident (``resident_id``), or ""
    mandatary_id: str = ""

    @property
    def question(self) -> CheckConsent:
        return CheckConsent(self.resident_id, self.recipient_id, self.purpose_id, self.data_categories,
                            for_client=self.for_client)


# --- mandates (issue 22; domain/mandates.py) ---------------------------------------------
@dataclasses.dataclass(frozen=True)
class GiveMandate:
    """``grantor_id`` is the represented resident (their own mandate), a mandatary within
    their own mandate ``under_mandate_id``, or — for a legal basis recorded at the counter —
    the holder of the authority (the mandatary). ``scope``: (service, actions) pairs."""

    represented_id: str
    mandatary_id: str
    grantor_id: str
    basis: str
    scope: tuple[tuple[str, tuple[str, ...]], ...]
    valid_until: dt.datetime | None
    valid_from: dt.datetime | None = None
    under_mandate_id: str = ""
    document_kind: str = ""
    document_reference: str = ""
    actor: str = "resident"
    #: the counter agent who checked the document (``AG…``), else ""
    agent: str = ""


@dataclasses.dataclass(frozen=True)
class AcceptMandate:
    mandate_id: str
    mandatary_id: str
    actor: str = "resident"


@dataclasses.dataclass(frozen=True)
class EndMandate:
    """Revoke (the represented resident, the grantor, or an agent), renounce or decline (the
    mandatary), or suspend (an agent, pending a court's decision): ``by`` is the resident
    acting, "" for an agent."""

    mandate_id: str
    by: str
    actor: str = "resident"
    suspend: bool = False


@dataclasses.dataclass(frozen=True)
class MandateQuestion:
    mandatary_id: str
    represented_id: str
    service: str
    action: str


@dataclasses.dataclass(frozen=True)
class RecordMandateAct:
    """A service records an act done under a mandate (idempotent by ``act_id``)."""

    mandate_id: str
    act_id: str
    service: str
    action: str
    actor: str
    for_client: str | None = None
