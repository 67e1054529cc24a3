"""``oidc.ports.Mandates`` over the consent register's gRPC API (issue 22).

Identity asks consent, with tokens it mints for itself from its own key ring (the services
trust identity's JWKS): the resident's own ``ListMandates`` (scope ``resident``, ``sub`` the
mandatary) for the chooser, and ``RecordMandateAct`` (scope ``consent:broker``, client
``mtlid-identity``: identity mediates the sign-in as accounts mediates releases) at every code
issuance on someone's behalf: the register decides again — never cached, so a revoked mandate
refuses the next sign-in at once — and records the sign-in as an act under the mandate. The client's service is the consent recipient whose
``client_id`` is the relying party's.
"""

from __future__ import annotations

import logging
import time
import uuid

import grpc

from montreal.consent.v1 import consent_pb2 as cpb
from montreal.consent.v1 import consent_pb2_grpc
from services.common.grpc.client import make_channel, rpc_error_details
from services.identity.oidc.ports import HeldMandate
from services.identity.oidc.tokens import mint_access_token

log = logging.getLogger(__name__)
DEADLINE = 3.0
AUDIENCE = "urn:mtlid:consent"
IDENTITY_CLIENT_ID = "mtlid-identity"
_BASES = {1: "resident_consent", 2: "parental_authority", 3: "tutorship_minor", 4: "protection_mandate",
          5: "court_tutorship", 60: "organization_representative"}


class GrpcMandates:
    def __init__(self, target: str, provider) -> None:
        self.target = target
        self.provider = provider
        self._channel = None

    def _stub(self):
        if self._channel is None:
            self._channel = make_channel(self.target, default_deadline=DEADLINE)
        return consent_pb2_grpc.ConsentServiceStub(self._channel)

    def _token(self, subject: str, client_id: str, scope: str) -> tuple:
        now = int(time.time())
        token, _ = mint_access_token(self.provider.keys, self.provider.config, subject=subject, client_id=client_id,
                                     audience=AUDIENCE, scope=scope, extra={"exp": now + 60}, now=now)
        return (("authorization", f"Bearer {token}"),)

    async def held_by(self, resident_id: str) -> list[HeldMandate] | None:
        try:
            reply = await self._stub().ListMandates(cpb.ListMandatesRequest(resident_id=resident_id, page_size=100),
                                                    metadata=self._token(resident_id, IDENTITY_CLIENT_ID,
                                                                         "resident"), timeout=DEADLINE)
        except grpc.aio.AioRpcError as error:
            log.warning("consent register unreachable for mandates", extra={"code": error.code().name})
            return None
        return [HeldMandate(m.mandate_id, m.represented_id, _BASES.get(m.basis, ""),
                            tuple({"service": s.service, "actions": list(s.actions)} for s in m.scope))
                for m in reply.received if m.state == cpb.MANDATE_STATE_ACTIVE]

    async def may_sign_in(self, mandate_id: str, client_id: str) -> tuple[bool, str]:
        """The register decides and records the sign-in as an act under the mandate (one
        ``RecordMandateAct``, action ``view`` on the client's service): both sides see it."""
        stub = self._stub()
        try:
            recipients = (await stub.ListRecipients(cpb.ListRecipientsRequest(), timeout=DEADLINE)).recipients
            service = next((r.recipient_id for r in recipients if r.client_id == client_id), None)
            if service is None:
                return False, "NO_SERVICE"
            await stub.RecordMandateAct(cpb.RecordMandateActRequest(
                mandate_id=mandate_id, act_id=f"sign-in:{uuid.uuid4()}", service=service, action="view"),
                metadata=self._token(IDENTITY_CLIENT_ID, IDENTITY_CLIENT_ID, "consent:broker"), timeout=DEADLINE)
        except grpc.aio.AioRpcError as error:
            code, _violations, reason = rpc_error_details(error)
            if code in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
                return False, reason or code.name
            log.warning("consent register unreachable for a mandate decision", extra={"code": code.name})
            return False, "UNAVAILABLE"   # fail closed: no sign-in on behalf off the record
        return True, ""
