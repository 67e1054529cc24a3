"""The durable consumer applies each event once, even when JetStream delivers it twice."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from sqlalchemy import insert, select

from services.common.consumer import EventConsumer
from services.common.events import CloudEvent
from services.common.nats import connect, ensure_stream
from services.common.testing.databases import temporary_database
from services.common.uow import INBOX

from . import foundation_app as app


@pytest.fixture
async def consumer_db(tmp_path):
    async with temporary_database("inbox", tmp_path) as url:
        engine, factory = await app.setup(url)
        yield factory
        await engine.dispose()


def envelope(event_id: str, note_id: str) -> bytes:
    return json.dumps({"specversion": "1.0", "id": event_id, "source": "mtlid/notes",
                       "type": "montreal.notes.v1.note_written", "time": "2026-11-27T00:00:00Z",
                       "data": {"note_id": note_id}}).encode()


async def copy_note(event: CloudEvent, uow) -> None:
    await uow.session.execute(insert(app.Note).values(note_id=f"copy-{event.data['note_id']}", text=event.id))


async def test_same_event_delivered_twice_is_applied_once(consumer_db, nats):
    factory = consumer_db
    nc = await connect(nats.url, name="test-consumer")
    js = nc.jetstream()
    await ensure_stream(js, app.SERVICE)
    durable = f"test-{uuid.uuid4().hex[:8]}"
    subject = "montreal.notes.v1.note_written"
    consumer = EventConsumer(jetstream=lambda: js, uow_factory=lambda: app.NotesUnitOfWork(factory, "copier"),
                             durable=durable, stream_service=app.SERVICE, subjects=[subject], handler=copy_note)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    # The same event (same CloudEvents id) twice, under different Nats-Msg-Ids so that
    # JetStream's own dedupe does not hide the second copy: only the inbox can stop it.
    await js.publish(subject, envelope(first, "a"), headers={"Nats-Msg-Id": f"{first}-1"})
    await js.publish(subject, envelope(first, "a"), headers={"Nats-Msg-Id": f"{first}-2"})
    await js.publish(subject, envelope(second, "b"), headers={"Nats-Msg-Id": second})
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    for _ in range(200):
        if consumer.applied + consumer.duplicates >= 3:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await task
    async with factory() as session:
        copies = sorted((await session.scalars(select(app.Note.note_id).where(app.Note.note_id.like("copy-%")))).all())
        seen = set((await session.scalars(select(INBOX.c.event_id).where(INBOX.c.consumer == durable))).all())
    assert copies == ["copy-a", "copy-b"]
    assert seen == {first, second}
    assert (consumer.applied, consumer.duplicates) == (2, 1)
    await nc.close()


async def test_handler_failure_applies_nothing_and_the_event_can_be_retried(consumer_db):
    factory = consumer_db
    calls = []

    async def flaky(event, uow):
        calls.append(event.id)
        await copy_note(event, uow)
        if len(calls) == 1:
            raise ConnectionError("dependency down")

    consumer = EventConsumer(jetstream=lambda: None, uow_factory=lambda: app.NotesUnitOfWork(factory, "copier"),
                             durable="flaky", stream_service=app.SERVICE, subjects=[], handler=flaky)
    event = CloudEvent.from_envelope(json.loads(envelope(str(uuid.uuid4()), "c")))
    with pytest.raises(ConnectionError):
        await consumer.apply(event)
    assert await app.count(factory, INBOX) == 0          # the inbox row rolled back with the change
    assert await consumer.apply(event) is True           # a redelivery applies it
    assert await consumer.apply(event) is False          # and never again
    assert await app.count(factory, app.Note.__table__) == 1
