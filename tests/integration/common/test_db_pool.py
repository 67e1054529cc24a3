"""The engine's pool on PostgreSQL (``services.common.db``): a unit of work does not pay a ping
when its connection was busy moments ago, and a connection that died while idle (a database
restart, a failover, an idle timeout) is replaced before any transaction uses it."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection

from services.common import db
from services.common.testing.databases import backend, temporary_database

pytestmark = pytest.mark.skipif(backend() != "postgres", reason="the pool's ping is PostgreSQL's (asyncpg)")


@pytest.fixture
async def engine():
    async with temporary_database("db_pool") as url:
        engine = db.create_engine(url, pool_size=1)
        try:
            yield engine
        finally:
            await engine.dispose()


@pytest.fixture
def pings(monkeypatch):
    counted = []
    real = AsyncAdapt_asyncpg_connection.ping
    monkeypatch.setattr(AsyncAdapt_asyncpg_connection, "ping", lambda self: counted.append(1) or real(self))
    return counted


async def backend_pid(engine) -> int:
    async with engine.begin() as connection:
        return await connection.scalar(text("SELECT pg_backend_pid()"))


async def terminate(pid: int) -> None:
    """Kill a backend from another connection, as a restart or an idle timeout would."""
    async with temporary_database("db_pool_killer") as other_url:
        killer = db.create_engine(other_url)
        try:
            async with killer.begin() as connection:
                assert await connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        finally:
            await killer.dispose()


async def test_a_connection_busy_moments_ago_is_not_pinged(engine, pings):
    first = await backend_pid(engine)
    for _ in range(5):
        assert await backend_pid(engine) == first
    assert pings == []


async def test_a_connection_idle_past_the_limit_is_pinged_once(engine, pings, monkeypatch):
    await backend_pid(engine)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
    await backend_pid(engine)
    assert len(pings) == 1


async def test_a_connection_that_died_while_idle_is_replaced_before_the_transaction(engine, monkeypatch):
    dead = await backend_pid(engine)
    await terminate(dead)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
    # The pooled connection is dead; the checkout's ping finds it and the pool connects again:
    # the transaction itself never sees the broken connection.
    assert await backend_pid(engine) != dead


async def test_a_connection_that_died_while_busy_fails_one_transaction_then_the_pool_recovers(engine):
    """The trade-off of not pinging busy connections: one transaction fails (callers get
    UNAVAILABLE / 503 with Retry-After), the pool drops its connections, the next one works."""
    from sqlalchemy.exc import DBAPIError

    dead = await backend_pid(engine)
    await terminate(dead)
    with pytest.raises(DBAPIError) as failed:
        await backend_pid(engine)
    assert failed.value.connection_invalidated
    assert await backend_pid(engine) != dead
