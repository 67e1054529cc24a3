"""Binding: a database administrator who drops the append-only triggers and changes one column
of one ledger row (without touching its leaf, or rehashing it) can no longer change a
decision. For each column Check and ListConsents decide from, on the real gRPC service and
the real database (SQLite or PostgreSQL): Check refuses, ListConsents refuses, and
`mtlid ledger verify` (a real process, as an operator runs it) fails naming what differs.
Each tamper is undone afterwards and the service answers as before."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import subprocess
import sys
import uuid

import grpc
import pytest
from sqlalchemy import text

from montreal.consent.v1 import consent_pb2 as pb
from services.common.db import session_factory
from services.consent.adapters.repositories import LedgerStore
from services.consent.adapters.uow import ConsentUnitOfWork
from services.consent.domain import merkle
from services.consent.service_layer.alarms import BINDING_MISMATCH, alarms
from services.consent.service_layer.verification import verify_log
from tests.integration.consent.test_consent_grpc import (ALICE, BOB, fails, minter, recipients,  # noqa: F401
                                                         stub, tokens)

WITHDRAWN = pb.CheckRequest(resident_id=ALICE, recipient_id="montreal-library", purpose_id="communication",
                            data_categories=["email"])
GIVEN = pb.CheckRequest(resident_id=ALICE, recipient_id="montreal-pools", purpose_id="communication",
                        data_categories=["email"])


KEK = os.urandom(32)


async def _check_many_agrees(stub, tokens) -> list[pb.CheckAnswer]:
    """CheckMany (issue 24) of Alice's two questions and Bob's, in one batch, answers each as
    the single Check does (the same rows, bound the same way)."""
    bobs = pb.CheckRequest(resident_id=BOB, recipient_id="montreal-pools", purpose_id="communication",
                           data_categories=["email"])
    asked = [WITHDRAWN, GIVEN, bobs]
    answer = await stub.CheckMany(pb.CheckManyRequest(items=[pb.CheckQuestion(
        resident_id=q.resident_id, recipient_id=q.recipient_id, purpose_id=q.purpose_id,
        data_categories=q.data_categories) for q in asked]), metadata=tokens["broker"])
    for question, got in zip(asked, answer.answers):
        assert list(got.decisions) == list((await stub.Check(question, metadata=tokens["broker"])).decisions)
    return list(answer.answers)


@pytest.fixture(scope="module")
async def store(engine):
    """The service's ledger store, with a key-encryption key the operator's CLI is given too."""
    store = LedgerStore(session_factory(engine), KEK)
    yield store
    await store.aclose()


@pytest.fixture(scope="module")
async def history(stub, tokens, engine):
    """Alice gave and withdrew a consent to the library, and gave one to the pools (active);
    then the triggers are dropped, as an administrator could."""
    first = (await stub.Grant(pb.GrantRequest(resident_id=ALICE, recipient_id="montreal-library", items=[
        pb.GrantItem(purpose_id="communication", data_categories=["email"])]),
        metadata=tokens["alice"])).consents[0]
    await stub.Withdraw(pb.WithdrawRequest(resident_id=ALICE, consent_id=first.consent_id), metadata=tokens["alice"])
    second = (await stub.Grant(pb.GrantRequest(resident_id=ALICE, recipient_id="montreal-pools", items=[
        pb.GrantItem(purpose_id="communication", data_categories=["email"])]),
        metadata=tokens["alice"])).consents[0]
    async with engine.begin() as c:
        rows = (await c.execute(text("SELECT consent_id, entry_type, idx FROM ledger_entries "
                                     "WHERE consent_id IN (:a, :b)"),
                                {"a": first.consent_id, "b": second.consent_id})).all()
        if c.dialect.name == "postgresql":
            await c.execute(text("DROP TRIGGER ledger_entries_append_only ON ledger_entries"))
        else:
            await c.execute(text("DROP TRIGGER ledger_entries_no_update"))
    index = {(cid, kind): idx for cid, kind, idx in rows}
    return {"withdrawal": index[(first.consent_id, "consent_withdrawn")],
            "given": index[(second.consent_id, "consent_given")], "first": first.consent_id,
            "second": second.consent_id}


async def _row(engine, index):
    async with engine.connect() as c:
        return dict((await c.execute(text("SELECT * FROM ledger_entries WHERE idx = :i"), {"i": index}))
                    .mappings().one())


async def _set(engine, index, **values):
    names = ", ".join(f"{name} = :{name}" for name in values)
    async with engine.begin() as c:
        await c.execute(text(f"UPDATE ledger_entries SET {names} WHERE idx = :where_idx"),
                        {**values, "where_idx": index})


def _verify_cli(consent_db) -> tuple[int, dict]:
    env = {**os.environ, "MTLID_CONSENT_DATABASE_URL": consent_db, "MTLID_ENV": "development",
           "MTLID_KEY_ENCRYPTION_KEY": base64.urlsafe_b64encode(KEK).decode()}
    done = subprocess.run([sys.executable, "-m", "services.cli", "ledger", "verify"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.startswith("{"), done.stderr[-2000:]
    return done.returncode, json.loads(done.stdout)


def _forged(row, old: bytes, new: bytes) -> dict:
    """The row's leaf rewritten, with a leaf hash to match (a careful forger)."""
    data = bytes(row["leaf_data"]).replace(old, new)
    assert data != bytes(row["leaf_data"])
    return {"leaf_data": data, "leaf_hash": merkle.leaf_hash(data)}


