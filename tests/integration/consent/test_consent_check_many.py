"""CheckMany (issue 24) over a real grpc.aio server on a migrated SQLite or PostgreSQL
database: every question is answered exactly as the single Check answers it — decisions,
biometric refusals with their alternative, expiry, withdrawal, and the refusals of bad
questions, each named inside the batch while the good ones are answered."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import time

import grpc
import pytest

from montreal.consent.v1 import consent_pb2 as pb
from services.common.grpc.client import rpc_error_details
from tests.integration.consent.test_consent_grpc import minter, recipients, stub, tokens, ts  # noqa: F401

CAROL, DAVE, ERIN, FRANK = "456789ABCDEF", "56789ABCDEFG", "6789ABCDEFGH", "789ABCDEFGHJ"
LIBRARY = "montreal-library"


async def single(stub, question: pb.CheckQuestion, metadata):
    """The single Check's answer: its decisions, or (code, reason, violations)."""
    try:
        answer = await stub.Check(pb.CheckRequest(
            resident_id=question.resident_id, recipient_id=question.recipient_id,
            purpose_id=question.purpose_id, data_categories=question.data_categories), metadata=metadata)
    except grpc.aio.AioRpcError as error:
        code, violations, reason = rpc_error_details(error)
        return code.name, reason or "", sorted(violations)
    return list(answer.decisions)


def batched(answer: pb.CheckAnswer, i: int):
    """The same shape from item ``i`` of a CheckMany answer (fields named without the prefix)."""
    if answer.HasField("error"):
        prefix = f"items[{i}]."
        assert all(v.field.startswith(prefix) for v in answer.error.field_violations)
        return answer.error.code, answer.error.reason, sorted(
            v.field.removeprefix(prefix) for v in answer.error.field_violations)
    return list(answer.decisions)


@pytest.fixture(scope="module")
async def history(stub, tokens, minter):
    """Carol: a consent to the library, one to the pools withdrawn, a biometric one; Dave: one
    expiring in a second."""
    def resident(subject, **claims):
        token = minter.mint('montreal-ca', ['resident'], 'urn:mtlid:consent', subject=subject, **claims)
        return (("authorization", f"Bearer {token}"),)
    await stub.Grant(pb.GrantRequest(resident_id=CAROL, recipient_id=LIBRARY, items=[
        pb.GrantItem(purpose_id="communication", data_categories=["email", "given_name"])]), metadata=resident(CAROL))
    given = await stub.Grant(pb.GrantRequest(resident_id=CAROL, recipient_id="montreal-pools", items=[
        pb.GrantItem(purpose_id="communication", data_categories=["family_name"])]), metadata=resident(CAROL))
    await stub.Withdraw(pb.WithdrawRequest(resident_id=CAROL, consent_id=given.consents[0].consent_id),
                        metadata=resident(CAROL))
    now = dt.datetime.now(dt.timezone.utc)
    await stub.Grant(pb.GrantRequest(
        resident_id=CAROL, recipient_id=LIBRARY, explicit_act=True, items=[pb.GrantItem(
            purpose_id="biometric-identity-verification", data_categories=["biometric_face"],
            expire_time=ts(now + dt.timedelta(days=30)), non_biometric_alternative_id="in-person-verification")],
        reauthenticated_time=ts(now), reauthentication_method="password"),
        metadata=resident(CAROL, auth_time=int(now.timestamp())))
    expiry = now + dt.timedelta(seconds=1)
    await stub.Grant(pb.GrantRequest(resident_id=DAVE, recipient_id=LIBRARY, items=[
        pb.GrantItem(purpose_id="communication", data_categories=["email"], expire_time=ts(expiry))]),
        metadata=resident(DAVE))
    return expiry, resident


def questions() -> list[pb.CheckQuestion]:
    good = [pb.CheckQuestion(resident_id=r, recipient_id=rec, purpose_id=p, data_categories=c)
            for r, rec, p, c in itertools.product(
                (CAROL, DAVE, ERIN), (LIBRARY, "montreal-pools", "montreal-nowhere"),
                ("communication", "service-provision", "biometric-identity-verification"),
                (["email"], ["email", "given_name", "family_name", "date_of_birth"], ["biometric_face"]))]
    bad = [pb.CheckQuestion(resident_id="not-a-resident", recipient_id=LIBRARY, purpose_id="communication",
                            data_categories=["email"]),
           pb.CheckQuestion(resident_id=CAROL, recipient_id=LIBRARY, purpose_id="no-such-purpose",
                            data_categories=["email"]),
           pb.CheckQuestion(resident_id=CAROL, recipient_id=LIBRARY, purpose_id="communication",
                            data_categories=["email", "no-such-category"]),
           pb.CheckQuestion(resident_id=CAROL, recipient_id=LIBRARY, purpose_id="communication"),
           pb.CheckQuestion(resident_id=CAROL, recipient_id="Not A Slug", purpose_id="communication",
                            data_categories=["email"]),
           pb.CheckQuestion(resident_id=CAROL, recipient_id=LIBRARY, purpose_id="communication",
                            data_categories=["email", "email"]),
           pb.CheckQuestion()]
    return [*bad[:3], *good, *bad[3:]]


