"""Issue 22: mandate entries are found by index (migration 0014: ``mandate_id``,
``mandatary_id``), back-filled from the leaves of a ledger written before it, and bound like
Check's read: a column changed behind the ledger's back refuses the decision
(LEDGER_MISMATCH) instead of showing another history."""

from __future__ import annotations

import asyncio
import datetime as dt
import os

import pytest
from alembic import command
from sqlalchemy import text

from services.common.db import create_engine, session_factory
from services.common.errors import FailedPrecondition
from services.common.migrations import alembic_config, migrate_async
from services.common.testing.databases import temporary_database
from services.consent.adapters.repositories import LedgerStore
from services.consent.adapters.uow import ConsentUnitOfWork
from services.consent.domain.catalogue import Recipient
from services.consent.service_layer import commands, handlers
from services.consent.service_layer import mandates as mh

ELDER, CARER, NEIGHBOUR = "6789ABCEFGHJ", "56789ABDEFGH", "456789ACDEFG"
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def give(represented, mandatary):
    return commands.GiveMandate(represented_id=represented, mandatary_id=mandatary, grantor_id=represented,
                                basis="resident_consent", scope=(("montreal-library", ("view",)),),
                                valid_until=NOW + dt.timedelta(days=90))


def ask(mandatary, represented):
    return commands.MandateQuestion(mandatary, represented, "montreal-library", "view")


async def _columns(engine):
    async with engine.connect() as connection:
        rows = await connection.execute(text(
            "SELECT entry_type, mandate_id, mandatary_id FROM ledger_entries ORDER BY idx"))
        return [tuple(r) for r in rows]


async def test_back_filled_from_the_leaves_then_read_by_index_and_bound(tmp_path):
    kek = os.urandom(32)
    async with temporary_database("consent", tmp_path) as url:
        await migrate_async("consent", url)
        engine = create_engine(url)
        store = LedgerStore(session_factory(engine), kek)
        uow = lambda: ConsentUnitOfWork(store)  # noqa: E731
        await handlers.register_recipient(Recipient("montreal-library", "library-client", "Bibliothèques",
                                                    "Libraries", kind="culture"), uow())
        kept = await mh.give(give(ELDER, CARER), uow())
        await mh.accept(commands.AcceptMandate(kept.mandate_id, CARER), uow())
        ended = await mh.give(give(NEIGHBOUR, CARER), uow())
        await mh.accept(commands.AcceptMandate(ended.mandate_id, CARER), uow())
        await mh.end(commands.EndMandate(ended.mandate_id, by=NEIGHBOUR), uow())
        written = await _columns(engine)
        await store.aclose()
        await engine.dispose()

        # The ledger as it was before 0014, then upgraded: the columns come from the leaves.
        await asyncio.to_thread(command.downgrade, alembic_config("consent", url), "0010")
        await migrate_async("consent", url)
        engine = create_engine(url)
        store = LedgerStore(session_factory(engine), kek)
        uow = lambda: ConsentUnitOfWork(store)  # noqa: E731
        assert await _columns(engine) == written
        assert [r for r in written if r[0] == "mandate_granted"] == [
            ("mandate_granted", kept.mandate_id, CARER), ("mandate_granted", ended.mandate_id, CARER)]
        assert ("mandate_revoked", ended.mandate_id, None) in written

        # Read by index: the carer's mandates (both residents'), each resident's decision.
        listing = await mh.list_mandates(CARER, uow())
        assert {m.mandate_id for m in listing.received} == {kept.mandate_id, ended.mandate_id}
        allowed, revoked = await mh.decide([ask(CARER, ELDER), ask(CARER, NEIGHBOUR)], uow())
        assert (allowed.allowed, revoked.reason) == (True, "MANDATE_REVOKED")

        # Someone who bypasses the append-only triggers moves the revocation to another
        # mandate's id: the neighbour's chain no longer binds, and the decision refuses.
        async with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                await connection.execute(text("ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only"))
            else:
                await connection.execute(text("DROP TRIGGER ledger_entries_no_update"))
            await connection.execute(text(
                "UPDATE ledger_entries SET mandate_id = :other WHERE entry_type = 'mandate_revoked'"),
                {"other": kept.mandate_id})
        with pytest.raises(FailedPrecondition) as refused:
            await mh.decide([ask(CARER, NEIGHBOUR)], uow())
        assert refused.value.reason == "LEDGER_MISMATCH"
        await store.aclose()
        await engine.dispose()
