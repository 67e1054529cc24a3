"""Pairwise subject resolution (OpenID Connect Core 1.0, s. 8.1) for partner services, over
identity's gRPC (``ResolveSubject`` / ``GetClientSubject``, scope ``identity:resolve``).

Identity alone computes pairwise subjects (it holds the secret). When it cannot answer, the
partner's call fails with UNAVAILABLE: a partner must never be answered with the universal id.
"""

from __future__ import annotations

import logging

import grpc

from montreal.identity.v1 import identity_pb2, identity_pb2_grpc
from services.common.errors import Unavailable

from .outgoing import OutgoingCalls

logger = logging.getLogger(__name__)

# Identity's answers meaning "no resident behind this subject for this client".
_NOT_A_SUBJECT = {grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT}


class GrpcSubjectResolver:
    def __init__(self, calls: OutgoingCalls, *, deadline: float = 3.0) -> None:
        self._calls = calls
        self._stub = identity_pb2_grpc.IdentityServiceStub(calls.channel)
        self._deadline = deadline

    async def resident_for(self, client_id: str, subject: str) -> str | None:
        try:
            response = await self._stub.ResolveSubject(
                identity_pb2.ResolveSubjectRequest(client_id=client_id, subject=subject), timeout=self._deadline,
                metadata=await self._calls.metadata())
        except grpc.aio.AioRpcError as error:
            if error.code() in _NOT_A_SUBJECT:
                return None
            logger.warning("identity ResolveSubject failed", extra={"code": error.code().name, "client_id": client_id})
            raise Unavailable(f"the identity service cannot resolve the subject ({error.code().name})") from None
        return response.resident_id or None

    async def subject_for(self, client_id: str, resident_id: str) -> str:
        try:
            response = await self._stub.GetClientSubject(
                identity_pb2.GetClientSubjectRequest(client_id=client_id, resident_id=resident_id),
                timeout=self._deadline, metadata=await self._calls.metadata())
        except grpc.aio.AioRpcError as error:
            logger.warning("identity GetClientSubject failed", extra={"code": error.code().name, "client_id": client_id})
            raise Unavailable(f"the identity service cannot give the pairwise subject ({error.code().name})") from None
        if not response.subject or response.subject == resident_id:
            # Fail closed: a partner is only ever answered with a pairwise subject.
            raise Unavailable("the identity service gave no pairwise subject for this partner")
        return response.subject


class GrpcIdentityDirectory:
    """``GetResidentContact`` (scope ``identity:resolve``): the e-mail identity holds."""

    def __init__(self, calls: OutgoingCalls, *, deadline: float = 3.0) -> None:
        self._calls = calls
        self._stub = identity_pb2_grpc.IdentityServiceStub(calls.channel)
        self._deadline = deadline

    async def contact(self, resident_id: str):
        from ..service_layer.ports import ResidentContact

        try:
            response = await self._stub.GetResidentContact(
                identity_pb2.GetResidentContactRequest(resident_id=resident_id), timeout=self._deadline,
                metadata=await self._calls.metadata())
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise Unavailable(f"the identity service cannot give the resident's contact ({error.code().name})") from None
        return ResidentContact(email=response.email, email_verified=response.email_verified,
                               preferred_language=response.preferred_language)
