"""The consent ledger over gRPC (montreal.consent.v1), as the accounts service's
``ConsentGateway``. Accounts calls it with its own client-credentials token, scope
``consent:broker`` (docs/contracts.md): it mediates every release.

Any failure of the ledger becomes ``Unavailable``: the release path fails closed (no decision
means no release; no record means no release).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence

import grpc
from google.protobuf import timestamp_pb2

from montreal.consent.v1 import consent_pb2, consent_pb2_grpc
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from services.common.grpc.client import rpc_error_details

from ..domain.release import Basis, ConsentDecision
from .outgoing import OutgoingCalls

logger = logging.getLogger(__name__)

_BASIS_FROM_WIRE = {
    consent_pb2.LEGAL_BASIS_CONSENT: Basis.CONSENT,
    consent_pb2.LEGAL_BASIS_PUBLIC_TASK: Basis.PUBLIC_TASK,
    consent_pb2.LEGAL_BASIS_LEGAL_OBLIGATION: Basis.LEGAL_OBLIGATION,
}
_BASIS_TO_WIRE = {v: k for k, v in _BASIS_FROM_WIRE.items()}


def _decisions(wire) -> dict[str, ConsentDecision]:
    decisions: dict[str, ConsentDecision] = {}
    for d in wire:
        basis = _BASIS_FROM_WIRE.get(d.basis) if d.allowed else None
        decisions[d.data_category] = ConsentDecision(category=d.data_category, allowed=d.allowed and basis is not None,
                                                     basis=basis, consent_id=d.consent_id or None,
                                                     reason=d.reason or None)
    return decisions


class GrpcConsentGateway:
    def __init__(self, calls: OutgoingCalls, *, deadline: float = 3.0, one_call: bool = True) -> None:
        self._calls = calls
        self._stub = consent_pb2_grpc.ConsentServiceStub(calls.channel)
        self._deadline = deadline
        # MTLID_RELEASE_CONSENT_CALLS: ``two`` keeps the Check-then-RecordAccess path (a consent
        # service without CheckAndRecord, during a rolling upgrade; and the benchmark's "before").
        self._one_call = one_call

    async def check(self, *, resident_id: str, recipient_id: str, purpose_id: str,
                    categories: Sequence[str]) -> Mapping[str, ConsentDecision]:
        request = consent_pb2.CheckRequest(resident_id=resident_id, recipient_id=recipient_id,
                                           purpose_id=purpose_id, data_categories=list(categories))
        try:
            response = await self._stub.Check(request, timeout=self._deadline, metadata=await self._calls.metadata())
        except grpc.aio.AioRpcError as error:
            logger.warning("consent check failed", extra={"code": error.code().name, "recipient_id": recipient_id})
            raise Unavailable(f"the consent ledger cannot answer ({error.code().name})") from None
        return _decisions(response.decisions)

    async def check_and_record(self, *, access_id: str, resident_id: str, recipient_id: str, purpose_id: str,
                               categories: Sequence[str], available: Sequence[str], withheld: Sequence[str]
                               ) -> tuple[Mapping[str, ConsentDecision], tuple[str, ...]]:
        if not self._one_call:
            return await self._check_then_record(access_id=access_id, resident_id=resident_id,
                                                 recipient_id=recipient_id, purpose_id=purpose_id,
                                                 categories=categories, available=available, withheld=withheld)
        request = consent_pb2.CheckAndRecordRequest(
            access_id=access_id, resident_id=resident_id, recipient_id=recipient_id, purpose_id=purpose_id,
            data_categories=list(categories), available_categories=list(available),
            withheld_categories=list(withheld))
        try:
            response = await self._stub.CheckAndRecord(request, timeout=self._deadline,
                                                       metadata=await self._calls.metadata())
        except grpc.aio.AioRpcError as error:
            logger.warning("consent check_and_record failed", extra={"code": error.code().name,
                                                                     "access_id": access_id})
            raise Unavailable(f"the consent ledger cannot decide and record ({error.code().name}); "
                              "nothing was released") from None
        return _decisions(response.decisions), tuple(response.released_categories)

    async def _check_then_record(self, *, access_id: str, resident_id: str, recipient_id: str, purpose_id: str,
                                 categories: Sequence[str], available: Sequence[str], withheld: Sequence[str]
                                 ) -> tuple[Mapping[str, ConsentDecision], tuple[str, ...]]:
        """The same answer in two calls (the path before issue 24): a withdrawal committed
        between them is recorded as it happened, flagged ``unsupported_categories``."""
        decisions = await self.check(resident_id=resident_id, recipient_id=recipient_id, purpose_id=purpose_id,
                                     categories=categories)
        released = tuple(c for c in categories if decisions[c].allowed and c in available)
        if released:
            await self.record_access(
                access_id=access_id, resident_id=resident_id, recipient_id=recipient_id, purpose_id=purpose_id,
                categories=released, bases={c: decisions[c].basis for c in released},
                consent_ids=list(dict.fromkeys(decisions[c].consent_id for c in released if decisions[c].consent_id)),
                withheld=[*(c for c in categories if c not in released), *withheld],
                at=dt.datetime.now(dt.timezone.utc))
        return decisions, released

    async def record_access(self, *, access_id: str, resident_id: str, recipient_id: str, purpose_id: str,
                            categories: Sequence[str], bases: Mapping[str, Basis], consent_ids: Sequence[str],
                            withheld: Sequence[str], at: dt.datetime) -> None:
        when = timestamp_pb2.Timestamp()
        when.FromDatetime(at.astimezone(dt.timezone.utc).replace(tzinfo=None))
        request = consent_pb2.RecordAccessRequest(
            access_id=access_id, resident_id=resident_id, recipient_id=recipient_id, purpose_id=purpose_id,
            data_categories=list(categories), bases={k: _BASIS_TO_WIRE[v] for k, v in bases.items()},
            consent_ids=list(consent_ids), withheld_categories=list(withheld), access_time=when)
        try:
            await self._stub.RecordAccess(request, timeout=self._deadline, metadata=await self._calls.metadata())
        except grpc.aio.AioRpcError as error:
            logger.warning("consent record_access failed", extra={"code": error.code().name, "access_id": access_id})
            raise Unavailable(f"the access could not be recorded in the consent ledger ({error.code().name}); "
                              "nothing was released") from None

    # ---- mandates (issue 22) -------------------------------------------------------------
    def _mandate_error(self, error: grpc.aio.AioRpcError, what: str) -> Exception:
        """The register's answer about a mandate, passed on: a refusal keeps its reason; a
        failure to answer is UNAVAILABLE (nothing decided, nothing recorded)."""
        code, violations, reason = rpc_error_details(error)
        if code == grpc.StatusCode.FAILED_PRECONDITION and reason:
            return FailedPrecondition(reason, error.details() or "the mandate does not allow it now")
        if code == grpc.StatusCode.NOT_FOUND:
            return NotFound("mandate")
        if code == grpc.StatusCode.INVALID_ARGUMENT and violations:
            return InvalidArgument.many(violations.items())
        logger.warning("consent %s failed", what, extra={"code": code.name})
        return Unavailable(f"the consent register cannot answer about mandates ({code.name})")

    async def decide_mandates(self, questions: Sequence[tuple[str, str, str, str]]) -> list[tuple[bool, str, str]]:
        request = consent_pb2.DecideMandatesRequest(questions=[
            consent_pb2.MandateQuestion(mandatary_id=x, represented_id=y, service=s, action=a)
            for x, y, s, a in questions])
        try:
            response = await self._stub.DecideMandates(request, timeout=self._deadline,
                                                       metadata=await self._calls.metadata())
        except grpc.aio.AioRpcError as error:
            raise self._mandate_error(error, "DecideMandates") from None
        return [(d.allowed, d.mandate_id, d.reason) for d in response.decisions]

    async def record_mandate_act(self, *, mandate_id: str, act_id: str, service: str, action: str,
                                 service_client_id: str = "") -> tuple[dt.datetime | None, bool]:
        request = consent_pb2.RecordMandateActRequest(mandate_id=mandate_id, act_id=act_id, service=service,
                                                      action=action, service_client_id=service_client_id)
        try:
            response = await self._stub.RecordMandateAct(request, timeout=self._deadline,
                                                         metadata=await self._calls.metadata())
        except grpc.aio.AioRpcError as error:
            raise self._mandate_error(error, "RecordMandateAct") from None
        act = next((a for a in response.mandate.acts if a.act_id == act_id), None)
        when = act.act_time.ToDatetime(tzinfo=dt.timezone.utc) if act is not None and act.HasField("act_time") else None
        return when, response.already_recorded

    async def check_and_record_for(self, *, access_id: str, resident_id: str, mandatary_id: str,
                                   recipient_id: str, purpose_id: str, categories: Sequence[str],
                                   available: Sequence[str], withheld: Sequence[str]
                                   ) -> tuple[Mapping[str, ConsentDecision], tuple[str, ...], str]:
        """CheckAndRecord for a release to a mandatary: the register decides the mandate
        (``view`` on the service), the consents and records the access under one lock."""
        request = consent_pb2.CheckAndRecordRequest(
            access_id=access_id, resident_id=resident_id, recipient_id=recipient_id, purpose_id=purpose_id,
            data_categories=list(categories), available_categories=list(available),
            withheld_categories=list(withheld), mandatary_id=mandatary_id)
        try:
            response = await self._stub.CheckAndRecord(request, timeout=self._deadline,
                                                       metadata=await self._calls.metadata())
        except grpc.aio.AioRpcError as error:
            raise self._mandate_error(error, "CheckAndRecord") from None
        return _decisions(response.decisions), tuple(response.released_categories), response.mandate_id
