import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LegalBasis(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LEGAL_BASIS_UNSPECIFIED: _ClassVar[LegalBasis]
    LEGAL_BASIS_CONSENT: _ClassVar[LegalBasis]
    LEGAL_BASIS_PUBLIC_TASK: _ClassVar[LegalBasis]
    LEGAL_BASIS_LEGAL_OBLIGATION: _ClassVar[LegalBasis]

class ConsentState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSENT_STATE_UNSPECIFIED: _ClassVar[ConsentState]
    CONSENT_STATE_GIVEN: _ClassVar[ConsentState]
    CONSENT_STATE_WITHDRAWN: _ClassVar[ConsentState]
    CONSENT_STATE_EXPIRED: _ClassVar[ConsentState]

class EntryType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENTRY_TYPE_UNSPECIFIED: _ClassVar[EntryType]
    ENTRY_TYPE_CONSENT_GIVEN: _ClassVar[EntryType]
    ENTRY_TYPE_CONSENT_WITHDRAWN: _ClassVar[EntryType]
    ENTRY_TYPE_CONSENT_EXPIRED: _ClassVar[EntryType]
    ENTRY_TYPE_DATA_ACCESSED: _ClassVar[EntryType]
    ENTRY_TYPE_EXPORT_REQUESTED: _ClassVar[EntryType]
    ENTRY_TYPE_RECTIFICATION_REQUESTED: _ClassVar[EntryType]
    ENTRY_TYPE_SERVICE_INFORMED: _ClassVar[EntryType]
    ENTRY_TYPE_MANDATE_GRANTED: _ClassVar[EntryType]
    ENTRY_TYPE_MANDATE_ACCEPTED: _ClassVar[EntryType]
    ENTRY_TYPE_MANDATE_SUSPENDED: _ClassVar[EntryType]
    ENTRY_TYPE_MANDATE_REVOKED: _ClassVar[EntryType]
    ENTRY_TYPE_MANDATE_EXPIRED: _ClassVar[EntryType]
    ENTRY_TYPE_MANDATE_USED: _ClassVar[EntryType]
    ENTRY_TYPE_CARD_REVOKED: _ClassVar[EntryType]
    ENTRY_TYPE_CARD_RENEWED: _ClassVar[EntryType]
    ENTRY_TYPE_MANDATE_NARROWED: _ClassVar[EntryType]

class CollectionMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COLLECTION_METHOD_UNSPECIFIED: _ClassVar[CollectionMethod]
    COLLECTION_METHOD_ACCOUNT_PAGE: _ClassVar[CollectionMethod]
    COLLECTION_METHOD_LOGIN_CONSENT_SCREEN: _ClassVar[CollectionMethod]
    COLLECTION_METHOD_COUNTER: _ClassVar[CollectionMethod]
    COLLECTION_METHOD_PHONE: _ClassVar[CollectionMethod]

class MandateBasis(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MANDATE_BASIS_UNSPECIFIED: _ClassVar[MandateBasis]
    MANDATE_BASIS_RESIDENT_CONSENT: _ClassVar[MandateBasis]
    MANDATE_BASIS_PARENTAL_AUTHORITY: _ClassVar[MandateBasis]
    MANDATE_BASIS_TUTORSHIP_MINOR: _ClassVar[MandateBasis]
    MANDATE_BASIS_PROTECTION_MANDATE: _ClassVar[MandateBasis]
    MANDATE_BASIS_COURT_TUTORSHIP: _ClassVar[MandateBasis]
    MANDATE_BASIS_ORGANIZATION_REPRESENTATIVE: _ClassVar[MandateBasis]

class MandateState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MANDATE_STATE_UNSPECIFIED: _ClassVar[MandateState]
    MANDATE_STATE_PENDING: _ClassVar[MandateState]
    MANDATE_STATE_ACTIVE: _ClassVar[MandateState]
    MANDATE_STATE_SUSPENDED: _ClassVar[MandateState]
    MANDATE_STATE_REVOKED: _ClassVar[MandateState]
    MANDATE_STATE_EXPIRED: _ClassVar[MandateState]
LEGAL_BASIS_UNSPECIFIED: LegalBasis
LEGAL_BASIS_CONSENT: LegalBasis
LEGAL_BASIS_PUBLIC_TASK: LegalBasis
LEGAL_BASIS_LEGAL_OBLIGATION: LegalBasis
CONSENT_STATE_UNSPECIFIED: ConsentState
CONSENT_STATE_GIVEN: ConsentState
CONSENT_STATE_WITHDRAWN: ConsentState
CONSENT_STATE_EXPIRED: ConsentState
ENTRY_TYPE_UNSPECIFIED: EntryType
ENTRY_TYPE_CONSENT_GIVEN: EntryType
ENTRY_TYPE_CONSENT_WITHDRAWN: EntryType
ENTRY_TYPE_CONSENT_EXPIRED: EntryType
ENTRY_TYPE_DATA_ACCESSED: EntryType
ENTRY_TYPE_EXPORT_REQUESTED: EntryType
ENTRY_TYPE_RECTIFICATION_REQUESTED: EntryType
ENTRY_TYPE_SERVICE_INFORMED: EntryType
ENTRY_TYPE_MANDATE_GRANTED: EntryType
ENTRY_TYPE_MANDATE_ACCEPTED: EntryType
ENTRY_TYPE_MANDATE_SUSPENDED: EntryType
ENTRY_TYPE_MANDATE_REVOKED: EntryType
ENTRY_TYPE_MANDATE_EXPIRED: EntryType
ENTRY_TYPE_MANDATE_USED: EntryType
ENTRY_TYPE_CARD_REVOKED: EntryType
ENTRY_TYPE_CARD_RENEWED: EntryType
ENTRY_TYPE_MANDATE_NARROWED: EntryType
COLLECTION_METHOD_UNSPECIFIED: CollectionMethod
COLLECTION_METHOD_ACCOUNT_PAGE: CollectionMethod
COLLECTION_METHOD_LOGIN_CONSENT_SCREEN: CollectionMethod
COLLECTION_METHOD_COUNTER: CollectionMethod
COLLECTION_METHOD_PHONE: CollectionMethod
MANDATE_BASIS_UNSPECIFIED: MandateBasis
MANDATE_BASIS_RESIDENT_CONSENT: MandateBasis
MANDATE_BASIS_PARENTAL_AUTHORITY: MandateBasis
MANDATE_BASIS_TUTORSHIP_MINOR: MandateBasis
MANDATE_BASIS_PROTECTION_MANDATE: MandateBasis
MANDATE_BASIS_COURT_TUTORSHIP: MandateBasis
MANDATE_BASIS_ORGANIZATION_REPRESENTATIVE: MandateBasis
MANDATE_STATE_UNSPECIFIED: MandateState
MANDATE_STATE_PENDING: MandateState
MANDATE_STATE_ACTIVE: MandateState
MANDATE_STATE_SUSPENDED: MandateState
MANDATE_STATE_REVOKED: MandateState
MANDATE_STATE_EXPIRED: MandateState

class Purpose(_message.Message):
    __slots__ = ("purpose_id", "version", "dpv_iri", "legal_basis", "biometric", "title_fr", "title_en", "description_fr", "description_en", "data_categories", "max_validity_days", "non_biometric_alternative_id", "non_biometric_alternative_fr", "non_biometric_alternative_en", "text_sha256", "create_time", "retention_fr", "retention_en")
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DPV_IRI_FIELD_NUMBER: _ClassVar[int]
    LEGAL_BASIS_FIELD_NUMBER: _ClassVar[int]
    BIOMETRIC_FIELD_NUMBER: _ClassVar[int]
    TITLE_FR_FIELD_NUMBER: _ClassVar[int]
    TITLE_EN_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FR_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_EN_FIELD_NUMBER: _ClassVar[int]
    DATA_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    MAX_VALIDITY_DAYS_FIELD_NUMBER: _ClassVar[int]
    NON_BIOMETRIC_ALTERNATIVE_ID_FIELD_NUMBER: _ClassVar[int]
    NON_BIOMETRIC_ALTERNATIVE_FR_FIELD_NUMBER: _ClassVar[int]
    NON_BIOMETRIC_ALTERNATIVE_EN_FIELD_NUMBER: _ClassVar[int]
    TEXT_SHA256_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    RETENTION_FR_FIELD_NUMBER: _ClassVar[int]
    RETENTION_EN_FIELD_NUMBER: _ClassVar[int]
    purpose_id: str
    version: int
    dpv_iri: str
    legal_basis: LegalBasis
    biometric: bool
    title_fr: str
    title_en: str
    description_fr: str
    description_en: str
    data_categories: _containers.RepeatedScalarFieldContainer[str]
    max_validity_days: int
    non_biometric_alternative_id: str
    non_biometric_alternative_fr: str
    non_biometric_alternative_en: str
    text_sha256: str
    create_time: _timestamp_pb2.Timestamp
    retention_fr: str
    retention_en: str
    def __init__(self, purpose_id: _Optional[str] = ..., version: _Optional[int] = ..., dpv_iri: _Optional[str] = ..., legal_basis: _Optional[_Union[LegalBasis, str]] = ..., biometric: _Optional[bool] = ..., title_fr: _Optional[str] = ..., title_en: _Optional[str] = ..., description_fr: _Optional[str] = ..., description_en: _Optional[str] = ..., data_categories: _Optional[_Iterable[str]] = ..., max_validity_days: _Optional[int] = ..., non_biometric_alternative_id: _Optional[str] = ..., non_biometric_alternative_fr: _Optional[str] = ..., non_biometric_alternative_en: _Optional[str] = ..., text_sha256: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., retention_fr: _Optional[str] = ..., retention_en: _Optional[str] = ...) -> None: ...

class DataCategory(_message.Message):
    __slots__ = ("category_id", "label_fr", "label_en", "biometric")
    CATEGORY_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FR_FIELD_NUMBER: _ClassVar[int]
    LABEL_EN_FIELD_NUMBER: _ClassVar[int]
    BIOMETRIC_FIELD_NUMBER: _ClassVar[int]
    category_id: str
    label_fr: str
    label_en: str
    biometric: bool
    def __init__(self, category_id: _Optional[str] = ..., label_fr: _Optional[str] = ..., label_en: _Optional[str] = ..., biometric: _Optional[bool] = ...) -> None: ...

class Recipient(_message.Message):
    __slots__ = ("recipient_id", "client_id", "name_fr", "name_en", "kind", "owner", "purposes", "data_categories")
    RECIPIENT_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FR_FIELD_NUMBER: _ClassVar[int]
    NAME_EN_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    DATA_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    recipient_id: str
    client_id: str
    name_fr: str
    name_en: str
    kind: str
    owner: str
    purposes: _containers.RepeatedScalarFieldContainer[str]
    data_categories: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, recipient_id: _Optional[str] = ..., client_id: _Optional[str] = ..., name_fr: _Optional[str] = ..., name_en: _Optional[str] = ..., kind: _Optional[str] = ..., owner: _Optional[str] = ..., purposes: _Optional[_Iterable[str]] = ..., data_categories: _Optional[_Iterable[str]] = ...) -> None: ...

class Consent(_message.Message):
    __slots__ = ("consent_id", "resident_id", "recipient_id", "purpose_id", "purpose_version", "data_categories", "state", "give_time", "expire_time", "withdraw_time", "collection_method", "biometric", "non_biometric_alternative_id", "ledger_index", "language", "given_by_mandatary", "mandate_id")
    CONSENT_ID_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_VERSION_FIELD_NUMBER: _ClassVar[int]
    DATA_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    GIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    WITHDRAW_TIME_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_METHOD_FIELD_NUMBER: _ClassVar[int]
    BIOMETRIC_FIELD_NUMBER: _ClassVar[int]
    NON_BIOMETRIC_ALTERNATIVE_ID_FIELD_NUMBER: _ClassVar[int]
    LEDGER_INDEX_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    GIVEN_BY_MANDATARY_FIELD_NUMBER: _ClassVar[int]
    MANDATE_ID_FIELD_NUMBER: _ClassVar[int]
    consent_id: str
    resident_id: str
    recipient_id: str
    purpose_id: str
    purpose_version: int
    data_categories: _containers.RepeatedScalarFieldContainer[str]
    state: ConsentState
    give_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    withdraw_time: _timestamp_pb2.Timestamp
    collection_method: CollectionMethod
    biometric: bool
    non_biometric_alternative_id: str
    ledger_index: int
    language: str
    given_by_mandatary: str
    mandate_id: str
    def __init__(self, consent_id: _Optional[str] = ..., resident_id: _Optional[str] = ..., recipient_id: _Optional[str] = ..., purpose_id: _Optional[str] = ..., purpose_version: _Optional[int] = ..., data_categories: _Optional[_Iterable[str]] = ..., state: _Optional[_Union[ConsentState, str]] = ..., give_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., withdraw_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., collection_method: _Optional[_Union[CollectionMethod, str]] = ..., biometric: _Optional[bool] = ..., non_biometric_alternative_id: _Optional[str] = ..., ledger_index: _Optional[int] = ..., language: _Optional[str] = ..., given_by_mandatary: _Optional[str] = ..., mandate_id: _Optional[str] = ...) -> None: ...

class GrantItem(_message.Message):
    __slots__ = ("purpose_id", "purpose_version", "data_categories", "expire_time", "non_biometric_alternative_id")
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_VERSION_FIELD_NUMBER: _ClassVar[int]
    DATA_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    NON_BIOMETRIC_ALTERNATIVE_ID_FIELD_NUMBER: _ClassVar[int]
    purpose_id: str
    purpose_version: int
    data_categories: _containers.RepeatedScalarFieldContainer[str]
    expire_time: _timestamp_pb2.Timestamp
    non_biometric_alternative_id: str
    def __init__(self, purpose_id: _Optional[str] = ..., purpose_version: _Optional[int] = ..., data_categories: _Optional[_Iterable[str]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., non_biometric_alternative_id: _Optional[str] = ...) -> None: ...

class GrantRequest(_message.Message):
    __slots__ = ("resident_id", "recipient_id", "items", "collection_method", "explicit_act", "language", "reauthenticated_time", "reauthentication_method")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_ID_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_METHOD_FIELD_NUMBER: _ClassVar[int]
    EXPLICIT_ACT_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    REAUTHENTICATED_TIME_FIELD_NUMBER: _ClassVar[int]
    REAUTHENTICATION_METHOD_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    recipient_id: str
    items: _containers.RepeatedCompositeFieldContainer[GrantItem]
    collection_method: CollectionMethod
    explicit_act: bool
    language: str
    reauthenticated_time: _timestamp_pb2.Timestamp
    reauthentication_method: str
    def __init__(self, resident_id: _Optional[str] = ..., recipient_id: _Optional[str] = ..., items: _Optional[_Iterable[_Union[GrantItem, _Mapping]]] = ..., collection_method: _Optional[_Union[CollectionMethod, str]] = ..., explicit_act: _Optional[bool] = ..., language: _Optional[str] = ..., reauthenticated_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reauthentication_method: _Optional[str] = ...) -> None: ...

class GrantResponse(_message.Message):
    __slots__ = ("consents",)
    CONSENTS_FIELD_NUMBER: _ClassVar[int]
    consents: _containers.RepeatedCompositeFieldContainer[Consent]
    def __init__(self, consents: _Optional[_Iterable[_Union[Consent, _Mapping]]] = ...) -> None: ...

class WithdrawRequest(_message.Message):
    __slots__ = ("resident_id", "consent_id")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    CONSENT_ID_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    consent_id: str
    def __init__(self, resident_id: _Optional[str] = ..., consent_id: _Optional[str] = ...) -> None: ...

class WithdrawResponse(_message.Message):
    __slots__ = ("consent", "ledger_index")
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    LEDGER_INDEX_FIELD_NUMBER: _ClassVar[int]
    consent: Consent
    ledger_index: int
    def __init__(self, consent: _Optional[_Union[Consent, _Mapping]] = ..., ledger_index: _Optional[int] = ...) -> None: ...

class CheckRequest(_message.Message):
    __slots__ = ("resident_id", "recipient_id", "purpose_id", "data_categories")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    recipient_id: str
    purpose_id: str
    data_categories: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, resident_id: _Optional[str] = ..., recipient_id: _Optional[str] = ..., purpose_id: _Optional[str] = ..., data_categories: _Optional[_Iterable[str]] = ...) -> None: ...

class CategoryDecision(_message.Message):
    __slots__ = ("data_category", "allowed", "basis", "consent_id", "reason", "non_biometric_alternative")
    DATA_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    BASIS_FIELD_NUMBER: _ClassVar[int]
    CONSENT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    NON_BIOMETRIC_ALTERNATIVE_FIELD_NUMBER: _ClassVar[int]
    data_category: str
    allowed: bool
    basis: LegalBasis
    consent_id: str
    reason: str
    non_biometric_alternative: NonBiometricAlternative
    def __init__(self, data_category: _Optional[str] = ..., allowed: _Optional[bool] = ..., basis: _Optional[_Union[LegalBasis, str]] = ..., consent_id: _Optional[str] = ..., reason: _Optional[str] = ..., non_biometric_alternative: _Optional[_Union[NonBiometricAlternative, _Mapping]] = ...) -> None: ...

class NonBiometricAlternative(_message.Message):
    __slots__ = ("alternative_id", "description_fr", "description_en")
    ALTERNATIVE_ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FR_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_EN_FIELD_NUMBER: _ClassVar[int]
    alternative_id: str
    description_fr: str
    description_en: str
    def __init__(self, alternative_id: _Optional[str] = ..., description_fr: _Optional[str] = ..., description_en: _Optional[str] = ...) -> None: ...

class CheckResponse(_message.Message):
    __slots__ = ("decisions", "check_time")
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    CHECK_TIME_FIELD_NUMBER: _ClassVar[int]
    decisions: _containers.RepeatedCompositeFieldContainer[CategoryDecision]
    check_time: _timestamp_pb2.Timestamp
    def __init__(self, decisions: _Optional[_Iterable[_Union[CategoryDecision, _Mapping]]] = ..., check_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CheckManyRequest(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[CheckQuestion]
    def __init__(self, items: _Optional[_Iterable[_Union[CheckQuestion, _Mapping]]] = ...) -> None: ...

class CheckQuestion(_message.Message):
    __slots__ = ("resident_id", "recipient_id", "purpose_id", "data_categories")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    recipient_id: str
    purpose_id: str
    data_categories: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, resident_id: _Optional[str] = ..., recipient_id: _Optional[str] = ..., purpose_id: _Optional[str] = ..., data_categories: _Optional[_Iterable[str]] = ...) -> None: ...

class CheckManyResponse(_message.Message):
    __slots__ = ("answers", "check_time")
    ANSWERS_FIELD_NUMBER: _ClassVar[int]
    CHECK_TIME_FIELD_NUMBER: _ClassVar[int]
    answers: _containers.RepeatedCompositeFieldContainer[CheckAnswer]
    check_time: _timestamp_pb2.Timestamp
    def __init__(self, answers: _Optional[_Iterable[_Union[CheckAnswer, _Mapping]]] = ..., check_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CheckAnswer(_message.Message):
    __slots__ = ("decisions", "error")
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    decisions: _containers.RepeatedCompositeFieldContainer[CategoryDecision]
    error: ItemError
    def __init__(self, decisions: _Optional[_Iterable[_Union[CategoryDecision, _Mapping]]] = ..., error: _Optional[_Union[ItemError, _Mapping]] = ...) -> None: ...

class ItemError(_message.Message):
    __slots__ = ("code", "reason", "field_violations")
    CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    FIELD_VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    code: str
    reason: str
    field_violations: _containers.RepeatedCompositeFieldContainer[ItemFieldViolation]
    def __init__(self, code: _Optional[str] = ..., reason: _Optional[str] = ..., field_violations: _Optional[_Iterable[_Union[ItemFieldViolation, _Mapping]]] = ...) -> None: ...

class ItemFieldViolation(_message.Message):
    __slots__ = ("field", "description")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    field: str
    description: str
    def __init__(self, field: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class ListConsentsRequest(_message.Message):
    __slots__ = ("resident_id", "include_inactive", "page_size", "page_token")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_INACTIVE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    include_inactive: bool
    page_size: int
    page_token: str
    def __init__(self, resident_id: _Optional[str] = ..., include_inactive: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListConsentsResponse(_message.Message):
    __slots__ = ("consents", "next_page_token")
    CONSENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    consents: _containers.RepeatedCompositeFieldContainer[Consent]
    next_page_token: str
    def __init__(self, consents: _Optional[_Iterable[_Union[Consent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class LedgerEntry(_message.Message):
    __slots__ = ("index", "type", "entry_time", "entry_id", "resident_id", "consent_id", "access_id", "recipient_id", "purpose_id", "data_categories", "leaf_data", "leaf_hash")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ENTRY_TIME_FIELD_NUMBER: _ClassVar[int]
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    CONSENT_ID_FIELD_NUMBER: _ClassVar[int]
    ACCESS_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    LEAF_DATA_FIELD_NUMBER: _ClassVar[int]
    LEAF_HASH_FIELD_NUMBER: _ClassVar[int]
    index: int
    type: EntryType
    entry_time: _timestamp_pb2.Timestamp
    entry_id: str
    resident_id: str
    consent_id: str
    access_id: str
    recipient_id: str
    purpose_id: str
    data_categories: _containers.RepeatedScalarFieldContainer[str]
    leaf_data: bytes
    leaf_hash: bytes
    def __init__(self, index: _Optional[int] = ..., type: _Optional[_Union[EntryType, str]] = ..., entry_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., entry_id: _Optional[str] = ..., resident_id: _Optional[str] = ..., consent_id: _Optional[str] = ..., access_id: _Optional[str] = ..., recipient_id: _Optional[str] = ..., purpose_id: _Optional[str] = ..., data_categories: _Optional[_Iterable[str]] = ..., leaf_data: _Optional[bytes] = ..., leaf_hash: _Optional[bytes] = ...) -> None: ...

class HistoryRequest(_message.Message):
    __slots__ = ("resident_id", "page_size", "page_token", "types")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TYPES_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    page_size: int
    page_token: str
    types: _containers.RepeatedScalarFieldContainer[EntryType]
    def __init__(self, resident_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., types: _Optional[_Iterable[_Union[EntryType, str]]] = ...) -> None: ...

class HistoryResponse(_message.Message):
    __slots__ = ("entries", "next_page_token")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[LedgerEntry]
    next_page_token: str
    def __init__(self, entries: _Optional[_Iterable[_Union[LedgerEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AccessRecord(_message.Message):
    __slots__ = ("access_id", "ledger_index", "recipient_id", "recipient_name_fr", "recipient_name_en", "purpose_id", "data_categories", "withheld_categories", "bases", "consent_ids", "access_time", "unsupported_categories", "agent_reference", "mandatary_id", "mandate_id")
    class BasesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: LegalBasis
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[LegalBasis, str]] = ...) -> None: ...
    ACCESS_ID_FIELD_NUMBER: _ClassVar[int]
    LEDGER_INDEX_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_NAME_FR_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_NAME_EN_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    WITHHELD_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    BASES_FIELD_NUMBER: _ClassVar[int]
    CONSENT_IDS_FIELD_NUMBER: _ClassVar[int]
    ACCESS_TIME_FIELD_NUMBER: _ClassVar[int]
    UNSUPPORTED_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    AGENT_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    MANDATARY_ID_FIELD_NUMBER: _ClassVar[int]
    MANDATE_ID_FIELD_NUMBER: _ClassVar[int]
    access_id: str
    ledger_index: int
    recipient_id: str
    recipient_name_fr: str
    recipient_name_en: str
    purpose_id: str
    data_categories: _containers.RepeatedScalarFieldContainer[str]
    withheld_categories: _containers.RepeatedScalarFieldContainer[str]
    bases: _containers.ScalarMap[str, LegalBasis]
    consent_ids: _containers.RepeatedScalarFieldContainer[str]
    access_time: _timestamp_pb2.Timestamp
    unsupported_categories: _containers.RepeatedScalarFieldContainer[str]
    agent_reference: str
    mandatary_id: str
    mandate_id: str
    def __init__(self, access_id: _Optional[str] = ..., ledger_index: _Optional[int] = ..., recipient_id: _Optional[str] = ..., recipient_name_fr: _Optional[str] = ..., recipient_name_en: _Optional[str] = ..., purpose_id: _Optional[str] = ..., data_categories: _Optional[_Iterable[str]] = ..., withheld_categories: _Optional[_Iterable[str]] = ..., bases: _Optional[_Mapping[str, LegalBasis]] = ..., consent_ids: _Optional[_Iterable[str]] = ..., access_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., unsupported_categories: _Optional[_Iterable[str]] = ..., agent_reference: _Optional[str] = ..., mandatary_id: _Optional[str] = ..., mandate_id: _Optional[str] = ...) -> None: ...

class AccessLogRequest(_message.Message):
    __slots__ = ("resident_id", "page_size", "page_token", "recipient_id")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_ID_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    page_size: int
    page_token: str
    recipient_id: str
    def __init__(self, resident_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., recipient_id: _Optional[str] = ...) -> None: ...

class AccessLogResponse(_message.Message):
    __slots__ = ("records", "next_page_token")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[AccessRecord]
    next_page_token: str
    def __init__(self, records: _Optional[_Iterable[_Union[AccessRecord, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RecordAccessRequest(_message.Message):
    __slots__ = ("access_id", "resident_id", "recipient_id", "purpose_id", "data_categories", "bases", "consent_ids", "withheld_categories", "access_time")
    class BasesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: LegalBasis
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[LegalBasis, str]] = ...) -> None: ...
    ACCESS_ID_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    BASES_FIELD_NUMBER: _ClassVar[int]
    CONSENT_IDS_FIELD_NUMBER: _ClassVar[int]
    WITHHELD_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    ACCESS_TIME_FIELD_NUMBER: _ClassVar[int]
    access_id: str
    resident_id: str
    recipient_id: str
    purpose_id: str
    data_categories: _containers.RepeatedScalarFieldContainer[str]
    bases: _containers.ScalarMap[str, LegalBasis]
    consent_ids: _containers.RepeatedScalarFieldContainer[str]
    withheld_categories: _containers.RepeatedScalarFieldContainer[str]
    access_time: _timestamp_pb2.Timestamp
    def __init__(self, access_id: _Optional[str] = ..., resident_id: _Optional[str] = ..., recipient_id: _Optional[str] = ..., purpose_id: _Optional[str] = ..., data_categories: _Optional[_Iterable[str]] = ..., bases: _Optional[_Mapping[str, LegalBasis]] = ..., consent_ids: _Optional[_Iterable[str]] = ..., withheld_categories: _Optional[_Iterable[str]] = ..., access_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RecordAccessResponse(_message.Message):
    __slots__ = ("ledger_index", "already_recorded")
    LEDGER_INDEX_FIELD_NUMBER: _ClassVar[int]
    ALREADY_RECORDED_FIELD_NUMBER: _ClassVar[int]
    ledger_index: int
    already_recorded: bool
    def __init__(self, ledger_index: _Optional[int] = ..., already_recorded: _Optional[bool] = ...) -> None: ...

class CheckAndRecordRequest(_message.Message):
    __slots__ = ("access_id", "resident_id", "recipient_id", "purpose_id", "data_categories", "available_categories", "withheld_categories", "mandatary_id")
    ACCESS_ID_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    WITHHELD_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    MANDATARY_ID_FIELD_NUMBER: _ClassVar[int]
    access_id: str
    resident_id: str
    recipient_id: str
    purpose_id: str
    data_categories: _containers.RepeatedScalarFieldContainer[str]
    available_categories: _containers.RepeatedScalarFieldContainer[str]
    withheld_categories: _containers.RepeatedScalarFieldContainer[str]
    mandatary_id: str
    def __init__(self, access_id: _Optional[str] = ..., resident_id: _Optional[str] = ..., recipient_id: _Optional[str] = ..., purpose_id: _Optional[str] = ..., data_categories: _Optional[_Iterable[str]] = ..., available_categories: _Optional[_Iterable[str]] = ..., withheld_categories: _Optional[_Iterable[str]] = ..., mandatary_id: _Optional[str] = ...) -> None: ...

class CheckAndRecordResponse(_message.Message):
    __slots__ = ("decisions", "released_categories", "ledger_index", "already_recorded", "access_time", "mandate_id")
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    RELEASED_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    LEDGER_INDEX_FIELD_NUMBER: _ClassVar[int]
    ALREADY_RECORDED_FIELD_NUMBER: _ClassVar[int]
    ACCESS_TIME_FIELD_NUMBER: _ClassVar[int]
    MANDATE_ID_FIELD_NUMBER: _ClassVar[int]
    decisions: _containers.RepeatedCompositeFieldContainer[CategoryDecision]
    released_categories: _containers.RepeatedScalarFieldContainer[str]
    ledger_index: int
    already_recorded: bool
    access_time: _timestamp_pb2.Timestamp
    mandate_id: str
    def __init__(self, decisions: _Optional[_Iterable[_Union[CategoryDecision, _Mapping]]] = ..., released_categories: _Optional[_Iterable[str]] = ..., ledger_index: _Optional[int] = ..., already_recorded: _Optional[bool] = ..., access_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., mandate_id: _Optional[str] = ...) -> None: ...

class RequestRectificationRequest(_message.Message):
    __slots__ = ("resident_id", "data_categories", "recipient_id")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_ID_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    data_categories: _containers.RepeatedScalarFieldContainer[str]
    recipient_id: str
    def __init__(self, resident_id: _Optional[str] = ..., data_categories: _Optional[_Iterable[str]] = ..., recipient_id: _Optional[str] = ...) -> None: ...

class RequestRectificationResponse(_message.Message):
    __slots__ = ("request_id", "ledger_index")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    LEDGER_INDEX_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    ledger_index: int
    def __init__(self, request_id: _Optional[str] = ..., ledger_index: _Optional[int] = ...) -> None: ...

class GetReceiptRequest(_message.Message):
    __slots__ = ("consent_id",)
    CONSENT_ID_FIELD_NUMBER: _ClassVar[int]
    consent_id: str
    def __init__(self, consent_id: _Optional[str] = ...) -> None: ...

class GetReceiptResponse(_message.Message):
    __slots__ = ("receipt_jws", "receipt_json", "key_id")
    RECEIPT_JWS_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_JSON_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    receipt_jws: str
    receipt_json: str
    key_id: str
    def __init__(self, receipt_jws: _Optional[str] = ..., receipt_json: _Optional[str] = ..., key_id: _Optional[str] = ...) -> None: ...

class SignedTreeHead(_message.Message):
    __slots__ = ("tree_size", "root_hash", "timestamp", "jws", "key_id")
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    ROOT_HASH_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    JWS_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    tree_size: int
    root_hash: bytes
    timestamp: _timestamp_pb2.Timestamp
    jws: str
    key_id: str
    def __init__(self, tree_size: _Optional[int] = ..., root_hash: _Optional[bytes] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., jws: _Optional[str] = ..., key_id: _Optional[str] = ...) -> None: ...

class GetSignedTreeHeadRequest(_message.Message):
    __slots__ = ("tree_size",)
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    tree_size: int
    def __init__(self, tree_size: _Optional[int] = ...) -> None: ...

class GetSignedTreeHeadResponse(_message.Message):
    __slots__ = ("signed_tree_head", "origin", "witnessed", "witness_quorum")
    SIGNED_TREE_HEAD_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    WITNESSED_FIELD_NUMBER: _ClassVar[int]
    WITNESS_QUORUM_FIELD_NUMBER: _ClassVar[int]
    signed_tree_head: SignedTreeHead
    origin: str
    witnessed: WitnessedHead
    witness_quorum: int
    def __init__(self, signed_tree_head: _Optional[_Union[SignedTreeHead, _Mapping]] = ..., origin: _Optional[str] = ..., witnessed: _Optional[_Union[WitnessedHead, _Mapping]] = ..., witness_quorum: _Optional[int] = ...) -> None: ...

class WitnessCosignature(_message.Message):
    __slots__ = ("witness", "key_id", "cosigned_at", "line")
    WITNESS_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    COSIGNED_AT_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    witness: str
    key_id: bytes
    cosigned_at: int
    line: str
    def __init__(self, witness: _Optional[str] = ..., key_id: _Optional[bytes] = ..., cosigned_at: _Optional[int] = ..., line: _Optional[str] = ...) -> None: ...

class WitnessedHead(_message.Message):
    __slots__ = ("tree_size", "root_hash", "cosignatures", "note", "below_quorum")
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    ROOT_HASH_FIELD_NUMBER: _ClassVar[int]
    COSIGNATURES_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    BELOW_QUORUM_FIELD_NUMBER: _ClassVar[int]
    tree_size: int
    root_hash: bytes
    cosignatures: _containers.RepeatedCompositeFieldContainer[WitnessCosignature]
    note: str
    below_quorum: bool
    def __init__(self, tree_size: _Optional[int] = ..., root_hash: _Optional[bytes] = ..., cosignatures: _Optional[_Iterable[_Union[WitnessCosignature, _Mapping]]] = ..., note: _Optional[str] = ..., below_quorum: _Optional[bool] = ...) -> None: ...

class AddCosignatureRequest(_message.Message):
    __slots__ = ("note",)
    NOTE_FIELD_NUMBER: _ClassVar[int]
    note: str
    def __init__(self, note: _Optional[str] = ...) -> None: ...

class AddCosignatureResponse(_message.Message):
    __slots__ = ("tree_size", "cosignatures")
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    COSIGNATURES_FIELD_NUMBER: _ClassVar[int]
    tree_size: int
    cosignatures: int
    def __init__(self, tree_size: _Optional[int] = ..., cosignatures: _Optional[int] = ...) -> None: ...

class GetInclusionProofRequest(_message.Message):
    __slots__ = ("leaf_index", "tree_size")
    LEAF_INDEX_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    leaf_index: int
    tree_size: int
    def __init__(self, leaf_index: _Optional[int] = ..., tree_size: _Optional[int] = ...) -> None: ...

class GetInclusionProofResponse(_message.Message):
    __slots__ = ("leaf_index", "tree_size", "audit_path", "entry", "signed_tree_head")
    LEAF_INDEX_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    AUDIT_PATH_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    SIGNED_TREE_HEAD_FIELD_NUMBER: _ClassVar[int]
    leaf_index: int
    tree_size: int
    audit_path: _containers.RepeatedScalarFieldContainer[bytes]
    entry: LedgerEntry
    signed_tree_head: SignedTreeHead
    def __init__(self, leaf_index: _Optional[int] = ..., tree_size: _Optional[int] = ..., audit_path: _Optional[_Iterable[bytes]] = ..., entry: _Optional[_Union[LedgerEntry, _Mapping]] = ..., signed_tree_head: _Optional[_Union[SignedTreeHead, _Mapping]] = ...) -> None: ...

class GetConsistencyProofRequest(_message.Message):
    __slots__ = ("first_tree_size", "second_tree_size")
    FIRST_TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    SECOND_TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    first_tree_size: int
    second_tree_size: int
    def __init__(self, first_tree_size: _Optional[int] = ..., second_tree_size: _Optional[int] = ...) -> None: ...

class GetConsistencyProofResponse(_message.Message):
    __slots__ = ("first_tree_size", "second_tree_size", "proof", "signed_tree_head")
    FIRST_TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    SECOND_TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    SIGNED_TREE_HEAD_FIELD_NUMBER: _ClassVar[int]
    first_tree_size: int
    second_tree_size: int
    proof: _containers.RepeatedScalarFieldContainer[bytes]
    signed_tree_head: SignedTreeHead
    def __init__(self, first_tree_size: _Optional[int] = ..., second_tree_size: _Optional[int] = ..., proof: _Optional[_Iterable[bytes]] = ..., signed_tree_head: _Optional[_Union[SignedTreeHead, _Mapping]] = ...) -> None: ...

class ExportRequest(_message.Message):
    __slots__ = ("resident_id",)
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    def __init__(self, resident_id: _Optional[str] = ...) -> None: ...

class ExportResponse(_message.Message):
    __slots__ = ("document", "media_type", "ledger_index", "signed_tree_head", "jwks_json")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    LEDGER_INDEX_FIELD_NUMBER: _ClassVar[int]
    SIGNED_TREE_HEAD_FIELD_NUMBER: _ClassVar[int]
    JWKS_JSON_FIELD_NUMBER: _ClassVar[int]
    document: bytes
    media_type: str
    ledger_index: int
    signed_tree_head: SignedTreeHead
    jwks_json: str
    def __init__(self, document: _Optional[bytes] = ..., media_type: _Optional[str] = ..., ledger_index: _Optional[int] = ..., signed_tree_head: _Optional[_Union[SignedTreeHead, _Mapping]] = ..., jwks_json: _Optional[str] = ...) -> None: ...

class GetLogKeysRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetLogKeysResponse(_message.Message):
    __slots__ = ("jwks_json",)
    JWKS_JSON_FIELD_NUMBER: _ClassVar[int]
    jwks_json: str
    def __init__(self, jwks_json: _Optional[str] = ...) -> None: ...

class ListPurposesRequest(_message.Message):
    __slots__ = ("include_all_versions",)
    INCLUDE_ALL_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    include_all_versions: bool
    def __init__(self, include_all_versions: _Optional[bool] = ...) -> None: ...

class ListPurposesResponse(_message.Message):
    __slots__ = ("purposes",)
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    purposes: _containers.RepeatedCompositeFieldContainer[Purpose]
    def __init__(self, purposes: _Optional[_Iterable[_Union[Purpose, _Mapping]]] = ...) -> None: ...

class ListDataCategoriesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListDataCategoriesResponse(_message.Message):
    __slots__ = ("data_categories",)
    DATA_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    data_categories: _containers.RepeatedCompositeFieldContainer[DataCategory]
    def __init__(self, data_categories: _Optional[_Iterable[_Union[DataCategory, _Mapping]]] = ...) -> None: ...

class ListRecipientsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListRecipientsResponse(_message.Message):
    __slots__ = ("recipients",)
    RECIPIENTS_FIELD_NUMBER: _ClassVar[int]
    recipients: _containers.RepeatedCompositeFieldContainer[Recipient]
    def __init__(self, recipients: _Optional[_Iterable[_Union[Recipient, _Mapping]]] = ...) -> None: ...

class DefinePurposeRequest(_message.Message):
    __slots__ = ("purpose",)
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    purpose: Purpose
    def __init__(self, purpose: _Optional[_Union[Purpose, _Mapping]] = ...) -> None: ...

class DefinePurposeResponse(_message.Message):
    __slots__ = ("purpose",)
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    purpose: Purpose
    def __init__(self, purpose: _Optional[_Union[Purpose, _Mapping]] = ...) -> None: ...

class RegisterRecipientRequest(_message.Message):
    __slots__ = ("recipient",)
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    recipient: Recipient
    def __init__(self, recipient: _Optional[_Union[Recipient, _Mapping]] = ...) -> None: ...

class RegisterRecipientResponse(_message.Message):
    __slots__ = ("recipient",)
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    recipient: Recipient
    def __init__(self, recipient: _Optional[_Union[Recipient, _Mapping]] = ...) -> None: ...

class MandateScope(_message.Message):
    __slots__ = ("service", "actions")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    service: str
    actions: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, service: _Optional[str] = ..., actions: _Optional[_Iterable[str]] = ...) -> None: ...

class Mandate(_message.Message):
    __slots__ = ("mandate_id", "represented_id", "mandatary_id", "grantor_id", "basis", "scope", "valid_from_time", "valid_until_time", "state", "grant_time", "accept_time", "end_time", "end_reason", "under_mandate_id", "document_kind", "document_checked_by", "ledger_index", "acts", "narrow_time", "narrow_reason")
    MANDATE_ID_FIELD_NUMBER: _ClassVar[int]
    REPRESENTED_ID_FIELD_NUMBER: _ClassVar[int]
    MANDATARY_ID_FIELD_NUMBER: _ClassVar[int]
    GRANTOR_ID_FIELD_NUMBER: _ClassVar[int]
    BASIS_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_TIME_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_TIME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    GRANT_TIME_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    END_REASON_FIELD_NUMBER: _ClassVar[int]
    UNDER_MANDATE_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_KIND_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_CHECKED_BY_FIELD_NUMBER: _ClassVar[int]
    LEDGER_INDEX_FIELD_NUMBER: _ClassVar[int]
    ACTS_FIELD_NUMBER: _ClassVar[int]
    NARROW_TIME_FIELD_NUMBER: _ClassVar[int]
    NARROW_REASON_FIELD_NUMBER: _ClassVar[int]
    mandate_id: str
    represented_id: str
    mandatary_id: str
    grantor_id: str
    basis: MandateBasis
    scope: _containers.RepeatedCompositeFieldContainer[MandateScope]
    valid_from_time: _timestamp_pb2.Timestamp
    valid_until_time: _timestamp_pb2.Timestamp
    state: MandateState
    grant_time: _timestamp_pb2.Timestamp
    accept_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    end_reason: str
    under_mandate_id: str
    document_kind: str
    document_checked_by: str
    ledger_index: int
    acts: _containers.RepeatedCompositeFieldContainer[MandateAct]
    narrow_time: _timestamp_pb2.Timestamp
    narrow_reason: str
    def __init__(self, mandate_id: _Optional[str] = ..., represented_id: _Optional[str] = ..., mandatary_id: _Optional[str] = ..., grantor_id: _Optional[str] = ..., basis: _Optional[_Union[MandateBasis, str]] = ..., scope: _Optional[_Iterable[_Union[MandateScope, _Mapping]]] = ..., valid_from_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_until_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[_Union[MandateState, str]] = ..., grant_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., accept_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_reason: _Optional[str] = ..., under_mandate_id: _Optional[str] = ..., document_kind: _Optional[str] = ..., document_checked_by: _Optional[str] = ..., ledger_index: _Optional[int] = ..., acts: _Optional[_Iterable[_Union[MandateAct, _Mapping]]] = ..., narrow_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., narrow_reason: _Optional[str] = ...) -> None: ...

class MandateAct(_message.Message):
    __slots__ = ("act_id", "service", "action", "act_time", "recorded_by")
    ACT_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    ACT_TIME_FIELD_NUMBER: _ClassVar[int]
    RECORDED_BY_FIELD_NUMBER: _ClassVar[int]
    act_id: str
    service: str
    action: str
    act_time: _timestamp_pb2.Timestamp
    recorded_by: str
    def __init__(self, act_id: _Optional[str] = ..., service: _Optional[str] = ..., action: _Optional[str] = ..., act_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., recorded_by: _Optional[str] = ...) -> None: ...

class GetMandateReceiptRequest(_message.Message):
    __slots__ = ("mandate_id",)
    MANDATE_ID_FIELD_NUMBER: _ClassVar[int]
    mandate_id: str
    def __init__(self, mandate_id: _Optional[str] = ...) -> None: ...

class GetMandateReceiptResponse(_message.Message):
    __slots__ = ("receipt_jws", "receipt_json", "key_id")
    RECEIPT_JWS_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_JSON_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    receipt_jws: str
    receipt_json: str
    key_id: str
    def __init__(self, receipt_jws: _Optional[str] = ..., receipt_json: _Optional[str] = ..., key_id: _Optional[str] = ...) -> None: ...

class RecordMandateActRequest(_message.Message):
    __slots__ = ("mandate_id", "act_id", "service", "action", "service_client_id")
    MANDATE_ID_FIELD_NUMBER: _ClassVar[int]
    ACT_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    SERVICE_CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    mandate_id: str
    act_id: str
    service: str
    action: str
    service_client_id: str
    def __init__(self, mandate_id: _Optional[str] = ..., act_id: _Optional[str] = ..., service: _Optional[str] = ..., action: _Optional[str] = ..., service_client_id: _Optional[str] = ...) -> None: ...

class RecordMandateActResponse(_message.Message):
    __slots__ = ("mandate", "already_recorded")
    MANDATE_FIELD_NUMBER: _ClassVar[int]
    ALREADY_RECORDED_FIELD_NUMBER: _ClassVar[int]
    mandate: Mandate
    already_recorded: bool
    def __init__(self, mandate: _Optional[_Union[Mandate, _Mapping]] = ..., already_recorded: _Optional[bool] = ...) -> None: ...

class GiveMandateRequest(_message.Message):
    __slots__ = ("represented_id", "mandatary_id", "grantor_id", "basis", "scope", "valid_from_time", "valid_until_time", "under_mandate_id", "document_kind", "document_reference")
    REPRESENTED_ID_FIELD_NUMBER: _ClassVar[int]
    MANDATARY_ID_FIELD_NUMBER: _ClassVar[int]
    GRANTOR_ID_FIELD_NUMBER: _ClassVar[int]
    BASIS_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_TIME_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_TIME_FIELD_NUMBER: _ClassVar[int]
    UNDER_MANDATE_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_KIND_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    represented_id: str
    mandatary_id: str
    grantor_id: str
    basis: MandateBasis
    scope: _containers.RepeatedCompositeFieldContainer[MandateScope]
    valid_from_time: _timestamp_pb2.Timestamp
    valid_until_time: _timestamp_pb2.Timestamp
    under_mandate_id: str
    document_kind: str
    document_reference: str
    def __init__(self, represented_id: _Optional[str] = ..., mandatary_id: _Optional[str] = ..., grantor_id: _Optional[str] = ..., basis: _Optional[_Union[MandateBasis, str]] = ..., scope: _Optional[_Iterable[_Union[MandateScope, _Mapping]]] = ..., valid_from_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_until_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., under_mandate_id: _Optional[str] = ..., document_kind: _Optional[str] = ..., document_reference: _Optional[str] = ...) -> None: ...

class GiveMandateResponse(_message.Message):
    __slots__ = ("mandate",)
    MANDATE_FIELD_NUMBER: _ClassVar[int]
    mandate: Mandate
    def __init__(self, mandate: _Optional[_Union[Mandate, _Mapping]] = ...) -> None: ...

class AcceptMandateRequest(_message.Message):
    __slots__ = ("mandate_id",)
    MANDATE_ID_FIELD_NUMBER: _ClassVar[int]
    mandate_id: str
    def __init__(self, mandate_id: _Optional[str] = ...) -> None: ...

class AcceptMandateResponse(_message.Message):
    __slots__ = ("mandate",)
    MANDATE_FIELD_NUMBER: _ClassVar[int]
    mandate: Mandate
    def __init__(self, mandate: _Optional[_Union[Mandate, _Mapping]] = ...) -> None: ...

class EndMandateRequest(_message.Message):
    __slots__ = ("mandate_id", "suspend")
    MANDATE_ID_FIELD_NUMBER: _ClassVar[int]
    SUSPEND_FIELD_NUMBER: _ClassVar[int]
    mandate_id: str
    suspend: bool
    def __init__(self, mandate_id: _Optional[str] = ..., suspend: _Optional[bool] = ...) -> None: ...

class EndMandateResponse(_message.Message):
    __slots__ = ("mandate",)
    MANDATE_FIELD_NUMBER: _ClassVar[int]
    mandate: Mandate
    def __init__(self, mandate: _Optional[_Union[Mandate, _Mapping]] = ...) -> None: ...

class ListMandatesRequest(_message.Message):
    __slots__ = ("resident_id", "page_size", "page_token")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    page_size: int
    page_token: str
    def __init__(self, resident_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMandatesResponse(_message.Message):
    __slots__ = ("given", "received", "next_page_token")
    GIVEN_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    given: _containers.RepeatedCompositeFieldContainer[Mandate]
    received: _containers.RepeatedCompositeFieldContainer[Mandate]
    next_page_token: str
    def __init__(self, given: _Optional[_Iterable[_Union[Mandate, _Mapping]]] = ..., received: _Optional[_Iterable[_Union[Mandate, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class MandateQuestion(_message.Message):
    __slots__ = ("mandatary_id", "represented_id", "service", "action")
    MANDATARY_ID_FIELD_NUMBER: _ClassVar[int]
    REPRESENTED_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    mandatary_id: str
    represented_id: str
    service: str
    action: str
    def __init__(self, mandatary_id: _Optional[str] = ..., represented_id: _Optional[str] = ..., service: _Optional[str] = ..., action: _Optional[str] = ...) -> None: ...

class DecideMandatesRequest(_message.Message):
    __slots__ = ("questions",)
    QUESTIONS_FIELD_NUMBER: _ClassVar[int]
    questions: _containers.RepeatedCompositeFieldContainer[MandateQuestion]
    def __init__(self, questions: _Optional[_Iterable[_Union[MandateQuestion, _Mapping]]] = ...) -> None: ...

class MandateDecision(_message.Message):
    __slots__ = ("allowed", "mandate_id", "reason")
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    MANDATE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    allowed: bool
    mandate_id: str
    reason: str
    def __init__(self, allowed: _Optional[bool] = ..., mandate_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class DecideMandatesResponse(_message.Message):
    __slots__ = ("decisions", "decide_time")
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    DECIDE_TIME_FIELD_NUMBER: _ClassVar[int]
    decisions: _containers.RepeatedCompositeFieldContainer[MandateDecision]
    decide_time: _timestamp_pb2.Timestamp
    def __init__(self, decisions: _Optional[_Iterable[_Union[MandateDecision, _Mapping]]] = ..., decide_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
