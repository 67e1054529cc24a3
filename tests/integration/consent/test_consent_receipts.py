"""Receipts carry what a privacy officer answering an access request expects (issue 18):
the consent type (explicit act or not), the controller's e-mail and phone, the source of each
category's data, and the head of the ledger witnesses had cosigned when it was issued; the
consent Export carries every consent's signed receipt. And AddCosignature, over the real gRPC
service, accepts only a configured witness's valid cosignature of the log's own root."""

from __future__ import annotations

import datetime as dt
import json

import grpc

from montreal.consent.v1 import consent_pb2 as pb
from services.consent.domain.export_check import verify_export
from services.consent.domain.receipt import controller_of
from services.consent.domain.signing import verify_receipt
from services.consent.domain.witness import Checkpoint, WitnessKey, WitnessPolicy, parse_note, signed_note
from tests.integration.consent.test_consent_grpc import (ALICE, fails, minter, recipients,  # noqa: F401
                                                         stub, tokens)

AUDITOR = WitnessKey.generate("auditor.example")
STRANGER = WitnessKey.generate("stranger.example")


async def _cosign(stub, key: WitnessKey, size: int, root: bytes, origin: str):
    checkpoint = Checkpoint(origin, size, root)
    note = signed_note(checkpoint, [key.cosign(checkpoint, int(dt.datetime.now(dt.timezone.utc).timestamp()))])
    return await stub.AddCosignature(pb.AddCosignatureRequest(note=note))


async def test_cosignatures_are_checked_then_receipts_and_export_carry_them(stub, tokens, store):
    store.witnesses = WitnessPolicy((AUDITOR.verifier,), 1, "127.0.0.1:8000/consent-ledger")
    granted = (await stub.Grant(pb.GrantRequest(
        resident_id=ALICE, recipient_id="montreal-library", explicit_act=True,
        items=[pb.GrantItem(purpose_id="communication", data_categories=["email", "given_name"])]),
        metadata=tokens["alice"])).consents[0]
    head = (await stub.GetSignedTreeHead(pb.GetSignedTreeHeadRequest()))
    sth = head.signed_tree_head
    assert head.origin == "127.0.0.1:8000/consent-ledger" and head.witness_quorum == 1
    assert head.witnessed.below_quorum and head.witnessed.tree_size == 0

    # Bad input is refused, naming what is wrong; nothing is stored.
    violations, _ = await fails(stub.AddCosignature(pb.AddCosignatureRequest(note="not a note")),
                                grpc.StatusCode.INVALID_ARGUMENT)
    assert "note" in dict(violations)
    _, reason = await fails(_cosign(stub, STRANGER, sth.tree_size, sth.root_hash, head.origin),
                            grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "UNKNOWN_WITNESS"
    _, reason = await fails(_cosign(stub, AUDITOR, sth.tree_size, bytes(32), head.origin),
                            grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "COSIGNED_ROOT_MISMATCH"     # the witness saw another history
    violations, _ = await fails(_cosign(stub, AUDITOR, sth.tree_size, sth.root_hash, "elsewhere/log"),
                                grpc.StatusCode.INVALID_ARGUMENT)
    assert "note" in dict(violations)
    assert (await stub.GetSignedTreeHead(pb.GetSignedTreeHeadRequest())).witnessed.tree_size == 0

    accepted = await _cosign(stub, AUDITOR, sth.tree_size, sth.root_hash, head.origin)
    assert (accepted.tree_size, accepted.cosignatures) == (sth.tree_size, 1)
    witnessed = (await stub.GetSignedTreeHead(pb.GetSignedTreeHeadRequest())).witnessed
    assert (witnessed.tree_size, witnessed.root_hash, witnessed.below_quorum) == (sth.tree_size, sth.root_hash, False)
    checkpoint, [cosignature] = parse_note(witnessed.note)
    assert cosignature.verify(checkpoint, AUDITOR.verifier)

    # The receipt: consent type, controller contact, data sources, the witnessed head.
    reply = await stub.GetReceipt(pb.GetReceiptRequest(consent_id=granted.consent_id), metadata=tokens["alice"])
    keys = json.loads((await stub.GetLogKeys(pb.GetLogKeysRequest())).jwks_json)
    receipt = verify_receipt(reply.receipt_jws, keys)
    given = receipt["events"][0]
    assert (given["consent_type"], given["explicit_act"]) == ("dpv:ExplicitlyExpressedConsent", True)
    controller = receipt["processing"]["controllers"][0]
    assert controller["email"].endswith("@montreal.ca") and controller["phone"].startswith("+1-514")
    # the configured contact (MTLID_CONTROLLER_EMAIL/_PHONE, app.py sets it on the store)
    store.controller = controller_of("prp@montreal.ca", "+1 514 555-0199")
    try:
        reply = await stub.GetReceipt(pb.GetReceiptRequest(consent_id=granted.consent_id), metadata=tokens["alice"])
        configured = verify_receipt(reply.receipt_jws, keys)["processing"]["controllers"][0]
        exported = json.loads((await stub.Export(pb.ExportRequest(resident_id=ALICE), metadata=tokens["alice"])).document)
        in_export = verify_receipt(exported["receipts"][0]["jws"], keys)["processing"]["controllers"][0]
    finally:
        store.controller = None
    assert (configured["email"], configured["phone"]) == ("prp@montreal.ca", "+1 514 555-0199")
    assert (in_export["email"], in_export["phone"]) == ("prp@montreal.ca", "+1 514 555-0199")
    sources = {c["id"]: c["source"] for c in receipt["processing"]["pii_categories"]}
    assert set(sources) == {"email", "given_name"}
    assert all(s["dpv"] == "dpv:DataSubjectDataSource" and s["fr"] and s["en"] for s in sources.values())
    head_then = receipt["ledger"]["witnessed_head"]
    assert (head_then["tree_size"], head_then["witnesses"], head_then["below_quorum"]) == (
        sth.tree_size, ["auditor.example"], False)
    assert parse_note(head_then["note"])[1][0].verify(parse_note(head_then["note"])[0], AUDITOR.verifier)

    # The export carries every consent's signed receipt, each verifiable with the log's keys.
    exported = await stub.Export(pb.ExportRequest(resident_id=ALICE), metadata=tokens["alice"])
    document = json.loads(exported.document)
    by_consent = {r["consent_id"]: verify_receipt(r["jws"], json.loads(exported.jwks_json))
                  for r in document["receipts"]}
    assert set(by_consent) == {c["consent_id"] for c in document["consents"]}
    assert by_consent[granted.consent_id]["events"][0]["consent_type"] == "dpv:ExplicitlyExpressedConsent"
    assert document["witnessed_head"]["tree_size"] == sth.tree_size

    # Offline, with the auditor's public key: every proof holds, and its cosignature verifies.
    report = verify_export(document, [AUDITOR.verifier])
    assert report["ok"] and report["witnessed"]["verified"] == 1, report
    assert report["witnessed"]["tree_size"] == sth.tree_size < report["tree_head"]["tree_size"]
    # A cosignature that is not the auditor's (another key under its name) is reported.
    impostor = WitnessKey.generate("auditor.example")
    assert not verify_export(document, [impostor.verifier])["checks"]["witnessed_head"]
