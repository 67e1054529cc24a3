"""The run's context: options, the systems under test (started on first use), memory watch."""

from __future__ import annotations

import contextlib
import dataclasses
import pathlib
import threading
import time
from collections.abc import Callable

from harness.procs import Process, rss_mb
from harness.systems import JwksStub, MtlidService, NotAvailable, Peer


@dataclasses.dataclass(frozen=True)
class Options:
    rounds: int = 5
    http_seconds: float = 8.0        # one autocannon run
    warmup_seconds: float = 3.0      # before the first round, per side (JIT, caches, pools)
    grpc_seconds: float = 5.0        # one fixed-rate gRPC run
    # Light load, a rate one Python process sustains, its knee (~2,000/s), the goal.
    grpc_rates: tuple[int, ...] = (200, 1000, 2000, 5000)
    grpc_rounds: int = 2
    grpc_procs: int = 1              # load generator processes
    logins: int = 60                 # authorization-code logins per round
    ledger_size: int = 1_000_000     # entries for proof and verify times
    ledger_seconds: float = 10.0
    smoke: bool = False
    identity_sqlite: bool = False    # identity on the embedded SQLite default instead of PostgreSQL

    @classmethod
    def smoke_options(cls) -> "Options":
        return cls(rounds=1, http_seconds=1, warmup_seconds=0, grpc_seconds=1, grpc_rates=(200,),
                   grpc_rounds=1, logins=3, ledger_size=1_000, ledger_seconds=1, smoke=True)


class MemoryWatch:
    """Samples the resident memory of every process under test, four times a second."""

    def __init__(self) -> None:
        self.at_rest: dict[str, float] = {}
        self.peak: dict[str, float] = {}
        self._processes: dict[str, Process] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def watch(self, name: str, process: Process) -> None:
        time.sleep(1.0)  # let start-up garbage settle before calling it "at rest"
        with contextlib.suppress(OSError):
            self.at_rest[name] = rss_mb(process.pid)
        self._processes[name] = process

    def _sample(self) -> None:
        while not self._stop.wait(0.25):
            for name, process in list(self._processes.items()):
                with contextlib.suppress(OSError):
                    value = rss_mb(process.pid)
                    self.peak[name] = max(self.peak.get(name, 0.0), value)

    def stop(self) -> None:
        self._stop.set()


class Bench:
    def __init__(self, options: Options, workdir: pathlib.Path) -> None:
        self.options = options
        self.workdir = workdir
        self.log_dir = workdir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.memory = MemoryWatch()
        self._ready: dict[str, object] = {}
        self._failed: dict[str, str] = {}
        self.facts: dict[str, object] = {}   # set up once, shared by measures (clients, tokens)
        self._drop_databases: list[str] = []

    def _get(self, name: str, factory: Callable[[], object]):
        if name in self._failed:
            raise NotAvailable(self._failed[name])
        if name not in self._ready:
            try:
                self._ready[name] = factory()
            except NotAvailable as error:
                self._failed[name] = str(error)
                raise
        return self._ready[name]

    # -- systems ----------------------------------------------------------------------------
    def peer(self) -> Peer:
        def start() -> Peer:
            peer = Peer(self.log_dir)
            self.memory.watch("peer (node-oidc-provider)", peer.process)
            return peer
        return self._get("peer", start)

    def nats(self):
        def start():
            from services.common.nats import EmbeddedNats

            try:
                return EmbeddedNats(self.workdir / "nats").start()
            except (RuntimeError, TimeoutError, FileNotFoundError) as error:
                raise NotAvailable(f"nats-server: {error}") from None
        return self._get("nats", start)

    def jwks(self) -> JwksStub:
        return self._get("jwks", JwksStub)

    def service(self, name: str, *, database_url: str | None = None,
                extra_env: dict[str, str] | None = None) -> MtlidService:
        def start() -> MtlidService:
            env = {}
            if name != "identity":
                env = {"MTLID_ISSUER": self.jwks().issuer, "MTLID_JWKS_URL": self.jwks().jwks_url}
            if database_url:
                env[f"MTLID_{name.upper()}_DATABASE_URL"] = database_url
            env.update(extra_env or {})
            service = MtlidService(name, var_dir=self.workdir / "var", log_dir=self.log_dir,
                                   nats_url=self.nats().url, env=env)
            self.memory.watch(f"{name} (PostgreSQL)" if database_url else name, service.process)
            return service
        key = f"{name}@{database_url}" if database_url else name
        return self._get(key, start)

    def identity(self) -> MtlidService:
        """The identity service on a throwaway PostgreSQL database (production's database), or
        on the embedded SQLite default (``make up``) with ``--identity-sqlite`` or when
        PostgreSQL is not reachable. ``facts["identity_db"]`` says which."""
        if not self.options.identity_sqlite:
            from harness import postgres

            if postgres.available() is None:
                self.facts["identity_db"] = "PostgreSQL"
                return self._get("identity-pg", lambda: self.service(
                    "identity", database_url=self.throwaway_postgres("identity")))
        self.facts["identity_db"] = "SQLite"
        return self.service("identity")

    def consent_on_postgres(self) -> tuple[MtlidService, str]:
        """The consent service on PostgreSQL (production's database): the service and its URL."""
        def start():
            from harness import postgres

            why = postgres.available()
            if why:
                raise NotAvailable(why)
            if self.options.smoke:
                name = postgres.throwaway("consent")
                self._drop_databases.append(name)
            else:
                name = postgres.LEDGER_DB
                postgres.ensure(name)
            database_url = postgres.url(name)
            return self.service("consent", database_url=database_url), database_url
        return self._get("consent-pg", start)

    def throwaway_postgres(self, label: str) -> str:
        """A fresh PostgreSQL database for this run (dropped at the end): its URL."""
        from harness import postgres

        why = postgres.available()
        if why:
            raise NotAvailable(why)
        name = postgres.throwaway(label)
        self._drop_databases.append(name)
        return postgres.url(name)

    def close(self) -> None:
        self.memory.stop()
        for thing in self._ready.values():
            process = getattr(thing, "process", None)
            if process is not None:
                process.terminate()
        for name, thing in reversed(list(self._ready.items())):
            if hasattr(thing, "stop"):
                with contextlib.suppress(Exception):
                    thing.stop()
        if self._drop_databases:
            from harness import postgres

            for database in self._drop_databases:
                with contextlib.suppress(Exception):
                    postgres.drop(database)
