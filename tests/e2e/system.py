"""The whole system as real processes, for the end-to-end tests: ``mtlid up`` on free ports
with a throwaway MTLID_VAR_DIR (embedded nats-server, identity + HTTP front, accounts,
consent, the demo montreal.ca RP), plus the admin CLI and the development mailbox.

Databases: SQLite files under the var dir by default; with ``MTLID_TEST_DATABASE=postgres``
(as CI's second run), a fresh PostgreSQL database per service
(``MTLID_<SERVICE>_DATABASE_URL``), dropped at stop, so the browser tests run on both."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from montreal.accounts.v1 import accounts_pb2 as apb
from montreal.accounts.v1 import accounts_pb2_grpc
from montreal.consent.v1 import consent_pb2 as cpb
from montreal.consent.v1 import consent_pb2_grpc
from services.common.nats import free_port
from services.common.testing import databases as test_databases

DATABASE_SERVICES = ("identity", "accounts", "consent")


def _in_a_thread(coroutine):
    """Run ``coroutine`` to completion whether or not the caller is inside an event loop."""
    result: list = []
    thread = threading.Thread(target=lambda: result.append(asyncio.run(coroutine)))
    thread.start()
    thread.join()
    return result[0] if result else None


async def _postgres(names: list[str], *, drop: bool) -> None:
    import asyncpg

    admin = await asyncpg.connect(test_databases.ADMIN_URL)
    try:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' if drop else f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()

BOROUGH_CLIENT = "plateau-permits"
BOROUGH_SERVICE = "plateau-mont-royal-permits"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _serving(port: int) -> bool:
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
            return reply.status == health_pb2.HealthCheckResponse.SERVING
    except grpc.RpcError:
        return False


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


# The processes of `mtlid up` that serve Prometheus metrics, each on a port of its own.
METRICS = ("identity", "accounts", "consent", "mailer")


@dataclass
class System:
    var_dir: str
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    output: list[str] = field(default_factory=list)
    nats_url: str = ""
    #: more MTLID_* settings for every process of this system (e.g. the ledger's witnesses)
    settings: dict[str, str] = field(default_factory=dict)
    #: service -> database URL (e.g. PostgreSQL ones a test made); empty: SQLite in var_dir, or
    #: PostgreSQL databases of the system's own under MTLID_TEST_DATABASE=postgres
    database_urls: dict[str, str] = field(default_factory=dict)
    _postgres_names: list[str] = field(default_factory=list)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.ports['http']}"

    @property
    def rp(self) -> str:
        return f"http://127.0.0.1:{self.ports['rp']}"

    def metrics(self, process: str) -> str:
        """The Prometheus exposition of one process (``/metrics`` on its metrics port)."""
        return httpx.get(f"http://127.0.0.1:{self.ports[f'metrics-{process}']}/metrics", timeout=5).text

    def target(self, service: str) -> str:
        return f"127.0.0.1:{self.ports[service]}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MTLID_")}
        p = self.ports
        env.update({"MTLID_VAR_DIR": self.var_dir, "MTLID_IDENTITY_GRPC_PORT": str(p["identity"]),
                    "MTLID_ACCOUNTS_GRPC_PORT": str(p["accounts"]), "MTLID_CONSENT_GRPC_PORT": str(p["consent"]),
                    "MTLID_HTTP_PORT": str(p["http"]), "MTLID_ISSUER": self.issuer,
                    "MTLID_DEMO_RP_PORT": str(p["rp"]), "MTLID_LOG_LEVEL": "WARNING",
                    **{f"MTLID_{name.upper()}_METRICS_PORT": str(p[f"metrics-{name}"]) for name in METRICS}})
        if self.nats_url:
            env["MTLID_NATS_URL"] = self.nats_url
        env.update(self.settings)
        env.update({f"MTLID_{service.upper()}_DATABASE_URL": url for service, url in self.database_urls.items()})
        return env

    def query(self, service: str, sql: str, *parameters) -> list[tuple]:
        """Rows of a read on one service's database, SQLite or PostgreSQL (``?`` placeholders)."""
        url = self.database_urls.get(service)
        if url is None:
            import pathlib
            import sqlite3

            with sqlite3.connect(pathlib.Path(self.var_dir) / f"{service}.db") as db:
                return db.execute(sql, parameters).fetchall()

        async def read() -> list[tuple]:
            import asyncpg

            numbered, count = sql, 0
            while "?" in numbered:
                count += 1
                numbered = numbered.replace("?", f"${count}", 1)
            connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
            try:
                return [tuple(row) for row in await connection.fetch(numbered, *parameters)]
            finally:
                await connection.close()

        return _in_a_thread(read())

    def start(self, timeout: float = 120.0) -> None:
        if test_databases.backend() == "postgres" and not self.database_urls:
            import uuid

            suffix = uuid.uuid4().hex[:10]
            self._postgres_names = [f"mtlid_e2e_{service}_{suffix}" for service in DATABASE_SERVICES]
            _in_a_thread(_postgres(self._postgres_names, drop=False))
            base = test_databases.ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
            self.database_urls = {service: f"{base}/{name}"
                                  for service, name in zip(DATABASE_SERVICES, self._postgres_names)}
        self.ports = {}
        for name in ("identity", "accounts", "consent", "http", "rp", *(f"metrics-{m}" for m in METRICS)):
            port = free_port()
            while port in self.ports.values():  # two free ports asked in a row may be the same one
                port = free_port()
            self.ports[name] = port
        env = self.env()
        self.process = subprocess.Popen([sys.executable, "-m", "services.cli", "up"], env=env, cwd=ROOT,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()   # the databases it had
                raise RuntimeError("mtlid up exited:\n" + "".join(self.output[-60:]))
            if (self.nats_url and all(_serving(self.ports[s]) for s in ("identity", "accounts", "consent"))
                    and _http_ok(self.issuer + "/healthz") and _http_ok(self.rp + "/")):
                return
            time.sleep(0.25)
        self.stop()   # a fixture whose start failed never calls stop: no process or database left behind
        raise RuntimeError("mtlid up did not start in time:\n" + "".join(self.output[-60:]))

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            match = re.search(r"NATS \(JetStream\)\s+(nats://\S+)", line)
            if match:
                self.nats_url = match.group(1)

    def stop(self) -> None:
        """Ends ``mtlid up`` (and its children) and drops the PostgreSQL databases it ran on."""
        try:
            if self.process is None or self.process.poll() is not None:
                return
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        finally:
            if self._postgres_names:
                _in_a_thread(_postgres(self._postgres_names, drop=True))
                self._postgres_names = []

    def cli(self, *args: str) -> dict | list:
        """An admin command of ``mtlid`` against this system (prints JSON)."""
        done = subprocess.run([sys.executable, "-m", "services.cli", *args], env=self.env(), cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"mtlid {' '.join(args)} failed: {done.stderr[-2000:]}")
        return json.loads(done.stdout)

    async def verification_code(self, email: str, timeout: float = 15.0) -> str:
        """The latest code mailed to ``email``: the development mailbox is the NATS subject
        ``montreal.identity.v1.email_verification_requested``."""
        return (await self.latest_mail("email_verification_requested", email, timeout))["code"]

    async def latest_mail(self, event: str, email: str, timeout: float = 15.0) -> dict:
        """The ``data`` of the latest ``montreal.identity.v1.<event>`` mail to ``email``, read
        from JetStream as the mail sender (and ``mtlid mailbox``) reads it."""
        import nats
        from nats.js.api import DeliverPolicy

        connection = await nats.connect(self.nats_url, connect_timeout=3)
        try:
            js = connection.jetstream()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                subscription = await js.subscribe(f"montreal.identity.v1.{event}",
                                                  ordered_consumer=True, deliver_policy=DeliverPolicy.ALL)
                found = None
                while True:
                    try:
                        message = await subscription.next_msg(timeout=0.5)
                    except (asyncio.TimeoutError, nats.errors.TimeoutError):
                        break
                    data = json.loads(message.data).get("data", {})
                    if data.get("email") == email.lower():
                        found = data
                await subscription.unsubscribe()
                if found:
                    return found
                await asyncio.sleep(0.3)
        finally:
            await connection.close()
        raise AssertionError(f"no {event} mail for {email}")

    def client_token(self, client_id: str, secret: str, scope: str, resource: str) -> str:
        reply = httpx.post(self.issuer + "/token", auth=(client_id, secret), timeout=5,
                           data={"grant_type": "client_credentials", "scope": scope, "resource": resource})
        reply.raise_for_status()
        return reply.json()["access_token"]


def prepare_catalogue(system) -> str:
    """A borough system (its client and its service) and montreal.ca as a service, so the
    consent screen's choices land in the consent ledger. Returns the borough's secret."""
    client = system.cli("client", "create", "--name", "Permis du Plateau", "--client-id", BOROUGH_CLIENT,
                        "--grant-type", "client_credentials", "--scope", "accounts:link",
                        "--scope", "accounts:release", "--audience", "urn:mtlid:accounts", "--city")
    system.cli("service", "create", "--id", BOROUGH_SERVICE, "--kind", "borough", "--borough", "Le Plateau-Mont-Royal",
               "--name-fr", "Permis du Plateau", "--name-en", "Plateau permits",
               "--owner", "Arrondissement du Plateau-Mont-Royal", "--client-id", BOROUGH_CLIENT,
               "--attribute", "email", "--attribute", "given_name",
               "--purpose", "service-provision", "--purpose", "communication")
    # montreal-ca (the demo RP's service) comes from the development catalogue seed;
    # consent learns the recipients from accounts' service_registered events
    with grpc.insecure_channel(system.target("consent")) as channel:
        stub = consent_pb2_grpc.ConsentServiceStub(channel)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            known = {r.recipient_id for r in stub.ListRecipients(cpb.ListRecipientsRequest(), timeout=5).recipients}
            if {BOROUGH_SERVICE, "montreal-ca"} <= known:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"consent never learned the services: {known}")
    return client["client_secret"]


