"""gRPC entrypoint of montreal.consent.v1: wire messages to commands and back, and who may
call what. Business rules live in the domain and the handlers.

Access (docs/contracts.md):
- ``resident``: a resident's own session token (``sub`` = their resident_id) sees and acts
  on their own data only — and, issue 22, lists the mandates of an organization it represents
  now (``ListMandates``, the organization's file: ``service_layer/organizations.py``);
- ``consent:check`` / ``consent:record``: a recipient's client, for its own recipient only;
- ``consent:broker``: the accounts service, which mediates every release, for any recipient;
- ``consent:admin``: operators (catalogue; reading a resident's record for an access request);
- ``consent:agent``: a counter agent's token (``act.sub`` required, issue 17) records a consent
  the resident gives or withdraws in person (collection method counter or phone, an explicit
  act; the ledger's actor is ``agent:<id>``) and lists the resident's consents;
- public: tree heads, consistency proofs, the log keys and the catalogue.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable

from google.protobuf.timestamp_pb2 import Timestamp

from montreal.consent.v1 import consent_pb2 as pb
from montreal.consent.v1 import consent_pb2_grpc
from services.common.errors import InvalidArgument, PermissionDenied, ServiceError
from services.common.grpc.auth import PUBLIC, current_principal
from services.common.grpc.errors import code_for
from services.common.grpc.validation import register_limits
from services.common.reads import Groups
from services.consent.domain.catalogue import LegalBasis, Purpose, Recipient
from services.consent.domain.consents import Consent, ConsentState
from services.consent.domain.grant_rules import RequestedConsent
from services.consent.domain.ledger import EntryType, LedgerEntry
from services.consent.domain.mandates import Mandate, MandateBasis, MandateState
from services.consent.domain.signing import SignedTreeHead
from services.consent.metrics import count_decisions
from services.consent.service_layer import commands, handlers
from services.consent.service_layer import mandates as mandate_handlers
from services.consent.service_layer import organizations as organization_handlers

SERVICE = "montreal.consent.v1.ConsentService"
RESIDENT, ADMIN = "resident", "consent:admin"
CHECK, RECORD, BROKER = "consent:check", "consent:record", "consent:broker"
#: A counter agent records a consent the resident gives or withdraws in person (issue 17).
AGENT = "consent:agent"


def _m(name: str) -> str:
    return f"/{SERVICE}/{name}"


METHOD_POLICIES: dict[str, object] = {
    _m("Grant"): frozenset({RESIDENT, AGENT}),
    _m("Withdraw"): frozenset({RESIDENT, AGENT}),
    _m("Check"): frozenset({CHECK, BROKER}),
    _m("CheckMany"): frozenset({CHECK, BROKER}),
    _m("RecordAccess"): frozenset({RECORD, BROKER}),
    # and consent:check too when not the broker (ConsentServicer.CheckAndRecord)
    _m("CheckAndRecord"): frozenset({RECORD, BROKER}),
    _m("ListConsents"): frozenset({RESIDENT, ADMIN, AGENT}),
    _m("History"): frozenset({RESIDENT, ADMIN}),
    _m("AccessLog"): frozenset({RESIDENT, ADMIN}),
    _m("RequestRectification"): RESIDENT,
    _m("GetReceipt"): frozenset({RESIDENT, ADMIN}),
    _m("Export"): frozenset({RESIDENT, AGENT}),
    _m("GetInclusionProof"): frozenset({RESIDENT, ADMIN}),
    _m("GetSignedTreeHead"): PUBLIC,
    _m("GetConsistencyProof"): PUBLIC,
    _m("GetLogKeys"): PUBLIC,
    _m("AddCosignature"): PUBLIC,   # self-authenticating: only configured witnesses' signatures count
    _m("ListPurposes"): PUBLIC,
    _m("ListDataCategories"): PUBLIC,
    _m("ListRecipients"): PUBLIC,
    _m("DefinePurpose"): ADMIN,
    _m("RegisterRecipient"): ADMIN,
    # Mandates (issue 22): who may call what is narrowed again in each method.
    _m("GiveMandate"): frozenset({RESIDENT, AGENT}),
    _m("AcceptMandate"): RESIDENT,
    _m("EndMandate"): frozenset({RESIDENT, AGENT}),
    _m("ListMandates"): frozenset({RESIDENT, AGENT, ADMIN}),
    _m("DecideMandates"): frozenset({CHECK, BROKER}),
    _m("RecordMandateAct"): frozenset({RECORD, BROKER}),
    _m("GetMandateReceipt"): frozenset({RESIDENT, AGENT, ADMIN}),
}

# A released set of categories is small; a request listing more is not one of ours.
for _field in ("CheckRequest.data_categories", "RecordAccessRequest.data_categories",
               "RecordAccessRequest.withheld_categories", "RecordAccessRequest.consent_ids",
               "GrantRequest.items", "GrantItem.data_categories", "GiveMandateRequest.scope",
               "MandateScope.actions"):
    register_limits(f"montreal.consent.v1.{_field}", max_items=64)
# DecideMandates: up to 1,000 questions, like CheckMany (accounts passes a borough's batch on).
register_limits("montreal.consent.v1.DecideMandatesRequest.questions", max_items=mandate_handlers.MAX_QUESTIONS)
# CheckMany: up to 1,000 questions (handlers.MAX_CHECK_MANY), each with a Check's categories.
register_limits("montreal.consent.v1.CheckManyRequest.items", max_items=handlers.MAX_CHECK_MANY)
register_limits("montreal.consent.v1.CheckQuestion.data_categories", max_items=64)
for _field in ("data_categories", "available_categories", "withheld_categories"):
    register_limits(f"montreal.consent.v1.CheckAndRecordRequest.{_field}", max_items=64)

_BASIS_TO_WIRE = {LegalBasis.CONSENT: pb.LEGAL_BASIS_CONSENT, LegalBasis.PUBLIC_TASK: pb.LEGAL_BASIS_PUBLIC_TASK,
                  LegalBasis.LEGAL_OBLIGATION: pb.LEGAL_BASIS_LEGAL_OBLIGATION}
_BASIS_FROM_WIRE = {v: k for k, v in _BASIS_TO_WIRE.items()}
_STATE_TO_WIRE = {ConsentState.GIVEN: pb.CONSENT_STATE_GIVEN, ConsentState.WITHDRAWN: pb.CONSENT_STATE_WITHDRAWN,
                  ConsentState.EXPIRED: pb.CONSENT_STATE_EXPIRED}
_METHODS = {pb.COLLECTION_METHOD_ACCOUNT_PAGE: "account_page",
            pb.COLLECTION_METHOD_LOGIN_CONSENT_SCREEN: "login_consent_screen",
            pb.COLLECTION_METHOD_COUNTER: "counter", pb.COLLECTION_METHOD_PHONE: "phone"}
_METHODS_TO_WIRE = {v: k for k, v in _METHODS.items()}
_REAUTH_METHODS = {"password": "password", "second_factor": "second_factor"}
_ENTRY_TYPES = {EntryType.CONSENT_GIVEN: pb.ENTRY_TYPE_CONSENT_GIVEN,
                EntryType.CONSENT_WITHDRAWN: pb.ENTRY_TYPE_CONSENT_WITHDRAWN,
                EntryType.CONSENT_EXPIRED: pb.ENTRY_TYPE_CONSENT_EXPIRED,
                EntryType.DATA_ACCESSED: pb.ENTRY_TYPE_DATA_ACCESSED,
                EntryType.EXPORT_REQUESTED: pb.ENTRY_TYPE_EXPORT_REQUESTED,
                EntryType.RECTIFICATION_REQUESTED: pb.ENTRY_TYPE_RECTIFICATION_REQUESTED,
                EntryType.SERVICE_INFORMED: pb.ENTRY_TYPE_SERVICE_INFORMED,
                EntryType.MANDATE_GRANTED: pb.ENTRY_TYPE_MANDATE_GRANTED,
                EntryType.MANDATE_ACCEPTED: pb.ENTRY_TYPE_MANDATE_ACCEPTED,
                EntryType.MANDATE_SUSPENDED: pb.ENTRY_TYPE_MANDATE_SUSPENDED,
                EntryType.MANDATE_REVOKED: pb.ENTRY_TYPE_MANDATE_REVOKED,
                EntryType.MANDATE_EXPIRED: pb.ENTRY_TYPE_MANDATE_EXPIRED,
                EntryType.MANDATE_USED: pb.ENTRY_TYPE_MANDATE_USED,
                EntryType.MANDATE_NARROWED: pb.ENTRY_TYPE_MANDATE_NARROWED,
                EntryType.CARD_REVOKED: pb.ENTRY_TYPE_CARD_REVOKED,
                EntryType.CARD_RENEWED: pb.ENTRY_TYPE_CARD_RENEWED}
_ENTRY_TYPES_FROM_WIRE = {v: k for k, v in _ENTRY_TYPES.items()}
_MANDATE_BASES = {pb.MANDATE_BASIS_RESIDENT_CONSENT: MandateBasis.RESIDENT_CONSENT,
                  pb.MANDATE_BASIS_PARENTAL_AUTHORITY: MandateBasis.PARENTAL_AUTHORITY,
                  pb.MANDATE_BASIS_TUTORSHIP_MINOR: MandateBasis.TUTORSHIP_MINOR,
                  pb.MANDATE_BASIS_PROTECTION_MANDATE: MandateBasis.PROTECTION_MANDATE,
                  pb.MANDATE_BASIS_COURT_TUTORSHIP: MandateBasis.COURT_TUTORSHIP,
                  pb.MANDATE_BASIS_ORGANIZATION_REPRESENTATIVE: MandateBasis.ORGANIZATION_REPRESENTATIVE}
_MANDATE_BASES_TO_WIRE = {v: k for k, v in _MANDATE_BASES.items()}
_MANDATE_STATES = {MandateState.PENDING: pb.MANDATE_STATE_PENDING, MandateState.ACTIVE: pb.MANDATE_STATE_ACTIVE,
                   MandateState.SUSPENDED: pb.MANDATE_STATE_SUSPENDED,
                   MandateState.REVOKED: pb.MANDATE_STATE_REVOKED, MandateState.EXPIRED: pb.MANDATE_STATE_EXPIRED}
_BASIS_STRINGS = {b.value: _BASIS_TO_WIRE[b] for b in LegalBasis}


# --- conversions -------------------------------------------------------------------------
def _ts(value: dt.datetime | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value.astimezone(dt.timezone.utc))
    return stamp


def _reauthenticated_at(request, principal) -> dt.datetime | None:
    """When the resident last proved who they are, as identity signed it in the token.

    The freshness a biometric consent needs (grant_rules, 5 minutes) is the access token's
    ``auth_time`` (OIDC Core s. 2, RFC 9068 s. 2.2.1), which only identity can sign: the
    consent service does not take a caller's word for it (issue 18). ``reauthenticated_time``
    in the request, when sent, must say the same (it is the caller's copy, kept for the
    readability of the API); a request that claims another time is refused.
    """
    signed = (dt.datetime.fromtimestamp(principal.auth_time, dt.timezone.utc)
              if principal.auth_time is not None else None)
    if request.HasField("reauthenticated_time"):
        claimed = _from_ts(request.reauthenticated_time)
        if signed is None or abs((claimed - signed).total_seconds()) > 1:
            raise InvalidArgument("reauthenticated_time",
                                  "must be the access token's auth_time (identity signs when the resident "
                                  "re-authenticated; the request cannot say otherwise)")
    return signed


def _from_ts(stamp: Timestamp) -> dt.datetime:
    return stamp.ToDatetime(tzinfo=dt.timezone.utc)


def _consent(c: Consent) -> pb.Consent:
    return pb.Consent(
        consent_id=c.consent_id, resident_id=c.resident_id, recipient_id=c.recipient_id,
        purpose_id=c.purpose_id, purpose_version=c.purpose_version, data_categories=list(c.data_categories),
        state=_STATE_TO_WIRE[c.state], give_time=_ts(c.given_at), expire_time=_ts(c.expires_at),
        withdraw_time=_ts(c.ended_at) if c.state is ConsentState.WITHDRAWN else None,
        collection_method=_METHODS_TO_WIRE.get(c.collection_method, pb.COLLECTION_METHOD_UNSPECIFIED),
        biometric=c.biometric, non_biometric_alternative_id=c.non_biometric_alternative_id,
        ledger_index=c.ledger_index or 0, language=c.language,
        given_by_mandatary=c.actor.removeprefix("mandatary:") if c.actor.startswith("mandatary:") else "",
        mandate_id=c.mandate_id)


def _decision(d) -> pb.CategoryDecision:
    return pb.CategoryDecision(
        data_category=d.data_category, allowed=d.allowed,
        basis=_BASIS_TO_WIRE[d.basis] if d.basis else pb.LEGAL_BASIS_UNSPECIFIED,
        consent_id=d.consent_id or "", reason=d.reason,
        non_biometric_alternative=pb.NonBiometricAlternative(
            alternative_id=d.alternative[0], description_fr=d.alternative[1], description_en=d.alternative[2])
        if d.alternative else None)


def _fill_decision(message: pb.CategoryDecision, d) -> None:
    """``_decision`` written into a message already in its place (CheckMany's answers)."""
    message.data_category = d.data_category
    if d.allowed:
        message.allowed = True
    if d.basis:
        message.basis = _BASIS_TO_WIRE[d.basis]
    if d.consent_id:
        message.consent_id = d.consent_id
    if d.reason:
        message.reason = d.reason
    if d.alternative:
        alternative = message.non_biometric_alternative
        alternative.alternative_id, alternative.description_fr, alternative.description_en = d.alternative


def _item_error(prefix: str, error: ServiceError) -> pb.ItemError:
    """What the single call's status would have said (code, reason, field violations), with
    each field named inside the batch."""
    violations = getattr(error, "violations", ())
    return pb.ItemError(code=code_for(error).name, reason=getattr(error, "reason", ""),
                        field_violations=[pb.ItemFieldViolation(field=f"{prefix}.{field}", description=description)
                                          for field, description in violations])


def _entry(e: LedgerEntry) -> pb.LedgerEntry:
    data = e.leaf_data()
    return pb.LedgerEntry(
        index=e.index, type=_ENTRY_TYPES[e.entry_type], entry_time=_ts(e.time), entry_id=e.entry_id,
        resident_id=e.resident_id, consent_id=e.consent_id or "", access_id=e.access_id or "",
        recipient_id=e.recipient_id or "", purpose_id=e.purpose_id or "",
        data_categories=e.data_categories, leaf_data=data, leaf_hash=e.leaf_hash())


def _mandate(m: Mandate) -> pb.Mandate:
    return pb.Mandate(
        mandate_id=m.mandate_id, represented_id=m.represented_id, mandatary_id=m.mandatary_id,
        grantor_id=m.grantor_id, basis=_MANDATE_BASES_TO_WIRE[m.basis],
        # What it covers now: less what it was narrowed of (a minor's `consent` from 14).
        scope=[pb.MandateScope(service=i.service, actions=sorted(a.value for a in i.actions))
               for i in m.scope_at(dt.datetime.now(dt.timezone.utc))],
        valid_from_time=_ts(m.valid_from), valid_until_time=_ts(m.valid_until), state=_MANDATE_STATES[m.state],
        grant_time=_ts(m.granted_at), accept_time=_ts(m.accepted_at), end_time=_ts(m.ended_at),
        end_reason=m.end_reason, under_mandate_id=m.under_mandate_id or "",
        document_kind=m.document.kind if m.document else "",
        document_checked_by=m.document.checked_by if m.document else "", ledger_index=m.granted_index or 0,
        acts=[pb.MandateAct(act_id=a.act_id, service=a.service, action=a.action, act_time=_ts(a.time),
                            recorded_by=a.actor) for a in m.acts],
        narrow_time=_ts(m.narrowed_at), narrow_reason=m.narrowed_reason)


def _sth(head: SignedTreeHead) -> pb.SignedTreeHead:
    return pb.SignedTreeHead(tree_size=head.tree_size, root_hash=head.root_hash, timestamp=_ts(head.timestamp),
                             jws=head.jws, key_id=head.key_id)


def _witnessed(head: handlers.WitnessedHead) -> pb.WitnessedHead:
    if head.checkpoint is None:
        return pb.WitnessedHead(below_quorum=head.below_quorum)
    return pb.WitnessedHead(
        tree_size=head.checkpoint.tree_size, root_hash=head.checkpoint.root_hash, note=head.note(),
        below_quorum=head.below_quorum,
        cosignatures=[pb.WitnessCosignature(witness=c.witness, key_id=c.key_id, cosigned_at=c.timestamp,
                                            line=c.line().rstrip("\n")) for c in head.cosignatures])


def _purpose(p: Purpose) -> pb.Purpose:
    return pb.Purpose(
        purpose_id=p.purpose_id, version=p.version, dpv_iri=p.dpv_iri, legal_basis=_BASIS_TO_WIRE[p.legal_basis],
        biometric=p.biometric, title_fr=p.title_fr, title_en=p.title_en, description_fr=p.description_fr,
        description_en=p.description_en, data_categories=list(p.data_categories),
        max_validity_days=p.max_validity_days, non_biometric_alternative_id=p.non_biometric_alternative_id,
        non_biometric_alternative_fr=p.non_biometric_alternative_fr,
        non_biometric_alternative_en=p.non_biometric_alternative_en, text_sha256=p.text_sha256,
        create_time=_ts(p.created_at), retention_fr=p.retention_fr, retention_en=p.retention_en)


def _recipient(r: Recipient) -> pb.Recipient:
    return pb.Recipient(recipient_id=r.recipient_id, client_id=r.client_id, name_fr=r.name_fr, name_en=r.name_en,
                        kind=r.kind, owner=r.owner, purposes=list(r.purposes),
                        data_categories=list(r.data_categories))


# --- who is calling ------------------------------------------------------------------------
def _actor() -> str:
    """Who the ledger records as the author. ``act.sub`` (RFC 8693 s. 4.1) names a counter
    agent operating the console, or a mandatary acting for the token's ``sub`` (issue 22): a
    mandatary's token names its mandate in ``authorization_details`` (RFC 9396), an agent's
    never does."""
    principal = current_principal()
    if principal.acting_for and principal.mandate_ids:
        return f"mandatary:{principal.acting_for}"
    if principal.acting_for:
        return f"agent:{principal.acting_for}"
    if principal.has_scope(RESIDENT):
        return "resident"
    return f"client:{principal.client_id}"


def _on_behalf_mandatary() -> str | None:
    """The mandatary of a token on someone's behalf (issue 22: ``sub`` the represented
    resident, ``act.sub`` the mandatary, the mandate in ``authorization_details``, RFC 9396),
    whose writes the mandate decides; None for any other caller. A mandatary named otherwise
    than by citizen number (a pairwise subject) cannot be decided: refused."""
    principal = current_principal()
    if not (principal.has_scope(RESIDENT) and principal.acting_for and principal.mandate_ids):
        return None
    try:
        handlers.check_resident_id(principal.acting_for, "act.sub")
    except InvalidArgument:
        raise PermissionDenied("NOT_OWN_DATA", "a token on someone's behalf acts only under its mandate") from None
    return principal.acting_for


def _not_on_behalf() -> None:
    """A token on someone's behalf gives and withdraws consents under its mandate (Grant,
    Withdraw); everything else of the represented resident's register — their mandates, history,
    access log, export, rectification — is theirs, in their own session: the token's ``sub`` is
    not that resident's own session (a mandate to pay at the pool is no power to give mandates)."""
    if _on_behalf_mandatary() is not None:
        raise PermissionDenied("ON_BEHALF", "a token on someone's behalf reaches the register only to give or "
                               "withdraw consents under its mandate")


def _own(resident_id: str, *, admin_allowed: bool = True) -> str | None:
    """The resident a resident-scoped caller is restricted to (None: an admin, any resident)."""
    _not_on_behalf()
    principal = current_principal()
    if admin_allowed and principal.has_scope(ADMIN):
        return None
    if principal.has_scope(RESIDENT) and principal.subject == resident_id:
        return resident_id
    raise PermissionDenied("NOT_OWN_DATA", "a resident's session reaches only that resident's data")


def _own_or_at_counter(resident_id: str) -> bool:
    """A resident's own session, or a counter agent named by the token (``act.sub``, RFC 8693
    s. 4.1) recording what the resident chose in person; True for the agent."""
    _not_on_behalf()
    principal = current_principal()
    if principal.has_scope(RESIDENT) and principal.subject == resident_id:
        return False
    if principal.has_scope(AGENT):
        if not principal.acting_for:
            raise PermissionDenied("AGENT_NOT_IDENTIFIED", "a counter action needs the acting agent (act.sub)")
        return True
    raise PermissionDenied("NOT_OWN_DATA", "a resident's session reaches only that resident's data")


def _for_client() -> str | None:
    principal = current_principal()
    return None if principal.has_scope(BROKER) else principal.client_id


async def _representative_of(organization_id: str, uow_factory) -> bool:
    """A resident's session reads an organization's mandates while representing it now
    (docs/mandates.md, "Organizations")."""
    principal = current_principal()
    if not principal.has_scope(RESIDENT) or principal.acting_for:
        return False
    return await organization_handlers.represents(principal.subject, organization_id, uow_factory())


class MandateMethods:
    """Mandates (issue 22). A resident's session acts as itself only: it gives mandates for
    itself or within a mandate it holds, accepts, revokes or renounces its own; a counter
    agent (``act.sub``) records legal bases on documents and revokes or suspends."""

    async def GiveMandate(self, request, context):
        principal = current_principal()
        basis = _MANDATE_BASES.get(request.basis)
        if basis is None:
            raise InvalidArgument("basis", "a MandateBasis")
        agent = ""
        if principal.has_scope(RESIDENT) and not principal.acting_for:
            if basis.at_counter:
                raise PermissionDenied("COUNTER_ONLY", "a legal basis is recorded at the counter, on documents")
            if request.grantor_id != principal.subject:
                raise PermissionDenied("NOT_OWN_DATA", "a resident gives mandates as themselves (grantor_id)")
        else:
            _own_or_at_counter(request.represented_id)
            agent = principal.acting_for
        mandate = await mandate_handlers.give(commands.GiveMandate(
            represented_id=request.represented_id, mandatary_id=request.mandatary_id,
            grantor_id=request.grantor_id, basis=basis.value,
            scope=tuple((i.service, tuple(i.actions)) for i in request.scope),
            valid_from=_from_ts(request.valid_from_time) if request.HasField("valid_from_time") else None,
            valid_until=_from_ts(request.valid_until_time) if request.HasField("valid_until_time") else None,
            under_mandate_id=request.under_mandate_id, document_kind=request.document_kind,
            document_reference=request.document_reference, actor=_actor(), agent=agent), self.uow())
        return pb.GiveMandateResponse(mandate=_mandate(mandate))

    async def AcceptMandate(self, request, context):
        _not_on_behalf()
        mandate = await mandate_handlers.accept(commands.AcceptMandate(
            request.mandate_id, current_principal().subject, actor=_actor()), self.uow())
        return pb.AcceptMandateResponse(mandate=_mandate(mandate))

    async def EndMandate(self, request, context):
        principal = current_principal()
        if principal.has_scope(RESIDENT) and not principal.acting_for:
            by = principal.subject
            if request.suspend:
                raise PermissionDenied("COUNTER_ONLY", "a mandate is suspended at the counter")
        else:
            _own_or_at_counter("")
            by = ""
        mandate = await mandate_handlers.end(commands.EndMandate(
            request.mandate_id, by=by, actor=_actor(), suspend=request.suspend), self.uow())
        return pb.EndMandateResponse(mandate=_mandate(mandate))

    async def ListMandates(self, request, context):
        principal = current_principal()
        if principal.has_scope(AGENT) and not (principal.has_scope(RESIDENT) or principal.has_scope(ADMIN)):
            _own_or_at_counter(request.resident_id)
        elif not await _representative_of(request.resident_id, self.uow):
            _own(request.resident_id)
        listing = await mandate_handlers.list_mandates(request.resident_id, self.uow(), page_size=request.page_size,
                                                       page_token=request.page_token)
        return pb.ListMandatesResponse(given=[_mandate(m) for m in listing.given],
                                       received=[_mandate(m) for m in listing.received],
                                       next_page_token=listing.next_page_token)

    async def GetMandateReceipt(self, request, context):
        principal = current_principal()
        if principal.has_scope(ADMIN):
            reader = None
        elif principal.has_scope(AGENT) and not principal.has_scope(RESIDENT):
            _own_or_at_counter("")   # an agent named by act.sub, at the counter
            reader = None
        else:
            _not_on_behalf()         # a party's own session, never a token on someone's behalf
            reader = principal.subject
        token, document, kid = await mandate_handlers.receipt(request.mandate_id, self.uow(), reader=reader)
        return pb.GetMandateReceiptResponse(receipt_jws=token, receipt_json=json.dumps(document, ensure_ascii=False),
                                            key_id=kid)

    async def RecordMandateAct(self, request, context):
        actor = _actor()
        if request.service_client_id:
            if not current_principal().has_scope(BROKER):
                raise PermissionDenied("BROKER_ONLY", "service_client_id is for the broker passing a service's act on")
            if not re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", request.service_client_id):
                raise InvalidArgument("service_client_id", "a client id")
            actor = f"client:{request.service_client_id}"
        mandate, already = await mandate_handlers.record_act(commands.RecordMandateAct(
            request.mandate_id, request.act_id, request.service, request.action, actor=actor,
            for_client=_for_client()), self.uow())
        return pb.RecordMandateActResponse(mandate=_mandate(mandate), already_recorded=already)

    async def DecideMandates(self, request, context):
        decisions = await mandate_handlers.decide([commands.MandateQuestion(
            q.mandatary_id, q.represented_id, q.service, q.action) for q in request.questions], self.uow())
        return pb.DecideMandatesResponse(
            decisions=[pb.MandateDecision(allowed=d.allowed, mandate_id=d.mandate_id, reason=d.reason)
                       for d in decisions], decide_time=_ts(dt.datetime.now(dt.timezone.utc)))


class ConsentServicer(MandateMethods, consent_pb2_grpc.ConsentServiceServicer):
    def __init__(self, uow_factory: Callable[[], object]) -> None:
        self.uow = uow_factory
        # RecordAccess calls that arrive while a group is being recorded form the next group:
        # one transaction, one hold of the ledger's head lock (handlers.record_accesses).
        self._accesses = Groups(lambda cmds: handlers.record_accesses(cmds, self.uow()))
        # CheckAndRecord calls group the same way (handlers.check_and_record).
        self._releases = Groups(lambda cmds: handlers.check_and_record(cmds, self.uow()))

    # --- consents ----------------------------------------------------------------------
    async def Grant(self, request, context):
        principal = current_principal()
        on_behalf = (principal.has_scope(RESIDENT) and not principal.acting_for
                     and principal.subject != request.resident_id)
        mandatary = principal.subject
        if _on_behalf_mandatary():
            # a token on someone's behalf is not the resident's own session: the mandate decides,
            # as for the mandatary's own session (a minor's parent no longer consents from the
            # 14th birthday)
            on_behalf, mandatary = True, principal.acting_for
        if on_behalf:
            pass   # a mandatary consenting for someone: the mandate decides (below)
        elif _own_or_at_counter(request.resident_id):
            # At a counter or on the phone the consent is the resident's own choice, expressed to
            # the agent (a distinct affirmative act), and marked as collected there.
            problems = []
            if request.collection_method not in (pb.COLLECTION_METHOD_COUNTER, pb.COLLECTION_METHOD_PHONE):
                problems.append(("collection_method", "an agent records COLLECTION_METHOD_COUNTER or _PHONE"))
            if not request.explicit_act:
                problems.append(("explicit_act", "the resident's own affirmative choice is required at a counter"))
            if problems:
                raise InvalidArgument.many(problems)
        items = tuple(RequestedConsent(
            purpose_id=i.purpose_id, purpose_version=i.purpose_version,
            data_categories=tuple(i.data_categories),
            expires_at=_from_ts(i.expire_time) if i.HasField("expire_time") else None,
            non_biometric_alternative_id=i.non_biometric_alternative_id) for i in request.items)
        method = _METHODS.get(request.collection_method, "account_page")
        reauthenticated_at = _reauthenticated_at(request, principal)
        if on_behalf:
            consents = await mandate_handlers.grant_on_behalf(commands.GiveConsent(
                resident_id=request.resident_id, recipient_id=request.recipient_id, items=items,
                collection_method=method, explicit_act=request.explicit_act, language=request.language or "fr",
                reauthenticated_at=reauthenticated_at,
                reauthentication_method=_REAUTH_METHODS.get(request.reauthentication_method, "")),
                mandatary, self.uow())
            return pb.GrantResponse(consents=[_consent(c) for c in consents])
        consents = await handlers.grant(commands.GiveConsent(
            resident_id=request.resident_id, recipient_id=request.recipient_id, items=items,
            collection_method=method, explicit_act=request.explicit_act,
            language=request.language or "fr", actor=_actor(),
            reauthenticated_at=reauthenticated_at,
            reauthentication_method=_REAUTH_METHODS.get(request.reauthentication_method, "")),
            self.uow())
        return pb.GrantResponse(consents=[_consent(c) for c in consents])

    async def Withdraw(self, request, context):
        mandatary = _on_behalf_mandatary()
        if mandatary:
            # a token on someone's behalf: the mandate decides, as for giving a consent
            consent, index = await mandate_handlers.withdraw_on_behalf(commands.WithdrawConsent(
                request.resident_id, request.consent_id), mandatary, self.uow())
            return pb.WithdrawResponse(consent=_consent(consent), ledger_index=index or 0)
        _own_or_at_counter(request.resident_id)
        consent, index = await handlers.withdraw(commands.WithdrawConsent(
            request.resident_id, request.consent_id, actor=_actor()), self.uow())
        return pb.WithdrawResponse(consent=_consent(consent), ledger_index=index or 0)

    async def Check(self, request, context):
        decisions = await handlers.check(commands.CheckConsent(
            request.resident_id, request.recipient_id, request.purpose_id, tuple(request.data_categories),
            for_client=_for_client()), self.uow())
        count_decisions(decisions)
        return pb.CheckResponse(decisions=[_decision(d) for d in decisions],
                                check_time=_ts(dt.datetime.now(dt.timezone.utc)))

    async def CheckMany(self, request, context):
        for_client = _for_client()
        results = await handlers.check_many([commands.CheckConsent(
            q.resident_id, q.recipient_id, q.purpose_id, tuple(q.data_categories), for_client=for_client)
            for q in request.items], self.uow())
        # Built in place (``add``) rather than from messages passed to constructors, which
        # copies every one of them again: a third of a batch's CPU before (bench/RESULTS.md).
        response = pb.CheckManyResponse(check_time=_ts(dt.datetime.now(dt.timezone.utc)))
        add_answer, decided = response.answers.add, []
        for i, result in enumerate(results):
            if isinstance(result, ServiceError):
                add_answer().error.CopyFrom(_item_error(f"items[{i}]", result))
            else:
                decided.extend(result)
                add_decision = add_answer().decisions.add
                for d in result:
                    _fill_decision(add_decision(), d)
        count_decisions(decided)  # one count per batch: the same totals as one per question
        return response

    async def ListConsents(self, request, context):
        principal = current_principal()
        if principal.has_scope(AGENT) and not (principal.has_scope(RESIDENT) or principal.has_scope(ADMIN)):
            _own_or_at_counter(request.resident_id)
        else:
            _own(request.resident_id)
        consents, token = await handlers.list_consents_page(commands.ListPage(
            request.resident_id, request.page_size, request.page_token,
            include_inactive=request.include_inactive), self.uow())
        return pb.ListConsentsResponse(consents=[_consent(c) for c in consents], next_page_token=token)

    async def History(self, request, context):
        _own(request.resident_id)
        unknown = [t for t in request.types if t not in _ENTRY_TYPES_FROM_WIRE]
        if unknown:
            raise InvalidArgument("types", "must name entry types (not ENTRY_TYPE_UNSPECIFIED)")
        entries, token = await handlers.history(commands.ListPage(
            request.resident_id, request.page_size, request.page_token,
            types=tuple(_ENTRY_TYPES_FROM_WIRE[t].value for t in request.types)), self.uow())
        return pb.HistoryResponse(entries=[_entry(e) for e in entries], next_page_token=token)

    async def AccessLog(self, request, context):
        _own(request.resident_id)
        entries, token = await handlers.access_log(commands.ListPage(
            request.resident_id, request.page_size, request.page_token,
            recipient_id=request.recipient_id or None), self.uow())
        async with self.uow() as uow:
            names = {r.recipient_id: r for r in await uow.catalogue.recipients()}
        records = []
        for e in entries:
            b = e.body
            r = names.get(b["recipient_id"])
            records.append(pb.AccessRecord(
                access_id=b["access_id"], ledger_index=e.index, recipient_id=b["recipient_id"],
                recipient_name_fr=r.name_fr if r else "", recipient_name_en=r.name_en if r else "",
                purpose_id=b["purpose_id"], data_categories=b["data_categories"],
                withheld_categories=b.get("withheld_categories", []),
                bases={k: _BASIS_STRINGS.get(v, pb.LEGAL_BASIS_UNSPECIFIED) for k, v in b["bases"].items()},
                consent_ids=b.get("consent_ids", []),
                unsupported_categories=b.get("unsupported_categories", []),
                agent_reference=str(b.get("agent", "")),
                mandatary_id=str(b.get("mandatary_id", "")), mandate_id=str(b.get("mandate_id", "")),
                access_time=_ts(dt.datetime.fromisoformat(b["accessed_at"].replace("Z", "+00:00")))))
        return pb.AccessLogResponse(records=records, next_page_token=token)

    async def RecordAccess(self, request, context):
        bases = {}
        for category, basis in request.bases.items():
            if basis not in _BASIS_FROM_WIRE:
                raise InvalidArgument(f"bases[{category}]", "a legal basis is required")
            bases[category] = _BASIS_FROM_WIRE[basis].value
        result = await self._accesses.submit(commands.RecordAccess(
            access_id=request.access_id, resident_id=request.resident_id, recipient_id=request.recipient_id,
            purpose_id=request.purpose_id, data_categories=tuple(request.data_categories), bases=bases,
            consent_ids=tuple(request.consent_ids), withheld_categories=tuple(request.withheld_categories),
            accessed_at=_from_ts(request.access_time) if request.HasField("access_time") else None,
            for_client=_for_client(), source=f"grpc:{current_principal().client_id}"))
        if isinstance(result, Exception):
            raise result
        index, already = result
        return pb.RecordAccessResponse(ledger_index=index, already_recorded=already)

    async def CheckAndRecord(self, request, context):
        principal = current_principal()
        if not principal.has_scope(BROKER):
            principal.require_scope(CHECK)  # a recipient's client both checks and records
        result = await self._releases.submit(commands.CheckAndRecord(
            access_id=request.access_id, resident_id=request.resident_id, recipient_id=request.recipient_id,
            purpose_id=request.purpose_id, data_categories=tuple(request.data_categories),
            available_categories=tuple(request.available_categories),
            withheld_categories=tuple(request.withheld_categories),
            for_client=_for_client(), source=f"grpc:{principal.client_id}", mandatary_id=request.mandatary_id))
        if isinstance(result, Exception):
            raise result
        count_decisions(result.decisions)
        return pb.CheckAndRecordResponse(
            decisions=[_decision(d) for d in result.decisions], released_categories=result.released,
            ledger_index=result.ledger_index or 0, already_recorded=result.already_recorded,
            access_time=_ts(result.at), mandate_id=result.mandate_id)

    async def RequestRectification(self, request, context):
        _own(request.resident_id, admin_allowed=False)
        entry = await handlers.request_rectification(commands.RequestRectification(
            request.resident_id, tuple(request.data_categories), request.recipient_id or None,
            actor=_actor()), self.uow())
        return pb.RequestRectificationResponse(request_id=entry.body["request_id"], ledger_index=entry.index)

    async def GetReceipt(self, request, context):
        principal = current_principal()
        resident = None if principal.has_scope(ADMIN) else principal.subject
        token, document, kid = await handlers.receipt(request.consent_id, self.uow(), resident_id=resident)
        return pb.GetReceiptResponse(receipt_jws=token, receipt_json=json.dumps(document, ensure_ascii=False),
                                     key_id=kid)

    async def Export(self, request, context):
        # the resident, or a counter agent printing the file for the resident in front of them
        # (issue 17): the export_requested entry names the actor (``agent:<id>``)
        _own_or_at_counter(request.resident_id)
        document, index = await handlers.export(commands.RequestExport(request.resident_id, actor=_actor()),
                                                self.uow())
        head = await handlers.signed_tree_head(0, self.uow())
        return pb.ExportResponse(document=document, media_type="application/json", ledger_index=index,
                                 signed_tree_head=_sth(head),
                                 jwks_json=json.dumps(await handlers.log_keys(self.uow())))

    # --- tamper evidence ---------------------------------------------------------------
    async def GetSignedTreeHead(self, request, context):
        uow = self.uow()
        head = await handlers.signed_tree_head(request.tree_size, uow)
        witnessed = await handlers.witnessed_head(uow)
        return pb.GetSignedTreeHeadResponse(signed_tree_head=_sth(head), origin=uow.store.witnesses.origin,
                                            witnessed=_witnessed(witnessed), witness_quorum=witnessed.quorum)

    async def AddCosignature(self, request, context):
        size, count = await handlers.add_cosignature(request.note, self.uow())
        return pb.AddCosignatureResponse(tree_size=size, cosignatures=count)

    async def GetInclusionProof(self, request, context):
        principal = current_principal()
        resident = None if principal.has_scope(ADMIN) else principal.subject
        path, entry, head = await handlers.inclusion_proof(request.leaf_index, request.tree_size, self.uow(),
                                                           resident_id=resident)
        return pb.GetInclusionProofResponse(leaf_index=entry.index, tree_size=head.tree_size, audit_path=path,
                                            entry=_entry(entry), signed_tree_head=_sth(head))

    async def GetConsistencyProof(self, request, context):
        first, second, proof, head = await handlers.consistency_proof(
            request.first_tree_size, request.second_tree_size, self.uow())
        return pb.GetConsistencyProofResponse(first_tree_size=first, second_tree_size=second, proof=proof,
                                              signed_tree_head=_sth(head))

    async def GetLogKeys(self, request, context):
        return pb.GetLogKeysResponse(jwks_json=json.dumps(await handlers.log_keys(self.uow())))

    # --- catalogue -----------------------------------------------------------------------
    async def ListPurposes(self, request, context):
        async with self.uow() as uow:
            purposes = await uow.catalogue.purposes(all_versions=request.include_all_versions)
        return pb.ListPurposesResponse(purposes=[_purpose(p) for p in purposes])

    async def ListDataCategories(self, request, context):
        async with self.uow() as uow:
            categories = await uow.catalogue.categories()
        return pb.ListDataCategoriesResponse(data_categories=[
            pb.DataCategory(category_id=c.category_id, label_fr=c.label_fr, label_en=c.label_en,
                            biometric=c.biometric) for c in sorted(categories.values(), key=lambda c: c.category_id)])

    async def ListRecipients(self, request, context):
        async with self.uow() as uow:
            recipients = await uow.catalogue.recipients()
        return pb.ListRecipientsResponse(recipients=[_recipient(r) for r in recipients])

    async def DefinePurpose(self, request, context):
        p = request.purpose
        if p.legal_basis not in _BASIS_FROM_WIRE:
            raise InvalidArgument("purpose.legal_basis", "required")
        purpose = Purpose(
            purpose_id=p.purpose_id, version=0, dpv_iri=p.dpv_iri, legal_basis=_BASIS_FROM_WIRE[p.legal_basis],
            title_fr=p.title_fr, title_en=p.title_en, description_fr=p.description_fr,
            description_en=p.description_en, data_categories=tuple(p.data_categories), biometric=p.biometric,
            max_validity_days=p.max_validity_days, non_biometric_alternative_id=p.non_biometric_alternative_id,
            non_biometric_alternative_fr=p.non_biometric_alternative_fr,
            non_biometric_alternative_en=p.non_biometric_alternative_en, retention_fr=p.retention_fr,
            retention_en=p.retention_en)
        created = await handlers.define_purpose(purpose, self.uow())
        return pb.DefinePurposeResponse(purpose=_purpose(created))

    async def RegisterRecipient(self, request, context):
        r = request.recipient
        recipient = await handlers.register_recipient(Recipient(
            r.recipient_id, r.client_id, r.name_fr, r.name_en, r.kind, r.owner, tuple(r.purposes),
            tuple(r.data_categories)), self.uow())
        return pb.RegisterRecipientResponse(recipient=_recipient(recipient))


def add_to_server(servicer, server) -> None:
    consent_pb2_grpc.add_ConsentServiceServicer_to_server(servicer, server)
