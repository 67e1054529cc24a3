"""The two ways the system runs, as real processes: ``mtlid serve <service>`` and ``mtlid up``.

Issue 2, point 4: every service answers health and the HTTP front /healthz; SIGINT/SIGTERM
stops every child, nats-server included, within 10 seconds.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.nats import free_port


def _env(tmp_path, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MTLID_")}
    env.update({"MTLID_VAR_DIR": str(tmp_path / "var"), **extra})
    return env


def _serving(port: int, service: str = "") -> bool:
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=1)
            return reply.status == health_pb2.HealthCheckResponse.SERVING
    except grpc.RpcError:
        return False


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait(predicate, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def _stop(process: subprocess.Popen, sig: int) -> float:
    started = time.monotonic()
    process.send_signal(sig)
    process.wait(timeout=15)
    return time.monotonic() - started


def test_mtlid_serve_runs_one_service_and_drains_on_sigterm(tmp_path):
    port = free_port()
    # consent reports SERVING once it has identity's keys: identity's /jwks, as a plain file
    # served over HTTP by a real server
    from services.common.testing.tokens import TokenMinter, jwks_file_server

    with jwks_file_server(tmp_path / "jwks", TokenMinter()) as jwks_url:
        process = subprocess.Popen([sys.executable, "-m", "services.cli", "serve", "consent"],
                                   env=_env(tmp_path, MTLID_CONSENT_GRPC_PORT=str(port), MTLID_JWKS_URL=jwks_url,
                                            MTLID_CONSENT_METRICS_PORT=str(free_port())),  # not 9463: it may be taken
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            assert _wait(lambda: _serving(port, "montreal.consent.v1.ConsentService")), "consent never SERVING"
            elapsed = _stop(process, signal.SIGTERM)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0, process.stderr.read().decode()[-2000:]
    assert elapsed < 10
    assert not _listening(port)


def test_mtlid_up_starts_everything_and_ctrl_c_stops_every_child(tmp_path):
    ports = {name: free_port() for name in ("identity", "accounts", "consent", "http", "rp")}
    env = _env(tmp_path, MTLID_IDENTITY_GRPC_PORT=str(ports["identity"]),
               MTLID_ACCOUNTS_GRPC_PORT=str(ports["accounts"]), MTLID_CONSENT_GRPC_PORT=str(ports["consent"]),
               MTLID_HTTP_PORT=str(ports["http"]), MTLID_ISSUER=f"http://127.0.0.1:{ports['http']}",
               MTLID_DEMO_RP_PORT=str(ports["rp"]))
    process = subprocess.Popen([sys.executable, "-m", "services.cli", "up"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        for service in ("identity", "accounts", "consent"):
            assert _wait(lambda: _serving(ports[service])), f"{service} never SERVING"
        assert _wait(lambda: _listening(ports["http"]) and _listening(ports["rp"]))
        assert httpx.get(f"http://127.0.0.1:{ports['http']}/healthz").status_code == 200
        discovery = httpx.get(f"http://127.0.0.1:{ports['http']}/.well-known/openid-configuration").json()
        assert discovery["issuer"] == f"http://127.0.0.1:{ports['http']}"
        assert "Se connecter" in httpx.get(f"http://127.0.0.1:{ports['rp']}/").text
        nats_processes = subprocess.run(["pgrep", "-f", str(tmp_path / "var" / "nats")], capture_output=True, text=True)
        assert nats_processes.stdout.strip(), "no embedded nats-server"
        elapsed = _stop(process, signal.SIGINT)
        output = process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
    assert elapsed < 10, f"took {elapsed:.1f}s to stop"
    assert "demo resident" in output and "mtlid stopped." in output
    for name, port in ports.items():
        assert not _listening(port), f"{name} still listening on {port}"
    leftover = subprocess.run(["pgrep", "-f", str(tmp_path / "var" / "nats")], capture_output=True, text=True)
    assert leftover.stdout.strip() == "", "nats-server survived"
