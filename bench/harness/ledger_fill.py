"""Fill a consent ledger to a given size, fast, through the consent service's own repository.

    python ledger_fill.py --size 1000000        (MTLID_CONSENT_DATABASE_URL names the database)

Appends ``data_accessed`` entries in batches through ``ConsentUnitOfWork`` (the same
``SqlLedgerRepository.append`` the service uses: entries, stored Merkle nodes, the head), so
the tree is the one the service would have built, only without a gRPC call per entry. Then
analyzes the tables (PostgreSQL), times the proof handlers in-process (no transport) and
prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import statistics
import sys
import time
import uuid


def _entries(count: int, resident_id: str):
    from services.consent.domain import ledger

    now = dt.datetime.now(dt.timezone.utc)
    return [ledger.data_accessed(
        access_id=str(uuid.uuid4()), resident_id=resident_id, recipient_id="bench-library",
        purpose_id="service-provision", data_categories=["email"], withheld_categories=[],
        bases={"email": "public_task"}, consent_ids=[], accessed_at=now, time=now, source="bench")
        for _ in range(count)]


async def fill(size: int, batch: int, proofs: int) -> dict:
    from services.common.config import Settings
    from services.common.db import create_engine, session_factory
    from services.consent.adapters.repositories import LedgerStore
    from services.consent.adapters.uow import ConsentUnitOfWork
    from services.consent.service_layer import handlers
    from services.identity.domain.citizen_number import CitizenNumber

    settings = Settings.from_env()
    engine = create_engine(settings.database_url("consent"))
    store = LedgerStore(session_factory(engine), settings.key_encryption_key)
    residents = [CitizenNumber.new().canonical for _ in range(100)]
    began = time.monotonic()
    appended = 0
    try:
        while True:
            async with ConsentUnitOfWork(store) as uow:
                current = await uow.ledger.lock()
                if current >= size:
                    break
                await uow.ledger.append(_entries(min(batch, size - current), random.choice(residents)))
                await uow.commit()
                appended += min(batch, size - current)
        fill_seconds = time.monotonic() - began
        database = {}
        if engine.dialect.name == "postgresql":
            # What autovacuum's analyze does after a bulk load on a production database; this
            # project's machines run PostgreSQL with autovacuum off, and without statistics
            # the planner guesses ~60 rows per primary-key lookup of a proof's nodes and
            # picks bitmap scans.
            async with engine.begin() as connection:
                await connection.exec_driver_sql("ANALYZE ledger_entries, merkle_nodes, ledger_head")
                # What decides a proof's time once the ledger outgrows the database's memory:
                # its buffers against the ledger's size (RESULTS.md, "Reading it").
                buffers, ledger_bytes = (await connection.exec_driver_sql(
                    "SELECT current_setting('shared_buffers'), pg_total_relation_size('ledger_entries')"
                    " + pg_total_relation_size('merkle_nodes')")).one()
                database = {"shared_buffers": buffers, "ledger_mb": round(ledger_bytes / 2**20)}
        # Proof times in-process, through the handlers and the unit of work, on a cold node cache.
        store_cold = LedgerStore(session_factory(engine), settings.key_encryption_key)
        async with ConsentUnitOfWork(store_cold) as uow:
            tree_size = await uow.ledger.size()
        rng = random.Random(7)
        inclusion, consistency = [], []
        for _ in range(proofs):
            leaf = rng.randrange(tree_size)
            t0 = time.perf_counter()
            await handlers.inclusion_proof(leaf, tree_size, ConsentUnitOfWork(store_cold))
            inclusion.append(time.perf_counter() - t0)
            first = rng.randrange(1, tree_size)
            t0 = time.perf_counter()
            await handlers.consistency_proof(first, tree_size, ConsentUnitOfWork(store_cold))
            consistency.append(time.perf_counter() - t0)
    finally:
        await engine.dispose()

    def ms(values, q):
        values = sorted(values)
        return round(1000 * values[min(len(values) - 1, int(q * len(values)))], 3) if values else None
    return {"tree_size": tree_size, "appended": appended, "fill_seconds": round(fill_seconds, 1),
            "inclusion_p50_ms": ms(inclusion, 0.5), "inclusion_p99_ms": ms(inclusion, 0.99),
            "consistency_p50_ms": ms(consistency, 0.5), "consistency_p99_ms": ms(consistency, 0.99),
            "inclusion_mean_ms": round(1000 * statistics.mean(inclusion), 3) if inclusion else None, **database}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--proofs", type=int, default=200)
    args = parser.parse_args()
    json.dump(asyncio.run(fill(args.size, args.batch, args.proofs)), sys.stdout)


if __name__ == "__main__":
    main()
