"""CheckAndRecord (issue 24) over a real grpc.aio server on a migrated SQLite or PostgreSQL
database: Check's decisions and RecordAccess's record in one call, under one hold of the
ledger's head lock — so no release is ever recorded after a withdrawal that denied it."""

from __future__ import annotations

import asyncio
import json
import uuid

import grpc
import pytest

from montreal.consent.v1 import consent_pb2 as pb
from services.common.grpc.client import rpc_error_details
from tests.integration.consent.test_consent_grpc import minter, recipients, stub, tokens, tree_size  # noqa: F401

GINA, HUGO = "89ABCDEFGHJK", "9ABCDEFGHJKM"
LIBRARY = "montreal-library"


def resident(minter, subject):
    return (("authorization", f"Bearer {minter.mint('montreal-ca', ['resident'], 'urn:mtlid:consent', subject=subject)}"),)


def release(resident_id, categories=("email", "given_name"), available=None, **fields):
    return pb.CheckAndRecordRequest(
        access_id=fields.pop("access_id", f"acs_{uuid.uuid4().hex}"), resident_id=resident_id,
        recipient_id=fields.pop("recipient_id", LIBRARY), purpose_id=fields.pop("purpose_id", "communication"),
        data_categories=list(categories), available_categories=list(categories if available is None else available),
        **fields)


async def accesses(stub, minter, resident_id):
    history = await stub.History(pb.HistoryRequest(resident_id=resident_id, page_size=500),
                                 metadata=resident(minter, resident_id))
    return [e for e in history.entries if e.type == pb.ENTRY_TYPE_DATA_ACCESSED]


async def test_decides_as_check_and_records_what_was_released(stub, tokens, minter):
    [consent] = (await stub.Grant(pb.GrantRequest(resident_id=GINA, recipient_id=LIBRARY, items=[
        pb.GrantItem(purpose_id="communication", data_categories=["email", "family_name"])]),
        metadata=resident(minter, GINA))).consents
    asked = ["email", "given_name", "family_name"]
    alone = await stub.Check(pb.CheckRequest(resident_id=GINA, recipient_id=LIBRARY, purpose_id="communication",
                                             data_categories=asked), metadata=tokens["broker"])
    access_id = f"acs_{uuid.uuid4().hex}"
    answer = await stub.CheckAndRecord(release(GINA, asked, available=["email", "given_name"], access_id=access_id,
                                               withheld_categories=["date_of_birth"]), metadata=tokens["broker"])
    assert list(answer.decisions) == list(alone.decisions)
    # family_name is allowed but the caller does not hold it: withheld, like given_name (denied)
    assert list(answer.released_categories) == ["email"] and not answer.already_recorded
    [entry] = await accesses(stub, minter, GINA)
    assert entry.index == answer.ledger_index and entry.access_id == access_id
    body = json.loads(entry.leaf_data)
    assert body["data_categories"] == ["email"] and body["bases"] == {"email": "consent"}
    assert body["consent_ids"] == [consent.consent_id] and not body.get("unsupported_categories")
    assert set(body["withheld_categories"]) == {"date_of_birth", "given_name", "family_name"}
    # the same access_id again: already recorded, nothing new
    size = await tree_size(stub)
    again = await stub.CheckAndRecord(release(GINA, asked, available=["email"], access_id=access_id),
                                      metadata=tokens["broker"])
    assert again.already_recorded and again.ledger_index == answer.ledger_index
    assert await tree_size(stub) == size


async def test_nothing_released_records_nothing(stub, tokens, minter):
    size = await tree_size(stub)
    denied = await stub.CheckAndRecord(release(HUGO), metadata=tokens["broker"])
    assert [d.reason for d in denied.decisions] == ["NO_CONSENT", "NO_CONSENT"]
    assert not denied.released_categories and denied.ledger_index == 0
    bio = await stub.CheckAndRecord(release(HUGO, ["biometric_face"], purpose_id="biometric-identity-verification"),
                                    metadata=tokens["broker"])
    assert bio.decisions[0].reason == "BIOMETRIC_CONSENT_NEVER_GIVEN"
    assert bio.decisions[0].non_biometric_alternative.alternative_id
    assert await tree_size(stub) == size and not await accesses(stub, minter, HUGO)


