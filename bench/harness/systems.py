"""The systems under test, started side by side on loopback ports chosen at run time.

- the peer: node-oidc-provider (bench/peer/server.mjs), one Node process;
- mtlid services: ``mtlid serve <service>``, one Python process each, as Kubernetes runs them,
  with a temporary ``MTLID_VAR_DIR`` and one nats-server shared by the run;
- a JWKS stub: for the consent and accounts services measured alone, gRPC callers carry
  tokens minted by the harness and the services fetch the stub's public keys (exactly what they
  do with identity's ``/jwks``), so a consent figure does not depend on identity's speed.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import importlib.util
import json
import pathlib
import secrets
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

from harness.procs import Process, free_port, wait_for_port

BENCH_DIR = pathlib.Path(__file__).resolve().parent.parent
REPO = BENCH_DIR.parent
MTLID = pathlib.Path(sys.executable).parent / "mtlid"


class NotAvailable(Exception):
    """A service this measure needs does not exist yet (or cannot start): reported, not fatal."""


def service_code_present(service: str) -> bool:
    """A service can run once its ``services.<svc>.app`` (what ``mtlid serve`` loads) exists."""
    try:
        return importlib.util.find_spec(f"services.{service}.app") is not None
    except ModuleNotFoundError:
        return False


def http_json(url: str, *, data: bytes | None = None, headers: dict | None = None, timeout: float = 10.0):
    request = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback only
        return json.loads(response.read())


def basic_auth(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def mtlid_access_token_ttl() -> int:
    """The lifetime mtlid gives access tokens, so the peer is configured alike."""
    try:
        import dataclasses

        from services.identity.oidc.tokens import OidcConfig

        return int({f.name: f.default for f in dataclasses.fields(OidcConfig)}["access_token_ttl"])
    except (ImportError, AttributeError, KeyError, TypeError, ValueError):
        return 600


class Peer:
    """node-oidc-provider with the configuration of bench/peer/server.mjs."""

    client_id = "bench-client"

    def __init__(self, log_dir: pathlib.Path) -> None:
        self.port = free_port()
        self.secret = secrets.token_urlsafe(32)
        self.process = Process("peer", ["node", str(BENCH_DIR / "peer" / "server.mjs")],
                               env={"PEER_PORT": str(self.port), "PEER_CLIENT_SECRET": self.secret,
                                    "PEER_ACCESS_TOKEN_TTL": str(mtlid_access_token_ttl()),
                                    "NODE_ENV": "production"},
                               cwd=BENCH_DIR, log_dir=log_dir)
        wait_for_port(self.port, 20, self.process.popen)
        self.base = f"http://127.0.0.1:{self.port}"
        self.discovery = http_json(f"{self.base}/.well-known/openid-configuration")

    @property
    def token_endpoint(self) -> str:
        return self.discovery["token_endpoint"]

    @property
    def introspection_endpoint(self) -> str:
        return self.discovery["introspection_endpoint"]

    def stop(self) -> None:
        self.process.stop()


class JwksStub:
    """Serves a TokenMinter's public keys at ``/jwks`` from a thread of the harness, and a
    client-credentials ``/token`` for services' own calls (accounts → consent) that trusts
    whatever client it is told (a test double on loopback, never a real authorization server)."""

    def __init__(self) -> None:
        from services.common.testing.tokens import TokenMinter

        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.minter = TokenMinter(self.issuer)
        body = json.dumps(self.minter.jwks()).encode()
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", "0"))
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                auth = self.headers.get("Authorization", "")
                client_id = "unknown"
                if auth.startswith("Basic "):
                    client_id = base64.b64decode(auth[6:]).decode().split(":", 1)[0]
                scopes = form.get("scope", [""])[0].split()
                audience = form.get("resource", ["urn:mtlid:unknown"])[0]
                answer = json.dumps({"access_token": stub.minter.mint(client_id, scopes, audience, ttl=600),
                                     "token_type": "Bearer", "expires_in": 600,
                                     "scope": " ".join(scopes)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/jwks"

    def mint(self, client_id: str, scopes: list[str], audience: str, ttl: int = 3600) -> str:
        return self.minter.mint(client_id, scopes, audience, ttl=ttl)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class MtlidService:
    """``mtlid serve <service>`` in its own process."""

    def __init__(self, service: str, *, var_dir: pathlib.Path, log_dir: pathlib.Path, nats_url: str,
                 env: dict[str, str] | None = None, profile_to: pathlib.Path | None = None) -> None:
        if not service_code_present(service):
            raise NotAvailable(f"{service} service not available yet")
        self.service = service
        self.var_dir = var_dir / service
        self.var_dir.mkdir(parents=True, exist_ok=True)
        self.grpc_port = free_port()
        self.http_port = free_port() if service == "identity" else None
        self.env = {"MTLID_VAR_DIR": str(self.var_dir), "MTLID_NATS_URL": nats_url,
                    f"MTLID_{service.upper()}_GRPC_PORT": str(self.grpc_port), **(env or {})}
        if self.http_port:
            self.env.update(MTLID_HTTP_PORT=str(self.http_port), MTLID_ISSUER=f"http://127.0.0.1:{self.http_port}")
        argv = [str(MTLID), "serve", service]   # on uvloop, as in production
        if profile_to is not None:  # cProfile of the event loop's thread, written when it stops
            argv = [sys.executable, "-m", "cProfile", "-o", str(profile_to), *argv]
        self.process = Process(service, argv, env=self.env, cwd=REPO, log_dir=log_dir)
        try:
            wait_for_port(self.grpc_port, 60, self.process.popen)
            if self.http_port:
                wait_for_port(self.http_port, 30, self.process.popen)
                self._wait_healthz()
        except (RuntimeError, TimeoutError) as error:
            last = (self.process.log_tail(1) or "").strip()
            self.process.stop()
            raise NotAvailable(f"{service} did not start: {error}; last log line: {last[-200:]}") from None

    def _wait_healthz(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                http_json(f"{self.base}/healthz", timeout=2)
                return
            time.sleep(0.2)
        raise TimeoutError("GET /healthz did not answer")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def cli(self, *args: str, timeout: float = 60) -> dict:
        """An ``mtlid`` admin command against this service's database; it prints JSON."""
        done = subprocess.run([str(MTLID), *args], env={**_base_env(), **self.env}, cwd=REPO,
                              capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise NotAvailable(f"mtlid {args[0]} {args[1] if len(args) > 1 else ''} failed: "
                               f"{done.stderr.strip()[-300:]}")
        return json.loads(done.stdout)

    def stop(self) -> None:
        self.process.stop()


def _base_env() -> dict[str, str]:
    import os

    return dict(os.environ)
