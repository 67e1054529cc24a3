"""Trace context travels with an event: the consumer continues the producer's trace."""

from __future__ import annotations

import asyncio
import json
import uuid

from opentelemetry import trace
from sqlalchemy import select

from services.common.consumer import EventConsumer
from services.common.nats import connect, ensure_stream
from services.common.relay import OutboxRelay
from services.common.telemetry import configure_tracing
from services.common.testing.databases import temporary_database
from services.common.uow import OUTBOX

from . import foundation_app as app


async def test_consumer_span_joins_the_trace_of_the_write_that_produced_the_event(nats, tmp_path):
    configure_tracing("tests", None)
    tracer = trace.get_tracer("tests")
    async with temporary_database("trace", tmp_path) as url:
        engine, factory = await app.setup(url)
        nc = await connect(nats.url, name="trace-test")
        js = nc.jetstream()
        await ensure_stream(js, app.SERVICE)
        note_id = f"traced-{uuid.uuid4().hex[:8]}"
        with tracer.start_as_current_span("grant request") as span:
            producer_trace = span.get_span_context().trace_id
            await app.write_note(factory, note_id)
        async with factory() as session:
            headers = json.loads(await session.scalar(select(OUTBOX.c.headers).where(
                OUTBOX.c.envelope.like(f"%{note_id}%"))))
        assert headers["traceparent"].split("-")[1] == format(producer_trace, "032x")

        await OutboxRelay(app.SERVICE, factory, lambda: js).publish_pending()
        seen: list[int] = []

        async def handler(event, uow):
            if event.data["note_id"] == note_id:
                seen.append(trace.get_current_span().get_span_context().trace_id)

        consumer = EventConsumer(jetstream=lambda: js, uow_factory=lambda: app.NotesUnitOfWork(factory, "t"),
                                 durable=f"trace-{uuid.uuid4().hex[:6]}", stream_service=app.SERVICE,
                                 subjects=["montreal.notes.v1.note_written"], handler=handler)
        stop = asyncio.Event()
        task = asyncio.create_task(consumer.run(stop))
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await task
        assert seen == [producer_trace]
        await nc.close()
        await engine.dispose()
