"""Check and the proofs outside any unit of work (adapters/reads.py), on a real database:
what is cached (the catalogue, by version), what never is (the resident's consents), and
how many statements a proof costs. Two ``LedgerStore``s on one database are two replicas."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import uuid

import pytest
from sqlalchemy import text

from services.common.db import session_factory
from services.common.errors import InvalidArgument, PermissionDenied
from services.common.testing.databases import backend
from services.consent.adapters.repositories import LedgerStore
from services.consent.adapters.uow import ConsentUnitOfWork
from services.consent.domain import merkle
from services.consent.domain.catalogue import Recipient
from services.consent.domain.consents import decide, reduce
from services.consent.domain.grant_rules import RequestedConsent
from services.consent.service_layer import commands, handlers

RES = "3456789ABCDE"
PARKS = Recipient("montreal-parks", "parks-client", "Parcs", "Parks", "municipal", "Grands parcs",
                  ("communication", "statistics", "service-provision"),
                  ("email", "phone", "postal_address", "date_of_birth", "given_name"))
POOLS = Recipient("montreal-pools", "pools-client", "Piscines", "Pools", "municipal", "Sports",
                  ("communication", "statistics"), ("email", "phone", "date_of_birth", "postal_address"))


@pytest.fixture(scope="module")
async def replica(engine, store):
    """A second process on the same database: its own caches, the same key."""
    replica = LedgerStore(session_factory(engine), store.kek)
    yield replica
    await replica.aclose()


@pytest.fixture(scope="module", autouse=True)
async def recipients(store):
    for recipient in (PARKS, POOLS):
        await handlers.register_recipient(recipient, ConsentUnitOfWork(store))


def check_cmd(recipient="montreal-parks", purpose="communication", categories=("email",), resident=RES):
    return commands.CheckConsent(resident, recipient, purpose, tuple(categories))


async def test_withdrawal_through_one_replica_denies_the_next_check_of_the_other(store, replica):
    resident = "456789ABCDEF"
    [given] = await handlers.grant(commands.GiveConsent(resident, "montreal-parks", (
        RequestedConsent("communication", data_categories=("email",)),)), ConsentUnitOfWork(store))
    for _ in range(3):  # warm every cache the replica has
        [d] = await handlers.check(check_cmd(resident=resident), ConsentUnitOfWork(replica))
        assert d.allowed
    await handlers.withdraw(commands.WithdrawConsent(resident, given.consent_id), ConsentUnitOfWork(store))
    [d] = await handlers.check(check_cmd(resident=resident), ConsentUnitOfWork(replica))
    assert not d.allowed and d.reason == "CONSENT_WITHDRAWN"


async def test_catalogue_is_read_once_while_unchanged(store, replica):
    await handlers.check(check_cmd(), ConsentUnitOfWork(replica))
    loads = replica.reads.catalogue_loads
    for _ in range(20):
        await handlers.check(check_cmd(), ConsentUnitOfWork(replica))
    assert replica.reads.catalogue_loads == loads


async def test_recipient_disabled_through_one_replica_is_denied_by_the_other_at_once(store, replica):
    resident = "56789ABCDEFG"
    await handlers.grant(commands.GiveConsent(resident, "montreal-pools", (
        RequestedConsent("communication", data_categories=("email",)),)), ConsentUnitOfWork(store))
    [d] = await handlers.check(check_cmd("montreal-pools", resident=resident), ConsentUnitOfWork(replica))
    assert d.allowed
    # What accounts' service_updated with state "suspended" does: the purposes go.
    await handlers.register_recipient(dataclasses.replace(POOLS, purposes=(), data_categories=()),
                                      ConsentUnitOfWork(store))
    try:
        [d] = await handlers.check(check_cmd("montreal-pools", resident=resident), ConsentUnitOfWork(replica))
        assert not d.allowed and d.reason == "PURPOSE_NOT_DECLARED"
        # The writer's own copy was dropped on commit, not merely found out of date.
        assert store.reads._catalogue is None
    finally:
        await handlers.register_recipient(POOLS, ConsentUnitOfWork(store))
    [d] = await handlers.check(check_cmd("montreal-pools", resident=resident), ConsentUnitOfWork(replica))
    assert d.allowed


async def test_catalogue_changed_outside_the_service_is_seen_at_once(engine, store, replica):
    """An operator's SQL (or a migration) bumps the version too: the database's triggers do it."""
    await handlers.check(check_cmd(), ConsentUnitOfWork(replica))
    before = replica.reads.catalogue_loads
    async with engine.begin() as c:
        await c.execute(text("INSERT INTO data_categories (category_id, label_fr, label_en, biometric) "
                             "VALUES ('shoe_size', 'Pointure', 'Shoe size', false)"))
    [d] = await handlers.check(check_cmd(categories=("shoe_size",)), ConsentUnitOfWork(replica))
    assert not d.allowed and replica.reads.catalogue_loads == before + 1


async def test_check_refuses_what_the_catalogue_does_not_know(store):
    with pytest.raises(InvalidArgument) as caught:
        await handlers.check(check_cmd(purpose="no-such-purpose"), ConsentUnitOfWork(store))
    assert caught.value.violations[0][0] == "purpose_id"
    with pytest.raises(InvalidArgument) as caught:
        await handlers.check(check_cmd(categories=("email", "nonsense")), ConsentUnitOfWork(store))
    assert "data_categories[1]" in str(caught.value.violations)
    [d] = await handlers.check(check_cmd(recipient="no-such-recipient"), ConsentUnitOfWork(store))
    assert not d.allowed and d.reason == "RECIPIENT_UNKNOWN"


async def test_check_reads_only_what_the_decision_needs_and_decides_the_same(store):
    """The statement selects this recipient's and purpose's consents and endings only; the
    decision must equal ``decide`` over every consent entry of the resident."""
    resident = "6789ABCDEFGH"
    rng = random.Random(5)
    pairs = [(r, p) for r in ("montreal-parks", "montreal-pools") for p in ("communication", "statistics")]
    categories = ("email", "phone", "date_of_birth", "postal_address")
    for step in range(24):
        recipient, purpose = rng.choice(pairs)
        uow = ConsentUnitOfWork(store)
        async with uow:
            active = [c for c in reduce(await uow.ledger.consent_entries(resident)).values()
                      if c.state.value == "given"]
        if active and rng.random() < 0.4:
            await handlers.withdraw(commands.WithdrawConsent(resident, rng.choice(active).consent_id),
                                    ConsentUnitOfWork(store))
        else:
            allowed = {"communication": ("email", "phone", "postal_address"),
                       "statistics": ("date_of_birth", "postal_address")}[purpose]
            chosen = tuple(sorted(rng.sample(allowed, rng.randint(1, len(allowed)))))
            await handlers.grant(commands.GiveConsent(resident, recipient, (
                RequestedConsent(purpose, data_categories=chosen),)), ConsentUnitOfWork(store))
        for recipient, purpose in pairs:
            cmd = check_cmd(recipient, purpose, categories, resident)
            got = await handlers.check(cmd, ConsentUnitOfWork(store), now=None)
            uow = ConsentUnitOfWork(store)
            async with uow:
                everything = reduce(await uow.ledger.consent_entries(resident)).values()
                expected = decide(purpose=await uow.catalogue.purpose(purpose),
                                  recipient=await uow.catalogue.recipient(recipient),
                                  categories=[(await uow.catalogue.categories())[c] for c in categories],
                                  consents=everything, now=handlers.utcnow())
            assert [(d.data_category, d.allowed, d.consent_id, d.reason) for d in got] == \
                [(d.data_category, d.allowed, d.consent_id, d.reason) for d in expected], step


@pytest.fixture
async def cold(engine, store):
    """A process that has never seen this log (every cache cold), and the statements its
    read paths send to the database."""
    cold = LedgerStore(session_factory(engine), store.kek)
    counted = []
    point_reads = cold.reads._db
    original = point_reads._run

    async def run(sql, params, **kwargs):
        counted.append(sql)
        return await original(sql, params, **kwargs)
    point_reads._run = run
    yield cold, counted
    await cold.aclose()


async def test_proofs_verify_and_cost_one_statement(engine, store, cold):
    cold, statements = cold
    for _ in range(9):
        await handlers.record_access(commands.RecordAccess(
            str(uuid.uuid4()), RES, "montreal-parks", "service-provision", ("email",),
            {"email": "public_task"}), ConsentUnitOfWork(store))
    uow = ConsentUnitOfWork(store)
    async with uow:
        size = await uow.ledger.size()
        tree = merkle.MemoryTree([h for _, _, h, _ in await uow.ledger.scan(0, size)])
    await handlers.log_keys(ConsentUnitOfWork(cold))  # loads the key (not a proof's cost)
    statements.clear()
    path, entry, head = await handlers.inclusion_proof(size - 2, size, ConsentUnitOfWork(cold))
    assert merkle.verify_inclusion(merkle.leaf_hash(entry.leaf_data()), size - 2, size, path, head.root_hash)
    assert head.root_hash == tree.root()
    assert len(statements) == 1, statements
    for m in range(size):
        for n in (m + 1, size):
            path, entry, head = await handlers.inclusion_proof(m, n, ConsentUnitOfWork(cold))
            assert merkle.verify_inclusion(merkle.leaf_hash(entry.leaf_data()), m, n, path, tree.root(n))
            assert head.tree_size == n and head.root_hash == tree.root(n)
    for first in range(1, size + 1):
        for second in (first, size):
            _, n, proof, head = await handlers.consistency_proof(first, second, ConsentUnitOfWork(cold))
            assert n == second and merkle.verify_consistency(first, n, tree.root(first), head.root_hash, proof)
    statements.clear()
    _, _, proof, head = await handlers.consistency_proof(3, 0, ConsentUnitOfWork(cold))  # the current size
    assert head.tree_size >= size and 1 <= len(statements) <= 2, statements  # the size, then what no cache has


async def test_proof_for_a_size_beyond_the_log_is_refused(store):
    size = (await handlers.signed_tree_head(0, ConsentUnitOfWork(store))).tree_size
    with pytest.raises(InvalidArgument) as caught:
        await handlers.inclusion_proof(0, size + 5, ConsentUnitOfWork(store))
    assert caught.value.violations[0][0] == "tree_size"
    with pytest.raises(InvalidArgument) as caught:
        await handlers.inclusion_proof(size + 7, size + 5, ConsentUnitOfWork(store))
    assert caught.value.violations[0][0] == "tree_size"
    with pytest.raises(InvalidArgument) as caught:
        await handlers.consistency_proof(1, size + 5, ConsentUnitOfWork(store))
    assert caught.value.violations[0][0] == "second_tree_size"
    with pytest.raises(InvalidArgument) as caught:
        await handlers.inclusion_proof(size, size, ConsentUnitOfWork(store))
    assert caught.value.violations[0][0] == "leaf_index"



async def test_record_access_validates_against_the_current_catalogue(store, replica):
    """RecordAccess uses the process's catalogue copy only when it is at the version its own
    transaction reads: a recipient disabled through another replica is refused at once."""
    record = lambda: commands.RecordAccess(  # noqa: E731
        str(uuid.uuid4()), RES, "montreal-pools", "statistics", ("date_of_birth",),
        {"date_of_birth": "public_task"}, for_client="pools-client")
    await handlers.record_access(record(), ConsentUnitOfWork(replica))
    await handlers.record_access(record(), ConsentUnitOfWork(replica))  # from the copy
    await handlers.register_recipient(dataclasses.replace(POOLS, purposes=()), ConsentUnitOfWork(store))
    try:
        with pytest.raises(PermissionDenied) as caught:
            await handlers.record_access(record(), ConsentUnitOfWork(replica))
        assert caught.value.reason == "PURPOSE_NOT_DECLARED"
    finally:
        await handlers.register_recipient(POOLS, ConsentUnitOfWork(store))
    await handlers.record_access(record(), ConsentUnitOfWork(replica))


async def test_a_catalogue_change_rolled_back_is_never_cached(store):
    uow = ConsentUnitOfWork(store)
    async with uow:  # left without commit: rolled back
        await uow.catalogue.save_recipient(dataclasses.replace(PARKS, purposes=()))
        assert "communication" not in (await uow.catalogue.current()).recipients["montreal-parks"].purposes
    assert "communication" in (await store.reads.catalogue()).recipients["montreal-parks"].purposes
    uow = ConsentUnitOfWork(store)
    async with uow:
        assert "communication" in (await uow.catalogue.current()).recipients["montreal-parks"].purposes


async def test_record_access_names_only_the_residents_own_consents(store):
    other = "789ABCDEFGHJ"
    [theirs] = await handlers.grant(commands.GiveConsent(other, "montreal-parks", (
        RequestedConsent("communication", data_categories=("email",)),)), ConsentUnitOfWork(store))
    with pytest.raises(InvalidArgument) as caught:
        await handlers.record_access(commands.RecordAccess(
            str(uuid.uuid4()), RES, "montreal-parks", "communication", ("email",), {"email": "consent"},
            consent_ids=(theirs.consent_id,)), ConsentUnitOfWork(store))
    assert caught.value.violations[0][0] == "consent_ids[0]"
    index, again = await handlers.record_access(commands.RecordAccess(
        str(uuid.uuid4()), other, "montreal-parks", "communication", ("email",), {"email": "consent"},
        consent_ids=(theirs.consent_id,)), ConsentUnitOfWork(store))
    assert index > 0 and not again


@pytest.mark.skipif(backend() != "postgres", reason="SQLite writers queue at BEGIN IMMEDIATE, before any lock")
async def test_an_access_already_recorded_is_answered_without_the_head_lock(engine, store):
    record = commands.RecordAccess(str(uuid.uuid4()), RES, "montreal-parks", "service-provision", ("email",),
                                   {"email": "public_task"})
    index, _ = await handlers.record_access(record, ConsentUnitOfWork(store))
    async with engine.connect() as holder:  # another writer holds the head row
        await holder.execute(text("SELECT tree_size FROM ledger_head WHERE id = 1 FOR UPDATE"))
        again = await asyncio.wait_for(handlers.record_access(record, ConsentUnitOfWork(store)), 5)
        assert again == (index, True)
        blocked = asyncio.ensure_future(handlers.record_access(dataclasses.replace(
            record, access_id=str(uuid.uuid4())), ConsentUnitOfWork(store)))
        await asyncio.sleep(0.3)
        assert not blocked.done()  # a new access does queue for the lock
        await holder.rollback()
    new_index, already = await asyncio.wait_for(blocked, 5)
    assert new_index > index and not already
