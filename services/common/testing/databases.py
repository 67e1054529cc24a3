"""Throwaway databases for tests: a SQLite file, or a fresh PostgreSQL database.

``MTLID_TEST_DATABASE=postgres`` selects PostgreSQL at ``MTLID_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``, trust auth); the default is SQLite. CI
runs the whole suite once with each. A missing PostgreSQL is an error, never a skip.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import tempfile
import uuid

import asyncpg

ADMIN_URL = os.environ.get("MTLID_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def backend() -> str:
    value = os.environ.get("MTLID_TEST_DATABASE", "sqlite")
    if value not in ("sqlite", "postgres"):
        raise RuntimeError(f"MTLID_TEST_DATABASE: expected sqlite or postgres, got {value!r}")
    return value


@contextlib.asynccontextmanager
async def temporary_database(label: str, directory: pathlib.Path | None = None):
    """Yields a SQLAlchemy async URL for an empty database, removed afterwards."""
    if backend() == "sqlite":
        with contextlib.ExitStack() as stack:
            if directory is None:
                directory = pathlib.Path(stack.enter_context(tempfile.TemporaryDirectory()))
            yield f"sqlite+aiosqlite:///{directory / f'{label}-{uuid.uuid4().hex[:8]}.db'}"
        return
    name = f"mtlid_t_{label}_{uuid.uuid4().hex[:10]}".lower()
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        admin = await asyncpg.connect(ADMIN_URL)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
