"""Consent integration fixtures: a real database (SQLite or PostgreSQL, per
MTLID_TEST_DATABASE) migrated with Alembic, composed up to units of work."""

from __future__ import annotations

import os

import pytest

from services.common.db import create_engine, session_factory
from services.common.migrations import migrate_async
from services.common.testing.databases import temporary_database
from services.consent.adapters.repositories import LedgerStore
from services.consent.adapters.uow import ConsentUnitOfWork


@pytest.fixture(scope="module")
async def consent_db(tmp_path_factory):
    async with temporary_database("consent", tmp_path_factory.mktemp("consent")) as url:
        await migrate_async("consent", url)
        yield url


@pytest.fixture(scope="module")
async def engine(consent_db):
    engine = create_engine(consent_db)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="module")
async def store(engine):
    store = LedgerStore(session_factory(engine), os.urandom(32))
    yield store
    await store.aclose()


@pytest.fixture
def uow(store):
    return lambda: ConsentUnitOfWork(store)
