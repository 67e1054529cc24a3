"""montreal.consent.v1 over a real grpc.aio server (the foundation's GrpcServer with its
interceptors), on a migrated SQLite or PostgreSQL database."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import text

from montreal.consent.v1 import consent_pb2 as pb
from montreal.consent.v1 import consent_pb2_grpc
from services.common.grpc.auth import StaticJwks, TokenVerifier
from services.common.grpc.client import rpc_error_details
from services.common.grpc.server import GrpcServer
from services.common.testing.tokens import TokenMinter
from services.consent.adapters.uow import uow_factory
from services.consent.domain import merkle
from services.consent.domain.signing import verify_receipt, verify_tree_head
from services.consent.entrypoints.grpc import METHOD_POLICIES, SERVICE, ConsentServicer, add_to_server

AUD = "urn:mtlid:consent"
ALICE = "23456789ABCD"
BOB = "3456789ABCDE"


@pytest.fixture(scope="module")
def minter():
    return TokenMinter()


@pytest.fixture(scope="module")
async def stub(store, minter):
    server = GrpcServer("consent", host="127.0.0.1", port=0,
                        token_verifier=TokenVerifier(minter.issuer, AUD, StaticJwks(minter.jwks())),
                        method_policies=METHOD_POLICIES, telemetry=False)
    server.add(ConsentServicer(uow_factory(store)), add_to_server, SERVICE)
    port = await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield consent_pb2_grpc.ConsentServiceStub(channel)
    await channel.close()
    await server.drain(0.5)


@pytest.fixture(scope="module")
def tokens(minter):
    def auth(client, scopes, subject=None):
        return (("authorization", f"Bearer {minter.mint(client, scopes, AUD, subject=subject)}"),)
    return {
        "minter": minter,
        "alice": auth("montreal-ca", ["resident"], ALICE),
        "bob": auth("montreal-ca", ["resident"], BOB),
        "library": auth("library-client", ["consent:check", "consent:record"]),
        "pools": auth("pools-client", ["consent:check", "consent:record"]),
        "broker": auth("accounts-service", ["consent:broker"]),
        "admin": auth("operator", ["consent:admin"]),
    }


@pytest.fixture(scope="module", autouse=True)
async def recipients(stub, tokens):
    for rid, client in (("montreal-library", "library-client"), ("montreal-pools", "pools-client")):
        await stub.RegisterRecipient(pb.RegisterRecipientRequest(recipient=pb.Recipient(
            recipient_id=rid, client_id=client, name_fr=f"Service {rid}", name_en=f"Service {rid}",
            kind="municipal", owner="Ville de Montréal",
            purposes=["service-provision", "communication", "biometric-identity-verification"],
            data_categories=["given_name", "family_name", "email", "date_of_birth", "biometric_face"])),
            metadata=tokens["admin"])


async def fails(call, code):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    got, violations, reason = rpc_error_details(err.value)
    assert got == code, (got, err.value.details())
    return violations, reason


async def tree_size(stub):
    return (await stub.GetSignedTreeHead(pb.GetSignedTreeHeadRequest())).signed_tree_head.tree_size


def ts(value: dt.datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


async def test_grant_check_withdraw_check(stub, tokens):
    granted = await stub.Grant(pb.GrantRequest(resident_id=ALICE, recipient_id="montreal-library", items=[
        pb.GrantItem(purpose_id="communication", data_categories=["email", "given_name"])]),
        metadata=tokens["alice"])
    [consent] = granted.consents
    assert consent.state == pb.CONSENT_STATE_GIVEN and consent.purpose_version == 1
    check = pb.CheckRequest(resident_id=ALICE, recipient_id="montreal-library", purpose_id="communication",
                            data_categories=["email", "phone"])
    answer = await stub.Check(check, metadata=tokens["library"])
    assert [(d.allowed, d.basis, d.consent_id) for d in answer.decisions][0] == (
        True, pb.LEGAL_BASIS_CONSENT, consent.consent_id)
    assert (answer.decisions[1].allowed, answer.decisions[1].reason) == (False, "CATEGORY_NOT_COVERED")
    listed = await stub.ListConsents(pb.ListConsentsRequest(resident_id=ALICE), metadata=tokens["alice"])
    assert consent.consent_id in [c.consent_id for c in listed.consents]
    await stub.Withdraw(pb.WithdrawRequest(resident_id=ALICE, consent_id=consent.consent_id), metadata=tokens["alice"])
    answer = await stub.Check(check, metadata=tokens["broker"])
    assert not answer.decisions[0].allowed and answer.decisions[0].reason == "CONSENT_WITHDRAWN"


async def test_residents_and_recipients_reach_only_their_own(stub, tokens):
    await fails(stub.Grant(pb.GrantRequest(resident_id=BOB, recipient_id="montreal-library", items=[
        pb.GrantItem(purpose_id="communication")]), metadata=tokens["alice"]), grpc.StatusCode.PERMISSION_DENIED)
    await fails(stub.History(pb.HistoryRequest(resident_id=BOB), metadata=tokens["alice"]),
                grpc.StatusCode.PERMISSION_DENIED)
    check = pb.CheckRequest(resident_id=ALICE, recipient_id="montreal-library", purpose_id="communication",
                            data_categories=["email"])
    await fails(stub.Check(check, metadata=tokens["pools"]), grpc.StatusCode.PERMISSION_DENIED)
    await fails(stub.Check(check, metadata=tokens["alice"]), grpc.StatusCode.PERMISSION_DENIED)
    await fails(stub.Check(check), grpc.StatusCode.UNAUTHENTICATED)
    await fails(stub.RegisterRecipient(pb.RegisterRecipientRequest(recipient=pb.Recipient(
        recipient_id="x", client_id="x", name_fr="x", name_en="x")), metadata=tokens["library"]),
        grpc.StatusCode.PERMISSION_DENIED)


async def test_biometric_rules(stub, tokens):
    before = await tree_size(stub)
    soon = ts(dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30))
    bio = pb.GrantItem(purpose_id="biometric-identity-verification", data_categories=["biometric_face"],
                       expire_time=soon, non_biometric_alternative_id="in-person-verification")
    _, reason = await fails(stub.Grant(pb.GrantRequest(
        resident_id=ALICE, recipient_id="montreal-library", explicit_act=True,
        items=[bio, pb.GrantItem(purpose_id="communication")]), metadata=tokens["alice"]),
        grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "BIOMETRIC_PURPOSE_BUNDLED"
    _, reason = await fails(stub.Grant(pb.GrantRequest(resident_id=ALICE, recipient_id="montreal-library",
                                                       items=[bio]), metadata=tokens["alice"]),
                            grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "BIOMETRIC_EXPLICIT_ACT_REQUIRED"
    no_expiry = pb.GrantItem(purpose_id="biometric-identity-verification",
                             non_biometric_alternative_id="in-person-verification")
    _, reason = await fails(stub.Grant(pb.GrantRequest(resident_id=ALICE, recipient_id="montreal-library",
                                                       explicit_act=True, items=[no_expiry]),
                                       metadata=tokens["alice"]), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "BIOMETRIC_EXPIRY_REQUIRED"
    check = pb.CheckRequest(resident_id=ALICE, recipient_id="montreal-library",
                            purpose_id="biometric-identity-verification", data_categories=["biometric_face"])
    denied = await stub.Check(check, metadata=tokens["library"])
    assert denied.decisions[0].reason == "BIOMETRIC_CONSENT_NEVER_GIVEN"
    alternative = denied.decisions[0].non_biometric_alternative
    assert alternative.alternative_id and alternative.description_fr and alternative.description_en
    assert await tree_size(stub) == before  # nothing written by the refusals
    _, reason = await fails(stub.Grant(pb.GrantRequest(resident_id=ALICE, recipient_id="montreal-library",
                                                       explicit_act=True, items=[bio]), metadata=tokens["alice"]),
                            grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "BIOMETRIC_REAUTHENTICATION_REQUIRED"  # no fresh password or second factor
    now = dt.datetime.now(dt.timezone.utc)
    fresh = ts(now)
    minter = tokens["minter"]

    def auth_metadata(token):
        return (("authorization", f"Bearer {token}"),)
    # The freshness is identity's signed auth_time in the token, never the caller's word: a
    # request that claims a fresh re-authentication on a token without one is refused, and so
    # is a token whose signed auth_time is older than 5 minutes.
    violations, _ = await fails(stub.Grant(pb.GrantRequest(
        resident_id=ALICE, recipient_id="montreal-library", explicit_act=True, items=[bio],
        reauthenticated_time=fresh, reauthentication_method="password"), metadata=tokens["alice"]),
        grpc.StatusCode.INVALID_ARGUMENT)
    assert "reauthenticated_time" in violations
    stale = auth_metadata(minter.mint("montreal-ca", ["resident"], "urn:mtlid:consent", subject=ALICE,
                                      auth_time=int(now.timestamp()) - 6 * 60))
    _, reason = await fails(stub.Grant(pb.GrantRequest(
        resident_id=ALICE, recipient_id="montreal-library", explicit_act=True, items=[bio],
        reauthentication_method="password"), metadata=stale), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "BIOMETRIC_REAUTHENTICATION_REQUIRED"
    reauthenticated = auth_metadata(minter.mint("montreal-ca", ["resident"], "urn:mtlid:consent", subject=ALICE,
                                                auth_time=int(now.timestamp())))
    _, reason = await fails(stub.Grant(pb.GrantRequest(
        resident_id=ALICE, recipient_id="montreal-library", explicit_act=True, items=[bio],
        collection_method=pb.COLLECTION_METHOD_LOGIN_CONSENT_SCREEN, reauthenticated_time=fresh,
        reauthentication_method="password"), metadata=reauthenticated), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "BIOMETRIC_ACCOUNT_PAGE_ONLY"  # never at a relying party's consent screen
    assert await tree_size(stub) == before
    granted = await stub.Grant(pb.GrantRequest(resident_id=ALICE, recipient_id="montreal-library",
                                               explicit_act=True, items=[bio], reauthenticated_time=fresh,
                                               reauthentication_method="password"), metadata=reauthenticated)
    assert granted.consents[0].biometric and granted.consents[0].HasField("expire_time")
    leaf = json.loads((await stub.GetInclusionProof(pb.GetInclusionProofRequest(
        leaf_index=granted.consents[0].ledger_index), metadata=tokens["alice"])).entry.leaf_data)
    assert leaf["reauthentication_method"] == "password" and leaf["reauthenticated_at"]  # recorded in the entry
    allowed = await stub.Check(check, metadata=tokens["library"])
    assert allowed.decisions[0].allowed and allowed.decisions[0].consent_id == granted.consents[0].consent_id
    receipt = await stub.GetReceipt(pb.GetReceiptRequest(consent_id=granted.consents[0].consent_id),
                                    metadata=tokens["alice"])
    jwks = json.loads((await stub.GetLogKeys(pb.GetLogKeysRequest())).jwks_json)
    document = verify_receipt(receipt.receipt_jws, jwks)
    assert document["biometric"]["non_biometric_alternative"]["id"] == "in-person-verification"
    await fails(stub.GetReceipt(pb.GetReceiptRequest(consent_id=granted.consents[0].consent_id),
                                metadata=tokens["bob"]), grpc.StatusCode.NOT_FOUND)


async def test_bad_input_is_refused_and_writes_nothing(stub, tokens):
    before = await tree_size(stub)
    violations, _ = await fails(stub.Grant(pb.GrantRequest(resident_id=ALICE, recipient_id="montreal-library",
                                                           items=[pb.GrantItem(purpose_id="marketing")]),
                                           metadata=tokens["alice"]), grpc.StatusCode.INVALID_ARGUMENT)
    assert "items[0].purpose_id" in violations
    violations, _ = await fails(stub.Check(pb.CheckRequest(
        resident_id="alice", recipient_id="montreal-library", purpose_id="communication",
        data_categories=["email"]), metadata=tokens["broker"]), grpc.StatusCode.INVALID_ARGUMENT)
    assert "resident_id" in violations
    violations, _ = await fails(stub.RecordAccess(pb.RecordAccessRequest(
        access_id="not an id!", resident_id=ALICE, recipient_id="montreal-library", purpose_id="service-provision",
        data_categories=["email"], bases={"email": pb.LEGAL_BASIS_PUBLIC_TASK}), metadata=tokens["broker"]),
        grpc.StatusCode.INVALID_ARGUMENT)
    assert "access_id" in violations
    violations, _ = await fails(stub.Withdraw(pb.WithdrawRequest(resident_id=ALICE, consent_id="x"),
                                              metadata=tokens["alice"]), grpc.StatusCode.INVALID_ARGUMENT)
    assert "consent_id" in violations
    await fails(stub.Grant(pb.GrantRequest(resident_id=ALICE, recipient_id="montreal-library"),
                           metadata=tokens["alice"]), grpc.StatusCode.INVALID_ARGUMENT)
    await fails(stub.GetInclusionProof(pb.GetInclusionProofRequest(leaf_index=10**9), metadata=tokens["admin"]),
                grpc.StatusCode.INVALID_ARGUMENT)
    assert await tree_size(stub) == before


async def test_access_log_pagination_and_tampered_token(stub, tokens):
    ids = []
    for _ in range(5):
        ids.append(str(uuid.uuid4()))
        record = pb.RecordAccessRequest(
            access_id=ids[-1], resident_id=BOB, recipient_id="montreal-pools", purpose_id="service-provision",
            data_categories=["email"], bases={"email": pb.LEGAL_BASIS_PUBLIC_TASK}, withheld_categories=["phone"])
        first = await stub.RecordAccess(record, metadata=tokens["pools"])
        again = await stub.RecordAccess(record, metadata=tokens["broker"])
        assert not first.already_recorded and again.already_recorded
        assert again.ledger_index == first.ledger_index
    seen, token = [], ""
    while True:
        page = await stub.AccessLog(pb.AccessLogRequest(resident_id=BOB, page_size=2, page_token=token),
                                    metadata=tokens["bob"])
        seen += [r.access_id for r in page.records]
        assert all(r.recipient_name_fr and r.bases["email"] == pb.LEGAL_BASIS_PUBLIC_TASK for r in page.records)
        token = page.next_page_token
        if not token:
            break
        last_token = token
    assert seen == list(reversed(ids))
    body, mac = last_token.split(".")
    forged = ("B" if body[0] != "B" else "C") + body[1:] + "." + mac
    violations, _ = await fails(stub.AccessLog(pb.AccessLogRequest(resident_id=BOB, page_size=2, page_token=forged),
                                               metadata=tokens["bob"]), grpc.StatusCode.INVALID_ARGUMENT)
    assert "page_token" in violations
    await fails(stub.AccessLog(pb.AccessLogRequest(resident_id=ALICE, page_size=2, page_token=last_token),
                               metadata=tokens["alice"]), grpc.StatusCode.INVALID_ARGUMENT)


async def test_proofs_verify_against_signed_tree_heads(stub, tokens):
    jwks = json.loads((await stub.GetLogKeys(pb.GetLogKeysRequest())).jwks_json)
    old = (await stub.GetSignedTreeHead(pb.GetSignedTreeHeadRequest())).signed_tree_head
    old_head = verify_tree_head(old.jws, jwks)
    await stub.RequestRectification(pb.RequestRectificationRequest(resident_id=BOB, data_categories=["email"]),
                                    metadata=tokens["bob"])
    history = await stub.History(pb.HistoryRequest(resident_id=BOB, page_size=500), metadata=tokens["bob"])
    for entry in history.entries:
        proof = await stub.GetInclusionProof(pb.GetInclusionProofRequest(leaf_index=entry.index),
                                             metadata=tokens["bob"])
        head = verify_tree_head(proof.signed_tree_head.jws, jwks)
        # Recompute the leaf hash from the served bytes: the server is not trusted.
        assert merkle.verify_inclusion(merkle.leaf_hash(proof.entry.leaf_data), entry.index, head.tree_size,
                                       list(proof.audit_path), head.root_hash)
    consistency = await stub.GetConsistencyProof(pb.GetConsistencyProofRequest(first_tree_size=old.tree_size))
    new_head = verify_tree_head(consistency.signed_tree_head.jws, jwks)
    assert new_head.tree_size > old_head.tree_size
    assert merkle.verify_consistency(old_head.tree_size, new_head.tree_size, old_head.root_hash,
                                     new_head.root_hash, list(consistency.proof))
    # Alice may not read Bob's leaf bytes.
    await fails(stub.GetInclusionProof(pb.GetInclusionProofRequest(leaf_index=history.entries[0].index),
                                       metadata=tokens["alice"]), grpc.StatusCode.NOT_FOUND)


async def test_export_and_catalogue(stub, tokens):
    exported = await stub.Export(pb.ExportRequest(resident_id=ALICE), metadata=tokens["alice"])
    document = json.loads(exported.document)
    assert document["resident_id"] == ALICE and document["consents"]
    assert document["ledger_entries"][-1]["entry"]["type"] == "export_requested"
    head = verify_tree_head(exported.signed_tree_head.jws, json.loads(exported.jwks_json))
    assert head.tree_size > exported.ledger_index
    last = document["ledger_entries"][-1]
    proof = await stub.GetInclusionProof(pb.GetInclusionProofRequest(leaf_index=last["index"],
                                                                     tree_size=head.tree_size),
                                         metadata=tokens["alice"])
    assert merkle.verify_inclusion(bytes.fromhex(last["leaf_hash"]), last["index"], head.tree_size,
                                   list(proof.audit_path), head.root_hash)
    # A counter agent prints the file for the resident in front of them (issue 17): the ledger
    # says who asked for this export; an agent token naming no agent, or a service, may not.
    minter = tokens["minter"]
    at_counter = await stub.Export(pb.ExportRequest(resident_id=ALICE), metadata=(
        ("authorization", f"Bearer {minter.mint('counter-console', ['consent:agent'], AUD, acting_for='AG0123456789')}"),))
    printed = json.loads(at_counter.document)
    assert printed["ledger_entries"][-1]["entry"]["type"] == "export_requested"
    assert printed["ledger_entries"][-1]["entry"]["actor"] == "agent:AG0123456789"
    await fails(stub.Export(pb.ExportRequest(resident_id=ALICE), metadata=(
        ("authorization", f"Bearer {minter.mint('counter-console', ['consent:agent'], AUD)}"),)),
        grpc.StatusCode.PERMISSION_DENIED)
    await fails(stub.Export(pb.ExportRequest(resident_id=ALICE), metadata=tokens["library"]),
                grpc.StatusCode.PERMISSION_DENIED)
    purposes = await stub.ListPurposes(pb.ListPurposesRequest())
    assert {p.purpose_id for p in purposes.purposes} >= {"communication", "biometric-identity-verification"}
    defined = await stub.DefinePurpose(pb.DefinePurposeRequest(purpose=pb.Purpose(
        purpose_id="newsletter", legal_basis=pb.LEGAL_BASIS_CONSENT, title_fr="Infolettre", title_en="Newsletter",
        description_fr="Recevoir l'infolettre.", description_en="Receive the newsletter.",
        data_categories=["email"], dpv_iri="dpv:Marketing")), metadata=tokens["admin"])
    assert defined.purpose.version == 1 and defined.purpose.text_sha256
    violations, _ = await fails(stub.DefinePurpose(pb.DefinePurposeRequest(purpose=pb.Purpose(
        purpose_id="face-2", legal_basis=pb.LEGAL_BASIS_CONSENT, title_fr="x", title_en="x", description_fr="x",
        description_en="x", biometric=True, data_categories=["biometric_face"])), metadata=tokens["admin"]),
        grpc.StatusCode.INVALID_ARGUMENT)
    assert "purpose.non_biometric_alternative_id" in violations


async def test_database_refuses_ledger_rewrites(engine):
    with pytest.raises(Exception):
        async with engine.begin() as c:
            await c.execute(text("UPDATE ledger_entries SET entry_type = 'consent_given'"))


async def test_expired_consent_denies_at_its_instant(stub, tokens):
    import asyncio

    expiry = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
    granted = await stub.Grant(pb.GrantRequest(resident_id=BOB, recipient_id="montreal-library", items=[
        pb.GrantItem(purpose_id="communication", data_categories=["email"], expire_time=ts(expiry))]),
        metadata=tokens["bob"])
    check = pb.CheckRequest(resident_id=BOB, recipient_id="montreal-library", purpose_id="communication",
                            data_categories=["email"])
    assert (await stub.Check(check, metadata=tokens["library"])).decisions[0].allowed
    await asyncio.sleep(max(0.0, (expiry - dt.datetime.now(dt.timezone.utc)).total_seconds()) + 0.05)
    # No expiry job has run: the decision follows the instant all the same.
    decision = (await stub.Check(check, metadata=tokens["library"])).decisions[0]
    assert (decision.allowed, decision.reason) == (False, "CONSENT_EXPIRED")
    listed = await stub.ListConsents(pb.ListConsentsRequest(resident_id=BOB, include_inactive=True),
                                     metadata=tokens["bob"])
    [mine] = [c for c in listed.consents if c.consent_id == granted.consents[0].consent_id]
    assert mine.state == pb.CONSENT_STATE_EXPIRED


async def test_concurrent_records_share_transactions_and_are_each_answered(store, minter, stub, tokens):
    """RecordAccess calls arriving together are recorded as group commits (one transaction and
    one hold of the head lock per group: ConsentServicer, handlers.record_accesses), and each
    call still gets its own answer: its index, "already recorded", or its own error."""
    transactions = 0
    factory = uow_factory(store)

    def counting_uow():
        nonlocal transactions
        transactions += 1
        return factory()

    server = GrpcServer("consent", host="127.0.0.1", port=0,
                        token_verifier=TokenVerifier(minter.issuer, AUD, StaticJwks(minter.jwks())),
                        method_policies=METHOD_POLICIES, telemetry=False)
    server.add(ConsentServicer(counting_uow), add_to_server, SERVICE)
    port = await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        grouped = consent_pb2_grpc.ConsentServiceStub(channel)
        before = await tree_size(grouped)

        def record(access_id, resident=BOB, purpose="service-provision"):
            return grouped.RecordAccess(pb.RecordAccessRequest(
                access_id=access_id, resident_id=resident, recipient_id="montreal-pools", purpose_id=purpose,
                data_categories=["email"], bases={"email": pb.LEGAL_BASIS_PUBLIC_TASK}), metadata=tokens["pools"])

        ids = [str(uuid.uuid4()) for _ in range(30)]
        twice = ids[7]
        calls = [record(i) for i in ids] + [record(twice), record(str(uuid.uuid4()), purpose="marketing"),
                                            record(twice, resident=ALICE)]
        transactions = 0  # from here: the units of work of these 33 calls only
        answers = await asyncio.gather(*calls, return_exceptions=True)
        recorded_in = transactions
        first, repeated = answers[7], answers[30]
        refused_purpose, reused = answers[31], answers[32]
        new = answers[:30]
        assert all(isinstance(a, pb.RecordAccessResponse) and not a.already_recorded for a in new)
        assert sorted(a.ledger_index for a in new) == list(range(before, before + 30))
        assert repeated.already_recorded and repeated.ledger_index == first.ledger_index
        assert refused_purpose.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "purpose_id" in rpc_error_details(refused_purpose)[1]
        assert reused.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert rpc_error_details(reused)[2] == "ACCESS_ID_REUSED"
        assert await tree_size(grouped) == before + 30
        # 33 calls at once: at most half as many transactions as calls (one per call without
        # group commits; 2 to 8 seen, as the calls reach the server more or less together).
        assert recorded_in <= len(calls) // 2, recorded_in
        # Each access is in the resident's log under its own id, once.
        page = await grouped.AccessLog(pb.AccessLogRequest(resident_id=BOB, page_size=100), metadata=tokens["bob"])
        logged = [r.access_id for r in page.records]
        assert sorted(i for i in logged if i in set(ids)) == sorted(ids)
    finally:
        await channel.close()
        await server.drain(0.5)


async def test_a_counter_agent_records_the_residents_own_choice(stub, tokens, minter):
    """Issue 17: a consent given or withdrawn at the counter, recorded by the agent named in the
    token (act.sub), marked as collected at the counter, only as the resident's explicit act."""
    agent = (("authorization", "Bearer " + minter.mint("counter-console", ["consent:agent"], AUD,
                                                        acting_for="AG7K3F9QXM2R")),)
    nameless = (("authorization", "Bearer " + minter.mint("counter-console", ["consent:agent"], AUD)),)
    request = pb.GrantRequest(resident_id=BOB, recipient_id="montreal-library", explicit_act=True,
                              collection_method=pb.COLLECTION_METHOD_COUNTER,
                              items=[pb.GrantItem(purpose_id="communication")])
    _, reason = await fails(stub.Grant(request, metadata=nameless), grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "AGENT_NOT_IDENTIFIED"
    violations, _ = await fails(stub.Grant(pb.GrantRequest(
        resident_id=BOB, recipient_id="montreal-library", items=[pb.GrantItem(purpose_id="communication")],
        collection_method=pb.COLLECTION_METHOD_ACCOUNT_PAGE), metadata=agent), grpc.StatusCode.INVALID_ARGUMENT)
    assert set(violations) == {"collection_method", "explicit_act"}
    before = await stub.ListConsents(pb.ListConsentsRequest(resident_id=BOB), metadata=tokens["bob"])
    assert not [c for c in before.consents if c.collection_method == pb.COLLECTION_METHOD_COUNTER]

    [consent] = (await stub.Grant(request, metadata=agent)).consents
    assert consent.collection_method == pb.COLLECTION_METHOD_COUNTER
    history = await stub.History(pb.HistoryRequest(resident_id=BOB), metadata=tokens["bob"])
    given = [json.loads(e.leaf_data) for e in history.entries if e.consent_id == consent.consent_id]
    assert "agent:AG7K3F9QXM2R" in json.dumps(given) and "counter" in json.dumps(given)  # in the hashed leaf
    listed = await stub.ListConsents(pb.ListConsentsRequest(resident_id=BOB), metadata=agent)
    assert consent.consent_id in [c.consent_id for c in listed.consents]
    withdrawn = await stub.Withdraw(pb.WithdrawRequest(resident_id=BOB, consent_id=consent.consent_id),
                                    metadata=agent)
    assert withdrawn.consent.state == pb.CONSENT_STATE_WITHDRAWN
    # an agent token reaches nothing else of the resident's (not the access log, not the export)
    await fails(stub.AccessLog(pb.AccessLogRequest(resident_id=BOB), metadata=agent), grpc.StatusCode.PERMISSION_DENIED)


async def test_history_lists_only_the_types_asked_for_and_names_a_bad_one(stub, tokens):
    """Issue 21: Mon compte asks the history for ENTRY_TYPE_SERVICE_INFORMED only."""
    await stub.Grant(pb.GrantRequest(resident_id=ALICE, recipient_id="montreal-library",
                                     items=[pb.GrantItem(purpose_id="communication", data_categories=["email"])]),
                     metadata=tokens["alice"])
    everything = await stub.History(pb.HistoryRequest(resident_id=ALICE), metadata=tokens["alice"])
    assert any(e.type == pb.ENTRY_TYPE_CONSENT_GIVEN for e in everything.entries)
    none_told = await stub.History(pb.HistoryRequest(resident_id=ALICE, types=[pb.ENTRY_TYPE_SERVICE_INFORMED]),
                                   metadata=tokens["alice"])
    assert list(none_told.entries) == []
    given = await stub.History(pb.HistoryRequest(resident_id=ALICE, types=[pb.ENTRY_TYPE_CONSENT_GIVEN]),
                               metadata=tokens["alice"])
    assert given.entries and {e.type for e in given.entries} == {pb.ENTRY_TYPE_CONSENT_GIVEN}
    violations, _ = await fails(stub.History(pb.HistoryRequest(resident_id=ALICE, types=[pb.ENTRY_TYPE_UNSPECIFIED]),
                                             metadata=tokens["alice"]), grpc.StatusCode.INVALID_ARGUMENT)
    assert "types" in violations
