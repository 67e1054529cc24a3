"""One service process: gRPC server, outbox relay, event consumers and extra tasks.

``mtlid serve <service>`` builds a ``Runtime``, lets the service's ``app.build(runtime)``
register its parts, and runs until SIGTERM/SIGINT. Stopping is graceful: health turns
NOT_SERVING first (so load balancers stop sending), in-flight calls finish within the
grace period, then background loops stop and connections close.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import importlib
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence

from services.common.config import Settings
from services.common.consumer import EventConsumer
from services.common.db import create_engine, session_factory
from services.common.metrics import enabled as metrics_enabled
from services.common.nats import STREAM_CONFIG_PATIENCE_SECONDS, StreamConfigError, connect, ensure_stream
from services.common.relay import OutboxRelay, purge_forever

log = logging.getLogger(__name__)

Task = Callable[[asyncio.Event], Awaitable[None]]

# How long NATS may be unreachable after start before it is worth a warning.
NATS_QUIET_START_SECONDS = 10.0
# How long the issuer's keys may be missing after start before it is worth a warning: identity
# starting beside us (``mtlid up``, a rollout) first migrates its database in a child process
# and, on a first run, generates its signing keys; on a busy two-core laptop that took over
# 10 s (tests/integration/test_first_run.py saw three warnings), so its patience is longer.
# The service is NOT_SERVING all along: readiness says so before any log line does.
KEYS_QUIET_START_SECONDS = 30.0


def settle_the_heap() -> None:
    """Once started, what the start built (modules, compiled statements, catalogues, the
    application) lives as long as the process: it leaves the garbage collector's generations
    (``gc.freeze``), so that a full collection no longer walks it. Measured (bench/RESULTS.md,
    issue 24): the full collections of a service's ~150 MB heap were the batches' tail
    latency, tens of milliseconds each, however few decisions were waiting."""
    gc.collect()
    gc.freeze()
    # A request allocates thousands of short-lived containers (a batch of 100 decisions, a
    # rendered page): collecting the youngest generation every 700 allocations ran several
    # times per request for almost nothing to free (our code makes few cycles); every 10,000
    # it runs about once per batch. Memory between collections stays a few megabytes.
    gc.set_threshold(10_000, 20, 20)


class ServiceFailed(RuntimeError):
    """The service stopped because it could not run as configured (the message says why)."""


class Runtime:
    def __init__(self, service: str, settings: Settings, *, grpc_port: int | None = None,
                 nats_url: str | None = None, token_verifier=None) -> None:
        self.service = service
        self.settings = settings
        self.nats_url = nats_url or settings.nats_url
        self.grpc_port = settings.grpc_port(service) if grpc_port is None else grpc_port
        self.engine = create_engine(settings.database_url(service))
        self.session_factory = session_factory(self.engine)
        # Under a stream of commits the relay passes at most once per ``COALESCE_SECONDS``
        # (services/common/relay.py): one publishing pass for a burst (issues 15 and 24).
        self.relay = OutboxRelay(service, self.session_factory, lambda: self.js)
        if token_verifier is None:
            from services.common.grpc.auth import HttpJwks, TokenVerifier

            token_verifier = TokenVerifier(issuer=settings.issuer, audience=f"urn:mtlid:{service}",
                                           jwks_provider=HttpJwks(settings.jwks_url))
        self.token_verifier = token_verifier
        revoked = getattr(token_verifier, "revoked", None)
        if revoked is not None:
            # every replica learns identity's token revocations (services/common/revocations.py)
            from services.common.revocations import revocation_listener

            self._revocation_task = revocation_listener(self, revoked)
        self.nats = None
        self.js = None
        self.stop_event = asyncio.Event()
        self.consumers: list[EventConsumer] = []
        self._grpc_parts: list[tuple] = []
        self._method_policies: dict[str, str] = {}
        self._tasks: list[Task] = []
        if getattr(self, "_revocation_task", None) is not None:
            self._tasks.append(self._revocation_task)
        self._running: list[asyncio.Task] = []
        self.grpc_server = None
        self.bound_grpc_port: int | None = None
        self.ready = asyncio.Event()
        self._settle_heap = False   # run_until_signal: settle_the_heap() once started
        self.failure: str | None = None  # why the service must stop (``fail``)
        self._failed = asyncio.Event()
        self.gauges = None
        if metrics_enabled():  # this process exports metrics (mtlid serve): sample its state
            from services.common.runtime_metrics import RuntimeGauges

            self.gauges = RuntimeGauges(self)
            self.add_task(self.gauges.run)

    # -- what a service's build() calls ---------------------------------------------------
    def on_commit(self) -> None:
        """Pass as a unit of work's ``on_commit``: events go out now, not at the next poll."""
        self.relay.wake()

    def hand_over(self, rows: list[dict]) -> None:
        """Pass as a unit of work's ``hand_over``: its committed outbox rows go to this
        process's relay, which publishes them without reading the outbox back (issue 15)."""
        self.relay.hand_over(rows)

    def add_grpc(self, servicer, add_fn, service_full_name: str, method_policies: Mapping[str, str]) -> None:
        self._grpc_parts.append((servicer, add_fn, service_full_name))
        self._method_policies.update(method_policies)

    def add_consumer(self, *, durable: str, stream: str, subjects: Sequence[str],
                     handler, uow_factory, settled=None) -> EventConsumer:
        stream_service = stream.removeprefix("MTLID_").lower()
        consumer = EventConsumer(jetstream=lambda: self.js, uow_factory=uow_factory, durable=durable,
                                 stream_service=stream_service, subjects=subjects, handler=handler,
                                 settled=settled, replicas=self.settings.nats_stream_replicas,
                                 service=self.service)
        self.consumers.append(consumer)
        return consumer

    def add_task(self, task: Task) -> None:
        self._tasks.append(task)

    def add_gauge(self, name: str, probe, *, unit: str, description: str) -> None:
        """A gauge of the service's own state (``probe()`` returns its value), sampled with
        the outbox and consumer gauges; nothing when the process exports no metrics."""
        if self.gauges is not None:
            self.gauges.add_probe(name, probe, unit=unit, description=description)

    def point_reads(self):
        """Hot-path reads on this service's database outside any unit of work
        (``services.common.reads.PointReads``), closed when the runtime stops."""
        from services.common.reads import PointReads

        reads = PointReads(self.engine)

        async def close_point_reads(stop: asyncio.Event) -> None:
            await stop.wait()
            await reads.aclose()

        self.add_task(close_point_reads)
        return reads

    def point_writes(self):
        """Single-statement writes outside any unit of work (``services.common.reads.PointWrites``),
        closed when the runtime stops; None on SQLite."""
        from services.common.reads import PointWrites

        writes = PointWrites.for_engine(self.engine)
        if writes is not None:
            async def close_point_writes(stop: asyncio.Event) -> None:
                await stop.wait()
                await writes.aclose()

            self.add_task(close_point_writes)
        return writes

    # -- lifecycle ------------------------------------------------------------------------
    def fail(self, reason: str) -> None:
        """Stop the service: it cannot keep its promises (a stream that cannot be brought to
        its configuration). ``run_until_signal`` stops and raises ``ServiceFailed``."""
        log.critical("service cannot run: %s", reason)
        self.failure = reason
        self._failed.set()

    async def _connect_nats(self) -> None:
        """Connect in the background: the service serves (and writes its outbox) meanwhile."""
        delay = 0.2
        loop = asyncio.get_running_loop()
        patience_ends = None  # while too few peers are known for the configured replicas
        # NATS starting alongside us (a rollout, ``mtlid up``) is expected: say so only if it lasts.
        quiet_until = loop.time() + NATS_QUIET_START_SECONDS
        while not self.stop_event.is_set() and self.nats_url:
            try:
                self.nats = await connect(self.nats_url, name=f"mtlid-{self.service}")
                js = self.nats.jetstream()
                await ensure_stream(js, self.service, replicas=self.settings.nats_stream_replicas)
                self.js = js
                self.relay.wake()
                return
            except asyncio.CancelledError:
                raise
            except StreamConfigError as error:
                if not error.retryable:
                    self.fail(str(error))
                    return
                patience_ends = patience_ends or loop.time() + STREAM_CONFIG_PATIENCE_SECONDS
                if loop.time() >= patience_ends:
                    self.fail(f"{error} (for {STREAM_CONFIG_PATIENCE_SECONDS:.0f} s)")
                    return
                log.warning("stream not configured yet; will retry", extra={"error": str(error)})
            except Exception as error:
                level = logging.DEBUG if loop.time() < quiet_until else logging.WARNING
                log.log(level, "cannot reach NATS yet; events wait in the outbox",
                        extra={"error": type(error).__name__})
            # not connected yet: close what was opened, wait, try again
            if self.nats is not None:
                with contextlib.suppress(Exception):
                    await self.nats.close()
                self.nats = None
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), delay)
            delay = min(delay * 2, 5.0)

    async def _serve_when_keys_loaded(self, load_keys) -> None:
        """Health stays NOT_SERVING until the issuer's keys are loaded: a replica that cannot
        verify tokens yet gets no traffic (it would refuse valid callers). Retried with
        backoff while identity is away."""
        delay = 0.2
        # identity starting beside us (``mtlid up``) is the expected moment, not an incident
        quiet_until = asyncio.get_running_loop().time() + KEYS_QUIET_START_SECONDS
        while not self.stop_event.is_set():
            if await load_keys():
                await self.grpc_server.mark_serving()
                log.info("token-signing keys loaded; SERVING")
                return
            level = logging.DEBUG if asyncio.get_running_loop().time() < quiet_until else logging.WARNING
            log.log(level, "token-signing keys not loaded yet; NOT_SERVING", extra={"retry_in": delay})
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), delay)
            delay = min(delay * 2, 5.0)

    async def _keys_before_binding(self, load_keys) -> bool:
        """A worker's wait for the issuer's keys before it binds the shared port (True once
        loaded; False if asked to stop first). Retried with backoff while identity is away."""
        delay = 0.2
        while not self.stop_event.is_set():
            if await load_keys():
                log.info("token-signing keys loaded; binding the shared port")
                return True
            log.info("token-signing keys not loaded yet; the shared port waits", extra={"retry_in": delay})
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), delay)
            delay = min(delay * 2, 5.0)
        return False

    async def start(self) -> None:
        from services.common.grpc.server import GrpcServer

        if self._grpc_parts:
            self.grpc_server = GrpcServer(self.service, host=self.settings.bind_host, port=self.grpc_port,
                                          token_verifier=self.token_verifier,
                                          method_policies=self._method_policies,
                                          # a worker of several shares the port with its siblings
                                          options=(("grpc.so_reuseport", 1),) if self.settings.shares_ports else ())
            for servicer, add_fn, name in self._grpc_parts:
                self.grpc_server.add(servicer, add_fn, name)
            load_keys = getattr(self.token_verifier, "load_keys", None)
            keys_loaded = False
            if load_keys is not None and self.settings.shares_ports:
                # A worker of several binds the shared port only once it can verify tokens: the
                # kernel hands every bound socket its share of new connections whatever its
                # health says, so a restarted worker must not bind before it is ready (issue 24).
                keys_loaded = await self._keys_before_binding(load_keys)
            self.bound_grpc_port = await self.grpc_server.start(serving=load_keys is None or keys_loaded)
            if load_keys is not None and not keys_loaded:
                self._running.append(asyncio.create_task(self._serve_when_keys_loaded(load_keys),
                                                         name="load-keys"))
        spawn = asyncio.create_task
        self._nats_task = spawn(self._connect_nats(), name="nats-connect")
        self._running.append(self._nats_task)
        self._running.append(spawn(self.relay.run(self.stop_event), name="outbox-relay"))
        retention = dt.timedelta(hours=self.settings.outbox_retention_hours)
        self._running.append(spawn(purge_forever(self.session_factory, retention, self.stop_event),
                                   name="outbox-purge"))
        for consumer in self.consumers:
            self._running.append(spawn(consumer.run(self.stop_event), name=f"consumer-{consumer.durable}"))
        for task in self._tasks:
            self._running.append(spawn(task(self.stop_event), name=getattr(task, "__name__", "task")))
        if self._settle_heap:
            settle_the_heap()
        self.ready.set()
        log.info("service started", extra={"grpc_port": self.bound_grpc_port})

    async def stop(self, grace: float = 5.0, *, notice: float | None = None) -> None:
        """Drain (docs/foundation.md, "Stopping"): NOT_SERVING at once; for ``notice`` seconds
        (default ``MTLID_DRAIN_NOTICE_SECONDS``) calls are still served while load balancers
        and health-checking clients move away; then no new calls, ``grace`` seconds for those
        in flight; then the background loops stop and connections close."""
        if notice is None:
            notice = self.settings.drain_notice_seconds
        if self.grpc_server is not None:
            await self.grpc_server.drain(grace, notice=notice)
        self.stop_event.set()
        # nats-py retries an unreachable server inside connect() itself: don't wait for it.
        if getattr(self, "_nats_task", None) is not None and not self._nats_task.done():
            self._nats_task.cancel()
        if self._running:
            done, pending = await asyncio.wait(self._running, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._running, return_exceptions=True)
        if self.nats is not None:
            # close(), not drain(): drain waits for pending pull requests (up to 30 s), and
            # nothing is left to flush — the relay awaits JetStream's ack for every publish.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.nats.close(), timeout=2.0)
        await self.engine.dispose()
        log.info("service stopped")

    async def run_until_signal(self, grace: float = 5.0) -> None:
        # a process of its own (``mtlid serve``): its heap is settled once started; a runtime
        # started inside another program (the tests) leaves that program's collector alone
        self._settle_heap = True
        await self.start()
        stop_requested = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop_requested.set)
        waits = [asyncio.ensure_future(stop_requested.wait()), asyncio.ensure_future(self._failed.wait())]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waits:
            waiter.cancel()
        log.info("stop requested; draining" if self.failure is None else "stopping after a failure")
        await self.stop(grace, notice=None if self.failure is None else 0.0)
        if self.failure is not None:
            raise ServiceFailed(self.failure)


def build_runtime(service: str, settings: Settings, **options) -> Runtime:
    runtime = Runtime(service, settings, **options)
    app = importlib.import_module(f"services.{service}.app")
    app.build(runtime)
    return runtime
