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

class Provenance(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROVENANCE_UNSPECIFIED: _ClassVar[Provenance]
    PROVENANCE_SELF_DECLARED: _ClassVar[Provenance]
    PROVENANCE_VERIFIED_AT_COUNTER: _ClassVar[Provenance]
    PROVENANCE_VERIFIED_FROM_DOCUMENT: _ClassVar[Provenance]
    PROVENANCE_RECEIVED_FROM_SERVICE: _ClassVar[Provenance]

class ServiceKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SERVICE_KIND_UNSPECIFIED: _ClassVar[ServiceKind]
    SERVICE_KIND_MUNICIPAL: _ClassVar[ServiceKind]
    SERVICE_KIND_BOROUGH: _ClassVar[ServiceKind]
    SERVICE_KIND_PARTNER: _ClassVar[ServiceKind]

class ServiceState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SERVICE_STATE_UNSPECIFIED: _ClassVar[ServiceState]
    SERVICE_STATE_ACTIVE: _ClassVar[ServiceState]
    SERVICE_STATE_RETIRED: _ClassVar[ServiceState]

class AccountState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCOUNT_STATE_UNSPECIFIED: _ClassVar[AccountState]
    ACCOUNT_STATE_PENDING: _ClassVar[AccountState]
    ACCOUNT_STATE_ACTIVE: _ClassVar[AccountState]
    ACCOUNT_STATE_SUSPENDED: _ClassVar[AccountState]
    ACCOUNT_STATE_CLOSED: _ClassVar[AccountState]

class ReleaseBasis(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RELEASE_BASIS_UNSPECIFIED: _ClassVar[ReleaseBasis]
    RELEASE_BASIS_CONSENT: _ClassVar[ReleaseBasis]
    RELEASE_BASIS_LEGAL: _ClassVar[ReleaseBasis]

class WithheldReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WITHHELD_REASON_UNSPECIFIED: _ClassVar[WithheldReason]
    WITHHELD_REASON_NOT_ALLOWED_FOR_SERVICE: _ClassVar[WithheldReason]
    WITHHELD_REASON_NO_CONSENT: _ClassVar[WithheldReason]
    WITHHELD_REASON_CONSENT_WITHDRAWN: _ClassVar[WithheldReason]
    WITHHELD_REASON_CONSENT_EXPIRED: _ClassVar[WithheldReason]
    WITHHELD_REASON_NOT_ON_PROFILE: _ClassVar[WithheldReason]
    WITHHELD_REASON_NOT_STORED: _ClassVar[WithheldReason]

class DocumentType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DOCUMENT_TYPE_UNSPECIFIED: _ClassVar[DocumentType]
    DOCUMENT_TYPE_DRIVER_LICENCE: _ClassVar[DocumentType]
    DOCUMENT_TYPE_PASSPORT: _ClassVar[DocumentType]
    DOCUMENT_TYPE_PERMANENT_RESIDENT_CARD: _ClassVar[DocumentType]
    DOCUMENT_TYPE_CITIZENSHIP_CERTIFICATE: _ClassVar[DocumentType]
    DOCUMENT_TYPE_BIRTH_CERTIFICATE: _ClassVar[DocumentType]
    DOCUMENT_TYPE_PROOF_OF_ADDRESS: _ClassVar[DocumentType]

class VerificationMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERIFICATION_METHOD_UNSPECIFIED: _ClassVar[VerificationMethod]
    VERIFICATION_METHOD_AT_COUNTER: _ClassVar[VerificationMethod]
    VERIFICATION_METHOD_FROM_DOCUMENT: _ClassVar[VerificationMethod]
PROVENANCE_UNSPECIFIED: Provenance
PROVENANCE_SELF_DECLARED: Provenance
PROVENANCE_VERIFIED_AT_COUNTER: Provenance
PROVENANCE_VERIFIED_FROM_DOCUMENT: Provenance
PROVENANCE_RECEIVED_FROM_SERVICE: Provenance
SERVICE_KIND_UNSPECIFIED: ServiceKind
SERVICE_KIND_MUNICIPAL: ServiceKind
SERVICE_KIND_BOROUGH: ServiceKind
SERVICE_KIND_PARTNER: ServiceKind
SERVICE_STATE_UNSPECIFIED: ServiceState
SERVICE_STATE_ACTIVE: ServiceState
SERVICE_STATE_RETIRED: ServiceState
ACCOUNT_STATE_UNSPECIFIED: AccountState
ACCOUNT_STATE_PENDING: AccountState
ACCOUNT_STATE_ACTIVE: AccountState
ACCOUNT_STATE_SUSPENDED: AccountState
ACCOUNT_STATE_CLOSED: AccountState
RELEASE_BASIS_UNSPECIFIED: ReleaseBasis
RELEASE_BASIS_CONSENT: ReleaseBasis
RELEASE_BASIS_LEGAL: ReleaseBasis
WITHHELD_REASON_UNSPECIFIED: WithheldReason
WITHHELD_REASON_NOT_ALLOWED_FOR_SERVICE: WithheldReason
WITHHELD_REASON_NO_CONSENT: WithheldReason
WITHHELD_REASON_CONSENT_WITHDRAWN: WithheldReason
WITHHELD_REASON_CONSENT_EXPIRED: WithheldReason
WITHHELD_REASON_NOT_ON_PROFILE: WithheldReason
WITHHELD_REASON_NOT_STORED: WithheldReason
DOCUMENT_TYPE_UNSPECIFIED: DocumentType
DOCUMENT_TYPE_DRIVER_LICENCE: DocumentType
DOCUMENT_TYPE_PASSPORT: DocumentType
DOCUMENT_TYPE_PERMANENT_RESIDENT_CARD: DocumentType
DOCUMENT_TYPE_CITIZENSHIP_CERTIFICATE: DocumentType
DOCUMENT_TYPE_BIRTH_CERTIFICATE: DocumentType
DOCUMENT_TYPE_PROOF_OF_ADDRESS: DocumentType
VERIFICATION_METHOD_UNSPECIFIED: VerificationMethod
VERIFICATION_METHOD_AT_COUNTER: VerificationMethod
VERIFICATION_METHOD_FROM_DOCUMENT: VerificationMethod

class Attribute(_message.Message):
    __slots__ = ("name", "value", "provenance", "verified_at", "update_time", "source_service_id", "verified_by")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_BY_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    provenance: Provenance
    verified_at: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    source_service_id: str
    verified_by: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ..., provenance: _Optional[_Union[Provenance, str]] = ..., verified_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., source_service_id: _Optional[str] = ..., verified_by: _Optional[str] = ...) -> None: ...

class Profile(_message.Message):
    __slots__ = ("resident_id", "attributes", "create_time", "update_time")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    attributes: _containers.RepeatedCompositeFieldContainer[Attribute]
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, resident_id: _Optional[str] = ..., attributes: _Optional[_Iterable[_Union[Attribute, _Mapping]]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetProfileRequest(_message.Message):
    __slots__ = ("resident_id",)
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    def __init__(self, resident_id: _Optional[str] = ...) -> None: ...

class GetProfileResponse(_message.Message):
    __slots__ = ("profile",)
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    profile: Profile
    def __init__(self, profile: _Optional[_Union[Profile, _Mapping]] = ...) -> None: ...

class AttributeChange(_message.Message):
    __slots__ = ("name", "value", "clear")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CLEAR_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    clear: bool
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ..., clear: _Optional[bool] = ...) -> None: ...

class UpdateProfileRequest(_message.Message):
    __slots__ = ("resident_id", "changes")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    changes: _containers.RepeatedCompositeFieldContainer[AttributeChange]
    def __init__(self, resident_id: _Optional[str] = ..., changes: _Optional[_Iterable[_Union[AttributeChange, _Mapping]]] = ...) -> None: ...

class UpdateProfileResponse(_message.Message):
    __slots__ = ("profile",)
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    profile: Profile
    def __init__(self, profile: _Optional[_Union[Profile, _Mapping]] = ...) -> None: ...

class ExportResidentDataRequest(_message.Message):
    __slots__ = ("resident_id",)
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    def __init__(self, resident_id: _Optional[str] = ...) -> None: ...

class ExportResidentDataResponse(_message.Message):
    __slots__ = ("document", "media_type")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    document: bytes
    media_type: str
    def __init__(self, document: _Optional[bytes] = ..., media_type: _Optional[str] = ...) -> None: ...

class Service(_message.Message):
    __slots__ = ("service_id", "name_fr", "name_en", "kind", "owner", "borough", "client_id", "attributes", "purposes", "state", "create_time", "update_time")
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FR_FIELD_NUMBER: _ClassVar[int]
    NAME_EN_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    BOROUGH_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    name_fr: str
    name_en: str
    kind: ServiceKind
    owner: str
    borough: str
    client_id: str
    attributes: _containers.RepeatedScalarFieldContainer[str]
    purposes: _containers.RepeatedScalarFieldContainer[str]
    state: ServiceState
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, service_id: _Optional[str] = ..., name_fr: _Optional[str] = ..., name_en: _Optional[str] = ..., kind: _Optional[_Union[ServiceKind, str]] = ..., owner: _Optional[str] = ..., borough: _Optional[str] = ..., client_id: _Optional[str] = ..., attributes: _Optional[_Iterable[str]] = ..., purposes: _Optional[_Iterable[str]] = ..., state: _Optional[_Union[ServiceState, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RegisterServiceRequest(_message.Message):
    __slots__ = ("service_id", "name_fr", "name_en", "kind", "owner", "borough", "client_id", "attributes", "purposes")
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FR_FIELD_NUMBER: _ClassVar[int]
    NAME_EN_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    BOROUGH_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    name_fr: str
    name_en: str
    kind: ServiceKind
    owner: str
    borough: str
    client_id: str
    attributes: _containers.RepeatedScalarFieldContainer[str]
    purposes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, service_id: _Optional[str] = ..., name_fr: _Optional[str] = ..., name_en: _Optional[str] = ..., kind: _Optional[_Union[ServiceKind, str]] = ..., owner: _Optional[str] = ..., borough: _Optional[str] = ..., client_id: _Optional[str] = ..., attributes: _Optional[_Iterable[str]] = ..., purposes: _Optional[_Iterable[str]] = ...) -> None: ...

class RegisterServiceResponse(_message.Message):
    __slots__ = ("service",)
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    service: Service
    def __init__(self, service: _Optional[_Union[Service, _Mapping]] = ...) -> None: ...

class UpdateServiceRequest(_message.Message):
    __slots__ = ("service_id", "name_fr", "name_en", "owner", "attributes", "purposes", "state")
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FR_FIELD_NUMBER: _ClassVar[int]
    NAME_EN_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    name_fr: str
    name_en: str
    owner: str
    attributes: _containers.RepeatedScalarFieldContainer[str]
    purposes: _containers.RepeatedScalarFieldContainer[str]
    state: ServiceState
    def __init__(self, service_id: _Optional[str] = ..., name_fr: _Optional[str] = ..., name_en: _Optional[str] = ..., owner: _Optional[str] = ..., attributes: _Optional[_Iterable[str]] = ..., purposes: _Optional[_Iterable[str]] = ..., state: _Optional[_Union[ServiceState, str]] = ...) -> None: ...

class UpdateServiceResponse(_message.Message):
    __slots__ = ("service",)
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    service: Service
    def __init__(self, service: _Optional[_Union[Service, _Mapping]] = ...) -> None: ...

class ListServicesRequest(_message.Message):
    __slots__ = ("kind", "borough", "page_size", "page_token")
    KIND_FIELD_NUMBER: _ClassVar[int]
    BOROUGH_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    kind: ServiceKind
    borough: str
    page_size: int
    page_token: str
    def __init__(self, kind: _Optional[_Union[ServiceKind, str]] = ..., borough: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListServicesResponse(_message.Message):
    __slots__ = ("services", "next_page_token")
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    services: _containers.RepeatedCompositeFieldContainer[Service]
    next_page_token: str
    def __init__(self, services: _Optional[_Iterable[_Union[Service, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetServiceRequest(_message.Message):
    __slots__ = ("service_id",)
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    def __init__(self, service_id: _Optional[str] = ...) -> None: ...

class GetServiceResponse(_message.Message):
    __slots__ = ("service",)
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    service: Service
    def __init__(self, service: _Optional[_Union[Service, _Mapping]] = ...) -> None: ...

class ServiceAccount(_message.Message):
    __slots__ = ("account_id", "service_id", "resident_id", "account_reference", "state", "create_time", "update_time", "unlink_requested_at")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UNLINK_REQUESTED_AT_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    service_id: str
    resident_id: str
    account_reference: str
    state: AccountState
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    unlink_requested_at: _timestamp_pb2.Timestamp
    def __init__(self, account_id: _Optional[str] = ..., service_id: _Optional[str] = ..., resident_id: _Optional[str] = ..., account_reference: _Optional[str] = ..., state: _Optional[_Union[AccountState, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., unlink_requested_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AccountTransition(_message.Message):
    __slots__ = ("from_state", "to_state", "reason", "actor", "time")
    FROM_STATE_FIELD_NUMBER: _ClassVar[int]
    TO_STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    from_state: AccountState
    to_state: AccountState
    reason: str
    actor: str
    time: _timestamp_pb2.Timestamp
    def __init__(self, from_state: _Optional[_Union[AccountState, str]] = ..., to_state: _Optional[_Union[AccountState, str]] = ..., reason: _Optional[str] = ..., actor: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LinkAccountRequest(_message.Message):
    __slots__ = ("service_id", "resident_id", "account_reference")
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    resident_id: str
    account_reference: str
    def __init__(self, service_id: _Optional[str] = ..., resident_id: _Optional[str] = ..., account_reference: _Optional[str] = ...) -> None: ...

class LinkAccountResponse(_message.Message):
    __slots__ = ("account",)
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    account: ServiceAccount
    def __init__(self, account: _Optional[_Union[ServiceAccount, _Mapping]] = ...) -> None: ...

class ActivateAccountRequest(_message.Message):
    __slots__ = ("account_id", "reason")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    reason: str
    def __init__(self, account_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ActivateAccountResponse(_message.Message):
    __slots__ = ("account",)
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    account: ServiceAccount
    def __init__(self, account: _Optional[_Union[ServiceAccount, _Mapping]] = ...) -> None: ...

class SuspendAccountRequest(_message.Message):
    __slots__ = ("account_id", "reason")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    reason: str
    def __init__(self, account_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class SuspendAccountResponse(_message.Message):
    __slots__ = ("account",)
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    account: ServiceAccount
    def __init__(self, account: _Optional[_Union[ServiceAccount, _Mapping]] = ...) -> None: ...

class CloseAccountRequest(_message.Message):
    __slots__ = ("account_id", "reason")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    reason: str
    def __init__(self, account_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CloseAccountResponse(_message.Message):
    __slots__ = ("account",)
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    account: ServiceAccount
    def __init__(self, account: _Optional[_Union[ServiceAccount, _Mapping]] = ...) -> None: ...

class ListAccountsRequest(_message.Message):
    __slots__ = ("resident_id", "service_id", "state", "page_size", "page_token", "account_reference")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    service_id: str
    state: AccountState
    page_size: int
    page_token: str
    account_reference: str
    def __init__(self, resident_id: _Optional[str] = ..., service_id: _Optional[str] = ..., state: _Optional[_Union[AccountState, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., account_reference: _Optional[str] = ...) -> None: ...

class ListAccountsResponse(_message.Message):
    __slots__ = ("accounts", "next_page_token")
    ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    accounts: _containers.RepeatedCompositeFieldContainer[ServiceAccount]
    next_page_token: str
    def __init__(self, accounts: _Optional[_Iterable[_Union[ServiceAccount, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RequestUnlinkRequest(_message.Message):
    __slots__ = ("account_id", "reason")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    reason: str
    def __init__(self, account_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RequestUnlinkResponse(_message.Message):
    __slots__ = ("account",)
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    account: ServiceAccount
    def __init__(self, account: _Optional[_Union[ServiceAccount, _Mapping]] = ...) -> None: ...

class GetAccountHistoryRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class GetAccountHistoryResponse(_message.Message):
    __slots__ = ("account", "transitions")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    TRANSITIONS_FIELD_NUMBER: _ClassVar[int]
    account: ServiceAccount
    transitions: _containers.RepeatedCompositeFieldContainer[AccountTransition]
    def __init__(self, account: _Optional[_Union[ServiceAccount, _Mapping]] = ..., transitions: _Optional[_Iterable[_Union[AccountTransition, _Mapping]]] = ...) -> None: ...

class ReleasedAttribute(_message.Message):
    __slots__ = ("name", "value", "provenance", "verified_at", "basis", "consent_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_AT_FIELD_NUMBER: _ClassVar[int]
    BASIS_FIELD_NUMBER: _ClassVar[int]
    CONSENT_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    provenance: Provenance
    verified_at: _timestamp_pb2.Timestamp
    basis: ReleaseBasis
    consent_id: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ..., provenance: _Optional[_Union[Provenance, str]] = ..., verified_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., basis: _Optional[_Union[ReleaseBasis, str]] = ..., consent_id: _Optional[str] = ...) -> None: ...

class WithheldAttribute(_message.Message):
    __slots__ = ("name", "reason", "explanation")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: WithheldReason
    explanation: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[_Union[WithheldReason, str]] = ..., explanation: _Optional[str] = ...) -> None: ...

class ReleaseAttributesRequest(_message.Message):
    __slots__ = ("service_id", "resident_id", "purpose_id", "attributes", "mandatary_id")
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    MANDATARY_ID_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    resident_id: str
    purpose_id: str
    attributes: _containers.RepeatedScalarFieldContainer[str]
    mandatary_id: str
    def __init__(self, service_id: _Optional[str] = ..., resident_id: _Optional[str] = ..., purpose_id: _Optional[str] = ..., attributes: _Optional[_Iterable[str]] = ..., mandatary_id: _Optional[str] = ...) -> None: ...

class ReleaseAttributesResponse(_message.Message):
    __slots__ = ("access_id", "resident_id", "released", "withheld", "mandate_id")
    ACCESS_ID_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    WITHHELD_FIELD_NUMBER: _ClassVar[int]
    MANDATE_ID_FIELD_NUMBER: _ClassVar[int]
    access_id: str
    resident_id: str
    released: _containers.RepeatedCompositeFieldContainer[ReleasedAttribute]
    withheld: _containers.RepeatedCompositeFieldContainer[WithheldAttribute]
    mandate_id: str
    def __init__(self, access_id: _Optional[str] = ..., resident_id: _Optional[str] = ..., released: _Optional[_Iterable[_Union[ReleasedAttribute, _Mapping]]] = ..., withheld: _Optional[_Iterable[_Union[WithheldAttribute, _Mapping]]] = ..., mandate_id: _Optional[str] = ...) -> None: ...

class MandateQuestion(_message.Message):
    __slots__ = ("mandatary_id", "represented_id", "action", "service_id")
    MANDATARY_ID_FIELD_NUMBER: _ClassVar[int]
    REPRESENTED_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    mandatary_id: str
    represented_id: str
    action: str
    service_id: str
    def __init__(self, mandatary_id: _Optional[str] = ..., represented_id: _Optional[str] = ..., action: _Optional[str] = ..., service_id: _Optional[str] = ...) -> None: ...

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

class RecordMandateActRequest(_message.Message):
    __slots__ = ("mandate_id", "act_id", "action", "service_id")
    MANDATE_ID_FIELD_NUMBER: _ClassVar[int]
    ACT_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    mandate_id: str
    act_id: str
    action: str
    service_id: str
    def __init__(self, mandate_id: _Optional[str] = ..., act_id: _Optional[str] = ..., action: _Optional[str] = ..., service_id: _Optional[str] = ...) -> None: ...

class RecordMandateActResponse(_message.Message):
    __slots__ = ("mandate_id", "act_id", "act_time", "already_recorded")
    MANDATE_ID_FIELD_NUMBER: _ClassVar[int]
    ACT_ID_FIELD_NUMBER: _ClassVar[int]
    ACT_TIME_FIELD_NUMBER: _ClassVar[int]
    ALREADY_RECORDED_FIELD_NUMBER: _ClassVar[int]
    mandate_id: str
    act_id: str
    act_time: _timestamp_pb2.Timestamp
    already_recorded: bool
    def __init__(self, mandate_id: _Optional[str] = ..., act_id: _Optional[str] = ..., act_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., already_recorded: _Optional[bool] = ...) -> None: ...

class ResidentMatch(_message.Message):
    __slots__ = ("resident_id", "given_name", "family_name", "birth_year")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    GIVEN_NAME_FIELD_NUMBER: _ClassVar[int]
    FAMILY_NAME_FIELD_NUMBER: _ClassVar[int]
    BIRTH_YEAR_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    given_name: str
    family_name: str
    birth_year: int
    def __init__(self, resident_id: _Optional[str] = ..., given_name: _Optional[str] = ..., family_name: _Optional[str] = ..., birth_year: _Optional[int] = ...) -> None: ...

class FindResidentRequest(_message.Message):
    __slots__ = ("resident_id", "email", "phone", "family_name", "given_name", "date_of_birth", "page_size")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    FAMILY_NAME_FIELD_NUMBER: _ClassVar[int]
    GIVEN_NAME_FIELD_NUMBER: _ClassVar[int]
    DATE_OF_BIRTH_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    email: str
    phone: str
    family_name: str
    given_name: str
    date_of_birth: str
    page_size: int
    def __init__(self, resident_id: _Optional[str] = ..., email: _Optional[str] = ..., phone: _Optional[str] = ..., family_name: _Optional[str] = ..., given_name: _Optional[str] = ..., date_of_birth: _Optional[str] = ..., page_size: _Optional[int] = ...) -> None: ...

class FindResidentResponse(_message.Message):
    __slots__ = ("matches",)
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    matches: _containers.RepeatedCompositeFieldContainer[ResidentMatch]
    def __init__(self, matches: _Optional[_Iterable[_Union[ResidentMatch, _Mapping]]] = ...) -> None: ...

class EnrollResidentRequest(_message.Message):
    __slots__ = ("resident_id", "attributes", "validate_only")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    attributes: _containers.RepeatedCompositeFieldContainer[AttributeChange]
    validate_only: bool
    def __init__(self, resident_id: _Optional[str] = ..., attributes: _Optional[_Iterable[_Union[AttributeChange, _Mapping]]] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class EnrollResidentResponse(_message.Message):
    __slots__ = ("profile",)
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    profile: Profile
    def __init__(self, profile: _Optional[_Union[Profile, _Mapping]] = ...) -> None: ...

class DocumentCheck(_message.Message):
    __slots__ = ("check_id", "resident_id", "document_type", "last_digits", "agent_id", "checked_at")
    CHECK_ID_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    LAST_DIGITS_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    CHECKED_AT_FIELD_NUMBER: _ClassVar[int]
    check_id: str
    resident_id: str
    document_type: DocumentType
    last_digits: str
    agent_id: str
    checked_at: _timestamp_pb2.Timestamp
    def __init__(self, check_id: _Optional[str] = ..., resident_id: _Optional[str] = ..., document_type: _Optional[_Union[DocumentType, str]] = ..., last_digits: _Optional[str] = ..., agent_id: _Optional[str] = ..., checked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RecordDocumentCheckRequest(_message.Message):
    __slots__ = ("resident_id", "document_type", "last_digits")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    LAST_DIGITS_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    document_type: DocumentType
    last_digits: str
    def __init__(self, resident_id: _Optional[str] = ..., document_type: _Optional[_Union[DocumentType, str]] = ..., last_digits: _Optional[str] = ...) -> None: ...

class RecordDocumentCheckResponse(_message.Message):
    __slots__ = ("check",)
    CHECK_FIELD_NUMBER: _ClassVar[int]
    check: DocumentCheck
    def __init__(self, check: _Optional[_Union[DocumentCheck, _Mapping]] = ...) -> None: ...

class VerifyAttributeRequest(_message.Message):
    __slots__ = ("resident_id", "attribute", "value", "method", "document_check_id")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_CHECK_ID_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    attribute: str
    value: str
    method: VerificationMethod
    document_check_id: str
    def __init__(self, resident_id: _Optional[str] = ..., attribute: _Optional[str] = ..., value: _Optional[str] = ..., method: _Optional[_Union[VerificationMethod, str]] = ..., document_check_id: _Optional[str] = ...) -> None: ...

class VerifyAttributeResponse(_message.Message):
    __slots__ = ("attribute",)
    ATTRIBUTE_FIELD_NUMBER: _ClassVar[int]
    attribute: Attribute
    def __init__(self, attribute: _Optional[_Union[Attribute, _Mapping]] = ...) -> None: ...

class LinkAccountInPersonRequest(_message.Message):
    __slots__ = ("resident_id", "service_id", "account_reference")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    service_id: str
    account_reference: str
    def __init__(self, resident_id: _Optional[str] = ..., service_id: _Optional[str] = ..., account_reference: _Optional[str] = ...) -> None: ...

class LinkAccountInPersonResponse(_message.Message):
    __slots__ = ("account",)
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    account: ServiceAccount
    def __init__(self, account: _Optional[_Union[ServiceAccount, _Mapping]] = ...) -> None: ...
