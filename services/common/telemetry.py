"""OpenTelemetry tracing: one tracer provider per process, OTLP export when configured.

gRPC calls are traced by the OpenTelemetry gRPC interceptors (services.common.grpc) only when
spans go somewhere, i.e. ``MTLID_OTEL_EXPORTER_OTLP_ENDPOINT`` is set (``exporting()``): without
an exporter the interceptors would build, time and drop a span per call (about a tenth of a
small call's CPU), and the W3C ``traceparent`` they carry between services would lead
nowhere. Events carry the ``traceparent`` in their NATS headers whatever the setting (outbox
rows capture it at write time, consumers continue the trace).
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

_configured = False
_exporting = False


def configure_tracing(service: str, otlp_endpoint: str | None) -> None:
    global _configured, _exporting
    if _configured:
        return
    provider = TracerProvider(resource=Resource.create({"service.name": f"mtlid-{service}",
                                                         "service.namespace": "mtlid"}))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
        _exporting = True
    trace.set_tracer_provider(provider)
    _configured = True


def exporting() -> bool:
    """Whether this process exports spans (``configure_tracing`` was given an OTLP endpoint):
    the gRPC server and channels trace calls only then."""
    return _exporting