# (row, column change, what verify names) — each would widen what Check allows if Check
# trusted the column: a withdrawal that no longer ends its consent, a consent that covers
# more (another recipient or purpose, a later expiry, more categories).
CASES = {
    "withdrawal entry_type": ("withdrawal", lambda r: {"entry_type": "data_accessed"}, "column entry_type"),
    "withdrawal consent_id": ("withdrawal", lambda r: {"consent_id": str(uuid.uuid4())}, "column consent_id"),
    "withdrawal consent_id null": ("withdrawal", lambda r: {"consent_id": None}, "column consent_id"),
    "withdrawal resident_id": ("withdrawal", lambda r: {"resident_id": BOB}, "column resident_id"),
    "withdrawal leaf_hash": ("withdrawal", lambda r: {"leaf_hash": bytes(32)}, "stored hash differs"),
    "withdrawal leaf rewritten": ("withdrawal", lambda r: _forged(r, b'"reason":"resident"', b'"reason":"xesident"'),
                                  "stored tree nodes differ"),
    "withdrawal idx": ("withdrawal", lambda r: {"idx": 10_000}, "gap"),
    "given expires_at": ("given", lambda r: {"expires_at": "2099-01-01 00:00:00.000000"}, "column expires_at"),
    "given recipient_id": ("given", lambda r: {"recipient_id": "montreal-library"}, "column recipient_id"),
    "given purpose_id": ("given", lambda r: {"purpose_id": "statistics"}, "column purpose_id"),
    "given entry_type": ("given", lambda r: {"entry_type": "data_accessed"}, "column entry_type"),
    "given leaf rewritten": ("given", lambda r: _forged(r, b'"data_categories":["email"]',
                                                          b'"data_categories":["email","phone"]'),
                             "stored tree nodes differ"),
}

