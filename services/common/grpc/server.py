"""The gRPC server every service runs: grpc.aio, standard health checking
(grpc.health.v1), server reflection, the interceptor chain, graceful drain.

    server = GrpcServer("consent", host="127.0.0.1", port=50053, token_verifier=verifier,
                        method_policies=METHOD_POLICIES)
    server.add(servicer, consent_pb2_grpc.add_ConsentServiceServicer_to_server,
               "montreal.consent.v1.ConsentService")
    port = await server.start()
    ...
    await server.drain(grace=10)      # on SIGTERM
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

import grpc
import grpc.aio
from google.protobuf import descriptor_pool
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.common.grpc import auth
from services.common.grpc.interceptors import CallGuard, server_interceptors
from services.common.telemetry import exporting

logger = logging.getLogger(__name__)

MAX_RECEIVE_MESSAGE_BYTES = 4 * 1024 * 1024

# Past saturation a server must refuse what it cannot serve instead of queueing it until the
# callers' deadlines pass (which costs every later call its latency, and memory). Calls wait in
# two places, each bounded:
# - in gRPC core, arrived but not yet taken by the event loop: above PENDING_CALLS_SOFT_LIMIT
#   core refuses new calls with a probability that grows to 1 at PENDING_CALLS_HARD_LIMIT
#   (random early detection); refused in C, before any Python runs, the caller sees
#   CANCELLED at once (an HTTP/2 RST_STREAM, "too many pending requests");
# - in the event loop, started and not finished (waiting for the database, say): above
#   MAXIMUM_CONCURRENT_RPCS, the guard (CallGuard, check 0) answers RESOURCE_EXHAUSTED without
#   running the handler; health and reflection are not counted, never refused.
# At the ~1,500-2,000 calls/s one process serves here, 256 queued calls are 130-170 ms of
# work; a soft limit of 128 lets the short stalls of a shared machine pass without refusals.
# Measured with bench/run.py (ValidateToken and Check, Go generator on the same 2 cores): at
# 5,000/s offered, with gRPC's defaults (1,000/3,000 pending, no concurrency bound) p50/p99
# 890/1,170-1,330 ms, 1,270-1,360 calls/s answered, peak memory 171-174 MB; with these
# bounds 80-100/170-375 ms, 2,000-2,390 calls/s, 117-130 MB; at 1,000/s offered 98-100 % of
# the calls answered either way (a soft limit of 64 refused 9-20 % of them on a busy machine).
PENDING_CALLS_SOFT_LIMIT = 128
PENDING_CALLS_HARD_LIMIT = 256
MAXIMUM_CONCURRENT_RPCS = 256

# Keepalive in the spirit of gRPC's keepalive guide (gRFC A8/A9): the server pings an idle
# connection every minute, lets clients ping every 10 s at most, and recycles connections
# after 5 minutes so that new replicas behind a Kubernetes Service get their share.
SERVER_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.max_receive_message_length", MAX_RECEIVE_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_ping_strikes", 2),
    ("grpc.max_connection_idle_ms", 15 * 60_000),
    ("grpc.max_connection_age_ms", 5 * 60_000),
    ("grpc.max_connection_age_grace_ms", 30_000),
    # Without this, Linux's SO_REUSEPORT lets a second process bind the same port silently.
    ("grpc.so_reuseport", 0),
    ("grpc.server.max_pending_requests", PENDING_CALLS_SOFT_LIMIT),
    ("grpc.server.max_pending_requests_hard_limit", PENDING_CALLS_HARD_LIMIT),
)


class _HealthServicer(health.aio.HealthServicer):
    """grpc.health.v1 whose Watch streams end when the server drains.

    A watcher (client-side health checking keeps one Watch open per connection) receives
    NOT_SERVING at drain and then the end of its stream, so it moves to another replica, and
    ``stop(grace)`` does not wait the whole grace period for streams that never end."""

    def __init__(self) -> None:
        super().__init__()
        self._watches: set[asyncio.Task] = set()
        self._ending = False

    async def Watch(self, request, context) -> None:  # noqa: N802 - gRPC's method name
        task = asyncio.current_task()
        self._watches.add(task)
        try:
            await super().Watch(request, context)
        except asyncio.CancelledError:
            if not self._ending:
                raise
            # Ended by end_watches(): the last word is NOT_SERVING (sent again if the
            # stream already had it: watchers take the latest status), then a clean end. A
            # watcher already gone cannot be told: nothing to report.
            with contextlib.suppress(Exception):
                await context.write(health_pb2.HealthCheckResponse(
                    status=health_pb2.HealthCheckResponse.NOT_SERVING))
        finally:
            self._watches.discard(task)

    async def end_watches(self) -> None:
        self._ending = True
        for task in list(self._watches):
            task.cancel()
        await asyncio.sleep(0)


class GrpcServer:
    """One grpc.aio server for one service (plus health and reflection)."""

    def __init__(self, service: str, *, host: str, port: int,
                 token_verifier: auth.TokenVerifier | None,
                 method_policies: Mapping[str, str | Collection[str]],
                 telemetry: bool | None = None, tracer_provider: Any = None,
                 echo_request_id_in_initial_metadata: bool = False,
                 options: tuple[tuple[str, Any], ...] = (),
                 maximum_concurrent_rpcs: int | None = MAXIMUM_CONCURRENT_RPCS) -> None:
        self.service = service
        self.host = host
        self.port = port
        self._policies: dict[str, str | Collection[str]] = dict(method_policies)
        if telemetry is None:
            # Spans only when they go somewhere: an exporter, or a provider the caller gave.
            telemetry = tracer_provider is not None or exporting()
        # The concurrency bound is the guard's (CallGuard, check 0), not grpc.aio's
        # ``maximum_concurrent_rpcs``, which would count health and reflection too.
        self.interceptors = server_interceptors(
            service, token_verifier, self._policies, telemetry=telemetry, tracer_provider=tracer_provider,
            echo_request_id_in_initial_metadata=echo_request_id_in_initial_metadata,
            maximum_concurrent_calls=maximum_concurrent_rpcs)
        # gRPC core keeps the first of two equal keys: merged here so that ``options`` win.
        merged = tuple({**dict(SERVER_OPTIONS), **dict(options)}.items())
        self._server = grpc.aio.server(interceptors=self.interceptors, options=merged)
        self.health = _HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        self._service_names: list[str] = []
        self._started = False
        self.bound_port: int | None = None

    def add(self, servicer: Any, add_fn: Callable[[Any, Any], None], service_full_name: str,
            method_policies: Mapping[str, str | Collection[str]] | None = None) -> None:
        """Register a servicer (``add_fn`` is the generated ``add_XServicer_to_server``);
        ``method_policies`` may add this service's policies to the table."""
        if self._started:
            raise RuntimeError("add() after start()")
        add_fn(servicer, self._server)
        self._service_names.append(service_full_name)
        if method_policies:
            self._policies.update(method_policies)

    def _check_policies(self) -> None:
        """Warn about methods without a policy (they are refused) and policies naming no
        method (a typo: the intended method is refused too)."""
        pool = descriptor_pool.Default()
        methods: set[str] = set()
        for name in self._service_names:
            try:
                service = pool.FindServiceByName(name)
            except KeyError:
                logger.warning("service %s is not in the descriptor pool", name)
                continue
            methods.update(f"/{name}/{m.name}" for m in service.methods)
        for method in sorted(methods - self._policies.keys()):
            logger.warning("%s has no access policy: every call to it is refused", method)
        for method in sorted(self._policies.keys() - methods):
            if not method.startswith(auth.ALWAYS_PUBLIC_PREFIXES):
                logger.warning("access policy for %s names no registered method", method)

    async def start(self, *, serving: bool = True) -> int:
        """Bind, start, mark every service SERVING (``serving=False``: the service names
        NOT_SERVING until ``mark_serving()``, e.g. until the token-signing keys are loaded; ""
        SERVING, the process being alive); return the bound port (port 0: a free one)."""
        names = [*self._service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                 reflection.SERVICE_NAME]
        reflection.enable_server_reflection(names, self._server)
        self._check_policies()
        address = f"{self.host}:{self.port}"
        try:
            bound = self._server.add_insecure_port(address)
        except RuntimeError as error:
            raise RuntimeError(f"cannot bind gRPC server to {address}: {error}") from error
        if not bound:
            raise RuntimeError(f"cannot bind gRPC server to {address}")
        self._started = True
        await self._server.start()
        self.bound_port = bound
        # "" is the process (liveness); each service name is its API (readiness), which may
        # wait for a dependency (the token-signing keys).
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        for name in self._service_names:
            await self.health.set(name, status)
        logger.info("gRPC %s listening on %s:%d%s", self.service, self.host, bound,
                    "" if serving else " (NOT_SERVING until ready)")
        return bound

    async def mark_serving(self) -> None:
        """Every service name SERVING (ignored once draining has begun)."""
        for name in self._service_names:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def drain(self, grace: float, *, notice: float = 0.0) -> None:
        """Graceful stop: health goes NOT_SERVING for every service name, then (after
        ``notice`` seconds, time for load balancers and health-checking clients to see it,
        during which calls are still served) new calls are refused UNAVAILABLE by the
        application until callers have stopped sending (``_refuse_until_quiet``), health Watch
        streams end, gRPC core stops and in-flight calls get ``grace`` seconds to finish
        before they are cancelled.

        Why the application refuses first (issue 16, the CANCELLED calls of the drain test):
        ``server.stop()`` is gRPC core's ``grpc_server_shutdown_and_notify``, which kills the
        calls it has received but not yet handed to the application
        (``Server::KillPendingWorkLocked`` → ``ZombifyPending``) and every stream that
        arrives before the client has read the GOAWAY (``StartNewRpc`` when
        ``ShutdownCalled``): each is dropped without a status and the client sees CANCELLED —
        a call it cannot safely retry. grpc.aio keeps one request per method outstanding, so
        under load calls always wait in core for the event loop to take them: stopping
        while callers still send always drops some (reproduced: 5 of ~14,000 calls, sent in
        the notice's last 12 ms, ended CANCELLED 1 ms after the stop). Answered UNAVAILABLE
        by the application instead, they are retried elsewhere and nothing is left for core
        to drop."""
        await self.health.enter_graceful_shutdown()
        if notice > 0:
            await asyncio.sleep(notice)
        await self._refuse_until_quiet()
        await self.health.end_watches()
        await self._server.stop(grace)
        logger.info("gRPC %s stopped", self.service)

    #: refusing stops once no call came for QUIET_SECONDS, or after REFUSAL_MAX_SECONDS
    QUIET_SECONDS = 0.25
    REFUSAL_MAX_SECONDS = 3.0

    async def _refuse_until_quiet(self) -> None:
        """New calls answered UNAVAILABLE by the guard until callers stop sending (a caller
        that is refused moves to another replica; behind a Kubernetes Service the pod has
        left the endpoints during the notice)."""
        guards = [i for i in self.interceptors if isinstance(i, CallGuard)]
        if not guards:
            return
        loop = asyncio.get_running_loop()
        started = loop.time()
        for guard in guards:
            guard.closing = True
            guard.last_refused = time.monotonic()
        while loop.time() - started < self.REFUSAL_MAX_SECONDS:
            await asyncio.sleep(self.QUIET_SECONDS / 5)
            quiet = time.monotonic() - max(g.last_refused for g in guards)
            if quiet >= self.QUIET_SECONDS:   # calls in flight were taken: stop() lets them finish
                return
        logger.info("gRPC %s: callers still sending after %.1f s of refusals; stopping", self.service,
                    self.REFUSAL_MAX_SECONDS)

    async def wait_for_termination(self) -> None:
        await self._server.wait_for_termination()

    @property
    def server(self) -> grpc.aio.Server:
        return self._server