async def test_bad_requests_and_callers_are_refused(stub, tokens, minter):
    size = await tree_size(stub)
    cases = [(release(HUGO, access_id="short"), grpc.StatusCode.INVALID_ARGUMENT, "access_id"),
             (release(HUGO, ["email"], available=["phone"]), grpc.StatusCode.INVALID_ARGUMENT,
              "available_categories[0]"),
             (release(HUGO, ["nope"]), grpc.StatusCode.INVALID_ARGUMENT, "data_categories[0]"),
             (release(HUGO, purpose_id="no-such-purpose"), grpc.StatusCode.INVALID_ARGUMENT, "purpose_id"),
             (release("bad"), grpc.StatusCode.INVALID_ARGUMENT, "resident_id"),
             (release(HUGO, withheld_categories=["nope"]), grpc.StatusCode.INVALID_ARGUMENT,
              "withheld_categories[0]")]
    for request, code, field in cases:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.CheckAndRecord(request, metadata=tokens["broker"])
        got, violations, _ = rpc_error_details(err.value)
        assert got == code and field in violations, (field, violations)
    # a recipient's client: its own recipient only, and it needs consent:check as well
    for request, who in ((release(HUGO, recipient_id="montreal-pools"), "library"), (release(HUGO), "alice")):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.CheckAndRecord(request, metadata=tokens[who])
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    recorder = (("authorization", f"Bearer {minter.mint('library-client', ['consent:record'], 'urn:mtlid:consent')}"),)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.CheckAndRecord(release(HUGO), metadata=recorder)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (await stub.CheckAndRecord(release(HUGO), metadata=tokens["library"])).decisions  # check + record
    assert await tree_size(stub) == size


async def test_no_release_is_recorded_after_the_withdrawal_that_denies_it(stub, tokens, minter):
    """Releases run back to back from 8 callers while the resident withdraws: every release
    answered allowed is recorded before the withdrawal in the log, none after, none flagged
    unsupported; every release sent after the Withdraw returned is denied."""
    resident_id = "ABCDEFGHJKMN"
    [consent] = (await stub.Grant(pb.GrantRequest(resident_id=resident_id, recipient_id=LIBRARY, items=[
        pb.GrantItem(purpose_id="communication", data_categories=["email"])]),
        metadata=resident(minter, resident_id))).consents
    answers: list[tuple[bool, pb.CheckAndRecordResponse]] = []
    withdrawn = asyncio.Event()
    stop = asyncio.Event()

    async def releaser():
        while not stop.is_set():
            after = withdrawn.is_set()
            answers.append((after, await stub.CheckAndRecord(release(resident_id, ["email"]),
                                                               metadata=tokens["broker"])))

    tasks = [asyncio.create_task(releaser()) for _ in range(8)]
    await asyncio.sleep(0.3)
    done = await stub.Withdraw(pb.WithdrawRequest(resident_id=resident_id, consent_id=consent.consent_id),
                               metadata=resident(minter, resident_id))
    withdrawn.set()
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.gather(*tasks)
    allowed = [a for _, a in answers if a.decisions[0].allowed]
    assert allowed and all(a.ledger_index < done.ledger_index for a in allowed)
    assert all(not a.decisions[0].allowed and a.decisions[0].reason == "CONSENT_WITHDRAWN"
               for after, a in answers if after)
    assert any(after for after, _ in answers)
    recorded = await accesses(stub, minter, resident_id)
    assert sorted(e.index for e in recorded) == sorted(a.ledger_index for a in allowed)
    assert all(e.index < done.ledger_index and not json.loads(e.leaf_data).get("unsupported_categories")
               for e in recorded)


async def test_the_first_call_after_a_catalogue_change_answers(stub, tokens, minter):
    """The catalogue changed (a recipient registered) since this process last read it: the
    call reads it in its own transaction, under the lock, rather than waiting for that lock."""
    await stub.RegisterRecipient(pb.RegisterRecipientRequest(recipient=pb.Recipient(
        recipient_id="montreal-arenas", client_id="arenas-client", name_fr="Arénas", name_en="Arenas",
        kind="municipal", owner="Ville de Montréal", purposes=["communication"], data_categories=["email"])),
        metadata=tokens["admin"])
    answer = await stub.CheckAndRecord(release(HUGO, ["email"], recipient_id="montreal-arenas"),
                                       metadata=tokens["broker"], timeout=5)
    assert [d.reason for d in answer.decisions] == ["NO_CONSENT"]
