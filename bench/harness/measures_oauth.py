"""OAuth measures against the peer: the token endpoint and introspection (issue 8, point 2).

Both sides get the same request over the same 32 keep-alive connections from the same
autocannon, in alternating order round after round (mtlid first in even rounds, the peer
first in odd ones), so slow drift of the shared machine falls on both.
"""

from __future__ import annotations

import base64
import json
import urllib.parse

from harness import http_load
from harness.bench import Bench
from harness.report import NOT_YET, Row, fmt, median, ratio_cell
from harness.systems import NotAvailable, basic_auth, http_json

RESOURCE = "urn:mtlid:accounts"
SCOPE = "accounts:release"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def token_form(resource: str = RESOURCE, scope: str = SCOPE) -> str:
    return urllib.parse.urlencode({"grant_type": "client_credentials", "scope": scope, "resource": resource})


def _jwt_parts(token: str) -> tuple[dict, dict]:
    def part(segment: str) -> dict:
        return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    header, payload, _ = token.split(".")
    return part(header), part(payload)


def token_shape(token: str) -> dict:
    """What must match between the two sides for the comparison to be fair."""
    header, payload = _jwt_parts(token)
    return {"alg": header.get("alg"), "typ": header.get("typ"), "lifetime": payload["exp"] - payload["iat"],
            "aud": payload.get("aud"), "scope": payload.get("scope")}


class Side:
    """One authorization server as the load sees it: endpoints and a client's credentials."""

    def __init__(self, name: str, discovery: dict, client_id: str, secret: str, process) -> None:
        self.name = name
        self.process = process
        self.token_endpoint = discovery["token_endpoint"]
        self.introspection_endpoint = discovery.get("introspection_endpoint")
        self.auth = basic_auth(client_id, secret)

    def token(self, resource: str = RESOURCE, scope: str = SCOPE) -> dict:
        return http_json(self.token_endpoint, data=token_form(resource, scope).encode(),
                         headers={"Authorization": self.auth, **FORM})


def peer_side(bench: Bench) -> Side:
    peer = bench.peer()
    return Side("peer", peer.discovery, peer.client_id, peer.secret, peer.process)


def project_side(bench: Bench) -> Side:
    def build() -> Side:
        identity = bench.identity()
        client_id, secret = identity_bench_client(identity)
        discovery = http_json(f"{identity.base}/.well-known/openid-configuration")
        return Side("mtlid", discovery, client_id, secret, identity.process)
    return bench._get("identity-side", build)


def identity_bench_client(identity) -> tuple[str, str]:
    """A confidential client for the client-credentials grant, registered with the admin CLI
    once per identity process (several measures of one run share it)."""
    known = getattr(identity, "bench_client", None)
    if known is not None:
        return known
    created = identity.cli("client", "create", "--name", "bench-client", "--grant-type", "client_credentials",
                           "--scope", "accounts:release", "--scope", "identity:validate",
                           "--audience", RESOURCE, "--audience", "urn:mtlid:identity")
    client = created.get("client", created)
    identity.bench_client = (client["client_id"], created["client_secret"])
    return identity.bench_client


def _alternate(bench: Bench, sides: list[Side], run_one) -> dict[str, list]:
    results: dict[str, list] = {side.name: [] for side in sides}
    for round_index in range(bench.options.rounds):
        order = sides if round_index % 2 == 0 else list(reversed(sides))
        for side in order:
            results[side.name].append(run_one(side))
    return results


def _http_rows(bench: Bench, label: str, sides: list[Side], load, *, goal: str, note: str,
               missing: str | None) -> Row:
    options = bench.options
    if options.warmup_seconds:
        for side in sides:
            load(side, options.warmup_seconds)
    cpu_ms: dict[str, list[float]] = {side.name: [] for side in sides}

    def measured(side: Side):
        before = side.process.cpu_seconds()
        result = load(side, options.http_seconds)
        if result.ok:
            cpu_ms[side.name].append((side.process.cpu_seconds() - before) * 1000 / result.ok)
        return result

    results = _alternate(bench, sides, measured)
    rps = {name: [r.rps for r in runs] for name, runs in results.items()}
    bad = {name: sum(r.non2xx + r.errors for r in runs) for name, runs in results.items()}
    notes = [note] if note else []
    for name, count in bad.items():
        if count:
            notes.append(f"{name}: {count} non-2xx/errors excluded")
    for name, runs in results.items():
        notes.append(f"{name} p50/p99 {median([r.p50_ms for r in runs]):.0f}/{median([r.p99_ms for r in runs]):.0f} ms, "
                     f"server CPU {median(cpu_ms[name]):.2f} ms/req")
    project = fmt(median(rps["mtlid"]), "req/s") if "mtlid" in rps else f"{NOT_YET} ({missing})"
    return Row(label, project, fmt(median(rps["peer"]), "req/s"),
               ratio_cell(rps.get("mtlid", []), rps["peer"]), goal, "; ".join(notes))


def _sides(bench: Bench) -> tuple[list[Side], str | None]:
    sides = [peer_side(bench)]
    try:
        sides.insert(0, project_side(bench))
        return sides, None
    except NotAvailable as error:
        return sides, str(error)


def token_endpoint(bench: Bench) -> list[Row]:
    """Client credentials, JWT (RFC 9068) ES256 access tokens, 300 s, one scope, one resource."""
    sides, missing = _sides(bench)
    shapes = {side.name: token_shape(side.token()["access_token"]) for side in sides}
    note = ""
    if len(shapes) == 2 and shapes["mtlid"] != shapes["peer"]:
        note = f"token shapes differ: {shapes}"
    elif sides:
        shape = shapes["peer"]
        note = f"{shape['alg']} {shape['typ']}, {shape['lifetime']} s"
    body = token_form()

    def load(side: Side, seconds: float):
        return http_load.run(side.token_endpoint, body=body, headers={"Authorization": side.auth, **FORM},
                             duration=seconds)
    return [_http_rows(bench, "token endpoint, client credentials (JWT ES256)", sides, load,
                       goal="ratio ≥ 1.0", note=note, missing=missing)]


def introspection(bench: Bench) -> list[Row]:
    """RFC 7662 introspection of an active access token by a confidential client.

    node-oidc-provider refuses to introspect its own JWT access tokens (they are meant to be
    verified by the resource server), so on the peer the token introspected is an opaque one
    of the same client, scope and lifetime (a lookup in its in-memory store); on mtlid it is
    the JWT access token (a signature check plus the revocation check it does).
    """
    sides, missing = _sides(bench)
    tokens = {}
    for side in sides:
        resource = "urn:mtlid:bench-opaque" if side.name == "peer" else RESOURCE
        tokens[side.name] = side.token(resource)["access_token"]
        if not side.introspection_endpoint:
            raise NotAvailable(f"{side.name} has no introspection endpoint in its discovery document")
        answer = http_json(side.introspection_endpoint, data=urllib.parse.urlencode({"token": tokens[side.name]}).encode(),
                           headers={"Authorization": side.auth, **FORM})
        if answer.get("active") is not True:
            raise RuntimeError(f"{side.name}: a fresh token introspects as inactive")

    def load(side: Side, seconds: float):
        body = urllib.parse.urlencode({"token": tokens[side.name]})
        return http_load.run(side.introspection_endpoint, body=body,
                             headers={"Authorization": side.auth, **FORM}, duration=seconds)
    return [_http_rows(bench, "token introspection (RFC 7662)", sides, load, goal="ratio ≥ 1.0",
                       note="peer: opaque token (it refuses to introspect JWTs); mtlid: JWT",
                       missing=missing)]
