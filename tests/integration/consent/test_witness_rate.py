"""AddCosignature is rate-limited per witness (issue 18 follow-up), over the real gRPC service
on a real store: past its share a witness gets RESOURCE_EXHAUSTED with the reason and the
delay to wait (google.rpc.RetryInfo), while another witness is still served; a forged note
under the witness's name spends none of its share; the share comes back with time."""

from __future__ import annotations

import datetime as dt

import grpc
import pytest

from montreal.consent.v1 import consent_pb2 as pb
from services.common.grpc.client import retry_delay, rpc_error_details
from services.consent.domain.witness import (Checkpoint, CosignatureRate, WitnessFormatError, WitnessKey,
                                             WitnessPolicy, signed_note)
from tests.integration.consent.test_consent_grpc import (ALICE, fails, minter, recipients,  # noqa: F401
                                                         stub, tokens)

AUDITOR = WitnessKey.generate("auditor.example")
CAI = WitnessKey.generate("cai.example")
ORIGIN = "127.0.0.1:8000/consent-ledger"


def _note(key: WitnessKey, size: int, root: bytes) -> str:
    checkpoint = Checkpoint(ORIGIN, size, root)
    return signed_note(checkpoint, [key.cosign(checkpoint, int(dt.datetime.now(dt.timezone.utc).timestamp()))])


async def test_each_witness_has_its_share_of_cosignatures(stub, tokens, store):
    store.witnesses = WitnessPolicy((AUDITOR.verifier, CAI.verifier), 1, ORIGIN, per_minute=2)
    store.cosignature_rate = CosignatureRate()
    await stub.Grant(pb.GrantRequest(resident_id=ALICE, recipient_id="montreal-library", explicit_act=True,
                                     items=[pb.GrantItem(purpose_id="communication", data_categories=["email"])]),
                     metadata=tokens["alice"])
    sth = (await stub.GetSignedTreeHead(pb.GetSignedTreeHeadRequest())).signed_tree_head

    # a forged note under the auditor's name is refused as such, and costs the auditor nothing
    forged = _note(CAI, sth.tree_size, sth.root_hash).replace("— cai.example", "— auditor.example")
    for _ in range(3):
        violations, _ = await fails(stub.AddCosignature(pb.AddCosignatureRequest(note=forged)),
                                    grpc.StatusCode.INVALID_ARGUMENT)
        assert "note" in violations
    for _ in range(2):
        accepted = await stub.AddCosignature(pb.AddCosignatureRequest(note=_note(AUDITOR, sth.tree_size, sth.root_hash)))
        assert accepted.tree_size == sth.tree_size

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.AddCosignature(pb.AddCosignatureRequest(note=_note(AUDITOR, sth.tree_size, sth.root_hash)))
    code, _, reason = rpc_error_details(refused.value)
    assert (code, reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "COSIGNATURE_RATE_EXCEEDED")
    assert "auditor.example may submit 2 cosignatures a minute" in refused.value.details()
    assert 0 < retry_delay(refused.value) <= 30      # one token of 2 a minute: at most 30 s
    # the other witness has its own share
    other = await stub.AddCosignature(pb.AddCosignatureRequest(note=_note(CAI, sth.tree_size, sth.root_hash)))
    assert other.cosignatures == 2


def test_the_share_comes_back_with_time_and_the_rate_is_checked():
    rate = CosignatureRate()
    assert [rate.take("w", 6, 1000.0) for _ in range(6)] == [0.0] * 6
    assert rate.take("w", 6, 1000.0) == pytest.approx(10.0)     # one token every 10 s
    assert rate.take("w", 6, 1010.0) == 0.0
    assert rate.take("other", 6, 1010.0) == 0.0
    for bad in ("0", "-1", "many", "6001"):
        with pytest.raises(WitnessFormatError):
            WitnessPolicy.parse("", "", "http://127.0.0.1:8000", bad)
    assert WitnessPolicy.parse("", "", "http://127.0.0.1:8000", "").per_minute == 12
