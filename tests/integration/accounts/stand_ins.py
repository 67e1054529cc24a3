"""Small *real* gRPC servers speaking the consent and identity protos, for the accounts
integration tests while those services cannot be started in-process from here.

They run on the foundation's ``GrpcServer`` (same interceptors, same token verification), so
accounts must call them with the right scopes and audiences, over the wire. The consent stand-in
keeps an in-memory ledger (consents by resident/recipient/purpose/category, accesses by
access_id, idempotent); the identity stand-in computes pairwise subjects with identity's own
domain functions.
"""

from __future__ import annotations

import datetime as dt

import grpc

from montreal.consent.v1 import consent_pb2, consent_pb2_grpc
from montreal.identity.v1 import identity_pb2, identity_pb2_grpc
from services.common.grpc.auth import StaticJwks, TokenVerifier, current_principal
from services.common.grpc.interceptors import request_id_var
from services.common.grpc.server import GrpcServer
from services.identity.domain.pairwise import pairwise_subject, resolve_pairwise_subject

PAIRWISE_SECRET = b"integration-test-pairwise-secret-0123456789"


class ConsentStandIn(consent_pb2_grpc.ConsentServiceServicer):
    def __init__(self) -> None:
        # (resident, recipient, purpose, category) -> (LegalBasis, consent_id) ; consent_id "" for legal bases
        self.grants: dict[tuple[str, str, str, str], tuple[int, str]] = {}
        self.withdrawn: set[str] = set()
        self.accesses: dict[str, consent_pb2.RecordAccessRequest] = {}
        self.record_fails = False
        self.checks = 0
        #: (method, the caller's client id, the request id the call carried), in arrival order
        self.calls: list[tuple[str, str, str]] = []

    def grant(self, resident, recipient, purpose, categories, consent_id, basis=consent_pb2.LEGAL_BASIS_CONSENT):
        for category in categories:
            self.grants[(resident, recipient, purpose, category)] = (basis, consent_id)

    async def Check(self, request, context):
        assert current_principal().has_scope("consent:broker")
        self.calls.append(("Check", current_principal().client_id, request_id_var.get()))
        self.checks += 1
        decisions = []
        for category in request.data_categories:
            basis, consent_id = self.grants.get((request.resident_id, request.recipient_id, request.purpose_id, category),
                                                (0, ""))
            if not basis:
                decisions.append(consent_pb2.CategoryDecision(data_category=category, allowed=False, reason="NO_CONSENT"))
            elif consent_id in self.withdrawn:
                decisions.append(consent_pb2.CategoryDecision(data_category=category, allowed=False,
                                                              reason="CONSENT_WITHDRAWN"))
            else:
                decisions.append(consent_pb2.CategoryDecision(data_category=category, allowed=True, basis=basis,
                                                              consent_id=consent_id))
        return consent_pb2.CheckResponse(decisions=decisions)

    async def CheckAndRecord(self, request, context):
        """As the ledger's: Check's decisions, and the allowed and available categories
        recorded as released (nothing recorded when none is)."""
        self.calls.append(("CheckAndRecord", current_principal().client_id, request_id_var.get()))
        checked = await self.Check(consent_pb2.CheckRequest(
            resident_id=request.resident_id, recipient_id=request.recipient_id, purpose_id=request.purpose_id,
            data_categories=request.data_categories), context)
        self.calls.pop()  # the inner Check is part of this call
        released = [d for d in checked.decisions if d.allowed and d.data_category in request.available_categories]
        answer = consent_pb2.CheckAndRecordResponse(decisions=checked.decisions,
                                                    released_categories=[d.data_category for d in released])
        if not released:
            return answer
        if self.record_fails:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "ledger storage unavailable")
        names = {d.data_category for d in released}
        record = consent_pb2.RecordAccessRequest(
            access_id=request.access_id, resident_id=request.resident_id, recipient_id=request.recipient_id,
            purpose_id=request.purpose_id, data_categories=[d.data_category for d in released],
            bases={d.data_category: d.basis for d in released},
            consent_ids=sorted({d.consent_id for d in released if d.consent_id}),
            withheld_categories=[*(c for c in request.data_categories if c not in names),
                                 *request.withheld_categories])
        answer.already_recorded = request.access_id in self.accesses
        self.accesses.setdefault(request.access_id, record)
        answer.ledger_index = len(self.accesses)
        return answer

    async def RecordAccess(self, request, context):
        self.calls.append(("RecordAccess", current_principal().client_id, request_id_var.get()))
        if self.record_fails:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "ledger storage unavailable")
        already = request.access_id in self.accesses
        self.accesses.setdefault(request.access_id, request)
        return consent_pb2.RecordAccessResponse(ledger_index=len(self.accesses), already_recorded=already)

    async def AccessLog(self, request, context):
        principal = current_principal()
        if principal.subject != request.resident_id:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "own data only")
        records = [consent_pb2.AccessRecord(access_id=a.access_id, recipient_id=a.recipient_id, purpose_id=a.purpose_id,
                                            data_categories=a.data_categories, withheld_categories=a.withheld_categories,
                                            consent_ids=a.consent_ids, bases=dict(a.bases))
                   for a in self.accesses.values() if a.resident_id == request.resident_id]
        return consent_pb2.AccessLogResponse(records=list(reversed(records)))


