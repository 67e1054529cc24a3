"""Draining a real `mtlid serve consent` process under load, as Kubernetes stops a pod:
SIGTERM → health NOT_SERVING at once → a notice period during which calls are still served →
new calls refused UNAVAILABLE by the application until callers have moved away → gRPC core
stops (the port closes) → calls in flight finish → exit 0. Not one call CANCELLED.

And the concurrency bound never refuses a health check (or reflection): a pod that is
serving, however busy, is not marked unready.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from montreal.consent.v1 import consent_pb2, consent_pb2_grpc
from services.common.nats import free_port
from services.common.testing.tokens import TokenMinter, jwks_file_server

from .test_grpc_server import start_small_server

ROOT = __import__("pathlib").Path(__file__).resolve().parents[3]
NOTICE = 2.0


async def health(channel, service: str = "") -> int:
    return (await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service),
                                                             timeout=2)).status


READINESS = "montreal.consent.v1.ConsentService"  # deploy/'s readinessProbe asks for this name


async def test_sigterm_under_load_fails_no_call_before_the_notice_ends_and_cancels_none(tmp_path):
    await sigterm_under_load(tmp_path, callers_move_away=True, after_notice=1.5)


@pytest.mark.xfail(reason="known limit (docs/shown/issue-16.md, grpc/grpc#41785): callers that keep sending on their connection "
                          "after UNAVAILABLE for longer than REFUSAL_MAX_SECONDS see a few CANCELLED calls "
                          "when gRPC core stops (its shutdown drops what arrived before its GOAWAY)",
                   strict=False)
async def test_sigterm_with_callers_that_never_move_away_cancels_none(tmp_path):
    """A long-lived HTTP/2 connection behind a Kubernetes Service (kube-proxy balances
    connections, not calls) keeps reaching the leaving pod; a caller that retries UNAVAILABLE
    on it keeps sending until the port closes. Reproduced: 2 and 10 calls CANCELLED in two of
    three runs, each sent within 50 ms of the stop (notice + REFUSAL_MAX_SECONDS). gRPC core's
    shutdown answers the calls its handler never saw CANCELLED: grpc/grpc#41785, fix proposed in
    grpc/grpc#41786 (UNAVAILABLE); make this strict once grpcio carries it."""
    await sigterm_under_load(tmp_path, callers_move_away=False, after_notice=6.0)


async def sigterm_under_load(tmp_path, *, callers_move_away: bool, after_notice: float):
    minter = TokenMinter()
    port = free_port()
    cleanup = contextlib.ExitStack()
    jwks_url = cleanup.enter_context(jwks_file_server(tmp_path / "jwks", minter))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MTLID_")},
           "MTLID_VAR_DIR": str(tmp_path / "var"), "MTLID_CONSENT_GRPC_PORT": str(port),
           "MTLID_ISSUER": minter.issuer, "MTLID_JWKS_URL": jwks_url,
           "MTLID_DRAIN_NOTICE_SECONDS": str(NOTICE), "MTLID_LOG_LEVEL": "WARNING"}
    process = subprocess.Popen([sys.executable, "-m", "services.cli", "serve", "consent", "--grace", "5"],
                               env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    token = minter.mint("agent", ["consent:admin"], "urn:mtlid:consent")
    metadata = (("authorization", f"Bearer {token}"),)
    calls: list[tuple[float, float, grpc.StatusCode]] = []
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            for _ in range(300):
                try:
                    if await health(channel, READINESS) == health_pb2.HealthCheckResponse.SERVING:
                        break
                except grpc.aio.AioRpcError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("consent never SERVING")
            stub = consent_pb2_grpc.ConsentServiceStub(channel)
            stop_load = asyncio.Event()

            async def caller():
                # A caller behind a Kubernetes Service: refused UNAVAILABLE once the pod is
                # leaving, it retries on another replica (here: it stops sending to this one).
                while not stop_load.is_set():
                    started = time.monotonic()
                    try:
                        await stub.ListConsents(consent_pb2.ListConsentsRequest(resident_id="3456789ABCDE"),
                                                metadata=metadata, timeout=10, wait_for_ready=False)
                        code = grpc.StatusCode.OK
                    except grpc.aio.AioRpcError as error:
                        code = error.code()
                    calls.append((started, time.monotonic(), code))
                    if code == grpc.StatusCode.UNAVAILABLE:
                        if callers_move_away:
                            return
                        await asyncio.sleep(0.001)

            load = [asyncio.create_task(caller()) for _ in range(12)]
            await asyncio.sleep(1.0)
            sigterm = time.monotonic()
            process.send_signal(signal.SIGTERM)
            # NOT_SERVING at once, while the port still answers
            not_serving_after = None
            for _ in range(100):
                if await health(channel, READINESS) == health_pb2.HealthCheckResponse.NOT_SERVING:
                    not_serving_after = time.monotonic() - sigterm
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(NOTICE + after_notice)
            stop_load.set()
            await asyncio.gather(*load)
        process.wait(20)
    finally:
        if process.poll() is None:
            process.kill()
        cleanup.close()
    assert process.returncode == 0, process.stderr.read().decode()[-2000:]
    # NOT_SERVING while the port still answers (seen well before the notice ends)
    assert not_serving_after is not None and not_serving_after < NOTICE
    # Every call is served or refused UNAVAILABLE: none CANCELLED, no tolerance. (Stopping
    # gRPC core while callers still send drops the calls core holds for the event loop as
    # CANCELLED; the application refuses them first: GrpcServer.drain.)
    odd = [(round(start - sigterm, 3), round(end - sigterm, 3), code.name) for start, end, code in calls
           if code not in (grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE)]
    assert odd == [], f"calls (start, end after SIGTERM) neither served nor refused, notice {NOTICE} s"
    during_notice = [c for c in calls if sigterm <= c[0] and c[1] <= sigterm + NOTICE]
    assert len(during_notice) > 20, "the load went on through the notice"
    assert all(code == grpc.StatusCode.OK for *_, code in during_notice), "a call failed during the notice"
    assert all(code == grpc.StatusCode.OK for start, _, code in calls if start < sigterm)
    assert any(code == grpc.StatusCode.UNAVAILABLE for start, _, code in calls if start > sigterm + NOTICE)


async def test_calls_in_flight_when_the_port_closes_finish_within_the_grace(probe, minter, probe_token):
    pb2, pb2_grpc = probe
    server = await start_small_server(probe, minter)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.bound_port}") as channel:
        stub = pb2_grpc.ProbeServiceStub(channel)
        metadata = (("authorization", f"Bearer {probe_token}"),)
        slow = [asyncio.ensure_future(stub.Slow(pb2.SlowRequest(millis=1500), metadata=metadata, timeout=10))
                for _ in range(5)]
        await asyncio.sleep(0.3)
        drained = asyncio.ensure_future(server.drain(grace=5, notice=0.5))
        await asyncio.sleep(0.2)  # inside the notice: still served
        assert (await stub.Echo(pb2.EchoRequest(name="a"), metadata=metadata, timeout=5)).name == "a"
        assert all(reply.done for reply in await asyncio.gather(*slow))  # none CANCELLED
        await drained