@pytest.mark.parametrize("caller", ["broker", "library"])
async def test_each_question_is_answered_as_check_answers_it(stub, tokens, history, caller):
    """Every answer equals the single Check's, before and after Dave's consent expires (no
    expiry job runs: the decision follows the instant); a recipient's client gets
    PERMISSION_DENIED for another recipient's questions, in their own items only."""
    expiry, _ = history
    asked = questions()
    for moment in ("before expiry", "after expiry"):
        if moment == "after expiry":
            await asyncio.sleep(max(0.0, (expiry - dt.datetime.now(dt.timezone.utc)).total_seconds()) + 0.05)
        answer = await stub.CheckMany(pb.CheckManyRequest(items=asked), metadata=tokens[caller])
        assert len(answer.answers) == len(asked)
        for i, question in enumerate(asked):
            assert batched(answer.answers[i], i) == await single(stub, question, tokens[caller]), (moment, i, question)
    seen = [batched(a, i) for i, a in enumerate(answer.answers)]
    reasons = {d.reason for s in seen if isinstance(s, list) for d in s}
    # the rules this batch exercised (so the equality above is not vacuous); the library's
    # client sees its own recipient's answers only (Carol withdrew at the pools)
    assert {"CONSENT_WITHDRAWN"} <= reasons or caller == "library"
    assert {"CONSENT_EXPIRED", "CATEGORY_NOT_COVERED", "NO_CONSENT",
            "BIOMETRIC_CONSENT_NEVER_GIVEN", "BIOMETRIC_CONSENT_REQUIRED"} <= reasons
    assert any(d.allowed for s in seen if isinstance(s, list) for d in s)
    assert any(d.non_biometric_alternative.alternative_id for s in seen if isinstance(s, list) for d in s)
    errors = [s for s in seen if not isinstance(s, list)]
    assert ("INVALID_ARGUMENT", "", ["resident_id"]) in errors
    assert ("INVALID_ARGUMENT", "", ["purpose_id"]) in errors
    assert ("INVALID_ARGUMENT", "", ["data_categories[1]"]) in errors
    if caller == "library":
        assert ("PERMISSION_DENIED", "NOT_OWN_RECIPIENT", []) in errors


async def test_bad_items_are_named_inside_the_batch(stub, tokens):
    answer = await stub.CheckMany(pb.CheckManyRequest(items=[
        pb.CheckQuestion(resident_id=ERIN, recipient_id=LIBRARY, purpose_id="communication", data_categories=["email"]),
        pb.CheckQuestion(resident_id="x", recipient_id=LIBRARY, purpose_id="communication", data_categories=["email"]),
        pb.CheckQuestion(resident_id=ERIN, recipient_id=LIBRARY, purpose_id="communication",
                         data_categories=["nope"])]), metadata=tokens["broker"])
    first, second, third = answer.answers
    assert [(d.allowed, d.reason) for d in first.decisions] == [(False, "NO_CONSENT")]
    assert second.error.code == "INVALID_ARGUMENT"
    assert [v.field for v in second.error.field_violations] == ["items[1].resident_id"]
    assert [v.field for v in third.error.field_violations] == ["items[2].data_categories[0]"]


