"""`mtlid ledger verify` notices a rewritten log, even one rewritten by someone able to bypass
the append-only triggers (a database superuser), thanks to a tree head saved earlier."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from services.consent.adapters.uow import ConsentUnitOfWork
from services.consent.domain import merkle
from services.consent.domain.catalogue import Recipient
from services.consent.service_layer import commands, handlers
from services.consent.service_layer.verification import verify_log

RES = "789ABCDEFGHJ"


async def test_verify_detects_a_rewritten_entry(store, engine):
    uow = lambda: ConsentUnitOfWork(store)  # noqa: E731
    await handlers.register_recipient(Recipient("montreal-library", "library-client", "B", "L",
                                                purposes=("service-provision",), data_categories=("email", "phone")),
                                      uow())
    for _ in range(5):
        await handlers.record_access(commands.RecordAccess(
            str(uuid.uuid4()), RES, "montreal-library", "service-provision", ("email",),
            {"email": "public_task"}), uow())
    saved = await handlers.signed_tree_head(0, uow())
    clean = await verify_log(uow, tree_head_jws=saved.jws)
    assert clean["ok"] and clean["tree_size"] == saved.tree_size

    # Someone with the database's superuser powers rewrites entry 2 ("phone" instead of
    # "email"), and even recomputes its leaf hash.
    async with uow() as u:
        entry = await u.ledger.entry(2)
    forged = entry.leaf_data().replace(b'"email"', b'"phone"')
    async with engine.begin() as c:
        if c.dialect.name == "postgresql":
            await c.execute(text("ALTER TABLE ledger_entries DISABLE TRIGGER USER"))
        else:
            await c.execute(text("DROP TRIGGER ledger_entries_no_update"))
        await c.execute(text("UPDATE ledger_entries SET leaf_data = :d, leaf_hash = :h WHERE idx = 2"),
                        {"d": forged, "h": merkle.leaf_hash(forged)})
        if c.dialect.name == "postgresql":
            await c.execute(text("ALTER TABLE ledger_entries ENABLE TRIGGER USER"))
    store.entries.clear()
    report = await verify_log(uow, tree_head_jws=saved.jws)
    assert not report["ok"]
    assert report["checks"]["leaf_hashes"]           # the forger kept hashes consistent…
    assert not report["checks"]["stored_nodes"]      # …but the stored tree disagrees
    assert not report["checks"]["signed_tree_head"]  # …and so does the head saved earlier


async def test_verify_detects_a_reworded_purpose(store, engine):
    from services.consent.domain.grant_rules import RequestedConsent

    uow = lambda: ConsentUnitOfWork(store)  # noqa: E731
    await handlers.register_recipient(Recipient("montreal-news", "news-client", "Nouvelles", "News",
                                                purposes=("communication",), data_categories=("email",)), uow())
    await handlers.grant(commands.GiveConsent(RES, "montreal-news", (RequestedConsent("communication"),)), uow())
    assert (await verify_log(uow))["checks"]["purpose_wording"]
    with pytest.raises(Exception):  # the database refuses to reword a version…
        async with engine.begin() as c:
            await c.execute(text("UPDATE purposes SET description_fr = 'Autre chose.' "
                                 "WHERE purpose_id = 'communication' AND version = 1"))
    async with engine.begin() as c:  # …unless someone bypasses its triggers
        if c.dialect.name == "postgresql":
            await c.execute(text("ALTER TABLE purposes DISABLE TRIGGER USER"))
        else:
            await c.execute(text("DROP TRIGGER purposes_no_update"))
        await c.execute(text("UPDATE purposes SET description_fr = 'Autre chose.' "
                             "WHERE purpose_id = 'communication' AND version = 1"))
    report = await verify_log(uow)
    assert not report["checks"]["purpose_wording"] and not report["ok"]


async def test_verify_reports_its_progress_through_leaves_and_tree_nodes(store):
    uow = lambda: ConsentUnitOfWork(store)  # noqa: E731
    await handlers.register_recipient(Recipient("montreal-pools", "pools-client", "Piscines", "Pools",
                                                purposes=("service-provision",), data_categories=("email",)), uow())
    for _ in range(3):
        await handlers.record_access(commands.RecordAccess(
            str(uuid.uuid4()), RES, "montreal-pools", "service-provision", ("email",),
            {"email": "public_task"}), uow())
    seen: list[tuple[str, int, int | None]] = []
    # (The module's store was tampered with by the first test: progress is reported all the same.)
    report = await verify_log(uow, progress=lambda stage, done, total=None: seen.append((stage, done, total)))
    size = report["tree_size"]
    assert size >= 3
    leaves = [s for s in seen if s[0] == "leaves"]
    nodes = [s for s in seen if s[0] == "tree nodes"]
    assert leaves[-1] == ("leaves", size, size)
    assert nodes and nodes[-1][1] == nodes[-1][2] == sum(size >> level for level in range(size.bit_length()))
