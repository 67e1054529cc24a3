"""Commands of the accounts service: small frozen dataclasses, one per use case."""

from __future__ import annotations

from dataclasses import dataclass

from ..domain.catalogue import ServiceKind, ServiceState
from ..domain.counter import DocumentType
from ..domain.service_account import AccountState
from .ports import Caller


@dataclass(frozen=True)
class RegisterResident:
    """From identity's ``resident_registered`` event."""

    resident_id: str
    preferred_language: str | None = None


@dataclass(frozen=True)
class EmailVerified:
    """From identity's ``email_verified`` event."""

    resident_id: str


@dataclass(frozen=True)
class GetProfile:
    caller: Caller
    resident_id: str


@dataclass(frozen=True)
class UpdateProfile:
    caller: Caller
    resident_id: str
    #: (name, value) pairs; value None clears the attribute.
    changes: tuple[tuple[str, str | None], ...]


@dataclass(frozen=True)
class ExportResidentData:
    caller: Caller
    resident_id: str


@dataclass(frozen=True)
class RegisterService:
    service_id: str
    name_fr: str
    name_en: str
    kind: ServiceKind | None
    owner: str
    client_id: str
    borough: str | None = None
    attributes: tuple[str, ...] = ()
    purposes: tuple[str, ...] = ()


@dataclass(frozen=True)
class UpdateService:
    service_id: str
    name_fr: str
    name_en: str
    owner: str
    attributes: tuple[str, ...] = ()
    purposes: tuple[str, ...] = ()
    state: ServiceState | None = None


@dataclass(frozen=True)
class ListServices:
    kind: ServiceKind | None = None
    borough: str | None = None
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class GetService:
    service_id: str


@dataclass(frozen=True)
class LinkAccount:
    caller: Caller
    service_id: str
    resident_id: str
    account_reference: str


@dataclass(frozen=True)
class ChangeAccountState:
    caller: Caller
    account_id: str
    #: "activate" | "suspend" | "close"
    action: str
    reason: str = ""


@dataclass(frozen=True)
class ListAccounts:
    caller: Caller
    resident_id: str = ""
    service_id: str = ""
    state: AccountState | None = None
    page_size: int = 0
    page_token: str = ""
    account_reference: str = ""


@dataclass(frozen=True)
class RequestUnlink:
    caller: Caller
    account_id: str
    reason: str = ""


@dataclass(frozen=True)
class GetAccountHistory:
    caller: Caller
    account_id: str


@dataclass(frozen=True)
class ReleaseAttributes:
    caller: Caller
    service_id: str
    resident_id: str
    purpose_id: str
    attributes: tuple[str, ...]
    #: issue 22: the person acting for ``resident_id`` under a mandate, named like it ("": none)
    mandatary_id: str = ""


@dataclass(frozen=True)
class FindResident:
    caller: Caller
    resident_id: str = ""
    email: str = ""
    phone: str = ""
    family_name: str = ""
    given_name: str = ""
    date_of_birth: str = ""
    page_size: int = 0


@dataclass(frozen=True)
class EnrollResident:
    caller: Caller
    resident_id: str
    attributes: tuple[tuple[str, str | None], ...] = ()
    #: Check only, write nothing (AIP-163); ``resident_id`` may then be empty.
    validate_only: bool = False


@dataclass(frozen=True)
class RecordDocumentCheck:
    caller: Caller
    resident_id: str
    document_type: DocumentType | None
    last_digits: str


@dataclass(frozen=True)
class VerifyAttribute:
    caller: Caller
    resident_id: str
    attribute: str
    #: "at_counter" | "from_document"
    method: str | None
    value: str = ""
    document_check_id: str = ""


@dataclass(frozen=True)
class LinkAccountInPerson:
    caller: Caller
    resident_id: str
    service_id: str
    account_reference: str


# ---- mandates (issue 22) -----------------------------------------------------------------------

@dataclass(frozen=True)
class MandateQuestion:
    mandatary_id: str
    represented_id: str
    action: str
    service_id: str = ""


@dataclass(frozen=True)
class DecideMandates:
    caller: Caller
    questions: tuple[MandateQuestion, ...]


@dataclass(frozen=True)
class RecordMandateAct:
    caller: Caller
    mandate_id: str
    act_id: str
    action: str
    service_id: str = ""
