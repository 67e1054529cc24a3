"""OpenTelemetry tracing: one tracer provider per process, OTLP export when configured.

gRPC calls are traced by the OpenTelemetry gRPC interceptors (services.common.grpc); events
carry the W3C ``traceparent`` in their NATS headers (outbox rows capture it at write time,
consumers continue the trace).
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

_configured = False


def configure_tracing(service: str, otlp_endpoint: str | None) -> None:
    global _configured
    if _configured:
        return
    provider = TracerProvider(resource=Resource.create({"service.name": f"mtlid-{service}",
                                                         "service.namespace": "mtlid"}))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
    trace.set_tracer_provider(provider)
    _configured = True