class IdentityStandIn(identity_pb2_grpc.IdentityServiceServicer):
    def __init__(self) -> None:
        # resident_id -> (email, email_verified, preferred_language)
        self.contacts: dict[str, tuple[str, bool, str]] = {}

    async def GetResidentContact(self, request, context):
        contact = self.contacts.get(request.resident_id)
        if contact is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such resident")
        email, verified, language = contact
        return identity_pb2.GetResidentContactResponse(email=email, email_verified=verified,
                                                       preferred_language=language)

    @staticmethod
    def sector(client_id: str) -> str:
        return f"client:{client_id}"

    def subject(self, client_id: str, resident_id: str) -> str:
        return pairwise_subject(resident_id, self.sector(client_id), PAIRWISE_SECRET)

    async def ResolveSubject(self, request, context):
        resident = resolve_pairwise_subject(request.subject, self.sector(request.client_id), PAIRWISE_SECRET)
        if resident is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such subject")
        return identity_pb2.ResolveSubjectResponse(resident_id=resident)

    async def GetClientSubject(self, request, context):
        return identity_pb2.GetClientSubjectResponse(subject=self.subject(request.client_id, request.resident_id))


async def start_stand_ins(minter):
    consent = ConsentStandIn()
    consent_server = GrpcServer("consent", host="127.0.0.1", port=0, telemetry=False,
                                token_verifier=TokenVerifier(minter.issuer, "urn:mtlid:consent", StaticJwks(minter.jwks())),
                                method_policies={"/montreal.consent.v1.ConsentService/Check": "consent:broker",
                                                 "/montreal.consent.v1.ConsentService/RecordAccess": "consent:broker",
                                                 "/montreal.consent.v1.ConsentService/CheckAndRecord": "consent:broker",
                                                 "/montreal.consent.v1.ConsentService/AccessLog": "resident"})
    consent_server.add(consent, consent_pb2_grpc.add_ConsentServiceServicer_to_server, "montreal.consent.v1.ConsentService")
    identity = IdentityStandIn()
    identity_server = GrpcServer("identity", host="127.0.0.1", port=0, telemetry=False,
                                 token_verifier=TokenVerifier(minter.issuer, "urn:mtlid:identity", StaticJwks(minter.jwks())),
                                 method_policies={"/montreal.identity.v1.IdentityService/ResolveSubject": "identity:resolve",
                                                  "/montreal.identity.v1.IdentityService/GetResidentContact": "identity:resolve",
                                                  "/montreal.identity.v1.IdentityService/GetClientSubject": "identity:resolve"})
    identity_server.add(identity, identity_pb2_grpc.add_IdentityServiceServicer_to_server,
                        "montreal.identity.v1.IdentityService")
    return consent, await consent_server.start(), consent_server, identity, await identity_server.start(), identity_server


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
