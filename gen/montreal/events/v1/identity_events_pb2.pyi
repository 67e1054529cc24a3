from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ResidentRegistered(_message.Message):
    __slots__ = ("resident_id", "preferred_language", "registered_by", "email_verified", "agent_id")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_BY_FIELD_NUMBER: _ClassVar[int]
    EMAIL_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    preferred_language: str
    registered_by: str
    email_verified: bool
    agent_id: str
    def __init__(self, resident_id: _Optional[str] = ..., preferred_language: _Optional[str] = ..., registered_by: _Optional[str] = ..., email_verified: _Optional[bool] = ..., agent_id: _Optional[str] = ...) -> None: ...

class EmailVerificationRequested(_message.Message):
    __slots__ = ("resident_id", "email", "code", "expires_at", "language")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    email: str
    code: str
    expires_at: str
    language: str
    def __init__(self, resident_id: _Optional[str] = ..., email: _Optional[str] = ..., code: _Optional[str] = ..., expires_at: _Optional[str] = ..., language: _Optional[str] = ...) -> None: ...

class PasswordResetRequested(_message.Message):
    __slots__ = ("resident_id", "email", "code", "expires_at", "language")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    email: str
    code: str
    expires_at: str
    language: str
    def __init__(self, resident_id: _Optional[str] = ..., email: _Optional[str] = ..., code: _Optional[str] = ..., expires_at: _Optional[str] = ..., language: _Optional[str] = ...) -> None: ...

class AccountExistsNoticeRequested(_message.Message):
    __slots__ = ("resident_id", "email", "language")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    email: str
    language: str
    def __init__(self, resident_id: _Optional[str] = ..., email: _Optional[str] = ..., language: _Optional[str] = ...) -> None: ...

class EmailVerified(_message.Message):
    __slots__ = ("resident_id",)
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    def __init__(self, resident_id: _Optional[str] = ...) -> None: ...

class LevelOfAssuranceRaised(_message.Message):
    __slots__ = ("resident_id", "level", "agent_id", "document_type")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    level: int
    agent_id: str
    document_type: str
    def __init__(self, resident_id: _Optional[str] = ..., level: _Optional[int] = ..., agent_id: _Optional[str] = ..., document_type: _Optional[str] = ...) -> None: ...

class LoginSucceeded(_message.Message):
    __slots__ = ("resident_id", "session_id", "amr")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    AMR_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    session_id: str
    amr: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, resident_id: _Optional[str] = ..., session_id: _Optional[str] = ..., amr: _Optional[_Iterable[str]] = ...) -> None: ...

class LoginFailed(_message.Message):
    __slots__ = ("reason", "resident_id")
    REASON_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    reason: str
    resident_id: str
    def __init__(self, reason: _Optional[str] = ..., resident_id: _Optional[str] = ...) -> None: ...

class SessionEnded(_message.Message):
    __slots__ = ("resident_id", "session_id", "scope")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    session_id: str
    scope: str
    def __init__(self, resident_id: _Optional[str] = ..., session_id: _Optional[str] = ..., scope: _Optional[str] = ...) -> None: ...

class ClientRegistered(_message.Message):
    __slots__ = ("client_id",)
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    def __init__(self, client_id: _Optional[str] = ...) -> None: ...

class ClientChanged(_message.Message):
    __slots__ = ("client_id", "fields")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    fields: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, client_id: _Optional[str] = ..., fields: _Optional[_Iterable[str]] = ...) -> None: ...

class KeyRotated(_message.Message):
    __slots__ = ("kid",)
    KID_FIELD_NUMBER: _ClassVar[int]
    kid: str
    def __init__(self, kid: _Optional[str] = ...) -> None: ...

class GrantGiven(_message.Message):
    __slots__ = ("grant_id", "resident_id", "client_id", "scopes", "purposes_accepted", "purposes_refused", "purpose_categories")
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_REFUSED_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    grant_id: str
    resident_id: str
    client_id: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    purposes_accepted: _containers.RepeatedScalarFieldContainer[str]
    purposes_refused: _containers.RepeatedScalarFieldContainer[str]
    purpose_categories: _containers.RepeatedCompositeFieldContainer[PurposeCategories]
    def __init__(self, grant_id: _Optional[str] = ..., resident_id: _Optional[str] = ..., client_id: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ..., purposes_accepted: _Optional[_Iterable[str]] = ..., purposes_refused: _Optional[_Iterable[str]] = ..., purpose_categories: _Optional[_Iterable[_Union[PurposeCategories, _Mapping]]] = ...) -> None: ...

class PurposeCategories(_message.Message):
    __slots__ = ("purpose_id", "categories")
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    purpose_id: str
    categories: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, purpose_id: _Optional[str] = ..., categories: _Optional[_Iterable[str]] = ...) -> None: ...

class GrantWithdrawn(_message.Message):
    __slots__ = ("grant_id", "resident_id", "client_id")
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    grant_id: str
    resident_id: str
    client_id: str
    def __init__(self, grant_id: _Optional[str] = ..., resident_id: _Optional[str] = ..., client_id: _Optional[str] = ...) -> None: ...

