"""gRPC servicer of ``montreal.accounts.v1.AccountsService``: wire messages ↔ commands.

Nothing here decides anything: it turns a request into a command (with the verified caller),
runs it through the application, and turns the result into a response. Scopes per method are
in ``METHOD_POLICIES`` (docs/contracts.md); which *data* a caller may touch (its own service,
its own profile) is decided in the service layer.
"""

from __future__ import annotations

import datetime as dt
import json

from google.protobuf import timestamp_pb2

from montreal.accounts.v1 import accounts_pb2 as pb
from montreal.accounts.v1 import accounts_pb2_grpc
from services.common.errors import InvalidArgument
from services.common.grpc.auth import current_principal
from services.common.grpc.validation import register_limits

from ..domain.attributes import Attribute
from ..domain.catalogue import CatalogueService, ServiceKind, ServiceState
from ..domain.counter import DocumentCheck, DocumentType
from ..domain.profile import Profile
from ..domain.release import Basis
from ..domain.service_account import AccountState, Transition
from ..service_layer import commands as c
from ..service_layer.bootstrap import AccountsApplication
from ..service_layer.handlers import AccountView
from ..service_layer.ports import ADMIN, AGENT, LINK, RELEASE, RESIDENT, Caller

SERVICE_NAME = "montreal.accounts.v1.AccountsService"
_P = f"/{SERVICE_NAME}/"
_ANY = frozenset({RESIDENT, RELEASE, LINK, AGENT, ADMIN})

METHOD_POLICIES: dict[str, str | frozenset[str]] = {
    _P + "GetProfile": frozenset({RESIDENT, AGENT}),
    _P + "UpdateProfile": RESIDENT,
    _P + "ExportResidentData": frozenset({RESIDENT, AGENT}),
    _P + "RegisterService": ADMIN,
    _P + "UpdateService": ADMIN,
    _P + "ListServices": _ANY,
    _P + "GetService": _ANY,
    _P + "LinkAccount": LINK,
    _P + "ActivateAccount": LINK,
    _P + "SuspendAccount": LINK,
    _P + "CloseAccount": LINK,
    _P + "ListAccounts": frozenset({RESIDENT, LINK, AGENT}),
    _P + "RequestUnlink": RESIDENT,
    _P + "GetAccountHistory": frozenset({RESIDENT, LINK, AGENT}),
    _P + "ReleaseAttributes": RELEASE,
    # Issue 22: a service's own system, which links its accounts, asks about mandates.
    _P + "DecideMandates": LINK,
    _P + "RecordMandateAct": LINK,
    _P + "FindResident": AGENT,
    _P + "EnrollResident": AGENT,
    _P + "RecordDocumentCheck": AGENT,
    _P + "VerifyAttribute": AGENT,
    _P + "LinkAccountInPerson": AGENT,
}

# A profile has nine attributes and a service asks for a handful: lists far longer than that
# are not requests from one of our clients, and are refused before any work is done.
for _field, _items in (("UpdateProfileRequest.changes", 20), ("EnrollResidentRequest.attributes", 20),
                       ("ReleaseAttributesRequest.attributes", 20), ("RegisterServiceRequest.attributes", 20),
                       ("RegisterServiceRequest.purposes", 20), ("UpdateServiceRequest.attributes", 20),
                       ("UpdateServiceRequest.purposes", 20), ("DecideMandatesRequest.questions", 1000)):
    register_limits(f"montreal.accounts.v1.{_field}", max_items=_items)


# ---- wire helpers ----------------------------------------------------------------------------

def _caller() -> Caller:
    p = current_principal()
    return Caller(client_id=p.client_id, subject=p.subject, scopes=frozenset(p.scopes), agent_id=p.acting_for,
                  office=p.office)


def _ts(value: dt.datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value.astimezone(dt.timezone.utc).replace(tzinfo=None))
    return stamp


