"""Fixtures for the gRPC foundation tests: a test-only proto service on a real grpc.aio
server (port 0), a token minter whose JWKS the server trusts, channels to it."""

from __future__ import annotations

import asyncio

import pytest

from services.common import errors
from services.common.grpc import auth
from services.common.grpc.auth import PUBLIC, StaticJwks, TokenVerifier
from services.common.grpc.client import StaticToken, make_channel
from services.common.grpc.interceptors import request_id_var
from services.common.grpc.server import GrpcServer
from services.common.grpc.validation import register_limits
from services.common.testing.tokens import TokenMinter
from tests.protos.build import load_probe_protos

def pytest_asyncio_loop_factories(config, item):
    """The gRPC tests run on both event loops: uvloop's, which ``mtlid serve`` runs on, and
    asyncio's own, its fallback where uvloop is not installed (Windows). (The consumer and
    relay tests share one JetStream stream per session, so they run once.)"""
    import uvloop

    if item.module.__name__.rsplit(".", 1)[-1].startswith("test_grpc_"):
        return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
    return {"asyncio": asyncio.new_event_loop}


AUDIENCE = "urn:mtlid:probe"
SERVICE = "mtlidtest.v1.ProbeService"
METHOD_POLICIES = {
    f"/{SERVICE}/Echo": "probe:echo",
    f"/{SERVICE}/Slow": "probe:echo",
    f"/{SERVICE}/Count": "probe:echo",
    f"/{SERVICE}/Upload": "probe:echo",
    f"/{SERVICE}/WhoAmI": frozenset({"probe:whoami", "probe:admin"}),
    f"/{SERVICE}/Ping": PUBLIC,
    # Forgotten: deliberately absent (fail closed)
}


def make_servicer(pb2, pb2_grpc):
    class ProbeServicer(pb2_grpc.ProbeServiceServicer):
        async def Echo(self, request, context):
            if request.fail == "invalid":
                raise errors.InvalidArgument("name", "is not a name we accept")
            if request.fail == "precondition":
                raise errors.FailedPrecondition("BIOMETRIC_PURPOSE_BUNDLED", "biometric purposes are never bundled")
            if request.fail == "not_found":
                raise errors.NotFound("resident")
            if request.fail == "bug":
                raise RuntimeError("boom: secret-ish internal detail")
            if request.fail == "database_away":
                raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
            return pb2.EchoResponse(name=request.name, request_id=request_id_var.get() or "")

        async def Slow(self, request, context):
            await asyncio.sleep(request.millis / 1000)
            return pb2.SlowResponse(done=True)

        async def Count(self, request, context):
            for n in range(request.count):
                if request.fail_midway and n == 1:
                    raise errors.FailedPrecondition("STOPPED_MIDWAY", "stopped after one item")
                yield pb2.CountResponse(n=n)

        async def Upload(self, request_iterator, context):
            names = [request.name async for request in request_iterator]
            if "bug" in names:
                raise RuntimeError("boom")
            return pb2.EchoResponse(name=str(len(names)), request_id=request_id_var.get() or "")

        async def WhoAmI(self, request, context):
            principal = auth.current_principal()
            return pb2.WhoAmIResponse(client_id=principal.client_id, subject=principal.subject,
                                      scopes=sorted(principal.scopes), acting_for=principal.acting_for or "")

        def Ping(self, request, context):  # a plain def on purpose: tolerated by the chain
            return pb2.PingResponse()

        async def Forgotten(self, request, context):
            return pb2.PingResponse()

    return ProbeServicer()


@pytest.fixture(scope="session")
def probe():
    register_limits("mtlidtest.v1.EchoRequest.note", max_length=4096)
    return load_probe_protos()


@pytest.fixture(scope="session")
def minter():
    return TokenMinter()


async def start_probe_server(probe, minter) -> GrpcServer:
    pb2, pb2_grpc = probe
    server = GrpcServer("probe", host="127.0.0.1", port=0,
                        token_verifier=TokenVerifier(minter.issuer, AUDIENCE, StaticJwks(minter.jwks())),
                        method_policies=METHOD_POLICIES)
    server.add(make_servicer(pb2, pb2_grpc), pb2_grpc.add_ProbeServiceServicer_to_server, SERVICE)
    await server.start()
    return server


@pytest.fixture(scope="module")
async def probe_server(probe, minter):
    server = await start_probe_server(probe, minter)
    yield server
    await server.drain(grace=0.5)


@pytest.fixture
def probe_token(minter):
    return minter.mint("probe-client", ["probe:echo"], AUDIENCE)


@pytest.fixture
async def probe_stub(probe, probe_server, probe_token):
    """A stub whose channel carries a valid token with scope probe:echo."""
    pb2, pb2_grpc = probe
    probe_channel = make_channel(f"127.0.0.1:{probe_server.bound_port}", token_provider=StaticToken(probe_token))
    yield pb2_grpc.ProbeServiceStub(probe_channel)
    await probe_channel.close()


@pytest.fixture
async def probe_channel(probe_server, probe_token):
    probe_channel = make_channel(f"127.0.0.1:{probe_server.bound_port}", token_provider=StaticToken(probe_token))
    yield probe_channel
    await probe_channel.close()


@pytest.fixture
async def notes_factory(tmp_path):
    """The foundation test app's database (notes, outbox, inbox), on the test backend: its
    session factory."""
    from services.common.testing.databases import temporary_database

    from . import foundation_app

    async with temporary_database("notes", tmp_path) as url:
        engine, factory = await foundation_app.setup(url)
        yield factory
        await engine.dispose()
