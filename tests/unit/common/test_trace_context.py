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
