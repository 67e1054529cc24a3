"""Configuration, only from ``MTLID_*`` environment variables (every one is listed in README).

Validated once at start: a bad value stops the process with a message naming the variable.
Services receive the ``Settings`` object by injection; nothing else reads the environment.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import pathlib
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

SERVICES = ("identity", "accounts", "consent")
DEFAULT_GRPC_PORTS = {"identity": 50051, "accounts": 50052, "consent": 50053}
# Prometheus metrics, one port per process, never the public one (README, "Configuration").
DEFAULT_METRICS_PORTS = {"identity": 9461, "accounts": 9462, "consent": 9463, "mailer": 9464}
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# Processes that hold no state of their own: no database, no keys (the mail sender).
STATELESS_PROCESSES = ("mailer",)


class ConfigError(ValueError):
    """A configuration variable is missing or wrong; the message starts with its name."""


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected a TCP port number, got {raw!r}") from None
    if not 0 <= value <= 65535:
        raise ConfigError(f"{name}: port {value} is outside 0-65535")
    return value


def _bounded(env: Mapping[str, str], name: str, default: float, low: float, high: float, unit: str) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected a number of {unit}, got {raw!r}") from None
    if not low <= value <= high:  # also refuses nan and inf
        raise ConfigError(f"{name}: expected {low:g} to {high:g} {unit}, got {raw!r}")
    return value


def _seconds(env: Mapping[str, str], name: str, default: float, *, maximum: float) -> float:
    return _bounded(env, name, default, 0, maximum, "seconds")


def _hours(env: Mapping[str, str], name: str, default: float) -> float:
    """At least one hour: longer than JetStream's 30-minute duplicate window, so a row is
    never gone while a republish of it could still be told apart from a new event."""
    return _bounded(env, name, default, 1, 24 * 3660, "hours")


def _replicas(env: Mapping[str, str], name: str) -> int:
    """JetStream keeps 1 to 5 copies of a stream (one per server, a Raft group beyond one)."""
    raw = env.get(name) or "1"
    if not raw.isdigit() or not 1 <= int(raw) <= 5:
        raise ConfigError(f"{name}: expected a number of stream replicas from 1 to 5, got {raw!r}")
    return int(raw)


MAX_WORKERS = 64


def _workers(env: Mapping[str, str], name: str) -> int:
    """Worker processes of one service (issue 24): 1 to 64."""
    raw = env.get(name) or "1"
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_WORKERS:
        raise ConfigError(f"{name}: expected a number of worker processes from 1 to {MAX_WORKERS}, got {raw!r}")
    return int(raw)


def _key(env: Mapping[str, str], name: str, *, production: bool, dev_seed: str) -> bytes:
    """A 32-byte secret given as base64url; in development a fixed, clearly-labelled default."""
    raw = env.get(name)
    if not raw:
        if production:
            raise ConfigError(f"{name}: required in production (32 random bytes, base64url)")
        # Development only: derived from a public label so that restarts keep working.
        return hashlib.sha256(f"mtlid-development-only:{dev_seed}".encode()).digest()
    try:
        value = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (ValueError, TypeError):
        raise ConfigError(f"{name}: not valid base64url") from None
    if len(value) < 32:
        raise ConfigError(f"{name}: needs at least 32 bytes of key material, got {len(value)}")
    return value


def _url(env: Mapping[str, str], name: str, default: str | None, schemes: tuple[str, ...]) -> str | None:
    raw = env.get(name) or default
    if raw is None:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in schemes or not (parts.netloc or parts.path):
        raise ConfigError(f"{name}: expected a URL with scheme {' or '.join(schemes)}, got {raw!r}")
    return raw


OTLP_PROTOCOLS = ("grpc", "http/protobuf")


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = env.get(name) or choices[0]
    if value not in choices:
        raise ConfigError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
    return value


#: The controller's contact in receipts and the privacy notice (issue 18). PLACEHOLDERS until
#: the city's privacy office confirms them: the access-to-information address and 311's
#: number from outside the island (README "Configuration").
DEFAULT_CONTROLLER_EMAIL = "acces.information@montreal.ca"
DEFAULT_CONTROLLER_PHONE = "+1-514-872-0311"
_EMAIL = re.compile(r"[^@\s]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}")
_PHONE = re.compile(r"\+[0-9][0-9 -]{6,24}[0-9]")


def _contact(env: Mapping[str, str], name: str, default: str, pattern: re.Pattern, shape: str) -> str:
    value = (env.get(name) or default).strip()
    if not pattern.fullmatch(value):
        raise ConfigError(f"{name}: expected {shape}, got {value!r}")
    return value


def database_url_from_env(environ: Mapping[str, str], service: str) -> str:
    """One service's database URL: all that ``mtlid migrate`` needs (a migration Job gets no keys)."""
    production = environ.get("MTLID_ENV", "development") == "production"
    var_dir = pathlib.Path(environ.get("MTLID_VAR_DIR") or "./var").resolve()
    name = f"MTLID_{service.upper()}_DATABASE_URL"
    url = _url(environ, name, f"sqlite+aiosqlite:///{var_dir / (service + '.db')}",
               ("sqlite+aiosqlite", "postgresql+asyncpg", "postgresql"))
    assert url is not None
    if url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url[len("postgresql://"):]
    if production and url.startswith("sqlite"):
        raise ConfigError(f"{name}: production needs PostgreSQL (postgresql+asyncpg://…)")
    return url