# The index columns Check does not read (it reads the six of reads._BOUND_COLUMNS and takes
# everything else from the leaf): a change in one cannot change its answer, which stays the
# leaves'; the listings, which read every index column, refuse, and verify names it.
OTHER_COLUMNS = {
    "given entry_time": ("given", lambda r: {"entry_time": "2030-01-01 00:00:00.000000"}, "column entry_time"),
    "given entry_id": ("given", lambda r: {"entry_id": str(uuid.uuid4())}, "column entry_id"),
    "withdrawal access_id": ("withdrawal", lambda r: {"access_id": "forged-access"}, "column access_id"),
    "withdrawal mandate_id": ("withdrawal", lambda r: {"mandate_id": str(uuid.uuid4())}, "column mandate_id"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_a_tampered_decision_column_fails_verify_and_check(case, history, stub, tokens, engine, store,
                                                                 consent_db):
    role, change, named = CASES[case]
    index = history[role]
    original = await _row(engine, index)
    assert (await stub.Check(WITHDRAWN, metadata=tokens["library"])).decisions[0].reason == "CONSENT_WITHDRAWN"
    assert (await stub.Check(GIVEN, metadata=tokens["pools"])).decisions[0].allowed
    values = change(original)
    if engine.dialect.name == "postgresql" and "expires_at" in values:  # the driver's own type
        values["expires_at"] = dt.datetime(2099, 1, 1, tzinfo=dt.timezone.utc)
    await _set(engine, index, **values)
    moved = values.get("idx", index)
    alarms_before = alarms.counts()[BINDING_MISMATCH]
    try:
        # Check refuses (the decision it would make from the tables is not the leaves')
        decision = (await stub.Check(WITHDRAWN if role == "withdrawal" else GIVEN,
                                     metadata=tokens["library" if role == "withdrawal" else "pools"])).decisions[0]
        assert (decision.allowed, decision.reason) == (False, "LEDGER_MISMATCH"), case
        assert alarms.counts()[BINDING_MISMATCH] > alarms_before
        batch = await _check_many_agrees(stub, tokens)  # and so does a batch
        assert batch[0 if role == "withdrawal" else 1].decisions[0].reason == "LEDGER_MISMATCH"
        # ListConsents refuses rather than show the consent as given
        _, reason = await fails(stub.ListConsents(pb.ListConsentsRequest(resident_id=ALICE, include_inactive=True),
                                                  metadata=tokens["alice"]), grpc.StatusCode.FAILED_PRECONDITION)
        assert reason == "LEDGER_MISMATCH"
        # the operator's verify fails and names it
        code, report = _verify_cli(consent_db)
        assert code == 1 and not report["ok"]
        said = json.dumps(report["problems"] + report["mismatches"]["index_columns"])
        assert named in said, said
        if case in ("withdrawal entry_type", "withdrawal consent_id", "given expires_at", "given recipient_id"):
            assert not report["checks"]["derived_state"]
            assert any(history["first" if role == "withdrawal" else "second"] in p
                       for p in report["mismatches"]["derived_state"])
    finally:
        restore = {k: original[k] for k in values if k != "idx"}
        if "idx" in values:
            async with engine.begin() as c:
                await c.execute(text("UPDATE ledger_entries SET idx = :i WHERE idx = :m"), {"i": index, "m": moved})
        if restore:
            await _set(engine, index, **restore)
    assert (await stub.Check(WITHDRAWN, metadata=tokens["library"])).decisions[0].reason == "CONSENT_WITHDRAWN"
    assert (await stub.Check(GIVEN, metadata=tokens["pools"])).decisions[0].allowed
    assert (await verify_log(lambda: ConsentUnitOfWork(store)))["ok"]


@pytest.mark.parametrize("case", list(OTHER_COLUMNS))
async def test_every_other_index_column_fails_verify_and_the_listings(case, history, stub, tokens, engine, store,
                                                                      consent_db):
    role, change, named = OTHER_COLUMNS[case]
    index = history[role]
    original = await _row(engine, index)
    values = change(original)
    if engine.dialect.name == "postgresql" and "entry_time" in values:  # the driver's own type
        values["entry_time"] = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    await _set(engine, index, **values)
    try:
        # Check answers what the leaves say, as before the change
        assert (await stub.Check(WITHDRAWN, metadata=tokens["library"])).decisions[0].reason == "CONSENT_WITHDRAWN"
        assert (await stub.Check(GIVEN, metadata=tokens["pools"])).decisions[0].allowed
        _, reason = await fails(stub.ListConsents(pb.ListConsentsRequest(resident_id=ALICE, include_inactive=True),
                                                  metadata=tokens["alice"]), grpc.StatusCode.FAILED_PRECONDITION)
        assert reason == "LEDGER_MISMATCH"
        code, report = _verify_cli(consent_db)
        assert code == 1 and not report["ok"]
        said = json.dumps(report["problems"] + report["mismatches"]["index_columns"])
        assert named in said, said
    finally:
        await _set(engine, index, **{k: original[k] for k in values})
    assert (await verify_log(lambda: ConsentUnitOfWork(store)))["ok"]


async def test_a_row_moved_to_another_resident_is_refused_to_both(history, stub, tokens, engine):
    """Alice's active consent's row given to Bob: Alice's Check no longer finds it (it
    denies), and Bob's Check and listing refuse a row whose leaf names someone else."""
    index = history["given"]
    await _set(engine, index, resident_id=BOB)
    try:
        assert not (await stub.Check(GIVEN, metadata=tokens["pools"])).decisions[0].allowed
        bobs = pb.CheckRequest(resident_id=BOB, recipient_id="montreal-pools", purpose_id="communication",
                               data_categories=["email"])
        decision = (await stub.Check(bobs, metadata=tokens["pools"])).decisions[0]
        assert (decision.allowed, decision.reason) == (False, "LEDGER_MISMATCH")
        batch = await _check_many_agrees(stub, tokens)  # Alice and Bob asked about in one statement
        assert not batch[1].decisions[0].allowed and batch[2].decisions[0].reason == "LEDGER_MISMATCH"
        _, reason = await fails(stub.ListConsents(pb.ListConsentsRequest(resident_id=BOB), metadata=tokens["bob"]),
                                grpc.StatusCode.FAILED_PRECONDITION)
        assert reason == "LEDGER_MISMATCH"
    finally:
        await _set(engine, index, resident_id=ALICE)
    assert (await stub.Check(GIVEN, metadata=tokens["pools"])).decisions[0].allowed
