"""Proof latency at a million entries (a measurement, not a test: run it by hand).

    MTLID_TEST_DATABASE=postgres .venv/bin/python -m tests.integration.consent.bench_proofs [N]

Builds a log of N leaves (default 1,000,000) straight into ``merkle_nodes`` (COPY, the way
the appender would have left it), then times inclusion and consistency proofs served by the
handlers — database reads, node cache, signed tree head and all — and their verification.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import sys
import time

import asyncpg

from services.common.db import create_engine, session_factory
from services.common.migrations import migrate_async
from services.common.testing.databases import backend, temporary_database
from services.consent.adapters.repositories import LedgerStore
from services.consent.adapters.uow import ConsentUnitOfWork
from services.consent.domain import ledger, merkle
from services.consent.service_layer import handlers


async def build(url: str, n: int) -> merkle.MemoryTree:
    rng = random.Random(1)
    tree = merkle.MemoryTree()
    rows = []
    last = None
    for i in range(n - 1):
        for level, index, value in tree.append(rng.randbytes(32)):
            rows.append((level, index, value))
    # The last leaf is a real entry, so the proof handler has leaf bytes to serve.
    last = ledger.export_requested(resident_id="23456789ABCD", time=ledger.utc_ms(
        __import__("datetime").datetime.now(__import__("datetime").timezone.utc)), actor="bench").at(n - 1)
    data = last.leaf_data()
    for level, index, value in tree.append(merkle.leaf_hash(data)):
        rows.append((level, index, value))
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.copy_records_to_table("merkle_nodes", records=rows, columns=["level", "idx", "hash"])
        await connection.execute("UPDATE ledger_head SET tree_size = $1 WHERE id = 1", n)
        await connection.execute(
            "INSERT INTO ledger_entries (idx, entry_id, entry_type, resident_id, entry_time, leaf_data, leaf_hash)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)", n - 1, last.entry_id, last.entry_type.value,
            last.resident_id, last.time, data, merkle.leaf_hash(data))
    finally:
        await connection.close()
    return tree


async def main(n: int) -> None:
    if backend() != "postgres":
        raise SystemExit("set MTLID_TEST_DATABASE=postgres")
    async with temporary_database("consent_bench") as url:
        await migrate_async("consent", url)
        started = time.perf_counter()
        tree = await build(url, n)
        print(f"built {n} leaves ({2 * n - 1} stored nodes) in {time.perf_counter() - started:.1f} s")
        engine = create_engine(url)
        store = LedgerStore(session_factory(engine), os.urandom(32))
        uow = lambda: ConsentUnitOfWork(store)  # noqa: E731
        try:
            for label, call in (
                ("inclusion (leaf n-1, cold then warm)", lambda: handlers.inclusion_proof(n - 1, 0, uow())),
                ("inclusion against a held tree head (explicit size)",
                 lambda: handlers.inclusion_proof(n - 1, n, uow())),
                ("consistency (random old size, explicit new size)",
                 lambda: handlers.consistency_proof(random.randint(1, n - 1), n, uow())),
                ("consistency (random old size, latest)", lambda: handlers.consistency_proof(random.randint(1, n - 1), 0, uow())),
            ):
                timings = []
                for _ in range(200):
                    t = time.perf_counter()
                    result = await call()
                    timings.append((time.perf_counter() - t) * 1000)
                print(f"{label}: first {timings[0]:.2f} ms, median {statistics.median(timings):.3f} ms, "
                      f"p95 {sorted(timings)[189]:.3f} ms")
            path, entry, head = await handlers.inclusion_proof(n - 1, 0, uow())
            assert merkle.verify_inclusion(merkle.leaf_hash(entry.leaf_data()), n - 1, n, path, head.root_hash)
            assert head.root_hash == tree.root()
            nodes = {}
            t = time.perf_counter()
            for _ in range(1000):
                m = random.randrange(n)
                merkle.inclusion_path(tree.node, m, n)
            print(f"path computation alone (in memory): {(time.perf_counter() - t):.3f} ms per proof")
            print(f"proof length {len(path)}; verified against the signed tree head")
        finally:
            await store.aclose()
            await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000))
