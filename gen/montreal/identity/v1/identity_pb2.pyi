import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LevelOfAssurance(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LEVEL_OF_ASSURANCE_UNSPECIFIED: _ClassVar[LevelOfAssurance]
    LEVEL_OF_ASSURANCE_SELF_ASSERTED: _ClassVar[LevelOfAssurance]
    LEVEL_OF_ASSURANCE_VERIFIED: _ClassVar[LevelOfAssurance]
    LEVEL_OF_ASSURANCE_VERIFIED_MFA: _ClassVar[LevelOfAssurance]

class SubjectType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUBJECT_TYPE_UNSPECIFIED: _ClassVar[SubjectType]
    SUBJECT_TYPE_PUBLIC: _ClassVar[SubjectType]
    SUBJECT_TYPE_PAIRWISE: _ClassVar[SubjectType]

class DocumentType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DOCUMENT_TYPE_UNSPECIFIED: _ClassVar[DocumentType]
    DOCUMENT_TYPE_DRIVERS_LICENCE: _ClassVar[DocumentType]
    DOCUMENT_TYPE_HEALTH_INSURANCE_CARD: _ClassVar[DocumentType]
    DOCUMENT_TYPE_PASSPORT: _ClassVar[DocumentType]
    DOCUMENT_TYPE_PERMANENT_RESIDENT_CARD: _ClassVar[DocumentType]
    DOCUMENT_TYPE_CITIZENSHIP_CERTIFICATE: _ClassVar[DocumentType]
    DOCUMENT_TYPE_BIRTH_CERTIFICATE: _ClassVar[DocumentType]
    DOCUMENT_TYPE_OTHER_GOVERNMENT_ID: _ClassVar[DocumentType]
LEVEL_OF_ASSURANCE_UNSPECIFIED: LevelOfAssurance
LEVEL_OF_ASSURANCE_SELF_ASSERTED: LevelOfAssurance
LEVEL_OF_ASSURANCE_VERIFIED: LevelOfAssurance
LEVEL_OF_ASSURANCE_VERIFIED_MFA: LevelOfAssurance
SUBJECT_TYPE_UNSPECIFIED: SubjectType
SUBJECT_TYPE_PUBLIC: SubjectType
SUBJECT_TYPE_PAIRWISE: SubjectType
DOCUMENT_TYPE_UNSPECIFIED: DocumentType
DOCUMENT_TYPE_DRIVERS_LICENCE: DocumentType
DOCUMENT_TYPE_HEALTH_INSURANCE_CARD: DocumentType
DOCUMENT_TYPE_PASSPORT: DocumentType
DOCUMENT_TYPE_PERMANENT_RESIDENT_CARD: DocumentType
DOCUMENT_TYPE_CITIZENSHIP_CERTIFICATE: DocumentType
DOCUMENT_TYPE_BIRTH_CERTIFICATE: DocumentType
DOCUMENT_TYPE_OTHER_GOVERNMENT_ID: DocumentType

class ValidateTokenRequest(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: str
    def __init__(self, token: _Optional[str] = ...) -> None: ...

class ValidateTokenResponse(_message.Message):
    __slots__ = ("active", "client_id", "subject", "scopes", "expire_time", "audiences", "acr", "acting_for", "token_id")
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    AUDIENCES_FIELD_NUMBER: _ClassVar[int]
    ACR_FIELD_NUMBER: _ClassVar[int]
    ACTING_FOR_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    active: bool
    client_id: str
    subject: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    expire_time: _timestamp_pb2.Timestamp
    audiences: _containers.RepeatedScalarFieldContainer[str]
    acr: str
    acting_for: str
    token_id: str
    def __init__(self, active: _Optional[bool] = ..., client_id: _Optional[str] = ..., subject: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., audiences: _Optional[_Iterable[str]] = ..., acr: _Optional[str] = ..., acting_for: _Optional[str] = ..., token_id: _Optional[str] = ...) -> None: ...

class ValidateTokensRequest(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tokens: _Optional[_Iterable[str]] = ...) -> None: ...

class ValidateTokensResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ValidateTokenResponse]
    def __init__(self, results: _Optional[_Iterable[_Union[ValidateTokenResponse, _Mapping]]] = ...) -> None: ...

class ResolveCitizenNumberRequest(_message.Message):
    __slots__ = ("citizen_number",)
    CITIZEN_NUMBER_FIELD_NUMBER: _ClassVar[int]
    citizen_number: str
    def __init__(self, citizen_number: _Optional[str] = ...) -> None: ...

class ResolveCitizenNumberResponse(_message.Message):
    __slots__ = ("subject", "subject_type", "level")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_TYPE_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    subject: str
    subject_type: SubjectType
    level: LevelOfAssurance
    def __init__(self, subject: _Optional[str] = ..., subject_type: _Optional[_Union[SubjectType, str]] = ..., level: _Optional[_Union[LevelOfAssurance, str]] = ...) -> None: ...

class ResolveSubjectRequest(_message.Message):
    __slots__ = ("client_id", "subject")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    subject: str
    def __init__(self, client_id: _Optional[str] = ..., subject: _Optional[str] = ...) -> None: ...

class ResolveSubjectResponse(_message.Message):
    __slots__ = ("resident_id",)
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    def __init__(self, resident_id: _Optional[str] = ...) -> None: ...

class GetClientSubjectRequest(_message.Message):
    __slots__ = ("client_id", "resident_id")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    resident_id: str
    def __init__(self, client_id: _Optional[str] = ..., resident_id: _Optional[str] = ...) -> None: ...

class GetClientSubjectResponse(_message.Message):
    __slots__ = ("subject", "subject_type")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_TYPE_FIELD_NUMBER: _ClassVar[int]
    subject: str
    subject_type: SubjectType
    def __init__(self, subject: _Optional[str] = ..., subject_type: _Optional[_Union[SubjectType, str]] = ...) -> None: ...

class GetLevelOfAssuranceRequest(_message.Message):
    __slots__ = ("subject",)
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    subject: str
    def __init__(self, subject: _Optional[str] = ...) -> None: ...

class GetLevelOfAssuranceResponse(_message.Message):
    __slots__ = ("level", "acr")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    ACR_FIELD_NUMBER: _ClassVar[int]
    level: LevelOfAssurance
    acr: str
    def __init__(self, level: _Optional[_Union[LevelOfAssurance, str]] = ..., acr: _Optional[str] = ...) -> None: ...

class GetResidentContactRequest(_message.Message):
    __slots__ = ("resident_id",)
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    def __init__(self, resident_id: _Optional[str] = ...) -> None: ...

class GetResidentContactResponse(_message.Message):
    __slots__ = ("email", "email_verified", "preferred_language")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    EMAIL_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    email: str
    email_verified: bool
    preferred_language: str
    def __init__(self, email: _Optional[str] = ..., email_verified: _Optional[bool] = ..., preferred_language: _Optional[str] = ...) -> None: ...

class CreateResidentInPersonRequest(_message.Message):
    __slots__ = ("email", "preferred_language", "document_type", "document_last_digits")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_LAST_DIGITS_FIELD_NUMBER: _ClassVar[int]
    email: str
    preferred_language: str
    document_type: DocumentType
    document_last_digits: str
    def __init__(self, email: _Optional[str] = ..., preferred_language: _Optional[str] = ..., document_type: _Optional[_Union[DocumentType, str]] = ..., document_last_digits: _Optional[str] = ...) -> None: ...

class CreateResidentInPersonResponse(_message.Message):
    __slots__ = ("resident_id", "citizen_number_human", "level", "action_id")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    CITIZEN_NUMBER_HUMAN_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    ACTION_ID_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    citizen_number_human: str
    level: LevelOfAssurance
    action_id: str
    def __init__(self, resident_id: _Optional[str] = ..., citizen_number_human: _Optional[str] = ..., level: _Optional[_Union[LevelOfAssurance, str]] = ..., action_id: _Optional[str] = ...) -> None: ...

class RaiseLevelOfAssuranceRequest(_message.Message):
    __slots__ = ("citizen_number", "level", "document_type", "document_last_digits")
    CITIZEN_NUMBER_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_LAST_DIGITS_FIELD_NUMBER: _ClassVar[int]
    citizen_number: str
    level: LevelOfAssurance
    document_type: DocumentType
    document_last_digits: str
    def __init__(self, citizen_number: _Optional[str] = ..., level: _Optional[_Union[LevelOfAssurance, str]] = ..., document_type: _Optional[_Union[DocumentType, str]] = ..., document_last_digits: _Optional[str] = ...) -> None: ...

class IssueActivationCodeRequest(_message.Message):
    __slots__ = ("citizen_number",)
    CITIZEN_NUMBER_FIELD_NUMBER: _ClassVar[int]
    citizen_number: str
    def __init__(self, citizen_number: _Optional[str] = ...) -> None: ...

class IssueActivationCodeResponse(_message.Message):
    __slots__ = ("resident_id", "citizen_number_human", "activation_code", "expire_time", "preferred_language", "action_id")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    CITIZEN_NUMBER_HUMAN_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_CODE_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    ACTION_ID_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    citizen_number_human: str
    activation_code: str
    expire_time: _timestamp_pb2.Timestamp
    preferred_language: str
    action_id: str
    def __init__(self, resident_id: _Optional[str] = ..., citizen_number_human: _Optional[str] = ..., activation_code: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., preferred_language: _Optional[str] = ..., action_id: _Optional[str] = ...) -> None: ...

class SummarizeAgentActionsRequest(_message.Message):
    __slots__ = ("start_date", "end_date", "agent_id", "office")
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    OFFICE_FIELD_NUMBER: _ClassVar[int]
    start_date: str
    end_date: str
    agent_id: str
    office: str
    def __init__(self, start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., agent_id: _Optional[str] = ..., office: _Optional[str] = ...) -> None: ...

class AgentActionCount(_message.Message):
    __slots__ = ("key", "total", "actions")
    class ActionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    KEY_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    key: str
    total: int
    actions: _containers.ScalarMap[str, int]
    def __init__(self, key: _Optional[str] = ..., total: _Optional[int] = ..., actions: _Optional[_Mapping[str, int]] = ...) -> None: ...

class UnusualAgentAction(_message.Message):
    __slots__ = ("kind", "agent_id", "office", "action", "day", "count", "action_time")
    KIND_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    OFFICE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    ACTION_TIME_FIELD_NUMBER: _ClassVar[int]
    kind: str
    agent_id: str
    office: str
    action: str
    day: str
    count: int
    action_time: _timestamp_pb2.Timestamp
    def __init__(self, kind: _Optional[str] = ..., agent_id: _Optional[str] = ..., office: _Optional[str] = ..., action: _Optional[str] = ..., day: _Optional[str] = ..., count: _Optional[int] = ..., action_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SummarizeAgentActionsResponse(_message.Message):
    __slots__ = ("total", "per_agent", "per_office", "per_day", "unusual", "sign_ins")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    PER_AGENT_FIELD_NUMBER: _ClassVar[int]
    PER_OFFICE_FIELD_NUMBER: _ClassVar[int]
    PER_DAY_FIELD_NUMBER: _ClassVar[int]
    UNUSUAL_FIELD_NUMBER: _ClassVar[int]
    SIGN_INS_FIELD_NUMBER: _ClassVar[int]
    total: int
    per_agent: _containers.RepeatedCompositeFieldContainer[AgentActionCount]
    per_office: _containers.RepeatedCompositeFieldContainer[AgentActionCount]
    per_day: _containers.RepeatedCompositeFieldContainer[AgentActionCount]
    unusual: _containers.RepeatedCompositeFieldContainer[UnusualAgentAction]
    sign_ins: _containers.RepeatedCompositeFieldContainer[AgentSignInCount]
    def __init__(self, total: _Optional[int] = ..., per_agent: _Optional[_Iterable[_Union[AgentActionCount, _Mapping]]] = ..., per_office: _Optional[_Iterable[_Union[AgentActionCount, _Mapping]]] = ..., per_day: _Optional[_Iterable[_Union[AgentActionCount, _Mapping]]] = ..., unusual: _Optional[_Iterable[_Union[UnusualAgentAction, _Mapping]]] = ..., sign_ins: _Optional[_Iterable[_Union[AgentSignInCount, _Mapping]]] = ...) -> None: ...

class AgentSignInCount(_message.Message):
    __slots__ = ("agent_id", "day", "office", "signed_in", "refused", "reasons")
    class ReasonsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    OFFICE_FIELD_NUMBER: _ClassVar[int]
    SIGNED_IN_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    day: str
    office: str
    signed_in: int
    refused: int
    reasons: _containers.ScalarMap[str, int]
    def __init__(self, agent_id: _Optional[str] = ..., day: _Optional[str] = ..., office: _Optional[str] = ..., signed_in: _Optional[int] = ..., refused: _Optional[int] = ..., reasons: _Optional[_Mapping[str, int]] = ...) -> None: ...

class RaiseLevelOfAssuranceResponse(_message.Message):
    __slots__ = ("level", "changed", "action_id")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    ACTION_ID_FIELD_NUMBER: _ClassVar[int]
    level: LevelOfAssurance
    changed: bool
    action_id: str
    def __init__(self, level: _Optional[_Union[LevelOfAssurance, str]] = ..., changed: _Optional[bool] = ..., action_id: _Optional[str] = ...) -> None: ...

class ReopenResidentRequest(_message.Message):
    __slots__ = ("citizen_number", "document_type")
    CITIZEN_NUMBER_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    citizen_number: str
    document_type: DocumentType
    def __init__(self, citizen_number: _Optional[str] = ..., document_type: _Optional[_Union[DocumentType, str]] = ...) -> None: ...

class ReopenResidentResponse(_message.Message):
    __slots__ = ("resident_id", "closure_id", "action_id")
    RESIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    CLOSURE_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_ID_FIELD_NUMBER: _ClassVar[int]
    resident_id: str
    closure_id: str
    action_id: str
    def __init__(self, resident_id: _Optional[str] = ..., closure_id: _Optional[str] = ..., action_id: _Optional[str] = ...) -> None: ...

class Client(_message.Message):
    __slots__ = ("client_id", "name", "redirect_uris", "post_logout_redirect_uris", "grant_types", "scopes", "audiences", "subject_type", "sector_identifier", "id_token_signed_response_alg", "token_endpoint_auth_method", "is_city_client", "purposes", "disabled", "create_time", "staff_directory", "jwks_json", "jwks_uri", "backchannel_logout_uri", "frontchannel_logout_uri", "require_pushed_authorization_requests", "dpop_bound_access_tokens")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_URIS_FIELD_NUMBER: _ClassVar[int]
    POST_LOGOUT_REDIRECT_URIS_FIELD_NUMBER: _ClassVar[int]
    GRANT_TYPES_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    AUDIENCES_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SECTOR_IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    ID_TOKEN_SIGNED_RESPONSE_ALG_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ENDPOINT_AUTH_METHOD_FIELD_NUMBER: _ClassVar[int]
    IS_CITY_CLIENT_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    DISABLED_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    STAFF_DIRECTORY_FIELD_NUMBER: _ClassVar[int]
    JWKS_JSON_FIELD_NUMBER: _ClassVar[int]
    JWKS_URI_FIELD_NUMBER: _ClassVar[int]
    BACKCHANNEL_LOGOUT_URI_FIELD_NUMBER: _ClassVar[int]
    FRONTCHANNEL_LOGOUT_URI_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_PUSHED_AUTHORIZATION_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    DPOP_BOUND_ACCESS_TOKENS_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    name: str
    redirect_uris: _containers.RepeatedScalarFieldContainer[str]
    post_logout_redirect_uris: _containers.RepeatedScalarFieldContainer[str]
    grant_types: _containers.RepeatedScalarFieldContainer[str]
    scopes: _containers.RepeatedScalarFieldContainer[str]
    audiences: _containers.RepeatedScalarFieldContainer[str]
    subject_type: SubjectType
    sector_identifier: str
    id_token_signed_response_alg: str
    token_endpoint_auth_method: str
    is_city_client: bool
    purposes: _containers.RepeatedScalarFieldContainer[str]
    disabled: bool
    create_time: _timestamp_pb2.Timestamp
    staff_directory: StaffDirectory
    jwks_json: str
    jwks_uri: str
    backchannel_logout_uri: str
    frontchannel_logout_uri: str
    require_pushed_authorization_requests: bool
    dpop_bound_access_tokens: bool
    def __init__(self, client_id: _Optional[str] = ..., name: _Optional[str] = ..., redirect_uris: _Optional[_Iterable[str]] = ..., post_logout_redirect_uris: _Optional[_Iterable[str]] = ..., grant_types: _Optional[_Iterable[str]] = ..., scopes: _Optional[_Iterable[str]] = ..., audiences: _Optional[_Iterable[str]] = ..., subject_type: _Optional[_Union[SubjectType, str]] = ..., sector_identifier: _Optional[str] = ..., id_token_signed_response_alg: _Optional[str] = ..., token_endpoint_auth_method: _Optional[str] = ..., is_city_client: _Optional[bool] = ..., purposes: _Optional[_Iterable[str]] = ..., disabled: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., staff_directory: _Optional[_Union[StaffDirectory, _Mapping]] = ..., jwks_json: _Optional[str] = ..., jwks_uri: _Optional[str] = ..., backchannel_logout_uri: _Optional[str] = ..., frontchannel_logout_uri: _Optional[str] = ..., require_pushed_authorization_requests: _Optional[bool] = ..., dpop_bound_access_tokens: _Optional[bool] = ...) -> None: ...

class StaffDirectory(_message.Message):
    __slots__ = ("issuer", "jwks_json", "jwks_uri")
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    JWKS_JSON_FIELD_NUMBER: _ClassVar[int]
    JWKS_URI_FIELD_NUMBER: _ClassVar[int]
    issuer: str
    jwks_json: str
    jwks_uri: str
    def __init__(self, issuer: _Optional[str] = ..., jwks_json: _Optional[str] = ..., jwks_uri: _Optional[str] = ...) -> None: ...

class CreateClientRequest(_message.Message):
    __slots__ = ("client",)
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    client: Client
    def __init__(self, client: _Optional[_Union[Client, _Mapping]] = ...) -> None: ...

class CreateClientResponse(_message.Message):
    __slots__ = ("client", "client_secret")
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SECRET_FIELD_NUMBER: _ClassVar[int]
    client: Client
    client_secret: str
    def __init__(self, client: _Optional[_Union[Client, _Mapping]] = ..., client_secret: _Optional[str] = ...) -> None: ...

class GetClientRequest(_message.Message):
    __slots__ = ("client_id",)
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    def __init__(self, client_id: _Optional[str] = ...) -> None: ...

class GetClientResponse(_message.Message):
    __slots__ = ("client",)
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    client: Client
    def __init__(self, client: _Optional[_Union[Client, _Mapping]] = ...) -> None: ...

class ListClientsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListClientsResponse(_message.Message):
    __slots__ = ("clients", "next_page_token")
    CLIENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    clients: _containers.RepeatedCompositeFieldContainer[Client]
    next_page_token: str
    def __init__(self, clients: _Optional[_Iterable[_Union[Client, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateClientRequest(_message.Message):
    __slots__ = ("client", "update_mask")
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    client: Client
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, client: _Optional[_Union[Client, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateClientResponse(_message.Message):
    __slots__ = ("client",)
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    client: Client
    def __init__(self, client: _Optional[_Union[Client, _Mapping]] = ...) -> None: ...
