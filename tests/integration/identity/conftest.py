"""Fixtures for identity's integration tests: one migrated throwaway database per module
(SQLite by default, PostgreSQL with MTLID_TEST_DATABASE=postgres), units of work on it."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from services.common.db import create_engine, session_factory
from services.common.migrations import migrate_async
from services.common.testing.databases import temporary_database
from services.common.uow import OUTBOX
from services.identity.adapters.uow import IdentityUnitOfWork

KEK = bytes(range(32))
PAIRWISE_SECRET = b"pairwise-secret-for-tests-only-32b"


@pytest.fixture(scope="module")
async def database_url():
    async with temporary_database("identity") as url:
        await migrate_async("identity", url)
        yield url


@pytest.fixture(scope="module")
async def sessions(database_url):
    engine = create_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
def uow_factory(sessions):
    return lambda: IdentityUnitOfWork(sessions, kek=KEK)


async def outbox_events(sessions, name: str | None = None) -> list[dict]:
    """The CloudEvents envelopes in the outbox, oldest first (optionally one event name)."""
    async with sessions() as session:
        rows = (await session.execute(select(OUTBOX.c.subject, OUTBOX.c.envelope).order_by(OUTBOX.c.seq))).all()
    envelopes = [json.loads(r.envelope) for r in rows]
    if name:
        envelopes = [e for e in envelopes if e["type"] == f"montreal.identity.v1.{name}"]
    return envelopes


async def request_reset(cmd, uow_factory) -> None:
    """What the forgotten-password page does: the address's budget, then (after answering) the code."""
    from services.identity.service_layer import authentication as auth

    await auth.spend_reset_budget(cmd, uow_factory())
    await auth.send_password_reset(cmd, uow_factory())
