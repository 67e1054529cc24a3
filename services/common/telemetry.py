"""OpenTelemetry tracing: one tracer provider per process, OTLP export when configured.

gRPC calls are traced by the OpenTelemetry gRPC interceptors (services.common.grpc) only when
spans go somewhere, i.e. ``MTLID_OTEL_EXPORTER_OTLP_ENDPOINT`` is set (``exporting()``): without
an exporter the interceptors would build, time and drop a span per call (about a tenth of a
small call's CPU), and the W3C ``traceparent`` they carry between services would lead
nowhere. The same holds for the database (``instrument_engine``: the maintained
opentelemetry-instrumentation-sqlalchemy, a span per statement) and the HTTP front
(``instrument_asgi``: opentelemetry-instrumentation-asgi, a server span per request that
continues a caller's ``traceparent``): instrumented only when exporting, so the hot paths
pay nothing when tracing is off.

On PostgreSQL the hot paths talk to asyncpg directly (point reads in services.common.reads,
the outbox statements of the unit of work and the relay, accounts' release outbox), where
SQLAlchemy's instrumentation sees nothing: the maintained opentelemetry-instrumentation-asyncpg
traces the driver itself, again only when exporting. It sees SQLAlchemy's own statements on
PostgreSQL as well (SQLAlchemy's asyncpg dialect runs them through asyncpg's prepared
statements), so engines on asyncpg are not given SQLAlchemy's tracer too: one span per
statement, whichever path sent it. Neither records bound parameters (attribute values).

Events carry the trace context whatever the setting, captured at write time by the outbox:
in the envelope, as the CloudEvents distributed tracing extension (``traceparent``,
``tracestate``), which travels with the event through any transport, replay or dead letter,
and in the NATS headers; consumers continue that trace (``event_context``).

``MTLID_OTEL_EXPORTER_OTLP_PROTOCOL``: ``grpc`` (the default) or ``http/protobuf``.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

_configured = False
_exporting = False


def otlp_http_url(endpoint: str, signal: str) -> str:
    """OTLP/HTTP: the collector's base URL plus the signal's path (OTLP spec, "OTLP/HTTP
    Request": ``/v1/traces``, ``/v1/metrics``), unless the URL already names one."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith(f"/v1/{signal}") else f"{endpoint}/v1/{signal}"


def configure_tracing(service: str, otlp_endpoint: str | None, protocol: str = "grpc") -> None:
    global _configured, _exporting
    if _configured:
        return
    provider = TracerProvider(resource=Resource.create({"service.name": f"mtlid-{service}",
                                                         "service.namespace": "mtlid"}))
    if otlp_endpoint:
        if protocol == "http/protobuf":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter

            exporter = HttpSpanExporter(endpoint=otlp_http_url(otlp_endpoint, "traces"))
        else:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(endpoint=otlp_endpoint)
        provider.add_span_processor(BatchSpanProcessor(exporter))
        _exporting = True
    trace.set_tracer_provider(provider)
    if _exporting:
        _instrument_asyncpg(provider)
    _configured = True


def _instrument_asyncpg(provider) -> None:
    """A span per asyncpg statement, for the whole process (the instrumentor wraps asyncpg's
    ``Connection`` and ``PreparedStatement`` methods): parameters are not captured (its
    default, said here so it stays so)."""
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    instrumentor = AsyncPGInstrumentor(capture_parameters=False)
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=provider)


def exporting() -> bool:
    """Whether this process exports spans (``configure_tracing`` was given an OTLP endpoint):
    the gRPC server and channels trace calls only then."""
    return _exporting


def instrument_engine(engine) -> None:
    """A span per SQL statement (database semantic conventions), when exporting only; the
    statement is recorded without its parameters (bound values may be attribute values).

    The instrumentation's own ``EngineTracer``, per engine, as its ``instrument(engine=…)``
    does: that global instrumentor instruments once per process, and a process opens
    several engines (migrations, then the service). Its connection-usage metric is off: the
    pool is not what the dashboard watches, and a metric per checkout is a hot-path cost."""
    if not _exporting:
        return
    sync_engine = getattr(engine, "sync_engine", engine)
    if sync_engine.dialect.driver == "asyncpg":
        return  # traced by the asyncpg instrumentation underneath (configure_tracing)
    from opentelemetry.instrumentation.sqlalchemy import __version__ as version
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.metrics import NoOpMeterProvider

    usage = NoOpMeterProvider().get_meter(__name__).create_up_down_counter("db.client.connections.usage")
    EngineTracer(trace.get_tracer("opentelemetry.instrumentation.sqlalchemy", version), sync_engine, usage)


def instrument_asgi(app, *, tracer_provider=None):
    """``app`` with a server span per HTTP request (continuing the caller's ``traceparent``),
    when exporting; else ``app`` itself. Its metrics are switched off: the HTTP RED metrics
    are our own (services.common.metrics), recorded once."""
    if not _exporting:
        return app
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    from opentelemetry.metrics import NoOpMeterProvider

    return OpenTelemetryMiddleware(app, meter_provider=NoOpMeterProvider(), exclude_spans=["receive", "send"],
                                   server_request_hook=_without_query, tracer_provider=tracer_provider)


# What a span may say of a request's URL: its path. A query string may hold an address
# (``login_hint``), a state or a code: never exported.
_URL_ATTRIBUTES = ("http.target", "http.url", "url.full", "url.query")


def _without_query(span, scope) -> None:
    if span is None or not span.is_recording():
        return
    path = scope.get("path", "")
    for name in _URL_ATTRIBUTES:
        if name in (getattr(span, "attributes", None) or {}):
            span.set_attribute(name, "" if name == "url.query" else path)


def event_context(envelope: dict | None, headers: dict | None):
    """The trace context an event carries: the CloudEvents distributed tracing extension in
    the envelope first (it is the event's own), else the NATS headers."""
    from opentelemetry import propagate

    carrier = {}
    if isinstance(envelope, dict) and isinstance(envelope.get("traceparent"), str):
        carrier["traceparent"] = envelope["traceparent"]
        if isinstance(envelope.get("tracestate"), str):
            carrier["tracestate"] = envelope["tracestate"]
    else:
        carrier = dict(headers or {})
    return propagate.extract(carrier)
