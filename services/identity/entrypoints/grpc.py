"""gRPC entrypoint of identity (``montreal.identity.v1.IdentityService``): wire ↔ commands.

Authorization is declared in ``METHOD_POLICIES`` (scopes from docs/contracts.md) and
enforced by the foundation's auth interceptor before a handler runs; handlers raise
``services.common.errors`` exceptions, which the boundary maps to status codes.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

from google.protobuf import timestamp_pb2

from montreal.identity.v1 import identity_pb2 as pb
from montreal.identity.v1 import identity_pb2_grpc as pb_grpc
from services.common.errors import InvalidArgument
from services.common.grpc.auth import current_principal
from services.common.grpc.validation import register_limits
from services.identity.domain.assurance import LevelOfAssurance
from services.identity.domain.clients import OAuthClient
from services.identity.service_layer import account_closure, agents, clients, subjects, tokens

SERVICE = "montreal.identity.v1.IdentityService"
METHOD_POLICIES = {
    f"/{SERVICE}/ValidateToken": "identity:validate",
    f"/{SERVICE}/ValidateTokens": "identity:validate",
    f"/{SERVICE}/ResolveCitizenNumber": "identity:resolve",
    f"/{SERVICE}/ResolveSubject": "identity:resolve",
    f"/{SERVICE}/GetClientSubject": "identity:resolve",
    f"/{SERVICE}/GetLevelOfAssurance": "identity:resolve",
    f"/{SERVICE}/GetResidentContact": "identity:resolve",
    f"/{SERVICE}/CreateResidentInPerson": "identity:agent",
    f"/{SERVICE}/RaiseLevelOfAssurance": "identity:agent",
    f"/{SERVICE}/IssueActivationCode": "identity:agent",
    f"/{SERVICE}/SummarizeAgentActions": {"identity:admin", "identity:agent"},
    f"/{SERVICE}/ReopenResident": "identity:agent",
    f"/{SERVICE}/CreateClient": "identity:admin",
    f"/{SERVICE}/GetClient": "identity:admin",
    f"/{SERVICE}/ListClients": "identity:admin",
    f"/{SERVICE}/UpdateClient": "identity:admin",
}
# A JWT access token is longer than the default 1,024-character limit (RS256 ~ 1 kB).
register_limits("montreal.identity.v1.ValidateTokenRequest.token", max_length=8192)
register_limits("montreal.identity.v1.ValidateTokensRequest.tokens", max_length=8192,
                max_items=tokens.MAX_VALIDATE_MANY)

_SUBJECT_TYPES = {"public": pb.SUBJECT_TYPE_PUBLIC, "pairwise": pb.SUBJECT_TYPE_PAIRWISE}
_SUBJECT_NAMES = {v: k for k, v in _SUBJECT_TYPES.items()}


def _level(level: LevelOfAssurance) -> int:
    return int(level)  # the proto enum numbers are the levels


def _document_type(value: int) -> str:
    name = pb.DocumentType.Name(value) if value in pb.DocumentType.values() else ""
    return "" if value == pb.DOCUMENT_TYPE_UNSPECIFIED else name.removeprefix("DOCUMENT_TYPE_").lower()


def _timestamp(value: dt.datetime | int | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    if isinstance(value, int):
        stamp.FromSeconds(value)
    else:
        stamp.FromDatetime(value.astimezone(dt.timezone.utc).replace(tzinfo=None))
    return stamp


def client_message(client: OAuthClient) -> pb.Client:
    message = pb.Client(
        client_id=client.client_id, name=client.name, redirect_uris=client.redirect_uris,
        post_logout_redirect_uris=client.post_logout_redirect_uris, grant_types=client.grant_types,
        scopes=client.scopes, audiences=client.audiences,
        subject_type=_SUBJECT_TYPES.get(client.subject_type, pb.SUBJECT_TYPE_UNSPECIFIED),
        sector_identifier=client.sector_identifier,
        id_token_signed_response_alg=client.id_token_signed_response_alg,
        token_endpoint_auth_method=client.token_endpoint_auth_method,
        is_city_client=client.is_city_client, purposes=client.purposes, disabled=client.disabled,
        jwks_json=json.dumps(client.jwks, sort_keys=True) if client.jwks else "", jwks_uri=client.jwks_uri,
        backchannel_logout_uri=client.backchannel_logout_uri, frontchannel_logout_uri=client.frontchannel_logout_uri,
        require_pushed_authorization_requests=client.require_pushed_authorization_requests,
        dpop_bound_access_tokens=client.dpop_bound_access_tokens)
    if client.created_at is not None:
        message.create_time.CopyFrom(_timestamp(client.created_at))
    if client.staff_directory_issuer:
        message.staff_directory.CopyFrom(pb.StaffDirectory(
            issuer=client.staff_directory_issuer, jwks_uri=client.staff_directory_jwks_uri,
            jwks_json=json.dumps(client.staff_directory_jwks, sort_keys=True) if client.staff_directory_jwks else ""))
    return message


#: the registry's names of fields that sit elsewhere on the wire (the keys, a staff directory's fields)
_WIRE_FIELDS = {"jwks": "jwks_json", "staff_directory_issuer": "staff_directory.issuer",
                "staff_directory_jwks": "staff_directory.jwks_json",
                "staff_directory_jwks_uri": "staff_directory.jwks_uri"}


def _staff_directory_keys(message: pb.Client) -> dict | None:
    """The directory's JWK Set from its JSON text (None when absent); INVALID_ARGUMENT naming
    the field when it is not a JSON object (what the JWK Set is made of is the registry's to
    judge)."""
    text = message.staff_directory.jwks_json if message.HasField("staff_directory") else ""
    if not text:
        return None
    try:
        keys = json.loads(text)
    except ValueError:
        keys = None
    if not isinstance(keys, dict):
        raise InvalidArgument("staff_directory_jwks", "must be a JWK Set as JSON text ({\"keys\": [...]})")
    return keys


def _client_keys(message: pb.Client) -> dict | None:
    """The client's JWK Set from ``jwks_json`` (None when absent); INVALID_ARGUMENT naming the
    field when it is not a JSON object (the registry judges the keys themselves)."""
    if not message.jwks_json:
        return None
    try:
        keys = json.loads(message.jwks_json)
    except ValueError:
        keys = None
    if not isinstance(keys, dict):
        raise InvalidArgument("jwks", "must be a JWK Set as JSON text ({\"keys\": [...]})")
    return keys


def client_from_message(message: pb.Client) -> OAuthClient:
    if message.subject_type == pb.SUBJECT_TYPE_UNSPECIFIED:
        subject_type = "public" if message.is_city_client else "pairwise"
    else:
        subject_type = _SUBJECT_NAMES.get(message.subject_type, "?")
    return OAuthClient(
        client_id=message.client_id, name=message.name, secret_hash=None,
        redirect_uris=tuple(message.redirect_uris),
        post_logout_redirect_uris=tuple(message.post_logout_redirect_uris),
        grant_types=tuple(message.grant_types), scopes=tuple(message.scopes),
        audiences=tuple(message.audiences), subject_type=subject_type,
        sector_identifier=message.sector_identifier,
        id_token_signed_response_alg=message.id_token_signed_response_alg or "ES256",
        token_endpoint_auth_method=message.token_endpoint_auth_method or "client_secret_basic",
        is_city_client=message.is_city_client, purposes=tuple(message.purposes), disabled=message.disabled,
        staff_directory_issuer=message.staff_directory.issuer.strip(),
        staff_directory_jwks=_staff_directory_keys(message),
        staff_directory_jwks_uri=message.staff_directory.jwks_uri.strip(),
        jwks=_client_keys(message), jwks_uri=message.jwks_uri.strip(),
        backchannel_logout_uri=message.backchannel_logout_uri.strip(),
        frontchannel_logout_uri=message.frontchannel_logout_uri.strip(),
        require_pushed_authorization_requests=message.require_pushed_authorization_requests,
        dpop_bound_access_tokens=message.dpop_bound_access_tokens)


def _token_answer(info: tokens.TokenInfo) -> pb.ValidateTokenResponse:
    if not info.active:
        return pb.ValidateTokenResponse(active=False)
    return pb.ValidateTokenResponse(
        active=True, client_id=info.client_id, subject=info.subject, scopes=info.scopes,
        expire_time=_timestamp(info.expires_at), audiences=info.audiences, acr=info.acr,
        acting_for=info.acting_for, token_id=info.token_id)


def _fill_token_answer(message: pb.ValidateTokenResponse, info: tokens.TokenInfo) -> None:
    """``_token_answer`` written into a message already in its place (ValidateTokens)."""
    if not info.active:
        return
    message.active = True
    message.client_id, message.subject, message.acr = info.client_id, info.subject, info.acr
    message.acting_for, message.token_id = info.acting_for, info.token_id
    message.scopes.extend(info.scopes)
    message.audiences.extend(info.audiences)
    message.expire_time.seconds = info.expires_at


class IdentityServicer(pb_grpc.IdentityServiceServicer):
    """``context`` (an ``app.IdentityContext``) gives settings, the UoW factory, the key ring
    and the access-token revocation check the OAuth side provides."""

    def __init__(self, context) -> None:
        self._ctx = context

    @property
    def _uow(self) -> Callable:
        return self._ctx.uow_factory

    @property
    def _secret(self) -> bytes:
        return self._ctx.settings.pairwise_secret

    async def ValidateToken(self, request, context):
        keys = await self._ctx.keys.get()
        info = await tokens.validate_access_token(request.token, keys, self._ctx.settings.issuer,
                                                  is_revoked=self._ctx.is_revoked)
        return _token_answer(info)

    async def ValidateTokens(self, request, context):
        keys = await self._ctx.keys.get()
        infos = await tokens.validate_access_tokens(list(request.tokens), keys, self._ctx.settings.issuer,
                                                    is_revoked=self._ctx.is_revoked,
                                                    are_revoked=self._ctx.are_revoked)
        # Built in place: a constructor given the answers copies each of them again.
        response = pb.ValidateTokensResponse()
        add = response.results.add
        for info in infos:
            _fill_token_answer(add(), info)
        return response

    async def ResolveCitizenNumber(self, request, context):
        resolved = await subjects.resolve_citizen_number(
            subjects.ResolveCitizenNumber(current_principal().client_id, request.citizen_number),
            self._uow(), secret=self._secret)
        return pb.ResolveCitizenNumberResponse(subject=resolved.subject,
                                               subject_type=_SUBJECT_TYPES[resolved.subject_type],
                                               level=_level(resolved.level))

    async def ResolveSubject(self, request, context):
        resident_id = await subjects.resolve_subject(
            subjects.ResolveSubject(current_principal().client_id, request.client_id, request.subject),
            self._uow(), secret=self._secret)
        return pb.ResolveSubjectResponse(resident_id=resident_id)

    async def GetClientSubject(self, request, context):
        subject, subject_type = await subjects.client_subject(
            subjects.GetClientSubject(current_principal().client_id, request.client_id, request.resident_id),
            self._uow(), secret=self._secret)
        return pb.GetClientSubjectResponse(subject=subject, subject_type=_SUBJECT_TYPES[subject_type])

    async def GetLevelOfAssurance(self, request, context):
        level = await subjects.level_of_assurance(
            subjects.GetLevelOfAssurance(current_principal().client_id, request.subject),
            self._uow(), secret=self._secret)
        return pb.GetLevelOfAssuranceResponse(level=_level(level), acr=level.acr)

    async def GetResidentContact(self, request, context):
        resident = await subjects.resident_contact(
            subjects.GetResidentContact(current_principal().client_id, request.resident_id), self._uow())
        return pb.GetResidentContactResponse(email=resident.email or "", email_verified=resident.email_verified,
                                             preferred_language=resident.preferred_language)

    async def CreateResidentInPerson(self, request, context):
        principal = current_principal()
        agent = agents.require_agent(principal.acting_for, principal.client_id, principal.office)
        created = await agents.create_resident_in_person(agents.CreateResidentInPerson(
            agent=agent, email=request.email, preferred_language=request.preferred_language or "fr",
            document_type=_document_type(request.document_type),
            document_last_digits=request.document_last_digits), self._uow())
        return pb.CreateResidentInPersonResponse(
            resident_id=created.citizen_number.canonical, citizen_number_human=created.citizen_number.human,
            level=_level(created.level), action_id=created.action_id)

    async def RaiseLevelOfAssurance(self, request, context):
        principal = current_principal()
        agent = agents.require_agent(principal.acting_for, principal.client_id, principal.office)
        if request.level not in pb.LevelOfAssurance.values() or request.level == pb.LEVEL_OF_ASSURANCE_UNSPECIFIED:
            raise InvalidArgument("level", "is required (LEVEL_OF_ASSURANCE_VERIFIED)")
        raised = await agents.raise_level_of_assurance(agents.RaiseLevelOfAssurance(
            agent=agent, citizen_number=request.citizen_number, level=LevelOfAssurance(request.level),
            document_type=_document_type(request.document_type),
            document_last_digits=request.document_last_digits), self._uow())
        return pb.RaiseLevelOfAssuranceResponse(level=_level(raised.level), changed=raised.changed,
                                                action_id=raised.action_id)

    async def IssueActivationCode(self, request, context):
        from services.identity.service_layer.activation import issue_activation_code

        principal = current_principal()
        agent = agents.require_agent(principal.acting_for, principal.client_id, principal.office)
        issued = await issue_activation_code(agent, request.citizen_number, self._uow())
        reply = pb.IssueActivationCodeResponse(
            resident_id=issued.citizen_number.canonical, citizen_number_human=issued.citizen_number.human,
            activation_code=issued.code, preferred_language=issued.preferred_language, action_id=issued.action_id)
        reply.expire_time.FromDatetime(issued.expires_at)
        return reply

    async def SummarizeAgentActions(self, request, context):
        from services.identity.service_layer import counter_journal

        principal = current_principal()
        start, end = counter_journal.parse_period(request.start_date, request.end_date, request.agent_id,
                                                  request.office)
        if not principal.has_scope("identity:admin"):
            agents.require_agent(principal.acting_for, principal.client_id)
            await counter_journal.require_supervisor(self._uow(), principal.acting_for)
        summary = await counter_journal.supervision(self._uow(), start, end, agent_id=request.agent_id,
                                                    office=request.office)
        reply = pb.SummarizeAgentActionsResponse(total=summary["total"])
        for name, key in (("per_agent", "agent_id"), ("per_office", "office"), ("per_day", "day")):
            for row in summary[name]:
                getattr(reply, name).add(key=row[key], total=row["total"], actions=row["actions"])
        for row in summary["sign_ins"]:
            reply.sign_ins.add(agent_id=row["agent_id"], day=row["day"], office=row["office"],
                               signed_in=row["signed_in"], refused=row["refused"], reasons=row["reasons"])
        for flag in summary["unusual"]:
            item = reply.unusual.add(kind=flag["kind"], agent_id=flag["agent_id"], office=flag.get("office", ""),
                                     action=flag.get("action", ""), day=flag.get("day", ""),
                                     count=flag.get("count", 0))
            if flag.get("at"):
                item.action_time.FromDatetime(dt.datetime.fromisoformat(flag["at"]))
        return reply
    async def ReopenResident(self, request, context):
        principal = current_principal()
        agent = agents.require_agent(principal.acting_for, principal.client_id)
        reopened = await account_closure.reopen_account(account_closure.ReopenAccount(
            agent=agent, citizen_number=request.citizen_number,
            document_type=_document_type(request.document_type)), self._uow())
        return pb.ReopenResidentResponse(resident_id=reopened.resident_id, closure_id=reopened.closure_id,
                                         action_id=reopened.action_id)

    async def CreateClient(self, request, context):
        if request.client.subject_type not in _SUBJECT_NAMES and request.client.subject_type != 0:
            raise InvalidArgument("client.subject_type", "must be SUBJECT_TYPE_PUBLIC or SUBJECT_TYPE_PAIRWISE")
        try:
            client, secret = await clients.register_client(
                clients.RegisterClient(client_from_message(request.client),
                                       allow_http_loopback=not self._ctx.settings.production), self._uow())
        except InvalidArgument as error:
            # The registry names the client's fields; on the wire they sit under `client`.
            raise InvalidArgument.many((f"client.{_WIRE_FIELDS.get(f, f)}", d)
                                       for f, d in error.violations) from None
        return pb.CreateClientResponse(client=client_message(client), client_secret=secret or "")

    async def UpdateClient(self, request, context):
        # AIP-134: the mask names wire fields; the registry knows the keys as `jwks`
        registry = {"jwks_json": "jwks"}
        paths = list(request.update_mask.paths)
        if not request.client.client_id:
            raise InvalidArgument("client.client_id", "name the client to change")
        if not paths or "*" in paths:
            raise InvalidArgument("update_mask", "name the fields to change (a wildcard is not accepted)")
        names = [registry.get(path, path) for path in paths]
        fixed = sorted(path for path, name in zip(paths, names) if name not in clients.CHANGEABLE)
        if fixed:
            raise InvalidArgument("update_mask", f"{', '.join(fixed)} cannot be changed")
        try:
            wanted = client_from_message(request.client)
            client = await clients.update_client(clients.UpdateClient(
                request.client.client_id, {name: getattr(wanted, name) for name in names},
                allow_http_loopback=not self._ctx.settings.production), self._uow())
        except InvalidArgument as error:
            raise InvalidArgument.many((f"client.{_WIRE_FIELDS.get(f, f)}", d)
                                       for f, d in error.violations) from None
        return pb.UpdateClientResponse(client=client_message(client))

    async def GetClient(self, request, context):
        return pb.GetClientResponse(client=client_message(await clients.get_client(self._uow(), request.client_id)))

    async def ListClients(self, request, context):
        page, token = await clients.list_clients(self._uow(), page_size=request.page_size,
                                                 page_token=request.page_token)
        return pb.ListClientsResponse(clients=[client_message(c) for c in page], next_page_token=token)