async def test_calls_waiting_in_grpc_core_when_the_notice_ends_are_refused_not_cancelled(probe, minter, probe_token):
    """The cause of the CANCELLED calls once seen in the SIGTERM test, made certain: calls that
    reached the server while its event loop was busy wait in gRPC core; stopping core then
    drops them without a status (CANCELLED). The drain refuses them UNAVAILABLE first, from the
    application, and stops core only once callers have gone quiet. A client in its own
    threads (sync gRPC) sends while this loop is blocked."""
    import concurrent.futures
    import threading

    pb2, pb2_grpc = probe
    server = await start_small_server(probe, minter)
    metadata = (("authorization", f"Bearer {probe_token}"),)
    target = f"127.0.0.1:{server.bound_port}"
    channel = grpc.insecure_channel(target)
    stub = pb2_grpc.ProbeServiceStub(channel)
    warm = await asyncio.get_running_loop().run_in_executor(
        None, lambda: stub.Echo(pb2.EchoRequest(name="a"), metadata=metadata, timeout=5))
    assert warm.name == "a"   # connected
    sent = threading.Event()

    def send() -> list:
        futures = [stub.Echo.future(pb2.EchoRequest(name="b"), metadata=metadata, timeout=10) for _ in range(40)]
        sent.set()
        codes = []
        for future in futures:
            try:
                future.result()
                codes.append(grpc.StatusCode.OK)
            except grpc.RpcError as error:
                codes.append(error.code())
        return codes

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        time.sleep(0.05)            # the loop is blocked from here: nothing is taken from core
        codes = pool.submit(send)
        sent.wait(5)
        time.sleep(0.3)             # the 40 calls arrive and wait in gRPC core
        await server.drain(grace=5, notice=0)
        results = codes.result(timeout=20)
    channel.close()
    assert grpc.StatusCode.CANCELLED not in results, results
    assert set(results) <= {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}
    assert grpc.StatusCode.UNAVAILABLE in results


async def test_health_and_reflection_are_never_refused_by_the_call_limit(probe, minter, probe_token):
    pb2, pb2_grpc = probe
    server = await start_small_server(probe, minter, maximum_concurrent_rpcs=2)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.bound_port}") as channel:
            stub = pb2_grpc.ProbeServiceStub(channel)
            metadata = (("authorization", f"Bearer {probe_token}"),)
            slow = [asyncio.ensure_future(stub.Slow(pb2.SlowRequest(millis=1000), metadata=metadata, timeout=5))
                    for _ in range(2)]
            await asyncio.sleep(0.2)  # the limit is reached
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.Echo(pb2.EchoRequest(name="a"), metadata=metadata, timeout=5)
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            for _ in range(20):
                assert await health(channel) == health_pb2.HealthCheckResponse.SERVING
            from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

            reflect = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
            async for reply in reflect:
                assert reply.list_services_response.service
            assert all(reply.done for reply in await asyncio.gather(*slow))
    finally:
        await server.drain(0.5)
