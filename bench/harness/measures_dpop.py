"""What DPoP (RFC 9449) costs per request at mtlid's token endpoint and at userinfo (issue 20).

Server CPU per request (CPU-seconds of the identity process / requests), with and without a
DPoP proof, alternating round by round:

- **token endpoint**: client credentials with ``client_secret_basic`` (the token-endpoint
  measure's client, scope and resource), plain vs with a proof (checks, the nonce, the ``jti``
  insert, ``cnf.jkt`` in the token);
- **userinfo**: a resident's access token from one login (authorization code + PKCE, the login
  measure's path), presented as ``Bearer`` vs a DPoP-bound one with a proof carrying ``ath``.

Proofs are what a client library makes (joserfc, ES256, a fresh ``jti`` each); they are signed
before each timed run, so the client's signing is not in the figures, and a run is short enough
for every proof to stay inside the 60-second ``iat`` window. One closed-loop Python client,
16 requests in flight. mtlid only: the peer is not configured for DPoP.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import time
import urllib.parse
import uuid

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey

from harness.bench import Bench
from harness.measures_login import PASSWORD, REDIRECT, authorization_code
from harness.measures_oauth import FORM, RESOURCE, SCOPE, identity_bench_client
from harness.report import Row, median
from harness.systems import basic_auth

IN_FLIGHT = 16


def _proof(key, htm: str, htu: str, nonce: str | None = None, access_token: str | None = None) -> str:
    claims = {"htm": htm, "htu": htu, "iat": int(time.time()), "jti": str(uuid.uuid4())}
    if nonce:
        claims["nonce"] = nonce
    if access_token:
        claims["ath"] = base64.urlsafe_b64encode(hashlib.sha256(access_token.encode()).digest()).rstrip(b"=").decode()
    return jwt.encode({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}, claims, key)


async def _closed_loop(method: str, url: str, requests: list[tuple[str | None, dict]]) -> tuple[int, float]:
    """Send every (body, headers) IN_FLIGHT at a time; (answers 200, seconds)."""
    queue = list(reversed(requests))
    ok = 0

    async def worker(http: httpx.AsyncClient) -> None:
        nonlocal ok
        while queue:
            body, headers = queue.pop()
            response = await http.request(method, url, content=body, headers=headers)
            ok += response.status_code == 200

    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    async with httpx.AsyncClient(limits=limits, timeout=30) as http:
        started = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(IN_FLIGHT)))
        return ok, time.perf_counter() - started


def _nonce(url: str, key, **request) -> str:
    """The server's DPoP nonce: the answer to a first proof without one (s. 8)."""
    answer = httpx.post(url, headers={**request.pop("headers", {}), "DPoP": _proof(key, "POST", url)}, **request)
    return answer.headers["DPoP-Nonce"]


def _compare(bench: Bench, identity, method: str, url: str, prepare) -> dict[str, list[float]]:
    cpu: dict[str, list[float]] = {"plain": [], "dpop": []}
    for round_index in range(bench.options.rounds):
        order = list(cpu) if round_index % 2 == 0 else list(reversed(cpu))
        for variant in order:
            prepared = prepare(variant)
            before = identity.process.cpu_seconds()
            ok, _seconds = asyncio.run(_closed_loop(method, url, prepared))
            if ok != len(prepared):
                raise RuntimeError(f"{variant}: {len(prepared) - ok} of {len(prepared)} requests refused")
            cpu[variant].append((identity.process.cpu_seconds() - before) * 1000 / ok)
    return cpu


def _row(label: str, cpu: dict[str, list[float]], note: str) -> Row:
    plain, bound = median(cpu["plain"]), median(cpu["dpop"])
    return Row(label, f"{bound:.2f} ms/req", "—", f"+{bound - plain:.2f} ms", "",
               f"without DPoP {plain:.2f} ms/req, with {bound:.2f} ms/req; {note}")


def dpop(bench: Bench) -> list[Row]:
    identity = bench.identity()
    count = max(50, min(1500, int(bench.options.http_seconds * 100)))
    key = ECKey.generate_key("P-256")
    rows = []

    # the token endpoint: client credentials, plain vs with a proof
    token_url = f"{identity.base}/token"
    client_id, secret = identity_bench_client(identity)
    auth = {"Authorization": basic_auth(client_id, secret), **FORM}
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": SCOPE, "resource": RESOURCE})
    nonce = _nonce(token_url, key, content=body, headers=auth)

    def token_requests(variant: str) -> list[tuple[str, dict]]:
        if variant == "plain":
            return [(body, auth)] * count
        return [(body, {**auth, "DPoP": _proof(key, "POST", token_url, nonce)}) for _ in range(count)]

    cpu = _compare(bench, identity, "POST", token_url, token_requests)
    rows.append(_row("DPoP at the token endpoint (server CPU per token)", cpu,
                     "proof checks (ES256 verify), nonce, jti insert, cnf.jkt"))

    # userinfo: a resident's token as Bearer vs a DPoP-bound one
    created = identity.cli("client", "create", "--name", f"bench-dpop-{secrets.token_hex(3)}",
                           "--grant-type", "authorization_code", "--redirect-uri", REDIRECT,
                           "--scope", "openid", "--scope", "email")
    rp = created.get("client", created)["client_id"]
    email = f"bench-dpop-{secrets.token_hex(4)}@example.org"
    identity.cli("resident", "create", "--email", email, "--password", PASSWORD, "--verified")

    async def tokens() -> dict[str, str]:
        found = {}
        async with httpx.AsyncClient(follow_redirects=False, timeout=30) as http:
            for variant in ("plain", "dpop"):
                code, verifier, _ = await authorization_code(http, identity.base, rp, email)
                headers = {"DPoP": _proof(key, "POST", token_url, nonce)} if variant == "dpop" else {}
                answer = await http.post(token_url, auth=(rp, created["client_secret"]), headers=headers, data={
                    "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                    "code_verifier": verifier})
                if answer.status_code != 200:
                    raise RuntimeError(f"code exchange failed: {answer.status_code} {answer.text[:120]}")
                found[variant] = answer.json()["access_token"]
        return found

    issued = asyncio.run(tokens())
    userinfo_url = f"{identity.base}/userinfo"

    def userinfo_requests(variant: str) -> list[tuple[None, dict]]:
        if variant == "plain":
            return [(None, {"Authorization": f"Bearer {issued['plain']}"})] * count
        token = issued["dpop"]
        return [(None, {"Authorization": f"DPoP {token}", "DPoP": _proof(key, "GET", userinfo_url, access_token=token)})
                for _ in range(count)]

    cpu = _compare(bench, identity, "GET", userinfo_url, userinfo_requests)
    rows.append(_row("DPoP at userinfo (server CPU per request)", cpu,
                     "proof checks with ath (ES256 verify), jti insert; no nonce at userinfo"))
    return rows