def _enum_in(enum_type, prefix: str, number: int, domain_enum, field: str, *, required: bool):
    """A request enum → the domain enum; unset is None (or refused when required)."""
    if number == 0:
        if required:
            raise InvalidArgument(field, "required")
        return None
    try:
        name = enum_type.Name(number)
    except ValueError:
        raise InvalidArgument(field, "not a known value") from None
    return domain_enum[name.removeprefix(prefix)]


def _enum_out(enum_type, prefix: str, member) -> int:
    return enum_type.Value(prefix + member.name)


def _changes(items) -> tuple[tuple[str, str | None], ...]:
    return tuple((i.name, None if i.clear else i.value) for i in items)


def _attribute(a: Attribute) -> pb.Attribute:
    return pb.Attribute(name=a.name, value=a.value, provenance=_enum_out(pb.Provenance, "PROVENANCE_", a.provenance),
                        verified_at=_ts(a.verified_at), update_time=_ts(a.updated_at),
                        source_service_id=a.source_service_id or "", verified_by=a.verified_by or "")


def _profile(p: Profile) -> pb.Profile:
    return pb.Profile(resident_id=p.resident_id, attributes=[_attribute(a) for a in p.ordered()],
                      create_time=_ts(p.created_at), update_time=_ts(p.updated_at))


def _service(s: CatalogueService) -> pb.Service:
    return pb.Service(service_id=s.service_id, name_fr=s.name_fr, name_en=s.name_en,
                      kind=_enum_out(pb.ServiceKind, "SERVICE_KIND_", s.kind), owner=s.owner, borough=s.borough or "",
                      client_id=s.client_id, attributes=list(s.attributes), purposes=list(s.purposes),
                      state=_enum_out(pb.ServiceState, "SERVICE_STATE_", s.state),
                      create_time=_ts(s.created_at), update_time=_ts(s.updated_at))


def _account(view: AccountView) -> pb.ServiceAccount:
    a = view.account
    return pb.ServiceAccount(account_id=a.account_id, service_id=a.service_id, resident_id=view.resident_id,
                             account_reference=a.account_reference,
                             state=_enum_out(pb.AccountState, "ACCOUNT_STATE_", a.state),
                             create_time=_ts(a.created_at), update_time=_ts(a.updated_at),
                             unlink_requested_at=_ts(a.unlink_requested_at))


def _transition(t: Transition) -> pb.AccountTransition:
    return pb.AccountTransition(
        from_state=_enum_out(pb.AccountState, "ACCOUNT_STATE_", t.from_state) if t.from_state else 0,
        to_state=_enum_out(pb.AccountState, "ACCOUNT_STATE_", t.to_state), reason=t.reason, actor=t.actor,
        time=_ts(t.at))


def _check(check: DocumentCheck) -> pb.DocumentCheck:
    return pb.DocumentCheck(check_id=check.check_id, resident_id=check.resident_id,
                            document_type=_enum_out(pb.DocumentType, "DOCUMENT_TYPE_", check.document_type),
                            last_digits=check.last_digits, agent_id=check.agent_id, checked_at=_ts(check.checked_at))


_RELEASE_BASIS = {Basis.CONSENT: pb.RELEASE_BASIS_CONSENT, Basis.PUBLIC_TASK: pb.RELEASE_BASIS_LEGAL,
                  Basis.LEGAL_OBLIGATION: pb.RELEASE_BASIS_LEGAL}