class DataReleased(_message.Message):
    __slots__ = ("release_id", "resident_id", "client_id", "client_name", "channel", "categories", "repeat_window_seconds", "consented_categories", "grant", "mandatary_id", "mandate_id")
    RELEASE_ID_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_NAME_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    REPEAT_WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CONSENTED_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    GRANT_FIELD_NUMBER: _ClassVar[int]
    MANDATARY_ID_FIELD_NUMBER: _ClassVar[int]
    MANDATE_ID_FIELD_NUMBER: _ClassVar[int]
    release_id: str
    resident_id: str
    client_id: str
    client_name: str
    channel: str
    categories: _containers.RepeatedScalarFieldContainer[str]
    repeat_window_seconds: int
    consented_categories: _containers.RepeatedScalarFieldContainer[str]
    grant: ReleaseGrant
    mandatary_id: str
    mandate_id: str
    def __init__(self, release_id: _Optional[str] = ..., resident_id: _Optional[str] = ..., client_id: _Optional[str] = ..., client_name: _Optional[str] = ..., channel: _Optional[str] = ..., categories: _Optional[_Iterable[str]] = ..., repeat_window_seconds: _Optional[int] = ..., consented_categories: _Optional[_Iterable[str]] = ..., grant: _Optional[_Union[ReleaseGrant, _Mapping]] = ..., mandatary_id: _Optional[str] = ..., mandate_id: _Optional[str] = ...) -> None: ...

class ReleaseGrant(_message.Message):
    __slots__ = ("grant_id", "purposes_accepted", "purposes_refused", "purpose_categories")
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_REFUSED_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    grant_id: str
    purposes_accepted: _containers.RepeatedScalarFieldContainer[str]
    purposes_refused: _containers.RepeatedScalarFieldContainer[str]
    purpose_categories: _containers.RepeatedCompositeFieldContainer[PurposeCategories]
    def __init__(self, grant_id: _Optional[str] = ..., purposes_accepted: _Optional[_Iterable[str]] = ..., purposes_refused: _Optional[_Iterable[str]] = ..., purpose_categories: _Optional[_Iterable[_Union[PurposeCategories, _Mapping]]] = ...) -> None: ...

class TokensRevoked(_message.Message):
    __slots__ = ("families", "jtis", "expires_at")
    FAMILIES_FIELD_NUMBER: _ClassVar[int]
    JTIS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    families: _containers.RepeatedScalarFieldContainer[str]
    jtis: _containers.RepeatedScalarFieldContainer[str]
    expires_at: str
    def __init__(self, families: _Optional[_Iterable[str]] = ..., jtis: _Optional[_Iterable[str]] = ..., expires_at: _Optional[str] = ...) -> None: ...

class EmailChangeRequested(_message.Message):
    __slots__ = ("resident_id", "email", "code", "expires_at", "language")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    email: str
    code: str
    expires_at: str
    language: str
    def __init__(self, resident_id: _Optional[str] = ..., email: _Optional[str] = ..., code: _Optional[str] = ..., expires_at: _Optional[str] = ..., language: _Optional[str] = ...) -> None: ...

class EmailChangedNotice(_message.Message):
    __slots__ = ("resident_id", "email", "changed_at", "language")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    CHANGED_AT_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    email: str
    changed_at: str
    language: str
    def __init__(self, resident_id: _Optional[str] = ..., email: _Optional[str] = ..., changed_at: _Optional[str] = ..., language: _Optional[str] = ...) -> None: ...

class ResidentClosed(_message.Message):
    __slots__ = ("resident_id", "closure_id", "closed_at")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    CLOSURE_ID_FIELD_NUMBER: _ClassVar[int]
    CLOSED_AT_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    closure_id: str
    closed_at: str
    def __init__(self, resident_id: _Optional[str] = ..., closure_id: _Optional[str] = ..., closed_at: _Optional[str] = ...) -> None: ...

class AccountClosedNotice(_message.Message):
    __slots__ = ("resident_id", "email", "closure_id", "closed_at", "preferred_language")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    CLOSURE_ID_FIELD_NUMBER: _ClassVar[int]
    CLOSED_AT_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    email: str
    closure_id: str
    closed_at: str
    preferred_language: str
    def __init__(self, resident_id: _Optional[str] = ..., email: _Optional[str] = ..., closure_id: _Optional[str] = ..., closed_at: _Optional[str] = ..., preferred_language: _Optional[str] = ...) -> None: ...

class ResidentReopened(_message.Message):
    __slots__ = ("resident_id", "closure_id", "agent_id")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    CLOSURE_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    closure_id: str
    agent_id: str
    def __init__(self, resident_id: _Optional[str] = ..., closure_id: _Optional[str] = ..., agent_id: _Optional[str] = ...) -> None: ...

