"""A service's first second: valid tokens are never refused because the issuer's keys are
still on their way. A real service (consent, on the test database) fetches a real JWKS over
HTTP from a real server; callers are real gRPC clients.

- 50 concurrent calls the moment the port is bound: 0 UNAUTHENTICATED (the JWKS fetch is
  single-flight: every call waits for the one fetch, none sees an empty key set).
- Identity (the JWKS) down at start: health stays NOT_SERVING and calls get UNAVAILABLE
  (retryable), not UNAUTHENTICATED; once the JWKS answers, SERVING and calls pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import grpc
import pytest
import uvicorn
from grpc_health.v1 import health_pb2, health_pb2_grpc

from montreal.consent.v1 import consent_pb2, consent_pb2_grpc
from services.common.nats import free_port
from services.common.testing.services import running_service
from services.common.testing.tokens import TokenMinter

AUDIENCE = "urn:mtlid:consent"


@contextlib.asynccontextmanager
async def jwks_server(minter: TokenMinter, port: int, *, delay: float = 0.0):
    """identity's /jwks as a real HTTP server on ``port`` (answering after ``delay``)."""
    body = json.dumps(minter.jwks()).encode()
    served = {"requests": 0}

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        served["requests"] += 1
        await asyncio.sleep(delay)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield served
    finally:
        server.should_exit = True
        await task


def env_for(minter: TokenMinter, jwks_port: int) -> dict[str, str]:
    # No minter given to running_service: the service builds its verifier from configuration,
    # as `mtlid serve consent` does (HttpJwks on MTLID_JWKS_URL).
    return {"MTLID_ISSUER": minter.issuer, "MTLID_JWKS_URL": f"http://127.0.0.1:{jwks_port}/jwks"}


async def list_consents(stub, token: str):
    return await stub.ListConsents(consent_pb2.ListConsentsRequest(resident_id="3456789ABCDE"),
                                   metadata=(("authorization", f"Bearer {token}"),), timeout=15)


async def health(channel, service: str = "montreal.consent.v1.ConsentService") -> int:
    """Readiness: the API's own health (deploy/'s readinessProbe); "" is liveness."""
    reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    return reply.status


async def test_fifty_calls_in_the_first_second_are_all_authenticated(nats):
    minter = TokenMinter()
    jwks_port = free_port()
    async with jwks_server(minter, jwks_port, delay=0.3) as served, \
            running_service("consent", nats_url=nats.url, env=env_for(minter, jwks_port)) as runtime:
        tokens = [minter.mint(f"agent-{i}", ["consent:admin"], AUDIENCE) for i in range(50)]
        async with grpc.aio.insecure_channel(f"127.0.0.1:{runtime.bound_grpc_port}") as channel:
            stub = consent_pb2_grpc.ConsentServiceStub(channel)
            results = await asyncio.gather(*(list_consents(stub, t) for t in tokens), return_exceptions=True)
        refused = [f"{r.code().name}: {r.details()}" for r in results if isinstance(r, grpc.aio.AioRpcError)]
        assert refused == []
        assert all(isinstance(r, consent_pb2.ListConsentsResponse) for r in results)
        assert served["requests"] <= 2  # the start's fetch; the 50 calls joined it


async def test_identity_down_at_start_keeps_the_service_not_serving_until_it_has_keys(nats):
    minter = TokenMinter()
    jwks_port = free_port()  # nothing listens there yet: identity is down
    token = minter.mint("agent", ["consent:admin"], AUDIENCE)
    async with running_service("consent", nats_url=nats.url, env=env_for(minter, jwks_port)) as runtime:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{runtime.bound_grpc_port}") as channel:
            stub = consent_pb2_grpc.ConsentServiceStub(channel)
            for _ in range(5):
                assert await health(channel) == health_pb2.HealthCheckResponse.NOT_SERVING
                assert await health(channel, "") == health_pb2.HealthCheckResponse.SERVING  # alive
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await list_consents(stub, token)
                assert caught.value.code() == grpc.StatusCode.UNAVAILABLE  # retry, not "bad token"
                await asyncio.sleep(0.2)
            async with jwks_server(minter, jwks_port):
                for _ in range(300):  # the retry backoff is 5 s at most; a loaded machine adds
                    if await health(channel) == health_pb2.HealthCheckResponse.SERVING:
                        break
                    await asyncio.sleep(0.1)
                assert await health(channel) == health_pb2.HealthCheckResponse.SERVING
                assert isinstance(await list_consents(stub, token), consent_pb2.ListConsentsResponse)
