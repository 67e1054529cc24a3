"""The release's ``attributes_released`` event (``adapters/release_outbox.py`` on PostgreSQL,
the unit of work on SQLite) on a real database and a real nats-server: the row is the one the
unit of work writes, it is committed when ``add`` returns (and the relay woken only then),
concurrent releases share one statement, a failed write leaves nothing and wakes nothing, a
connection that breaks mid-statement neither loses nor doubles a row, and the relay publishes
the row once in effect."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json

import pytest
from sqlalchemy import select, text

from services.accounts.adapters.release_outbox import PostgresReleaseOutbox
from services.accounts.adapters.uow import AccountsUnitOfWork
from services.accounts.domain.events import AttributesReleased
from services.accounts.service_layer.handlers import UnitOfWorkReleaseOutbox
from services.common.db import create_engine, session_factory
from services.common.errors import Unavailable
from services.common.migrations import migrate_async
from services.common.nats import connect, ensure_stream
from services.common.outbox import stream_name
from services.common.relay import OutboxRelay
from services.common.testing.databases import backend, temporary_database
from services.common.uow import OUTBOX

EVENT = AttributesReleased(access_id="acs_0192f1e2a3b4c5d6e7f80011", resident_id="4K7Q9QXB2BCW",
                           service_id="library", purpose_id="communication", categories=("email",),
                           withheld=("phone",), bases={"email": "consent"}, consent_ids=("consent-1",))


@pytest.fixture
async def accounts_db(tmp_path):
    async with temporary_database("release_outbox", tmp_path) as url:
        await migrate_async("accounts", url)
        engine = create_engine(url)
        try:
            yield engine, session_factory(engine)
        finally:
            await engine.dispose()


def _outbox(engine, sessions, woken: list):
    """What the service wires for this database (services/accounts/app.py: release_outbox)."""
    if backend() == "postgres":
        return PostgresReleaseOutbox(engine, "accounts", on_commit=lambda: woken.append(True))
    return UnitOfWorkReleaseOutbox(lambda: AccountsUnitOfWork(sessions, on_commit=lambda: woken.append(True)))


async def _rows(sessions) -> list:
    async with sessions() as session:
        return list((await session.execute(select(OUTBOX).order_by(OUTBOX.c.seq))).all())


async def test_the_event_is_the_row_the_unit_of_work_writes(accounts_db):
    engine, sessions = accounts_db
    woken: list = []
    before = dt.datetime.now(dt.timezone.utc)
    await _outbox(engine, sessions, woken).add(EVENT)
    assert woken == [True]
    # the same event through a unit of work, for comparison
    async with AccountsUnitOfWork(sessions) as uow:
        uow.add_event(dataclasses.replace(EVENT, access_id="acs_reference"))
        await uow.commit()

    ours, reference = await _rows(sessions)
    assert ours.published_at is None and ours.subject == reference.subject == \
        "montreal.accounts.v1.attributes_released"
    created = ours.created_at if ours.created_at.tzinfo else ours.created_at.replace(tzinfo=dt.timezone.utc)
    assert before - dt.timedelta(seconds=1) <= created <= dt.datetime.now(dt.timezone.utc)
    envelope, expected = json.loads(ours.envelope), json.loads(reference.envelope)
    assert envelope["data"] == EVENT.to_payload()
    assert {k for k in envelope if k not in ("id", "time")} == {k for k in expected if k not in ("id", "time")}
    assert envelope["id"] == ours.event_id and envelope["source"] == "mtlid/accounts"
    assert json.loads(ours.headers) == json.loads(reference.headers)
    # names of attributes, never their values (DESIGN.md, events)
    assert "example" not in ours.envelope


@pytest.mark.skipif(backend() != "postgres", reason="the single-statement outbox write is PostgreSQL's")
async def test_a_failed_write_leaves_nothing_and_wakes_nothing(accounts_db):
    engine, sessions = accounts_db
    woken: list = []
    outbox = PostgresReleaseOutbox(engine, "accounts", on_commit=lambda: woken.append(True))
    async with engine.begin() as connection:
        await connection.execute(text("ALTER TABLE outbox ADD CONSTRAINT refuse_all CHECK (seq < 0) NOT VALID"))
    with pytest.raises(Unavailable):
        await outbox.add(EVENT)
    assert woken == []
    async with engine.begin() as connection:
        await connection.execute(text("ALTER TABLE outbox DROP CONSTRAINT refuse_all"))
    assert await _rows(sessions) == []
    await outbox.add(EVENT)                  # the pool's connection is still good afterwards
    assert len(await _rows(sessions)) == 1 and woken == [True]


@pytest.mark.skipif(backend() != "postgres", reason="group commits are PostgreSQL's")
async def test_concurrent_releases_share_statements_and_each_waits_for_its_commit(accounts_db):
    engine, sessions = accounts_db
    woken: list = []
    outbox = PostgresReleaseOutbox(engine, "accounts", on_commit=lambda: woken.append(True))
    try:
        events = [dataclasses.replace(EVENT, access_id=f"acs_{i:04d}") for i in range(40)]
        await asyncio.gather(*(outbox.add(e) for e in events))
        rows = await _rows(sessions)
        assert sorted(json.loads(r.envelope)["data"]["access_id"] for r in rows) == sorted(e.access_id for e in events)
        assert len({r.event_id for r in rows}) == 40 and len(woken) == 40
        assert 1 <= outbox.statements < 40          # grouped: the first alone, the rest together
    finally:
        await outbox.aclose()


async def _slow_inserts(engine, on: bool) -> None:
    async with engine.begin() as connection:
        if on:
            await connection.execute(text(
                "CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS"
                " $$ BEGIN PERFORM pg_sleep(0.5); RETURN NULL; END $$"))
            await connection.execute(text(
                "CREATE TRIGGER slow BEFORE INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION slow_insert()"))
        else:
            await connection.execute(text("DROP TRIGGER slow ON outbox"))
            await connection.execute(text("DROP FUNCTION slow_insert()"))


async def _kill_the_outbox_connection_during_its_statement(engine) -> None:
    await asyncio.sleep(0.2)
    async with engine.begin() as connection:
        killed = (await connection.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = 'mtlid-accounts-outbox' AND datname = current_database()"))).scalar()
    assert killed == 1


@pytest.mark.skipif(backend() != "postgres", reason="the single-statement outbox write is PostgreSQL's")
@pytest.mark.parametrize("first_try_committed", [False, True])
async def test_a_connection_broken_mid_statement_neither_loses_nor_doubles_the_row(accounts_db,
                                                                                  first_try_committed):
    engine, sessions = accounts_db
    outbox = PostgresReleaseOutbox(engine, "accounts")
    from services.common.outbox import outbox_row

    rows = [outbox_row("accounts", dataclasses.replace(EVENT, access_id=f"acs_{i}")) for i in range(3)]
    try:
        await outbox.add(dataclasses.replace(EVENT, access_id="acs_opens_the_connection"))
        if first_try_committed:
            # As if the first try had committed and only its answer were lost: the rows are there.
            async with engine.begin() as connection:
                await connection.execute(OUTBOX.insert(), rows)
        await _slow_inserts(engine, True)
        try:
            await asyncio.gather(outbox._insert(rows), _kill_the_outbox_connection_during_its_statement(engine))
        finally:
            await _slow_inserts(engine, False)
        stored = [r.event_id for r in await _rows(sessions)]
        assert sorted(stored[1:]) == sorted(r["event_id"] for r in rows)      # each exactly once
        await outbox.add(EVENT)                                               # and it goes on
        assert len(await _rows(sessions)) == 5
    finally:
        await outbox.aclose()


def test_the_single_statement_write_is_for_postgresql_only():
    with pytest.raises(ValueError):
        PostgresReleaseOutbox(create_engine("sqlite+aiosqlite:///:memory:"), "accounts")


async def test_the_relay_publishes_the_event_once(accounts_db, nats):
    engine, sessions = accounts_db
    await _outbox(engine, sessions, []).add(EVENT)
    client = await connect(nats.url, name="release-outbox-test")
    try:
        js = client.jetstream()
        await ensure_stream(js, "accounts")
        relay = OutboxRelay("accounts", sessions, lambda: js)
        assert await relay.publish_pending() == 1
        assert await relay.publish_pending() == 0
        [row] = await _rows(sessions)
        assert row.published_at is not None
        # published again as if a relay had died before marking it: JetStream drops the copy
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE outbox SET published_at = NULL"))
        assert await relay.publish_pending() == 1
        sub = await js.pull_subscribe("montreal.accounts.v1.attributes_released", durable=None,
                                      stream=stream_name("accounts"))
        messages = await sub.fetch(10, timeout=2)
        mine = [m for m in messages if json.loads(m.data)["data"]["access_id"] == EVENT.access_id]
        assert len(mine) == 1 and mine[0].headers["Nats-Msg-Id"] == row.event_id
        await sub.unsubscribe()
    finally:
        await client.close()


@pytest.mark.skipif(backend() != "postgres", reason="the single-statement outbox write is PostgreSQL's")
async def test_a_statement_the_database_does_not_answer_in_time_fails_its_releases_and_writes_nothing(accounts_db):
    engine, sessions = accounts_db
    woken: list = []
    outbox = PostgresReleaseOutbox(engine, "accounts", on_commit=lambda: woken.append(True), statement_timeout=0.5)
    try:
        async with engine.connect() as blocker:
            await blocker.execute(text("LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE"))   # the INSERT waits
            with pytest.raises(Unavailable):
                await asyncio.wait_for(outbox.add(EVENT), 10)
            await blocker.rollback()
        assert await _rows(sessions) == [] and woken == []
        await outbox.add(EVENT)                                     # the next group goes through
        assert len(await _rows(sessions)) == 1 and woken == [True]
    finally:
        await outbox.aclose()
