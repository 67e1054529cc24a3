"""``mtlid serve <service> --workers N`` as real processes (issue 24): the workers share the
service's gRPC port (SO_REUSEPORT) and, for identity, the HTTP port; a killed worker is
started again while the others keep serving; SIGTERM drains all of them."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time

import httpx

from services.common.nats import free_port
from tests.integration.test_processes import _env, _listening, _stop, _wait


def _serving(port: int, service: str = "") -> bool:
    """Health on a connection of its own (grpc shares connections between channels by
    default: the kernel would not choose a worker for each check)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
            return reply.status == health_pb2.HealthCheckResponse.SERVING
    except grpc.RpcError:
        return False


def _children(pid: int) -> list[int]:
    path = pathlib.Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _dead(pid: int) -> bool:
    try:
        return pathlib.Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith(("Z", "X"))
    except (FileNotFoundError, IndexError):
        return True


def _workers(pid: int) -> list[int]:
    """The supervisor's worker processes (not the embedded nats-server)."""
    return [child for child in _children(pid)
            if b"services.cli" in pathlib.Path(f"/proc/{child}/cmdline").read_bytes()]


def test_consent_workers_share_the_port_restart_and_drain(tmp_path, nats):
    port = free_port()
    from services.common.testing.tokens import TokenMinter, jwks_file_server

    with jwks_file_server(tmp_path / "jwks", TokenMinter()) as jwks_url:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", "consent", "--workers", "2"],
            env=_env(tmp_path, MTLID_CONSENT_GRPC_PORT=str(port), MTLID_JWKS_URL=jwks_url,
                     MTLID_CONSENT_METRICS_PORT=str(free_port()), MTLID_NATS_URL=nats.url),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            assert _wait(lambda: len(_workers(supervisor.pid)) == 2), "two workers never started"
            first = _workers(supervisor.pid)
            # both workers SERVING: each check is a new connection, spread by the kernel (ten
            # in a row all on one worker of two: 1 chance in 512)
            assert _wait(lambda: all(_serving(port, "montreal.consent.v1.ConsentService") for _ in range(10))), \
                "never SERVING"
            # a worker killed outright: the other keeps the port served, and it comes back
            os.kill(first[0], signal.SIGKILL)
            assert _wait(lambda: _dead(first[0]), 5)  # its listening socket closed with it
            # connections the dead worker had queued are reset; new ones reach the survivor
            # (or, once bound, the replacement, which binds only when it is ready)
            assert _wait(lambda: all(_serving(port, "montreal.consent.v1.ConsentService") for _ in range(5)), 5)
            assert _wait(lambda: len(_workers(supervisor.pid)) == 2 and first[0] not in _workers(supervisor.pid))
            second = _workers(supervisor.pid)
            assert first[1] in second  # the survivor was left alone
            time.sleep(3)  # the new worker bound the shared port and stays up (no restart loop)
            assert _workers(supervisor.pid) == second
            assert all(_serving(port, "montreal.consent.v1.ConsentService") for _ in range(10))
            elapsed = _stop(supervisor, signal.SIGTERM)
        finally:
            if supervisor.poll() is None:
                supervisor.kill()
    stderr = supervisor.stderr.read().decode()
    assert supervisor.returncode == 0, stderr[-3000:]
    assert "worker 0" in stderr and "restarting" in stderr and "2 worker(s) stopped" in stderr
    assert elapsed < 15
    assert not _listening(port)
    assert not any(pathlib.Path(f"/proc/{pid}").exists() for pid in second)


def _scrape(port: int) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.TransportError:
        return {}
    return {family.name: family for family in text_string_to_metric_families(text)}


def _http_requests_by_worker(families: dict) -> dict[str, float]:
    family = families.get("http_server_request_duration_seconds")
    counts: dict[str, float] = {}
    for sample in family.samples if family else ():
        if sample.name.endswith("_count"):
            counts[sample.labels["worker"]] = counts.get(sample.labels["worker"], 0) + sample.value
    return counts


def test_identity_workers_share_the_http_port(tmp_path, nats):
    grpc_port, http_port, metrics_port = free_port(), free_port(), free_port()
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "serve", "identity", "--workers", "2"],
        env=_env(tmp_path, MTLID_IDENTITY_GRPC_PORT=str(grpc_port), MTLID_HTTP_PORT=str(http_port),
                 MTLID_ISSUER=f"http://127.0.0.1:{http_port}", MTLID_IDENTITY_METRICS_PORT=str(metrics_port),
                 MTLID_NATS_URL=nats.url),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{http_port}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False
        assert _wait(lambda: len(_workers(supervisor.pid)) == 2 and healthy(), 90), "identity workers never up"
        assert _wait(lambda: _serving(grpc_port), 30)
        time.sleep(2)
        assert len(_workers(supervisor.pid)) == 2  # both bound both ports: neither died
        assert all(healthy() for _ in range(10))

        # Every worker's metrics on the one metrics port the pod declares (the PodMonitor
        # scrapes it): each labelled by worker, each family declared once, both answering.
        before = _http_requests_by_worker(_scrape(metrics_port))
        pages = 40
        for _ in range(pages):    # each on a new connection: the kernel spreads them over both
            assert httpx.get(f"http://127.0.0.1:{http_port}/.well-known/openid-configuration",
                             timeout=5).status_code == 200

        def all_counted() -> bool:
            families = _scrape(metrics_port)
            up = {s.labels["worker"]: s.value for s in families["mtlid_worker_up"].samples} if families else {}
            after = _http_requests_by_worker(families)
            return (up == {"0": 1.0, "1": 1.0}
                    and sum(after.values()) - sum(before.values()) >= pages
                    and all(after.get(w, 0) > before.get(w, 0) for w in ("0", "1")))
        assert _wait(all_counted, 10), _scrape(metrics_port).get("mtlid_worker_up")
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        declared = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
        assert len(declared) == len(set(declared))
        elapsed = _stop(supervisor, signal.SIGTERM)
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
    assert supervisor.returncode == 0, supervisor.stderr.read().decode()[-3000:]
    assert elapsed < 15 and not _listening(http_port) and not _listening(grpc_port)


def test_workers_end_when_their_supervisor_is_killed(tmp_path, nats):
    """SIGKILL to the supervisor (no chance to stop anyone): its workers stop too and free the port."""
    port = free_port()
    from services.common.testing.tokens import TokenMinter, jwks_file_server

    with jwks_file_server(tmp_path / "jwks", TokenMinter()) as jwks_url:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", "consent", "--workers", "2"],
            env=_env(tmp_path, MTLID_CONSENT_GRPC_PORT=str(port), MTLID_JWKS_URL=jwks_url,
                     MTLID_CONSENT_METRICS_PORT=str(free_port()), MTLID_NATS_URL=nats.url),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert _wait(lambda: len(_workers(supervisor.pid)) == 2), "two workers never started"
            workers = _workers(supervisor.pid)
            assert _wait(lambda: _serving(port, "montreal.consent.v1.ConsentService")), "never SERVING"
        finally:
            supervisor.kill()
            supervisor.wait()
        assert _wait(lambda: all(_dead(pid) for pid in workers), 20)
        assert _wait(lambda: not _listening(port), 10)
