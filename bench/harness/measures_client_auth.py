"""What stronger client authentication costs at mtlid's token endpoint (issue 20).

Server CPU per client-credentials token, same scope and resource as the token-endpoint
measure, with ``client_secret_basic`` and with ``private_key_jwt`` (RFC 7523: a registered
ES256 key; each request carries a fresh assertion, since a ``jti`` is single use). One
closed-loop Python client, 16 requests in flight over keep-alive connections; the assertions
are signed before the timed run, so the client's signing is not in the figures. The two
methods alternate round by round. mtlid only: the peer is not configured for
``private_key_jwt``. DPoP has its own measure (``measures_dpop.py``).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import urllib.parse
import uuid

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey

from harness.bench import Bench
from harness.measures_oauth import FORM, RESOURCE, SCOPE, identity_bench_client
from harness.report import Row, median
from harness.systems import basic_auth

ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
IN_FLIGHT = 16


async def _closed_loop(url: str, bodies: list[str], headers: dict) -> tuple[int, float]:
    """Send every body (IN_FLIGHT at a time); (answers 200, seconds)."""
    queue = list(reversed(bodies))
    ok = 0

    async def worker(http: httpx.AsyncClient) -> None:
        nonlocal ok
        while queue:
            body = queue.pop()
            response = await http.post(url, content=body, headers=headers)
            ok += response.status_code == 200

    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    async with httpx.AsyncClient(limits=limits, timeout=30) as http:
        started = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(IN_FLIGHT)))
        return ok, time.perf_counter() - started


def client_auth(bench: Bench) -> list[Row]:
    identity = bench.identity()
    token_url = f"{identity.base}/token"
    secret_id, secret = identity_bench_client(identity)
    key = ECKey.generate_key("P-256", parameters={"kid": "bench-1"})
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as keys:
        json.dump({"keys": [key.as_dict(private=False)]}, keys)
    created = identity.cli("client", "create", "--name", f"bench-pkj-{uuid.uuid4().hex[:6]}",
                           "--grant-type", "client_credentials", "--auth-method", "private_key_jwt",
                           "--jwks-file", keys.name, "--scope", SCOPE, "--audience", RESOURCE)
    pkj_id = created["client_id"]
    count = max(50, int(bench.options.http_seconds * 150))
    grant = {"grant_type": "client_credentials", "scope": SCOPE, "resource": RESOURCE}

    def bodies(method: str) -> tuple[list[str], dict]:
        if method == "client_secret_basic":
            return [urllib.parse.urlencode(grant)] * count, {"Authorization": basic_auth(secret_id, secret), **FORM}
        now = int(time.time())
        signed = [jwt.encode({"alg": "ES256", "kid": "bench-1"},
                             {"iss": pkj_id, "sub": pkj_id, "aud": token_url, "iat": now, "exp": now + 600,
                              "jti": str(uuid.uuid4())}, key) for _ in range(count)]
        return [urllib.parse.urlencode({**grant, "client_assertion_type": ASSERTION, "client_assertion": a})
                for a in signed], dict(FORM)

    cpu: dict[str, list[float]] = {"client_secret_basic": [], "private_key_jwt": []}
    rps: dict[str, list[float]] = {"client_secret_basic": [], "private_key_jwt": []}
    for round_index in range(bench.options.rounds):
        order = list(cpu) if round_index % 2 == 0 else list(reversed(cpu))
        for method in order:
            prepared, headers = bodies(method)
            before = identity.process.cpu_seconds()
            ok, seconds = asyncio.run(_closed_loop(token_url, prepared, headers))
            if ok != len(prepared):
                raise RuntimeError(f"{method}: {len(prepared) - ok} of {len(prepared)} requests refused")
            cpu[method].append((identity.process.cpu_seconds() - before) * 1000 / ok)
            rps[method].append(ok / seconds)
    basic_ms, pkj_ms = median(cpu["client_secret_basic"]), median(cpu["private_key_jwt"])
    return [Row("token endpoint: private_key_jwt vs client_secret_basic (server CPU per token)",
                f"{pkj_ms:.2f} ms/req", "—", f"{pkj_ms / basic_ms:.2f}× basic", "",
                f"client_secret_basic {basic_ms:.2f} ms/req, private_key_jwt +{pkj_ms - basic_ms:.2f} ms "
                f"(ES256 verify + jti insert); {median(rps['client_secret_basic']):.0f} vs "
                f"{median(rps['private_key_jwt']):.0f} req/s from one Python client, {IN_FLIGHT} in flight")]
