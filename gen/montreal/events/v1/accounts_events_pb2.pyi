from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class ProfileChanged(_message.Message):
    __slots__ = ("resident_id", "attributes")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    attributes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, resident_id: _Optional[str] = ..., attributes: _Optional[_Iterable[str]] = ...) -> None: ...

class AttributeVerified(_message.Message):
    __slots__ = ("resident_id", "attribute", "provenance", "agent_id")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTE_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    attribute: str
    provenance: str
    agent_id: str
    def __init__(self, resident_id: _Optional[str] = ..., attribute: _Optional[str] = ..., provenance: _Optional[str] = ..., agent_id: _Optional[str] = ...) -> None: ...

class ResidentEnrolled(_message.Message):
    __slots__ = ("resident_id", "agent_id")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    agent_id: str
    def __init__(self, resident_id: _Optional[str] = ..., agent_id: _Optional[str] = ...) -> None: ...

class DocumentChecked(_message.Message):
    __slots__ = ("check_id", "resident_id", "document_type", "agent_id")
    CHECK_ID_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    check_id: str
    resident_id: str
    document_type: str
    agent_id: str
    def __init__(self, check_id: _Optional[str] = ..., resident_id: _Optional[str] = ..., document_type: _Optional[str] = ..., agent_id: _Optional[str] = ...) -> None: ...

class ServiceRegistered(_message.Message):
    __slots__ = ("service_id", "client_id", "name_fr", "name_en", "kind", "owner", "purposes", "attributes")
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FR_FIELD_NUMBER: _ClassVar[int]
    NAME_EN_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    client_id: str
    name_fr: str
    name_en: str
    kind: str
    owner: str
    purposes: _containers.RepeatedScalarFieldContainer[str]
    attributes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, service_id: _Optional[str] = ..., client_id: _Optional[str] = ..., name_fr: _Optional[str] = ..., name_en: _Optional[str] = ..., kind: _Optional[str] = ..., owner: _Optional[str] = ..., purposes: _Optional[_Iterable[str]] = ..., attributes: _Optional[_Iterable[str]] = ...) -> None: ...

class ServiceUpdated(_message.Message):
    __slots__ = ("service_id", "client_id", "name_fr", "name_en", "kind", "owner", "purposes", "attributes", "state")
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FR_FIELD_NUMBER: _ClassVar[int]
    NAME_EN_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    client_id: str
    name_fr: str
    name_en: str
    kind: str
    owner: str
    purposes: _containers.RepeatedScalarFieldContainer[str]
    attributes: _containers.RepeatedScalarFieldContainer[str]
    state: str
    def __init__(self, service_id: _Optional[str] = ..., client_id: _Optional[str] = ..., name_fr: _Optional[str] = ..., name_en: _Optional[str] = ..., kind: _Optional[str] = ..., owner: _Optional[str] = ..., purposes: _Optional[_Iterable[str]] = ..., attributes: _Optional[_Iterable[str]] = ..., state: _Optional[str] = ...) -> None: ...

class ServiceAccountLinked(_message.Message):
    __slots__ = ("account_id", "resident_id", "service_id")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    resident_id: str
    service_id: str
    def __init__(self, account_id: _Optional[str] = ..., resident_id: _Optional[str] = ..., service_id: _Optional[str] = ...) -> None: ...

class ServiceAccountStateChanged(_message.Message):
    __slots__ = ("account_id", "to")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    to: str
    def __init__(self, account_id: _Optional[str] = ..., to: _Optional[str] = ..., **kwargs) -> None: ...

class ServiceAccountUnlinkRequested(_message.Message):
    __slots__ = ("account_id", "resident_id", "service_id")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    resident_id: str
    service_id: str
    def __init__(self, account_id: _Optional[str] = ..., resident_id: _Optional[str] = ..., service_id: _Optional[str] = ...) -> None: ...

class ServiceAccountSuspended(_message.Message):
    __slots__ = ("account_id", "resident_id", "service_id", "reason")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    resident_id: str
    service_id: str
    reason: str
    def __init__(self, account_id: _Optional[str] = ..., resident_id: _Optional[str] = ..., service_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ServiceAccountReactivated(_message.Message):
    __slots__ = ("account_id", "resident_id", "service_id", "reason")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    resident_id: str
    service_id: str
    reason: str
    def __init__(self, account_id: _Optional[str] = ..., resident_id: _Optional[str] = ..., service_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class AttributesReleased(_message.Message):
    __slots__ = ("access_id", "resident_id", "service_id", "purpose_id", "categories", "withheld", "bases", "consent_ids")
    class BasesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ACCESS_ID_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    WITHHELD_FIELD_NUMBER: _ClassVar[int]
    BASES_FIELD_NUMBER: _ClassVar[int]
    CONSENT_IDS_FIELD_NUMBER: _ClassVar[int]
    access_id: str
    resident_id: str
    service_id: str
    purpose_id: str
    categories: _containers.RepeatedScalarFieldContainer[str]
    withheld: _containers.RepeatedScalarFieldContainer[str]
    bases: _containers.ScalarMap[str, str]
    consent_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, access_id: _Optional[str] = ..., resident_id: _Optional[str] = ..., service_id: _Optional[str] = ..., purpose_id: _Optional[str] = ..., categories: _Optional[_Iterable[str]] = ..., withheld: _Optional[_Iterable[str]] = ..., bases: _Optional[_Mapping[str, str]] = ..., consent_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class CounterActionRecorded(_message.Message):
    __slots__ = ("access_id", "resident_id", "office", "agent_reference", "action", "client_id", "categories")
    ACCESS_ID_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    OFFICE_FIELD_NUMBER: _ClassVar[int]
    AGENT_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    access_id: str
    resident_id: str
    office: str
    agent_reference: str
    action: str
    client_id: str
    categories: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, access_id: _Optional[str] = ..., resident_id: _Optional[str] = ..., office: _Optional[str] = ..., agent_reference: _Optional[str] = ..., action: _Optional[str] = ..., client_id: _Optional[str] = ..., categories: _Optional[_Iterable[str]] = ...) -> None: ...