class Borough:
    """The Plateau's permit system, calling accounts over gRPC with its own token."""

    def __init__(self, system, secret: str) -> None:
        token = system.client_token(BOROUGH_CLIENT, secret, "accounts:link accounts:release", "urn:mtlid:accounts")
        self.metadata = (("authorization", f"Bearer {token}"),)
        self.channel = grpc.insecure_channel(system.target("accounts"))
        self.stub = accounts_pb2_grpc.AccountsServiceStub(self.channel)

    def link(self, resident_id: str, reference: str = "PMR-2026-0042") -> None:
        deadline = time.monotonic() + 15
        while True:
            try:
                account = self.stub.LinkAccount(apb.LinkAccountRequest(
                    service_id=BOROUGH_SERVICE, resident_id=resident_id, account_reference=reference),
                    metadata=self.metadata, timeout=5).account
                break
            except grpc.RpcError as error:
                # accounts learns of a new resident from identity's resident_registered event
                if error.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.stub.ActivateAccount(apb.ActivateAccountRequest(account_id=account.account_id, reason="dossier ouvert"),
                                  metadata=self.metadata, timeout=5)

    def release_email(self, resident_id: str) -> apb.ReleaseAttributesResponse:
        return self.stub.ReleaseAttributes(apb.ReleaseAttributesRequest(
            service_id=BOROUGH_SERVICE, resident_id=resident_id, purpose_id="communication", attributes=["email"]),
            metadata=self.metadata, timeout=10)
