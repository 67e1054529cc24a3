"""OpenTelemetry: a server span per call, child of the caller's span (W3C trace context in
the metadata), with the gRPC status; no spans for health checks."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from services.common import telemetry
from services.common.grpc.auth import StaticJwks, TokenVerifier
from services.common.grpc.interceptors import CallGuard
from services.common.grpc.client import StaticToken, make_channel
from services.common.grpc.server import GrpcServer

from .conftest import AUDIENCE, METHOD_POLICIES, SERVICE, make_servicer


def provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    return tracer_provider, exporter


async def test_server_spans_continue_the_callers_trace(probe, minter, probe_token):
    pb2, pb2_grpc = probe
    server_tp, server_spans = provider()
    client_tp, client_spans = provider()
    server = GrpcServer("probe", host="127.0.0.1", port=0, method_policies=METHOD_POLICIES,
                        token_verifier=TokenVerifier(minter.issuer, AUDIENCE, StaticJwks(minter.jwks())),
                        tracer_provider=server_tp)
    server.add(make_servicer(pb2, pb2_grpc), pb2_grpc.add_ProbeServiceServicer_to_server, SERVICE)
    port = await server.start()
    try:
        async with make_channel(f"127.0.0.1:{port}", token_provider=StaticToken(probe_token),
                                tracer_provider=client_tp) as channel:
            stub = pb2_grpc.ProbeServiceStub(channel)
            await stub.Echo(pb2.EchoRequest(name="a"))
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.Echo(pb2.EchoRequest())
            await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    finally:
        await server.drain(0.5)

    served = [s for s in server_spans.get_finished_spans() if s.kind == SpanKind.SERVER]
    called = [s for s in client_spans.get_finished_spans() if s.kind == SpanKind.CLIENT]
    assert [s.name for s in served] == [f"/{SERVICE}/Echo"] * 2  # health is not traced
    assert [s.name for s in called][:2] == [f"/{SERVICE}/Echo"] * 2
    for server_span, client_span in zip(served, called):
        assert server_span.context.trace_id == client_span.context.trace_id
        assert server_span.parent.span_id == client_span.context.span_id
    assert served[1].attributes["rpc.grpc.status_code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]


async def test_no_telemetry_interceptor_unless_spans_are_exported(monkeypatch):
    """Without MTLID_OTEL_EXPORTER_OTLP_ENDPOINT the spans would go nowhere: the server runs
    the guard alone. With an exporter (or a provider given), spans come back."""
    def kinds(**options) -> list[type]:
        server = GrpcServer("probe", host="127.0.0.1", port=0, token_verifier=None, method_policies={}, **options)
        return [type(i) for i in server.interceptors]

    assert not telemetry.exporting()
    assert kinds() == [CallGuard]
    assert kinds(tracer_provider=provider()[0])[1:] == [CallGuard]
    assert len(kinds(tracer_provider=provider()[0])) == 2
    monkeypatch.setattr(telemetry, "_exporting", True)
    assert len(kinds()) == 2
    assert kinds(telemetry=False) == [CallGuard]
