"""PostgreSQL databases for the measures that run on it (127.0.0.1:5432, trust auth).

The 1,000,000-entry ledger takes minutes to build, so the full run keeps it in a database of
its own (``mtlid_consent_bench_ledger``) and reuses it while it holds at least that many
entries; smoke runs use a throwaway database, dropped at the end.
"""

from __future__ import annotations

import asyncio
import os
import secrets

ADMIN_URL = os.environ.get("MTLID_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
LEDGER_DB = "mtlid_consent_bench_ledger"


def _run(coroutine):
    return asyncio.run(coroutine)


async def _admin(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(ADMIN_URL, timeout=3)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def available() -> str | None:
    """None when PostgreSQL answers; else why not."""
    try:
        _run(_admin("SELECT 1"))
        return None
    except Exception as error:  # noqa: BLE001 - any failure means "not here"
        return f"PostgreSQL not reachable at {ADMIN_URL.rsplit('@', 1)[-1]}: {type(error).__name__}"


def url(name: str) -> str:
    base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


def ensure(name: str) -> str:
    async def create() -> None:
        import asyncpg

        connection = await asyncpg.connect(ADMIN_URL, timeout=3)
        try:
            if not await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
    _run(create())
    return url(name)


def throwaway(label: str) -> str:
    name = f"mtlid_{label}_bench_{secrets.token_hex(4)}"
    _run(_admin(f'CREATE DATABASE "{name}"'))
    return name


def drop(name: str) -> None:
    _run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def backend_cpu_seconds(database: str) -> float:
    """CPU used so far by the PostgreSQL backends now connected to ``database`` (the server
    runs on this host: its backends' /proc entries, "postgres: user database host(port) ..."):
    what a measure costs inside the database, on the same 2 cores. A backend that ends
    between two samples takes its share with it (the services' connections are pooled)."""
    import pathlib

    from harness.procs import cpu_seconds

    total = 0.0
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            if command.startswith(b"postgres: ") and f" {database} ".encode() in command:
                total += cpu_seconds(int(entry.name))
        except OSError:
            continue
    return total