class AccountsServicer(accounts_pb2_grpc.AccountsServiceServicer):
    def __init__(self, app: AccountsApplication) -> None:
        self.app = app

    # ---- profile ----
    async def GetProfile(self, request, context):
        profile = await self.app.handle(c.GetProfile(_caller(), request.resident_id))
        return pb.GetProfileResponse(profile=_profile(profile))

    async def UpdateProfile(self, request, context):
        profile = await self.app.handle(c.UpdateProfile(_caller(), request.resident_id, _changes(request.changes)))
        return pb.UpdateProfileResponse(profile=_profile(profile))

    async def ExportResidentData(self, request, context):
        document = await self.app.handle(c.ExportResidentData(_caller(), request.resident_id))
        return pb.ExportResidentDataResponse(document=json.dumps(document, ensure_ascii=False, indent=1).encode(),
                                             media_type="application/json")

    # ---- catalogue ----
    async def RegisterService(self, request, context):
        kind = _enum_in(pb.ServiceKind, "SERVICE_KIND_", request.kind, ServiceKind, "kind", required=True)
        service = await self.app.handle(c.RegisterService(
            service_id=request.service_id, name_fr=request.name_fr, name_en=request.name_en, kind=kind,
            owner=request.owner, client_id=request.client_id, borough=request.borough or None,
            attributes=tuple(request.attributes), purposes=tuple(request.purposes)))
        return pb.RegisterServiceResponse(service=_service(service))

    async def UpdateService(self, request, context):
        state = _enum_in(pb.ServiceState, "SERVICE_STATE_", request.state, ServiceState, "state", required=False)
        service = await self.app.handle(c.UpdateService(
            service_id=request.service_id, name_fr=request.name_fr, name_en=request.name_en, owner=request.owner,
            attributes=tuple(request.attributes), purposes=tuple(request.purposes), state=state))
        return pb.UpdateServiceResponse(service=_service(service))

    async def ListServices(self, request, context):
        kind = _enum_in(pb.ServiceKind, "SERVICE_KIND_", request.kind, ServiceKind, "kind", required=False)
        page = await self.app.handle(c.ListServices(kind=kind, borough=request.borough, page_size=request.page_size,
                                                    page_token=request.page_token))
        return pb.ListServicesResponse(services=[_service(s) for s in page.items], next_page_token=page.next_page_token)

    async def GetService(self, request, context):
        service = await self.app.handle(c.GetService(request.service_id))
        return pb.GetServiceResponse(service=_service(service))

    # ---- service accounts ----
    async def LinkAccount(self, request, context):
        view = await self.app.handle(c.LinkAccount(_caller(), request.service_id, request.resident_id,
                                                   request.account_reference))
        return pb.LinkAccountResponse(account=_account(view))

    async def _change(self, request, action: str):
        return await self.app.handle(c.ChangeAccountState(_caller(), request.account_id, action, request.reason))

    async def ActivateAccount(self, request, context):
        return pb.ActivateAccountResponse(account=_account(await self._change(request, "activate")))

    async def SuspendAccount(self, request, context):
        return pb.SuspendAccountResponse(account=_account(await self._change(request, "suspend")))

    async def CloseAccount(self, request, context):
        return pb.CloseAccountResponse(account=_account(await self._change(request, "close")))

    async def ListAccounts(self, request, context):
        state = _enum_in(pb.AccountState, "ACCOUNT_STATE_", request.state, AccountState, "state", required=False)
        page = await self.app.handle(c.ListAccounts(_caller(), resident_id=request.resident_id,
                                                    service_id=request.service_id, state=state,
                                                    page_size=request.page_size, page_token=request.page_token,
                                                    account_reference=request.account_reference))
        return pb.ListAccountsResponse(accounts=[_account(v) for v in page.items], next_page_token=page.next_page_token)

    async def RequestUnlink(self, request, context):
        view = await self.app.handle(c.RequestUnlink(_caller(), request.account_id, request.reason))
        return pb.RequestUnlinkResponse(account=_account(view))

    async def GetAccountHistory(self, request, context):
        view, transitions = await self.app.handle(c.GetAccountHistory(_caller(), request.account_id))
        return pb.GetAccountHistoryResponse(account=_account(view), transitions=[_transition(t) for t in transitions])

    # ---- release ----
    async def ReleaseAttributes(self, request, context):
        result = await self.app.handle(c.ReleaseAttributes(_caller(), request.service_id, request.resident_id,
                                                           request.purpose_id, tuple(request.attributes),
                                                           mandatary_id=request.mandatary_id))
        released = [pb.ReleasedAttribute(name=r.name, value=r.attribute.value,
                                          provenance=_enum_out(pb.Provenance, "PROVENANCE_", r.attribute.provenance),
                                          verified_at=_ts(r.attribute.verified_at), basis=_RELEASE_BASIS[r.basis],
                                          consent_id=r.consent_id or "")
                    for r in result.decision.released]
        withheld = [pb.WithheldAttribute(name=w.name, reason=_enum_out(pb.WithheldReason, "WITHHELD_REASON_", w.reason),
                                         explanation=w.explanation)
                    for w in result.decision.withheld]
        return pb.ReleaseAttributesResponse(access_id=result.access_id, resident_id=result.resident_id,
                                            released=released, withheld=withheld, mandate_id=result.mandate_id)

    # ---- mandates (issue 22) ----
    async def DecideMandates(self, request, context):
        decisions = await self.app.handle(c.DecideMandates(_caller(), tuple(
            c.MandateQuestion(q.mandatary_id, q.represented_id, q.action, q.service_id) for q in request.questions)))
        return pb.DecideMandatesResponse(
            decisions=[pb.MandateDecision(allowed=allowed, mandate_id=mandate_id, reason=reason)
                       for allowed, mandate_id, reason in decisions],
            decide_time=_ts(dt.datetime.now(dt.timezone.utc)))

    async def RecordMandateAct(self, request, context):
        when, already = await self.app.handle(c.RecordMandateAct(
            _caller(), request.mandate_id, request.act_id, request.action, request.service_id))
        return pb.RecordMandateActResponse(mandate_id=request.mandate_id, act_id=request.act_id, act_time=_ts(when),
                                           already_recorded=already)

    # ---- counter ----
    async def FindResident(self, request, context):
        found = await self.app.handle(c.FindResident(
            _caller(), resident_id=request.resident_id, email=request.email, phone=request.phone,
            family_name=request.family_name, given_name=request.given_name, date_of_birth=request.date_of_birth,
            page_size=request.page_size))
        matches = []
        for p in found:
            born = p.get("date_of_birth")
            matches.append(pb.ResidentMatch(
                resident_id=p.resident_id, given_name=p.get("given_name").value if p.get("given_name") else "",
                family_name=p.get("family_name").value if p.get("family_name") else "",
                birth_year=int(born.value[:4]) if born else 0))
        return pb.FindResidentResponse(matches=matches)

    async def EnrollResident(self, request, context):
        profile = await self.app.handle(c.EnrollResident(_caller(), request.resident_id, _changes(request.attributes),
                                                         validate_only=request.validate_only))
        return pb.EnrollResidentResponse(profile=_profile(profile)) if profile else pb.EnrollResidentResponse()

    async def RecordDocumentCheck(self, request, context):
        kind = _enum_in(pb.DocumentType, "DOCUMENT_TYPE_", request.document_type, DocumentType, "document_type",
                        required=False)
        check = await self.app.handle(c.RecordDocumentCheck(_caller(), request.resident_id, kind, request.last_digits))
        return pb.RecordDocumentCheckResponse(check=_check(check))

    async def VerifyAttribute(self, request, context):
        method = {pb.VERIFICATION_METHOD_AT_COUNTER: "at_counter",
                  pb.VERIFICATION_METHOD_FROM_DOCUMENT: "from_document"}.get(request.method)
        attribute = await self.app.handle(c.VerifyAttribute(_caller(), request.resident_id, request.attribute, method,
                                                            request.value, request.document_check_id))
        return pb.VerifyAttributeResponse(attribute=_attribute(attribute))

    async def LinkAccountInPerson(self, request, context):
        view = await self.app.handle(c.LinkAccountInPerson(_caller(), request.resident_id, request.service_id,
                                                           request.account_reference))
        return pb.LinkAccountInPersonResponse(account=_account(view))


add_to_server = accounts_pb2_grpc.add_AccountsServiceServicer_to_server
