"""The outbox, the relay and the consumer against a real database and a real nats-server.

Issue 2, point 6: rollback leaves nothing; a relay killed between publish and mark neither
duplicates nor loses; 1,000 writes while NATS is down all arrive after it returns, once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import select

from services.common.nats import connect, ensure_stream
from services.common.outbox import stream_name
from services.common.relay import OutboxRelay
from services.common.testing.databases import temporary_database
from services.common.uow import OUTBOX

from . import foundation_app as app

HERE = __import__("pathlib").Path(__file__).parent


@pytest.fixture
async def notes_db(tmp_path):
    async with temporary_database("notes", tmp_path) as url:
        engine, factory = await app.setup(url)
        yield url, factory
        await engine.dispose()


async def stream_event_ids(js) -> list[str]:
    """Every event id in the notes stream, read back from JetStream itself."""
    info = await js.stream_info(stream_name(app.SERVICE))
    ids = []
    sub = await js.pull_subscribe("montreal.notes.v1.>", durable=None, stream=stream_name(app.SERVICE))
    remaining = info.state.messages
    while remaining > 0:
        batch = await sub.fetch(min(remaining, 500), timeout=5)
        for msg in batch:
            ids.append(json.loads(msg.data)["id"])
            await msg.ack()
        remaining -= len(batch)
    await sub.unsubscribe()
    return ids


async def outbox_ids(factory, *, unpublished_only: bool = False) -> list[str]:
    query = select(OUTBOX.c.event_id).order_by(OUTBOX.c.seq)
    if unpublished_only:
        query = query.where(OUTBOX.c.published_at.is_(None))
    async with factory() as session:
        return list((await session.scalars(query)).all())


async def test_rolled_back_unit_of_work_leaves_neither_change_nor_event(notes_db):
    _, factory = notes_db
    await app.write_note(factory, "kept")
    await app.write_note(factory, "dropped", commit=False)
    with pytest.raises(RuntimeError):
        async with app.NotesUnitOfWork(factory, app.SERVICE) as uow:
            await uow.session.execute(app.insert(app.Note).values(note_id="raised", text="x"))
            uow.add_event(app.NoteWritten(note_id="raised"))
            raise RuntimeError("handler failed after writing")
    async with factory() as session:
        notes = set((await session.scalars(select(app.Note.note_id))).all())
        envelopes = [json.loads(e) for e in (await session.scalars(select(OUTBOX.c.envelope))).all()]
    assert notes == {"kept"}
    assert [e["data"]["note_id"] for e in envelopes] == ["kept"]
    assert envelopes[0]["specversion"] == "1.0"
    assert envelopes[0]["type"] == "montreal.notes.v1.note_written"
    assert envelopes[0]["subject"] == "kept"


async def test_relay_killed_between_publish_and_mark_publishes_nothing_twice(notes_db, fresh_nats):
    url, factory = notes_db
    for i in range(20):
        await app.write_note(factory, f"n{i}")
    child = subprocess.run([sys.executable, "-m", "tests.integration.common.relay_child", url, fresh_nats.url, "5"],
                           cwd=HERE.parent.parent.parent, capture_output=True, timeout=60)
    assert child.returncode == 9, child.stderr.decode()[-2000:]
    # The child published 5 events and died before marking any of them sent.
    assert len(await outbox_ids(factory, unpublished_only=True)) == 20

    nc = await connect(fresh_nats.url, name="test")
    js = nc.jetstream()
    relay = OutboxRelay(app.SERVICE, factory, lambda: js)
    assert await relay.publish_pending() == 20
    assert await outbox_ids(factory, unpublished_only=True) == []
    published = await stream_event_ids(js)
    assert sorted(published) == sorted(await outbox_ids(factory))  # all 20, each once
    assert len(published) == len(set(published)) == 20
    await nc.close()


async def test_writes_succeed_while_nats_is_down_and_all_arrive_once_after(notes_db, fresh_nats):
    _, factory = notes_db
    nc = await connect(fresh_nats.url, name="test-relay")
    js = nc.jetstream()
    await ensure_stream(js, app.SERVICE)
    relay = OutboxRelay(app.SERVICE, factory, lambda: js, poll_interval=0.2)
    stop = asyncio.Event()
    relay_task = asyncio.create_task(relay.run(stop))

    await app.write_note(factory, "before", on_commit=relay.wake)
    for _ in range(100):
        if relay.published == 1:
            break
        await asyncio.sleep(0.05)
    assert relay.published == 1

    fresh_nats.kill()
    for i in range(1000):
        await app.write_note(factory, f"offline-{i}", on_commit=relay.wake)
    assert await app.count(factory, app.Note.__table__) == 1001

    fresh_nats.start()
    for _ in range(600):
        if not await outbox_ids(factory, unpublished_only=True):
            break
        await asyncio.sleep(0.1)
    stop.set()
    await relay_task
    assert await outbox_ids(factory, unpublished_only=True) == []
    published = await stream_event_ids(js)
    assert len(published) == len(set(published)) == 1001
    assert sorted(published) == sorted(await outbox_ids(factory))
    await nc.close()


async def test_a_commit_during_a_relay_pass_is_published_without_waiting_for_the_poll(notes_db, fresh_nats):
    """The wake of a commit that lands while the relay is publishing is not lost: the relay
    goes round again at once instead of after its poll interval (here 30 s)."""
    _, factory = notes_db
    nc = await connect(fresh_nats.url, name="test-relay-wake")
    js = nc.jetstream()
    await ensure_stream(js, app.SERVICE)
    in_pass = asyncio.Event()
    proceed = asyncio.Event()

    async def pause_during_pass(_event_id: str) -> None:
        in_pass.set()
        await proceed.wait()

    relay = OutboxRelay(app.SERVICE, factory, lambda: js, poll_interval=30.0, after_publish=pause_during_pass)
    stop = asyncio.Event()
    relay_task = asyncio.create_task(relay.run(stop))
    try:
        await app.write_note(factory, "first", on_commit=relay.wake)
        await asyncio.wait_for(in_pass.wait(), 10)             # the relay is mid-pass
        relay._after_publish = None
        await app.write_note(factory, "during", on_commit=relay.wake)
        proceed.set()
        for _ in range(100):
            if relay.published == 2:
                break
            await asyncio.sleep(0.05)
        assert relay.published == 2                              # within 5 s, not 30
    finally:
        stop.set()
        proceed.set()
        await asyncio.wait_for(relay_task, 10)
        await nc.close()


async def test_rows_handed_over_at_commit_are_published_once_without_reading_the_outbox_back(notes_db, fresh_nats):
    """Issue 15: a service's own commits hand their rows to its relay, which publishes them and
    marks them sent in one statement; the outbox is read back only at start (and each poll)."""
    _, factory = notes_db
    nc = await connect(fresh_nats.url, name="test-relay-handed")
    js = nc.jetstream()
    await ensure_stream(js, app.SERVICE)
    relay = OutboxRelay(app.SERVICE, factory, lambda: js, poll_interval=30.0)
    stop = asyncio.Event()
    relay_task = asyncio.create_task(relay.run(stop))
    try:
        for i in range(40):
            await app.write_note(factory, f"h{i}", on_commit=relay.wake, hand_over=relay.hand_over)
            if i % 10 == 0:
                await asyncio.sleep(0.15)                    # a few separate bursts
        for _ in range(200):
            if not await outbox_ids(factory, unpublished_only=True) and relay.published >= 40:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(relay_task, 10)
    assert await outbox_ids(factory, unpublished_only=True) == []
    published = await stream_event_ids(js)
    assert len(published) == len(set(published)) == 40
    assert sorted(published) == sorted(await outbox_ids(factory))
    assert relay.handed_passes >= 1 and relay.passes <= 2     # the start-up read, no read per commit
    await nc.close()


async def test_relay_killed_between_publishing_handed_rows_and_marking_them_loses_and_doubles_nothing(
        notes_db, fresh_nats):
    url, factory = notes_db
    child = subprocess.run([sys.executable, "-m", "tests.integration.common.relay_child", url, fresh_nats.url, "5",
                            "handed", "12"], cwd=HERE.parent.parent.parent, capture_output=True, timeout=60)
    assert child.returncode == 9, child.stderr.decode()[-2000:]
    # The child committed 12 notes, published their events from memory and died before marking.
    assert len(await outbox_ids(factory, unpublished_only=True)) == 12

    nc = await connect(fresh_nats.url, name="test")
    js = nc.jetstream()
    relay = OutboxRelay(app.SERVICE, factory, lambda: js)
    assert await relay.publish_pending() == 12
    published = await stream_event_ids(js)
    assert sorted(published) == sorted(await outbox_ids(factory))  # all 12, each once
    assert len(published) == len(set(published)) == 12
    await nc.close()


@pytest.mark.parametrize("where", ["no stream", "another stream"])
async def test_a_row_jetstream_refuses_stays_in_the_outbox_with_those_after_it(notes_db, fresh_nats, where):
    """The relay's own publisher (``_AckInbox``) counts a row as sent only on JetStream's
    acknowledgement: a subject no stream takes ("no responders") or one stored by another
    service's stream (``Nats-Expected-Stream`` refused) is not sent, nor is anything after it."""
    _, factory = notes_db
    nc = await connect(fresh_nats.url, name="test")
    js = nc.jetstream()
    await ensure_stream(js, app.SERVICE)
    if where == "another stream":
        await ensure_stream(js, "elsewhere")
    await app.write_note(factory, "before")
    async with factory() as session, session.begin():
        await session.execute(OUTBOX.insert().values(
            event_id=str(uuid.uuid4()), subject="montreal.elsewhere.v1.stray", envelope="{}", headers="{}",
            created_at=dt.datetime.now(dt.timezone.utc)))
    await app.write_note(factory, "after")
    relay = OutboxRelay(app.SERVICE, factory, lambda: js, publish_timeout=3.0)
    with pytest.raises(Exception) as refused:
        await relay.publish_pending()
    assert ("no stream" in str(refused.value)) if where == "no stream" else ("expected stream" in str(refused.value))
    before, stray, after = await outbox_ids(factory)
    assert await outbox_ids(factory, unpublished_only=True) == [stray, after]
    # Pipelined, "after" may have been stored already; it is not counted as sent, so the next
    # pass publishes it again and JetStream drops the copy (same Nats-Msg-Id).
    async with factory() as session, session.begin():
        await session.execute(OUTBOX.delete().where(OUTBOX.c.event_id == stray))  # the operator's fix
    assert await relay.publish_pending() == 1
    assert await outbox_ids(factory, unpublished_only=True) == []
    assert await stream_event_ids(js) == [before, after]
    await nc.close()