async def test_repeated_questions_and_repeated_faults_are_each_answered_in_their_own_item(stub, tokens, history):
    """A batch checks each distinct part of its questions once (issue 24): a fault shared by
    several items (a bad resident id, an unknown category, a bad slug) is still reported in
    each of those items under its own index, and a question asked again is answered again —
    all as the single Check answers."""
    carol = dict(resident_id=CAROL, recipient_id=LIBRARY, purpose_id="communication")
    asked = [pb.CheckQuestion(**carol, data_categories=["email", "nope"]),
             pb.CheckQuestion(resident_id="x", recipient_id=LIBRARY, purpose_id="communication",
                              data_categories=["email"]),
             pb.CheckQuestion(**carol, data_categories=["email"]),
             pb.CheckQuestion(**{**carol, "recipient_id": "Not A Slug"}, data_categories=["email"]),
             pb.CheckQuestion(**carol, data_categories=["email", "nope"]),
             pb.CheckQuestion(resident_id="x", recipient_id=LIBRARY, purpose_id="communication",
                              data_categories=["email"]),
             pb.CheckQuestion(**carol, data_categories=["email"]),
             pb.CheckQuestion(**{**carol, "recipient_id": "Not A Slug"}, data_categories=["email"]),
             pb.CheckQuestion(resident_id=DAVE, recipient_id=LIBRARY, purpose_id="communication",
                              data_categories=["email", "nope"])]
    answer = await stub.CheckMany(pb.CheckManyRequest(items=asked), metadata=tokens["broker"])
    for i, question in enumerate(asked):
        assert batched(answer.answers[i], i) == await single(stub, question, tokens["broker"]), (i, question)
    assert [v.field for v in answer.answers[4].error.field_violations] == ["items[4].data_categories[1]"]
    assert [v.field for v in answer.answers[5].error.field_violations] == ["items[5].resident_id"]
    assert [v.field for v in answer.answers[7].error.field_violations] == ["items[7].recipient_id"]
    assert [v.field for v in answer.answers[8].error.field_violations] == ["items[8].data_categories[1]"]
    assert answer.answers[2].decisions == answer.answers[6].decisions and answer.answers[2].decisions[0].allowed


async def test_the_call_itself_is_refused_when_empty_or_too_large_or_not_allowed(stub, tokens):
    for request in (pb.CheckManyRequest(), pb.CheckManyRequest(items=[pb.CheckQuestion(
            resident_id=ERIN, recipient_id=LIBRARY, purpose_id="communication", data_categories=["email"])] * 1001)):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.CheckMany(request, metadata=tokens["broker"])
        code, violations, _ = rpc_error_details(err.value)
        assert code == grpc.StatusCode.INVALID_ARGUMENT and list(violations) == ["items"]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.CheckMany(pb.CheckManyRequest(items=[pb.CheckQuestion(
            resident_id=ERIN, recipient_id=LIBRARY, purpose_id="communication", data_categories=["email"])]),
            metadata=tokens["alice"])
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_withdrawal_during_batches_denies_every_batch_sent_after_it(stub, tokens, history):
    """Batches of 200 run back to back while Frank withdraws: every batch sent after the
    Withdraw returned denies, every batch answered before it was sent allows, and inside one
    batch Frank's questions never disagree (one read per batch, no cache)."""
    _, resident = history
    granted = await stub.Grant(pb.GrantRequest(resident_id=FRANK, recipient_id=LIBRARY, items=[
        pb.GrantItem(purpose_id="communication", data_categories=["email"])]), metadata=resident(FRANK))
    frank = pb.CheckQuestion(resident_id=FRANK, recipient_id=LIBRARY, purpose_id="communication",
                             data_categories=["email"])
    others = pb.CheckQuestion(resident_id=CAROL, recipient_id=LIBRARY, purpose_id="communication",
                              data_categories=["email"])
    batch = pb.CheckManyRequest(items=[frank if i % 2 else others for i in range(200)])
    seen: list[tuple[float, float, set]] = []
    stop = asyncio.Event()

    async def checker():
        while not stop.is_set():
            sent = time.monotonic()
            answer = await stub.CheckMany(batch, metadata=tokens["broker"])
            frank_says = {(a.decisions[0].allowed, a.decisions[0].reason) for i, a in enumerate(answer.answers) if i % 2}
            seen.append((sent, time.monotonic(), frank_says))

    tasks = [asyncio.create_task(checker()) for _ in range(3)]
    await asyncio.sleep(0.3)
    withdraw_sent = time.monotonic()
    await stub.Withdraw(pb.WithdrawRequest(resident_id=FRANK, consent_id=granted.consents[0].consent_id),
                        metadata=resident(FRANK))
    withdrawn = time.monotonic()
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.gather(*tasks)
    assert all(len(says) == 1 for _, _, says in seen)  # one read per batch
    before = [says for sent, done, says in seen if done < withdraw_sent]
    after = [says for sent, done, says in seen if sent > withdrawn]
    assert before and after
    assert all(says == {(True, "")} for says in before)
    assert all(says == {(False, "CONSENT_WITHDRAWN")} for says in after)
