"""The client read on the token and introspection endpoints (``adapters/hot_reads.py``): a
change made by an administrator — here straight in SQL, as another replica or ``mtlid
client`` would — is what the very next request sees, cache or not."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import text

from services.common.db import create_engine
from services.common.migrations import migrate_async
from services.common.reads import PointReads
from services.common.testing.databases import backend, temporary_database
from services.identity.adapters.hot_reads import IdentityHotReads
from services.identity.adapters.uow import IdentityUnitOfWork
from services.identity.domain.clients import OAuthClient, hash_client_secret

KEK = b"k" * 32


@pytest.fixture
async def identity_db():
    async with temporary_database("client_reads") as url:
        await migrate_async("identity", url)
        engine = create_engine(url)
        from services.common.db import session_factory

        sessions = session_factory(engine)
        async with IdentityUnitOfWork(sessions, kek=KEK) as uow:
            for client_id in ("borough-a", "borough-b"):
                await uow.clients.add(OAuthClient(
                    client_id=client_id, name="Arrondissement", secret_hash=hash_client_secret("s" * 40),
                    grant_types=("client_credentials",), scopes=("accounts:release",),
                    audiences=("urn:mtlid:accounts",), created_at=dt.datetime.now(dt.timezone.utc)))
            await uow.commit()
        reads = PointReads(engine)
        try:
            yield engine, reads
        finally:
            await reads.aclose()
            await engine.dispose()


async def _set_disabled(engine, client_id: str, disabled: bool) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("UPDATE clients SET disabled = :d WHERE client_id = :c"),
                                 {"d": disabled, "c": client_id})


async def _eventually(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_the_client_is_read_as_stored_and_unknown_ids_are_none(identity_db):
    _engine, reads = identity_db
    hot = IdentityHotReads(reads)
    client = await hot.client("borough-a")
    assert (client.client_id, client.scopes, client.audiences, client.disabled) == (
        "borough-a", ("accounts:release",), ("urn:mtlid:accounts",), False)
    assert client.check_secret("s" * 40) and not client.check_secret("t" * 40)
    assert await hot.client("nobody") is None


async def test_without_a_live_feed_every_read_sees_the_latest_commit(identity_db):
    engine, reads = identity_db
    hot = IdentityHotReads(reads)           # feed not running: reads through
    assert (await hot.client("borough-a")).disabled is False
    await _set_disabled(engine, "borough-a", True)
    assert (await hot.client("borough-a")).disabled is True


@pytest.mark.skipif(backend() != "postgres", reason="the client cache exists on PostgreSQL only (LISTEN/NOTIFY)")
async def test_the_cache_forgets_a_client_when_the_database_announces_its_change(identity_db):
    engine, reads = identity_db
    hot = IdentityHotReads(reads)
    stop = asyncio.Event()
    feed = asyncio.create_task(hot.feed.run(stop))
    try:
        await _eventually(lambda: _true(hot.feed.live))
        assert (await hot.client("borough-a")).disabled is False
        assert "borough-a" in hot.clients.cached                        # cached
        await _set_disabled(engine, "borough-a", True)
        await _eventually(lambda: _disabled(hot, "borough-a"), timeout=1.0)
        assert (await hot.client("borough-b")).disabled is False   # the other one untouched

        # the feed's connection dies: the cache is dropped and reads go through until it is back
        async with engine.begin() as connection:
            await connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'mtlid-feed'"
                " AND datname = current_database()"))
        await _eventually(lambda: _true(not hot.feed.live))
        assert hot.clients.cached == {}
        await _set_disabled(engine, "borough-b", True)           # while nobody listens
        assert (await hot.client("borough-b")).disabled is True
        await _eventually(lambda: _true(hot.feed.live))
        await _set_disabled(engine, "borough-b", False)
        await _eventually(lambda: _enabled(hot, "borough-b"), timeout=1.0)
    finally:
        stop.set()
        await asyncio.wait_for(feed, 5)
    assert hot.feed.live is False


async def test_a_read_overtaken_by_a_change_does_not_fill_the_cache():
    """The read began before the change and returns the old row: it must not be cached."""

    class SlowReads:
        postgres_dsn = "postgresql://unused"

        def __init__(self):
            self.release = asyncio.Event()

        async def one(self, _sql, params):
            await self.release.wait()
            return (params["client_id"], "n", None, "[]", "[]", "[]", "[]", "[]", "pairwise", "", "ES256",
                    "client_secret_basic", False, "[]", False, None, "", False,
                    None, "", "", False, False, "", None, "")   # created_at … staff_directory_jwks_uri

    reads = SlowReads()
    hot = IdentityHotReads(reads)
    hot.feed.live = True
    pending = asyncio.create_task(hot.client("borough-a"))
    await asyncio.sleep(0)
    hot.clients.forget("borough-a")        # the notification arrives while the read is in flight
    reads.release.set()
    assert (await pending).client_id == "borough-a"
    assert hot.clients.cached == {}
    await hot.client("borough-a")           # a read after the change may be cached
    assert "borough-a" in hot.clients.cached


async def _true(value: bool) -> bool:
    return value


async def _disabled(hot, client_id: str) -> bool:
    return (await hot.client(client_id)).disabled


async def _enabled(hot, client_id: str) -> bool:
    return not (await hot.client(client_id)).disabled
