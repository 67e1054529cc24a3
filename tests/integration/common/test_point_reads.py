"""``services.common.reads.PointReads`` on the test database (SQLite or PostgreSQL, per
``MTLID_TEST_DATABASE``): what a hot path relies on — it sees every commit at once, it never
writes, it survives a broken connection."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from services.common.db import create_engine
from services.common.reads import PointReads, _positional
from services.common.testing.databases import backend, temporary_database


def test_named_parameters_become_numbered_for_asyncpg_in_order_of_first_use():
    assert _positional("SELECT :a, :b, :a::text FROM t WHERE x = :b") == (
        "SELECT $1, $2, $1::text FROM t WHERE x = $2", ("a", "b"))


@pytest.fixture
async def database():
    async with temporary_database("point_reads") as url:
        engine = create_engine(url)
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE revoked (jti VARCHAR(64) PRIMARY KEY, note TEXT)"))
        reads = PointReads(engine)
        try:
            yield engine, reads
        finally:
            await reads.aclose()
            await engine.dispose()


QUERY = "SELECT EXISTS (SELECT 1 FROM revoked WHERE jti = :jti)"


async def test_a_commit_is_seen_by_the_very_next_read(database):
    engine, reads = database
    assert bool((await reads.one(QUERY, {"jti": "a"}))[0]) is False
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO revoked VALUES ('a', 'x')"))
    assert bool((await reads.one(QUERY, {"jti": "a"}))[0]) is True
    assert bool((await reads.one(QUERY, {"jti": "b"}))[0]) is False
    assert await reads.all("SELECT jti, note FROM revoked ORDER BY jti") == [("a", "x")]
    assert await reads.one("SELECT jti FROM revoked WHERE jti = :jti", {"jti": "none"}) is None


async def test_an_uncommitted_write_is_not_seen(database):
    engine, reads = database
    async with engine.connect() as connection:
        await connection.execute(text("INSERT INTO revoked VALUES ('pending', 'x')"))
        assert bool((await reads.one(QUERY, {"jti": "pending"}))[0]) is False
        await connection.rollback()


async def test_point_reads_never_write(database):
    _engine, reads = database
    with pytest.raises(Exception):
        await reads.one("INSERT INTO revoked VALUES ('w', 'x') RETURNING jti")
    assert await reads.all("SELECT jti FROM revoked") == []


@pytest.mark.skipif(backend() != "postgres", reason="a server-side disconnect exists on PostgreSQL only")
async def test_a_connection_killed_by_the_server_is_replaced_without_an_error(database):
    engine, reads = database
    await reads.one(QUERY, {"jti": "a"})
    async with engine.begin() as connection:
        killed = await connection.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"))
        assert killed.scalar() >= 1
    assert bool((await reads.one(QUERY, {"jti": "a"}))[0]) is False


@pytest.mark.skipif(backend() != "postgres", reason="the connection pool is PostgreSQL's only")
async def test_many_concurrent_reads_share_a_bounded_number_of_connections():
    import asyncio

    async with temporary_database("point_reads_pool") as url:
        engine = create_engine(url)
        reads = PointReads(engine, pool_size=2)
        try:
            async def slow_read(n: int):
                return (await reads.one("SELECT :n::int FROM pg_sleep(0.02)", {"n": n}))[0]

            waiting = [asyncio.create_task(slow_read(n)) for n in range(30)]
            asyncio.get_running_loop().call_later(0.03, waiting[-1].cancel)   # one caller gives up
            results = await asyncio.gather(*waiting, return_exceptions=True)
            assert results[:-1] == list(range(29))
            assert isinstance(results[-1], asyncio.CancelledError)
            opened = await reads.one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'mtlid-reads'"
                " AND datname = current_database()")
            assert opened[0] == 2
            assert await reads.one("SELECT 1") == (1,)    # nothing leaked by the cancelled caller
        finally:
            await reads.aclose()
            await engine.dispose()


@pytest.mark.skipif(backend() != "postgres", reason="grouped lookups use PostgreSQL arrays")
async def test_concurrent_lookups_share_statements_and_each_sees_what_was_committed_before_it_asked(database):
    import asyncio

    from services.common.reads import GroupedLookup

    engine, reads = database

    async def revoked_among(keys):
        rows = await reads.all("SELECT jti FROM revoked WHERE jti = ANY(:keys::varchar[])", {"keys": keys})
        return {row[0] for row in rows}

    lookup = GroupedLookup(revoked_among)
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO revoked VALUES ('r1', 'x'), ('r2', 'x')"))
    keys = [f"r{n % 4}" for n in range(40)]
    answers = await asyncio.gather(*(lookup.contains(key) for key in keys))
    assert answers == [key in ("r1", "r2") for key in keys]
    assert lookup.statements < 10                      # 40 lookups, a few statements

    # a key revoked while a statement is in flight is seen by the next lookup
    first = asyncio.create_task(lookup.contains("r3"))
    await asyncio.sleep(0)
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO revoked VALUES ('r3', 'x')"))
    assert await lookup.contains("r3") is True
    await first                                        # asked before the commit: either answer is right

    # a failing statement fails its own group, and the next group works again
    async def broken(_keys):
        raise ConnectionError("database away")

    failing = GroupedLookup(broken)
    results = await asyncio.gather(failing.contains("a"), failing.contains("b"), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
