"""Issue 19: an event carries its trace in its own envelope (CloudEvents distributed tracing
extension), and tracing costs the hot paths nothing when it is not exported."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from services.common import telemetry
from services.common.config import ConfigError, Settings
from services.common.events import Event
from services.common.outbox import outbox_row


@dataclass(frozen=True)
class NoteWritten(Event):
    NAME: ClassVar[str] = "note_written"
    note_id: str


def test_the_envelope_carries_the_trace_of_the_write_that_made_the_event():
    tracer = TracerProvider().get_tracer("tests")
    with tracer.start_as_current_span("write") as span:
        row = outbox_row("notes", NoteWritten("n-1"))
        trace_id = format(span.get_span_context().trace_id, "032x")
    envelope, headers = json.loads(row["envelope"]), json.loads(row["headers"])
    assert envelope["traceparent"].split("-")[1] == trace_id
    assert headers["traceparent"] == envelope["traceparent"]  # a copy for NATS-level tools
    # …and a consumer reads it from the envelope, the event's own, before any header.
    context = telemetry.event_context(envelope, {"traceparent": f"00-{'1' * 32}-{'2' * 16}-01"})
    assert format(trace.get_current_span(context).get_span_context().trace_id, "032x") == trace_id


def test_an_event_written_outside_any_trace_has_no_trace_attribute():
    envelope = json.loads(outbox_row("notes", NoteWritten("n-2"))["envelope"])
    assert "traceparent" not in envelope


def test_without_an_exporter_the_http_front_and_the_database_are_not_instrumented(monkeypatch):
    monkeypatch.setattr(telemetry, "_exporting", False)

    async def app(scope, receive, send):
        pass

    assert telemetry.instrument_asgi(app) is app
    from services.common.db import create_engine

    engine = create_engine("sqlite+aiosqlite:///:memory:")
    # No tracer listens to every statement.
    assert not [fn for fn in engine.sync_engine.dispatch.before_cursor_execute
                if "opentelemetry" in getattr(fn, "__module__", "")]


def test_with_an_exporter_they_are():
    import opentelemetry.instrumentation.asgi as asgi

    previous = telemetry._exporting
    telemetry._exporting = True
    try:
        async def app(scope, receive, send):
            pass

        assert isinstance(telemetry.instrument_asgi(app), asgi.OpenTelemetryMiddleware)
        from services.common.db import create_engine

        engine = create_engine("sqlite+aiosqlite:///:memory:")
        assert [fn for fn in engine.sync_engine.dispatch.before_cursor_execute
                if "opentelemetry" in getattr(fn, "__module__", "")]
    finally:
        telemetry._exporting = previous


def test_the_otlp_protocol_is_grpc_or_http_protobuf():
    assert Settings.from_env({}).otlp_protocol == "grpc"
    assert Settings.from_env({"MTLID_OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}).otlp_protocol == "http/protobuf"
    with pytest.raises(ConfigError, match="MTLID_OTEL_EXPORTER_OTLP_PROTOCOL"):
        Settings.from_env({"MTLID_OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})
    assert telemetry.otlp_http_url("http://collector:4318/", "traces") == "http://collector:4318/v1/traces"
    assert telemetry.otlp_http_url("http://collector:4318/v1/traces", "traces") == "http://collector:4318/v1/traces"


async def test_an_http_span_says_the_path_never_the_query_string():
    """A query string may carry an address (``login_hint``), a state or a code."""
    import httpx
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exported))

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    previous = telemetry._exporting
    telemetry._exporting = True
    try:
        traced = telemetry.instrument_asgi(app, tracer_provider=provider)
    finally:
        telemetry._exporting = previous
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=traced), base_url="http://front") as http:
        assert (await http.get("/authorize?login_hint=resident%40example.ca&state=s3cr3t")).status_code == 200
    [span] = exported.get_finished_spans()
    attributes = json.dumps(dict(span.attributes))
    assert "/authorize" in attributes
    assert "resident" not in attributes and "s3cr3t" not in attributes and "login_hint" not in attributes