@dataclasses.dataclass(frozen=True)
class Settings:
    env: str
    var_dir: pathlib.Path
    issuer: str
    bind_host: str
    http_port: int
    demo_rp_port: int
    grpc_ports: Mapping[str, int]
    grpc_targets: Mapping[str, str]
    database_urls: Mapping[str, str]
    nats_url: str | None
    jwks_url: str
    key_encryption_key: bytes = dataclasses.field(repr=False)
    pairwise_secret: bytes = dataclasses.field(repr=False)
    service_client_id: str | None = None
    service_client_secret: str | None = dataclasses.field(default=None, repr=False)
    log_level: str = "INFO"
    otlp_endpoint: str | None = None
    #: ``grpc`` (OTLP/gRPC, port 4317) or ``http/protobuf`` (OTLP/HTTP, port 4318; the
    #: endpoint is the collector's base URL, ``/v1/traces`` and ``/v1/metrics`` are added)
    otlp_protocol: str = "grpc"
    nats_stream_replicas: int = 1
    #: How residents see the counter agents who acted on their file (issue 17):
    #: ``reference`` (the agent's pseudonymous id, the default) or ``name``.
    counter_agent_display: str = "reference"
    # The consent ledger's witnesses (verifier keys, comma-separated) and the quorum of
    # cosignatures a head needs (empty: a majority); parsed by services/consent/app.py.
    ledger_witnesses: str = ""
    ledger_witness_quorum: str = ""
    # Cosignatures a minute each witness may submit (empty: 12); services/consent/app.py.
    ledger_witness_rate: str = ""
    # The controller's contact in consent receipts and the privacy notice (placeholders by
    # default, for the privacy office to confirm).
    controller_email: str = DEFAULT_CONTROLLER_EMAIL
    controller_phone: str = DEFAULT_CONTROLLER_PHONE
    drain_notice_seconds: float = 0.0
    outbox_retention_hours: float = 168.0
    #: Issue 21: how long a closed account's personal data is kept before it is purged
    #: (services/identity/service_layer/closed_accounts.py: Access Act s. 73, Archives Act).
    closed_account_retention_days: int = 730
    #: Issue 23: the carte citoyenne's key generation (services/identity/card/keys.py): the
    #: card key derived for it signs new cards; the next one is published ahead, earlier ones
    #: while a card they signed is valid. Raised by one to rotate the card key.
    card_key_generation: int = 1
    # How accounts asks the consent ledger on a release (issue 24): ``one`` CheckAndRecord
    # call (decide and record under the ledger's lock), or ``two`` (Check, then RecordAccess:
    # for a consent service not yet upgraded during a rolling upgrade, and for comparison).
    release_consent_calls: str = "one"
    # ``mtlid serve <service> --workers N`` (issue 24): N processes sharing the service's gRPC
    # and HTTP ports (SO_REUSEPORT) under one supervisor; ``worker_index`` is set by the
    # supervisor in each worker (MTLID_WORKER_INDEX, 0-based; -1: not a worker).
    workers: int = 1
    worker_index: int = -1
    # A worker's own metrics port on 127.0.0.1, chosen by the supervisor, which serves the
    # service's metrics port with every worker's (MTLID_WORKER_METRICS_PORT; None: not a worker).
    worker_metrics_port: int | None = None

    @property
    def shares_ports(self) -> bool:
        """A worker of several: its ports are bound with SO_REUSEPORT, shared with its siblings."""
        return self.worker_index >= 0 and self.workers > 1
    # None: not served (``off``), e.g. when metrics go over OTLP only.
    metrics_ports: Mapping[str, int | None] = dataclasses.field(default_factory=lambda: dict(DEFAULT_METRICS_PORTS))

    @property
    def production(self) -> bool:
        return self.env == "production"

    def database_url(self, service: str) -> str:
        return self.database_urls[service]

    def grpc_port(self, service: str) -> int:
        return self.grpc_ports[service]

    @property
    def configured_ports(self) -> frozenset[int]:
        """Every port this system's processes will listen on: the embedded nats-server picks a
        free port outside them (a port free now may be one the HTTP front binds a second later)."""
        metrics = {p for p in self.metrics_ports.values() if p}   # workers': loopback ports of their own
        return frozenset({self.http_port, self.demo_rp_port, *self.grpc_ports.values(), *metrics})

    def grpc_target(self, service: str) -> str:
        return self.grpc_targets[service]

    @property
    def token_url(self) -> str:
        return self.issuer.rstrip("/") + "/token"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, process: str | None = None) -> "Settings":
        """``process="mailer"``: a process with no database and no keys (``mtlid serve
        mailer``), which must not be given them, so their variables are neither read nor
        required; ``database_urls`` is empty and the keys are empty bytes."""
        env = dict(os.environ if environ is None else environ)
        stateless = process in STATELESS_PROCESSES
        mode = env.get("MTLID_ENV", "development")
        if mode not in ("development", "production"):
            raise ConfigError(f"MTLID_ENV: expected 'development' or 'production', got {mode!r}")
        production = mode == "production"
        var_dir = pathlib.Path(env.get("MTLID_VAR_DIR") or "./var").resolve()
        issuer = _url(env, "MTLID_ISSUER", "http://127.0.0.1:8000", ("http", "https"))
        assert issuer is not None
        issuer = issuer.rstrip("/")
        if production and not issuer.startswith("https://"):
            raise ConfigError("MTLID_ISSUER: must be https:// in production")
        bind_host = env.get("MTLID_BIND_HOST") or "127.0.0.1"
        ports = {s: _port(env, f"MTLID_{s.upper()}_GRPC_PORT", p) for s, p in DEFAULT_GRPC_PORTS.items()}
        targets = {}
        for service in SERVICES:
            name = f"MTLID_{service.upper()}_GRPC_TARGET"
            target = env.get(name) or f"127.0.0.1:{ports[service]}"
            if ":" not in target:
                raise ConfigError(f"{name}: expected host:port, got {target!r}")
            targets[service] = target
        databases = {} if stateless else {service: database_url_from_env(env, service) for service in SERVICES}
        nats_url = _url(env, "MTLID_NATS_URL", None, ("nats", "tls"))
        if production and not nats_url:
            raise ConfigError("MTLID_NATS_URL: required in production (the embedded server is for development)")
        log_level = (env.get("MTLID_LOG_LEVEL") or "INFO").upper()
        if log_level not in _LOG_LEVELS:
            raise ConfigError(f"MTLID_LOG_LEVEL: expected one of {', '.join(_LOG_LEVELS)}, got {log_level!r}")
        jwks_url = _url(env, "MTLID_JWKS_URL", issuer + "/jwks", ("http", "https"))
        assert jwks_url is not None
        return cls(
            env=mode,
            var_dir=var_dir,
            issuer=issuer,
            bind_host=bind_host,
            http_port=_port(env, "MTLID_HTTP_PORT", 8000),
            demo_rp_port=_port(env, "MTLID_DEMO_RP_PORT", 8001),
            grpc_ports=ports,
            grpc_targets=targets,
            database_urls=databases,
            nats_url=nats_url,
            jwks_url=jwks_url,
            key_encryption_key=b"" if stateless else _key(env, "MTLID_KEY_ENCRYPTION_KEY", production=production,
                                                          dev_seed="kek"),
            pairwise_secret=b"" if stateless else _key(env, "MTLID_PAIRWISE_SECRET", production=production,
                                                       dev_seed="pairwise"),
            service_client_id=env.get("MTLID_SERVICE_CLIENT_ID") or None,
            service_client_secret=env.get("MTLID_SERVICE_CLIENT_SECRET") or None,
            log_level=log_level,
            otlp_endpoint=_url(env, "MTLID_OTEL_EXPORTER_OTLP_ENDPOINT", None, ("http", "https")),
            otlp_protocol=_choice(env, "MTLID_OTEL_EXPORTER_OTLP_PROTOCOL", OTLP_PROTOCOLS),
            nats_stream_replicas=_replicas(env, "MTLID_NATS_STREAM_REPLICAS"),
            counter_agent_display=_choice(env, "MTLID_COUNTER_AGENT_DISPLAY", ("reference", "name")),
            ledger_witnesses=env.get("MTLID_LEDGER_WITNESSES", ""),
            ledger_witness_quorum=env.get("MTLID_LEDGER_WITNESS_QUORUM", ""),
            ledger_witness_rate=env.get("MTLID_LEDGER_WITNESS_RATE", ""),
            controller_email=_contact(env, "MTLID_CONTROLLER_EMAIL", DEFAULT_CONTROLLER_EMAIL, _EMAIL,
                                      "an e-mail address"),
            controller_phone=_contact(env, "MTLID_CONTROLLER_PHONE", DEFAULT_CONTROLLER_PHONE, _PHONE,
                                      "an international phone number, e.g. +1-514-872-0311"),
            metrics_ports={p: None if (env.get(f"MTLID_{p.upper()}_METRICS_PORT") or "").lower() == "off"
                           else _port(env, f"MTLID_{p.upper()}_METRICS_PORT", default)
                           for p, default in DEFAULT_METRICS_PORTS.items()},
            drain_notice_seconds=_seconds(env, "MTLID_DRAIN_NOTICE_SECONDS", 0.0, maximum=300.0),
            outbox_retention_hours=_hours(env, "MTLID_OUTBOX_RETENTION_HOURS", 168.0),
            closed_account_retention_days=int(_bounded(env, "MTLID_CLOSED_ACCOUNT_RETENTION_DAYS", 730, 1, 36500,
                                                       "days")),
            card_key_generation=int(_bounded(env, "MTLID_CARD_KEY_GENERATION", 1, 1, 1000, "(a generation number)")),
            release_consent_calls=_choice(env, "MTLID_RELEASE_CONSENT_CALLS", ("one", "two")),
            workers=_workers(env, "MTLID_WORKERS"),
            worker_index=int(env["MTLID_WORKER_INDEX"]) if (env.get("MTLID_WORKER_INDEX") or "").isdigit() else -1,
            worker_metrics_port=(int(env["MTLID_WORKER_METRICS_PORT"])
                                 if (env.get("MTLID_WORKER_METRICS_PORT") or "").isdigit() else None),
        )

    def with_overrides(self, **changes) -> "Settings":
        return dataclasses.replace(self, **changes)
