"""The gRPC bootstrap on a real grpc.aio server: health, reflection, request ids, error
mapping, graceful drain."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from services.common.grpc.auth import PUBLIC, StaticJwks, TokenVerifier
from services.common.grpc.client import StaticToken, make_channel, rpc_error_details
from services.common.grpc.errors import GENERIC_INTERNAL_MESSAGE
from services.common.grpc.server import GrpcServer

from .conftest import AUDIENCE, METHOD_POLICIES, SERVICE, make_servicer, start_probe_server

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def test_health_is_serving_for_the_server_and_each_service_after_start(probe_server):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{probe_server.bound_port}") as probe_channel:
        health = health_pb2_grpc.HealthStub(probe_channel)
        for name in ("", SERVICE):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=name), timeout=2)
            assert reply.status == SERVING


async def test_reflection_lists_the_service_without_a_token(probe_server):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{probe_server.bound_port}") as probe_channel:
        reflection = reflection_pb2_grpc.ServerReflectionStub(probe_channel)
        call = reflection.ServerReflectionInfo(timeout=2)
        await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
        reply = await call.read()
        await call.done_writing()
        names = {s.name for s in reply.list_services_response.service}
        assert {SERVICE, "grpc.health.v1.Health"} <= names


async def test_request_id_from_the_caller_is_echoed_and_visible_to_the_handler(probe_stub, probe):
    pb2, _ = probe
    request_id = str(uuid.uuid4())
    call = probe_stub.Echo(pb2.EchoRequest(name="a"), metadata=(("x-request-id", request_id),))
    reply = await call
    assert reply.request_id == request_id
    assert dict(await call.trailing_metadata())["x-request-id"] == request_id


async def test_request_id_is_generated_when_absent_and_echoed_on_errors(probe_stub, probe):
    pb2, _ = probe
    call = probe_stub.Echo(pb2.EchoRequest())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert uuid.UUID(dict(caught.value.trailing_metadata())["x-request-id"])


async def test_request_id_can_be_echoed_in_initial_metadata_too(probe):
    pb2, pb2_grpc = probe
    server = GrpcServer("probe", host="127.0.0.1", port=0, token_verifier=None,
                        method_policies={f"/{SERVICE}/Ping": PUBLIC}, echo_request_id_in_initial_metadata=True)
    server.add(make_servicer(pb2, pb2_grpc), pb2_grpc.add_ProbeServiceServicer_to_server, SERVICE)
    port = await server.start()
    try:
        async with make_channel(f"127.0.0.1:{port}") as channel:
            call = pb2_grpc.ProbeServiceStub(channel).Ping(pb2.PingRequest(), metadata=(("x-request-id", "r-1"),))
            await call
            assert dict(await call.initial_metadata())["x-request-id"] == "r-1"
            assert dict(await call.trailing_metadata())["x-request-id"] == "r-1"
    finally:
        await server.drain(0.5)


async def test_each_method_is_wrapped_once_not_per_call(probe_stub, probe, probe_server):
    """The guard's checks are built on a method's first call and reused: a call pays for a
    dictionary lookup, not for rebuilding its handler."""
    pb2, _ = probe
    [guard] = probe_server.interceptors  # no exporter in tests: no OpenTelemetry interceptor
    await probe_stub.Echo(pb2.EchoRequest(name="a"))
    wrapped = guard._wrapped[f"/{SERVICE}/Echo"][1]
    for _ in range(3):
        await probe_stub.Echo(pb2.EchoRequest(name="a"))
    assert guard._wrapped[f"/{SERVICE}/Echo"][1] is wrapped


async def test_a_hostile_request_id_is_replaced(probe_stub, probe):
    pb2, _ = probe
    reply = await probe_stub.Echo(pb2.EchoRequest(name="a"), metadata=(("x-request-id", "a b\" level=ERROR " + "x" * 200),), timeout=5)
    assert uuid.UUID(reply.request_id)


@pytest.mark.parametrize("fail, code, reason, violations", [
    ("invalid", grpc.StatusCode.INVALID_ARGUMENT, None, {"name": "is not a name we accept"}),
    ("precondition", grpc.StatusCode.FAILED_PRECONDITION, "BIOMETRIC_PURPOSE_BUNDLED", {}),
    ("not_found", grpc.StatusCode.NOT_FOUND, "NOT_FOUND", {}),
])
async def test_service_errors_map_to_codes_with_rich_details(probe_stub, probe, fail, code, reason, violations):
    pb2, _ = probe
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await probe_stub.Echo(pb2.EchoRequest(name="a", fail=fail))
    assert rpc_error_details(caught.value) == (code, violations, reason)


async def test_error_info_carries_the_service_domain(probe_stub, probe):
    from google.rpc import error_details_pb2, status_pb2

    pb2, _ = probe
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await probe_stub.Echo(pb2.EchoRequest(name="a", fail="precondition"))
    status = status_pb2.Status.FromString(dict(caught.value.trailing_metadata())["grpc-status-details-bin"])
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert info.domain == "probe.mtlid.montreal.ca"


async def test_a_bug_is_internal_with_a_generic_message_and_logged(probe_stub, probe, caplog):
    pb2, _ = probe
    with caplog.at_level(logging.ERROR, logger="services.common.grpc.interceptors"):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await probe_stub.Echo(pb2.EchoRequest(name="a", fail="bug"), metadata=(("x-request-id", "req-bug-1"),))
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert caught.value.details() == GENERIC_INTERNAL_MESSAGE
    assert "boom" not in str(caught.value.trailing_metadata())
    [record] = [r for r in caplog.records if "RuntimeError" in r.getMessage()]
    assert record.request_id == "req-bug-1"
    assert record.exc_info is not None


async def test_a_dependency_that_is_away_is_unavailable_not_internal(probe_stub, probe, caplog):
    """The database refusing connections is not a bug: UNAVAILABLE (retryable), logged as a warning."""
    pb2, _ = probe
    with caplog.at_level(logging.WARNING, logger="services.common.grpc.interceptors"):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await probe_stub.Echo(pb2.EchoRequest(name="a", fail="database_away"))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "5432" not in caught.value.details()
    assert [r.levelname for r in caplog.records if "ConnectionRefusedError" in r.getMessage()] == ["WARNING"]


async def test_a_stream_that_fails_midway_ends_with_the_mapped_status(probe_stub, probe):
    pb2, _ = probe
    received = []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for item in probe_stub.Count(pb2.CountRequest(count=3, fail_midway=True)):
            received.append(item.n)
    assert received == [0]
    assert rpc_error_details(caught.value)[::2] == (grpc.StatusCode.FAILED_PRECONDITION, "STOPPED_MIDWAY")


async def test_default_deadline_applies_when_the_caller_sets_none(probe, probe_server, probe_token):
    pb2, pb2_grpc = probe
    async with make_channel(f"127.0.0.1:{probe_server.bound_port}", token_provider=StaticToken(probe_token),
                            default_deadline=0.2) as probe_channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await pb2_grpc.ProbeServiceStub(probe_channel).Slow(pb2.SlowRequest(millis=2000))
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        # an explicit deadline wins
        reply = await pb2_grpc.ProbeServiceStub(probe_channel).Slow(pb2.SlowRequest(millis=300), timeout=2)
        assert reply.done


async def start_small_server(probe, minter, **options) -> GrpcServer:
    pb2, pb2_grpc = probe
    server = GrpcServer("probe", host="127.0.0.1", port=0, method_policies=METHOD_POLICIES,
                        token_verifier=TokenVerifier(minter.issuer, AUDIENCE, StaticJwks(minter.jwks())), **options)
    server.add(make_servicer(pb2, pb2_grpc), pb2_grpc.add_ProbeServiceServicer_to_server, SERVICE)
    await server.start()
    return server


async def test_past_the_concurrency_bound_a_call_is_refused_at_once(probe, minter, probe_token):
    pb2, pb2_grpc = probe
    server = await start_small_server(probe, minter, maximum_concurrent_rpcs=2)
    try:
        async with make_channel(f"127.0.0.1:{server.bound_port}", token_provider=StaticToken(probe_token)) as channel:
            stub = pb2_grpc.ProbeServiceStub(channel)
            slow = [asyncio.ensure_future(stub.Slow(pb2.SlowRequest(millis=800), timeout=5)) for _ in range(2)]
            await asyncio.sleep(0.2)  # both are running on the server
            started = time.monotonic()
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.Echo(pb2.EchoRequest(name="a"), timeout=5)
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert time.monotonic() - started < 0.4, "refused only after waiting"
            assert all(reply.done for reply in await asyncio.gather(*slow))
            assert (await stub.Echo(pb2.EchoRequest(name="a"), timeout=5)).name == "a"  # capacity is back
    finally:
        await server.drain(0.5)


async def test_calls_the_event_loop_cannot_take_are_refused_by_grpc_core(probe, minter, probe_token):
    """Past saturation the event loop is the bottleneck: calls beyond the pending bound are
    refused in gRPC core, without waiting for (or costing) the loop."""
    pb2, pb2_grpc = probe
    server = await start_small_server(probe, minter, options=(
        ("grpc.server.max_pending_requests", 1), ("grpc.server.max_pending_requests_hard_limit", 2)))
    target = f"127.0.0.1:{server.bound_port}"
    metadata = (("authorization", f"Bearer {probe_token}"),)

    def burst() -> list[tuple[grpc.StatusCode, float]]:
        # A synchronous client in a thread: its calls reach the server while the loop is busy.
        with grpc.insecure_channel(target) as channel:
            grpc.channel_ready_future(channel).result(timeout=5)
            stub = pb2_grpc.ProbeServiceStub(channel)
            ready.set()
            sent = time.monotonic()
            ended: dict[int, float] = {}
            futures = [stub.Echo.future(pb2.EchoRequest(name="a"), metadata=metadata, timeout=5) for _ in range(20)]
            for future in futures:
                future.add_done_callback(lambda done: ended.setdefault(id(done), time.monotonic() - sent))
            for future in futures:
                future.exception()  # wait for every call
            return [(future.code(), ended[id(future)]) for future in futures]

    try:
        import threading

        ready = threading.Event()
        outcome = asyncio.get_running_loop().run_in_executor(None, burst)
        assert ready.wait(5)
        time.sleep(1.0)  # the server's event loop is busy for a second
        outcomes = await outcome
    finally:
        await server.drain(0.5)
    codes = [code for code, _ in outcomes]
    assert grpc.StatusCode.OK in codes  # the calls core kept were served after the busy second
    refused = [after for code, after in outcomes if code == grpc.StatusCode.CANCELLED]
    assert len(refused) >= 15
    assert max(refused) < 0.5, "the refusals waited for the busy loop"


async def test_graceful_drain(probe, minter, probe_token):
    """Health turns NOT_SERVING, the in-flight call finishes, a new call is refused."""
    pb2, pb2_grpc = probe
    server = await start_probe_server(probe, minter)
    target = f"127.0.0.1:{server.bound_port}"
    async with make_channel(target, token_provider=StaticToken(probe_token)) as probe_channel, \
            grpc.aio.insecure_channel(target) as health_channel:
        health = health_pb2_grpc.HealthStub(health_channel)
        watch = health.Watch(health_pb2.HealthCheckRequest(service=SERVICE))
        assert (await watch.read()).status == SERVING

        in_flight = asyncio.ensure_future(pb2_grpc.ProbeServiceStub(probe_channel).Slow(
            pb2.SlowRequest(millis=1200), timeout=10))
        await asyncio.sleep(0.2)  # the call is now running on the server
        started = time.monotonic()
        drain = asyncio.ensure_future(server.drain(grace=8, notice=0.3))

        assert (await watch.read()).status == NOT_SERVING
        check = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
        assert check.status == NOT_SERVING  # still answering during the notice period
        # After the notice the Watch stream ends cleanly (its last word NOT_SERVING) instead of
        # holding the drain to its grace: the watcher moves to another replica.
        rest = []
        while (reply := await watch.read()) is not grpc.aio.EOF:
            rest.append(reply.status)
        assert set(rest) <= {NOT_SERVING} and await watch.code() == grpc.StatusCode.OK

        await asyncio.sleep(0.5)  # past the notice: the server no longer accepts calls
        async with make_channel(target, token_provider=StaticToken(probe_token)) as fresh:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await pb2_grpc.ProbeServiceStub(fresh).Echo(pb2.EchoRequest(name="late"), timeout=2)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE

        assert (await in_flight).done
        await drain
        assert time.monotonic() - started < 4, "drain waited for its grace instead of the call"


async def test_a_taken_port_fails_loudly_instead_of_sharing_it(probe, minter, probe_server):
    second = GrpcServer("probe", host="127.0.0.1", port=probe_server.bound_port, token_verifier=None,
                        method_policies={})
    with pytest.raises(RuntimeError, match=f"127.0.0.1:{probe_server.bound_port}"):
        await second.start()


async def test_a_channel_spreads_calls_over_every_address_its_target_resolves_to(probe, minter, probe_token):
    """Two replicas behind one name (a headless Service resolves to each pod): both serve
    (``CHANNEL_OPTIONS``: round_robin), instead of every call sticking to the first."""
    pb2, pb2_grpc = probe

    def replica_servicer(label: str):
        base = make_servicer(pb2, pb2_grpc)

        class Replica(type(base)):
            async def Echo(self, request, context):
                return pb2.EchoResponse(name=label)

        return Replica()

    replicas = []
    for label in ("replica-a", "replica-b"):
        server = GrpcServer("probe", host="127.0.0.1", port=0,
                            token_verifier=TokenVerifier(minter.issuer, AUDIENCE, StaticJwks(minter.jwks())),
                            method_policies=METHOD_POLICIES)
        server.add(replica_servicer(label), pb2_grpc.add_ProbeServiceServicer_to_server, SERVICE)
        await server.start()
        replicas.append(server)
    try:
        target = "ipv4:" + ",".join(f"127.0.0.1:{r.bound_port}" for r in replicas)
        channel = make_channel(target, token_provider=StaticToken(probe_token))
        stub = pb2_grpc.ProbeServiceStub(channel)
        answers = [(await stub.Echo(pb2.EchoRequest(name="a"))).name for _ in range(20)]
        await channel.close()
    finally:
        for replica in replicas:
            await replica.drain(grace=0.5)
    assert answers.count("replica-a") >= 5 and answers.count("replica-b") >= 5, answers
