"""Bearer-token auth on a real grpc.aio server: UNAUTHENTICATED for missing or bad tokens,
PERMISSION_DENIED for a missing scope or a method without a policy (fail closed)."""

from __future__ import annotations

import time

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.grpc.client import StaticToken, make_channel, rpc_error_details
from services.common.testing.tokens import TokenMinter

from .conftest import AUDIENCE


async def call_with(probe, server, token, method="Echo", **fields):
    pb2, pb2_grpc = probe
    requests = {"Echo": pb2.EchoRequest(name="a", **fields), "WhoAmI": pb2.WhoAmIRequest(),
                "Ping": pb2.PingRequest(), "Forgotten": pb2.PingRequest()}
    provider = StaticToken(token) if token is not None else None
    async with make_channel(f"127.0.0.1:{server.bound_port}", token_provider=provider) as probe_channel:
        return await getattr(pb2_grpc.ProbeServiceStub(probe_channel), method)(requests[method], timeout=5)


async def refused(probe, server, token, method="Echo"):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call_with(probe, server, token, method)
    code, _, reason = rpc_error_details(caught.value)
    assert token is None or token not in caught.value.details()  # never echo the token
    return code, reason


async def test_a_valid_token_with_the_scope_is_admitted(probe, probe_server, probe_token):
    assert (await call_with(probe, probe_server, probe_token)).name == "a"


async def test_no_token_is_unauthenticated(probe, probe_server):
    assert await refused(probe, probe_server, None) == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_MISSING")


async def test_a_bad_signature_is_unauthenticated(probe, probe_server, minter):
    impostor = TokenMinter(minter.issuer, kid=minter.kid)  # same kid, another key
    token = impostor.mint("probe-client", ["probe:echo"], AUDIENCE)
    assert await refused(probe, probe_server, token) == (grpc.StatusCode.UNAUTHENTICATED, "BAD_SIGNATURE")


async def test_a_tampered_payload_is_unauthenticated(probe, probe_server, minter):
    import base64
    import json

    header, payload, signature = minter.mint("probe-client", ["probe:echo"], AUDIENCE).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = "probe:echo probe:admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    token = f"{header}.{forged}.{signature}"
    assert await refused(probe, probe_server, token, "WhoAmI") == (grpc.StatusCode.UNAUTHENTICATED, "BAD_SIGNATURE")


async def test_an_expired_token_is_unauthenticated(probe, probe_server, minter):
    token = minter.mint("probe-client", ["probe:echo"], AUDIENCE, iat=int(time.time()) - 600, ttl=-300)
    assert await refused(probe, probe_server, token) == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_EXPIRED")


async def test_a_token_for_another_audience_is_unauthenticated(probe, probe_server, minter):
    token = minter.mint("probe-client", ["probe:echo"], "urn:mtlid:identity")
    assert await refused(probe, probe_server, token) == (grpc.StatusCode.UNAUTHENTICATED, "WRONG_AUDIENCE")


async def test_an_id_token_shaped_jwt_is_not_an_access_token(probe, probe_server, minter):
    token = minter.mint("probe-client", ["probe:echo"], AUDIENCE, header={"typ": "JWT"})
    assert await refused(probe, probe_server, token) == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_TYPE")


async def test_a_missing_scope_is_permission_denied(probe, probe_server, minter):
    token = minter.mint("probe-client", ["probe:other"], AUDIENCE)
    assert await refused(probe, probe_server, token) == (grpc.StatusCode.PERMISSION_DENIED, "MISSING_SCOPE")


async def test_a_method_without_policy_is_refused_even_with_a_token(probe, probe_server, minter):
    token = minter.mint("probe-client", ["probe:echo", "probe:admin"], AUDIENCE)
    assert await refused(probe, probe_server, token, "Forgotten") == (grpc.StatusCode.PERMISSION_DENIED, "NO_POLICY")


async def test_a_public_method_needs_no_token(probe, probe_server):
    await call_with(probe, probe_server, None, "Ping")


async def test_the_handler_sees_the_principal_and_any_of_scope_policies(probe, probe_server, minter):
    token = minter.mint("counter-app", ["probe:admin"], AUDIENCE, acting_for="agent-42")
    who = await call_with(probe, probe_server, token, "WhoAmI")
    assert (who.client_id, who.subject, list(who.scopes), who.acting_for) == (
        "counter-app", "counter-app", ["probe:admin"], "agent-42")
    resident = minter.mint("montreal-ca", ["probe:whoami"], AUDIENCE, subject="RESIDENT0001")
    assert (await call_with(probe, probe_server, resident, "WhoAmI")).subject == "RESIDENT0001"


async def test_health_needs_no_token(probe_server):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{probe_server.bound_port}") as probe_channel:
        reply = await health_pb2_grpc.HealthStub(probe_channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_client_streaming_methods_are_guarded_too(probe, probe_server, probe_token):
    pb2, pb2_grpc = probe
    target = f"127.0.0.1:{probe_server.bound_port}"
    requests = [pb2.EchoRequest(name="a"), pb2.EchoRequest(name="b")]
    async with make_channel(target) as anonymous:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await pb2_grpc.ProbeServiceStub(anonymous).Upload(iter(requests), timeout=5)
        assert rpc_error_details(caught.value)[::2] == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_MISSING")
    async with make_channel(target, token_provider=StaticToken(probe_token)) as channel:
        stub = pb2_grpc.ProbeServiceStub(channel)
        reply = await stub.Upload(iter(requests), timeout=5)
        assert reply.name == "2" and reply.request_id
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Upload(iter([pb2.EchoRequest(name="bug")]), timeout=5)
        assert caught.value.code() == grpc.StatusCode.INTERNAL


async def test_a_failing_key_provider_is_internal_not_unknown(probe, minter, probe_token, caplog):
    from services.common.grpc.auth import TokenVerifier
    from services.common.grpc.server import GrpcServer

    from .conftest import METHOD_POLICIES, SERVICE, make_servicer

    class BrokenJwks:
        async def get_key(self, kid):
            raise OSError("key store on fire")

    pb2, pb2_grpc = probe
    server = GrpcServer("probe", host="127.0.0.1", port=0, method_policies=METHOD_POLICIES,
                        token_verifier=TokenVerifier(minter.issuer, AUDIENCE, BrokenJwks()))
    server.add(make_servicer(pb2, pb2_grpc), pb2_grpc.add_ProbeServiceServicer_to_server, SERVICE)
    await server.start()
    try:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call_with(probe, server, probe_token)
        assert caught.value.code() == grpc.StatusCode.INTERNAL
        assert any("OSError" in r.getMessage() for r in caplog.records)
    finally:
        await server.drain(0.5)