class ResidentPurged(_message.Message):
    __slots__ = ("resident_id", "closed_at", "purged_at")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    CLOSED_AT_FIELD_NUMBER: _ClassVar[int]
    PURGED_AT_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    closed_at: str
    purged_at: str
    def __init__(self, resident_id: _Optional[str] = ..., closed_at: _Optional[str] = ..., purged_at: _Optional[str] = ...) -> None: ...

class SuspiciousActivityReported(_message.Message):
    __slots__ = ("resident_id", "report_id", "sessions_ended", "session_id")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_ENDED_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    report_id: str
    sessions_ended: int
    session_id: str
    def __init__(self, resident_id: _Optional[str] = ..., report_id: _Optional[str] = ..., sessions_ended: _Optional[int] = ..., session_id: _Optional[str] = ...) -> None: ...

class AgentSignedIn(_message.Message):
    __slots__ = ("agent_id", "office", "session_id", "amr")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    OFFICE_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    AMR_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    office: str
    session_id: str
    amr: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, agent_id: _Optional[str] = ..., office: _Optional[str] = ..., session_id: _Optional[str] = ..., amr: _Optional[_Iterable[str]] = ...) -> None: ...

class AgentSignInRefused(_message.Message):
    __slots__ = ("reason", "step", "agent_id", "office")
    REASON_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    OFFICE_FIELD_NUMBER: _ClassVar[int]
    reason: str
    step: str
    agent_id: str
    office: str
    def __init__(self, reason: _Optional[str] = ..., step: _Optional[str] = ..., agent_id: _Optional[str] = ..., office: _Optional[str] = ...) -> None: ...

class CounterFileAccessed(_message.Message):
    __slots__ = ("access_id", "resident_id", "office", "agent_reference", "action", "categories")
    ACCESS_ID_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    OFFICE_FIELD_NUMBER: _ClassVar[int]
    AGENT_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    access_id: str
    resident_id: str
    office: str
    agent_reference: str
    action: str
    categories: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, access_id: _Optional[str] = ..., resident_id: _Optional[str] = ..., office: _Optional[str] = ..., agent_reference: _Optional[str] = ..., action: _Optional[str] = ..., categories: _Optional[_Iterable[str]] = ...) -> None: ...

class SecondFactorChangedNotice(_message.Message):
    __slots__ = ("resident_id", "email", "change", "changed_at", "language")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    CHANGED_AT_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    email: str
    change: str
    changed_at: str
    language: str
    def __init__(self, resident_id: _Optional[str] = ..., email: _Optional[str] = ..., change: _Optional[str] = ..., changed_at: _Optional[str] = ..., language: _Optional[str] = ...) -> None: ...

class PasskeyAddedNotice(_message.Message):
    __slots__ = ("resident_id", "email", "added_at", "language")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    ADDED_AT_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    email: str
    added_at: str
    language: str
    def __init__(self, resident_id: _Optional[str] = ..., email: _Optional[str] = ..., added_at: _Optional[str] = ..., language: _Optional[str] = ...) -> None: ...

class PasskeyRemovedNotice(_message.Message):
    __slots__ = ("resident_id", "email", "removed_at", "language")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    REMOVED_AT_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    email: str
    removed_at: str
    language: str
    def __init__(self, resident_id: _Optional[str] = ..., email: _Optional[str] = ..., removed_at: _Optional[str] = ..., language: _Optional[str] = ...) -> None: ...

class CardIssued(_message.Message):
    __slots__ = ("resident_id", "card_id", "expires_at", "renewal")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    CARD_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    RENEWAL_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    card_id: str
    expires_at: str
    renewal: bool
    def __init__(self, resident_id: _Optional[str] = ..., card_id: _Optional[str] = ..., expires_at: _Optional[str] = ..., renewal: _Optional[bool] = ...) -> None: ...

class CardRevoked(_message.Message):
    __slots__ = ("resident_id", "card_id", "reason")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    CARD_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    card_id: str
    reason: str
    def __init__(self, resident_id: _Optional[str] = ..., card_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class OrganizationRegistered(_message.Message):
    __slots__ = ("organization_id", "kind", "registered_by")
    ORGANIZATION_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_BY_FIELD_NUMBER: _ClassVar[int]
    organization_id: str
    kind: str
    registered_by: str
    def __init__(self, organization_id: _Optional[str] = ..., kind: _Optional[str] = ..., registered_by: _Optional[str] = ...) -> None: ...

class MandatesAtFourteenNotice(_message.Message):
    __slots__ = ("resident_id", "email", "turned_14_at", "mandates", "language")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    TURNED_14_AT_FIELD_NUMBER: _ClassVar[int]
    MANDATES_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    email: str
    turned_14_at: str
    mandates: _containers.RepeatedScalarFieldContainer[str]
    language: str
    def __init__(self, resident_id: _Optional[str] = ..., email: _Optional[str] = ..., turned_14_at: _Optional[str] = ..., mandates: _Optional[_Iterable[str]] = ..., language: _Optional[str] = ...) -> None: ...
