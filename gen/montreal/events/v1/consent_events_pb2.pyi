import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ConsentGiven(_message.Message):
    __slots__ = ("consent_id", "resident_id", "recipient_id", "purpose_id", "purpose_version", "categories", "expires_at")
    CONSENT_ID_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_VERSION_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    consent_id: str
    resident_id: str
    recipient_id: str
    purpose_id: str
    purpose_version: int
    categories: _containers.RepeatedScalarFieldContainer[str]
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, consent_id: _Optional[str] = ..., resident_id: _Optional[str] = ..., recipient_id: _Optional[str] = ..., purpose_id: _Optional[str] = ..., purpose_version: _Optional[int] = ..., categories: _Optional[_Iterable[str]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ConsentWithdrawn(_message.Message):
    __slots__ = ("consent_id", "resident_id")
    CONSENT_ID_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    consent_id: str
    resident_id: str
    def __init__(self, consent_id: _Optional[str] = ..., resident_id: _Optional[str] = ...) -> None: ...

class ConsentExpired(_message.Message):
    __slots__ = ("consent_id", "resident_id")
    CONSENT_ID_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    consent_id: str
    resident_id: str
    def __init__(self, consent_id: _Optional[str] = ..., resident_id: _Optional[str] = ...) -> None: ...

class MinorTurnedFourteen(_message.Message):
    __slots__ = ("resident_id", "turned_14_at", "mandate_ids", "mandates")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    TURNED_14_AT_FIELD_NUMBER: _ClassVar[int]
    MANDATE_IDS_FIELD_NUMBER: _ClassVar[int]
    MANDATES_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    turned_14_at: _timestamp_pb2.Timestamp
    mandate_ids: _containers.RepeatedScalarFieldContainer[str]
    mandates: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, resident_id: _Optional[str] = ..., turned_14_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., mandate_ids: _Optional[_Iterable[str]] = ..., mandates: _Optional[_Iterable[str]] = ...) -> None: ...
