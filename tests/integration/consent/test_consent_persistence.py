"""The consent ledger on a real database: handlers through ConsentUnitOfWork."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from services.common.errors import FailedPrecondition, InvalidArgument
from services.consent.domain import merkle
from services.consent.domain.catalogue import Recipient
from services.consent.domain.grant_rules import RequestedConsent
from services.consent.domain.signing import verify_tree_head
from services.consent.service_layer import commands, handlers

RES = "23456789ABCD"
LIB = Recipient("montreal-library", "library-client", "Bibliothèques", "Libraries", "municipal", "Culture",
                ("service-provision", "communication", "biometric-identity-verification"),
                ("given_name", "family_name", "email", "date_of_birth", "biometric_face"))


@pytest.fixture(scope="module", autouse=True)
async def library(store):
    from services.consent.adapters.uow import ConsentUnitOfWork
    await handlers.register_recipient(LIB, ConsentUnitOfWork(store))


async def count(engine, table):
    async with engine.connect() as c:
        return (await c.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()


async def test_grant_check_withdraw(uow, engine):
    [c] = await handlers.grant(commands.GiveConsent(RES, "montreal-library", (
        RequestedConsent("communication", data_categories=("email",)),)), uow())
    [d] = await handlers.check(commands.CheckConsent(RES, "montreal-library", "communication", ("email",)), uow())
    assert d.allowed and d.consent_id == c.consent_id
    await handlers.withdraw(commands.WithdrawConsent(RES, c.consent_id), uow())
    [d] = await handlers.check(commands.CheckConsent(RES, "montreal-library", "communication", ("email",)), uow())
    assert not d.allowed and d.reason == "CONSENT_WITHDRAWN"
    assert await count(engine, "outbox") >= 2


async def test_bad_input_writes_nothing(uow, engine):
    before = (await count(engine, "ledger_entries"), await count(engine, "outbox"))
    bio = RequestedConsent("biometric-identity-verification", expires_at=dt.datetime.now(dt.timezone.utc)
                           + dt.timedelta(days=3), non_biometric_alternative_id="in-person-verification")
    with pytest.raises(FailedPrecondition):
        await handlers.grant(commands.GiveConsent(RES, "montreal-library", (
            bio, RequestedConsent("communication")), explicit_act=True), uow())
    with pytest.raises(InvalidArgument):
        await handlers.grant(commands.GiveConsent(RES, "montreal-library", (RequestedConsent("nope"),)), uow())
    assert (await count(engine, "ledger_entries"), await count(engine, "outbox")) == before


async def test_ledger_is_append_only_in_the_database(engine, uow):
    await handlers.request_rectification(commands.RequestRectification(RES, ("email",)), uow())
    for statement in ("UPDATE ledger_entries SET resident_id = 'XXXXXXXXXXXX'",
                      "DELETE FROM ledger_entries", "DELETE FROM merkle_nodes"):
        with pytest.raises((DBAPIError, IntegrityError)):
            async with engine.begin() as c:
                await c.execute(text(statement))
    assert await count(engine, "ledger_entries") > 0


async def test_proofs_from_stored_nodes(uow, store):
    for _ in range(6):
        await handlers.record_access(commands.RecordAccess(
            str(uuid.uuid4()), RES, "montreal-library", "service-provision", ("email",),
            {"email": "public_task"}), uow())
    size = (await handlers.signed_tree_head(0, uow())).tree_size
    leaves = []
    async with uow() as u:
        leaves = [h for _, _, h, _ in await u.ledger.scan(0, size)]
    tree = merkle.MemoryTree(leaves)
    jwks = await handlers.log_keys(uow())
    for m in range(size):
        path, entry, head = await handlers.inclusion_proof(m, 0, uow())
        assert verify_tree_head(head.jws, jwks).root_hash == tree.root()
        assert merkle.verify_inclusion(merkle.leaf_hash(entry.leaf_data()), m, size, path, head.root_hash)
    for first in range(1, size + 1):
        _, _, proof, head = await handlers.consistency_proof(first, 0, uow())
        assert merkle.verify_consistency(first, size, tree.root(first), head.root_hash, proof)
