"""Bad bytes at every entry point: a NUL character or invalid UTF-8 in any HTTP parameter,
header, cookie, path or form field, and in any string field of any gRPC method, gets the
endpoint's own error — 400 with RFC 6749's ``invalid_request`` (JSON endpoints) or the error
page, INVALID_ARGUMENT naming the field — never a 500, INTERNAL or a traceback in the logs.

The routes and methods are enumerated, not listed: the Starlette application's routes and
the descriptors of every gRPC service the three real services register. Run on PostgreSQL
(``MTLID_TEST_DATABASE=postgres``), which refuses NUL in ``text``, as well as on SQLite.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging

import grpc
import pytest
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor
from starlette.routing import Mount, Route

from services.common.grpc.auth import PUBLIC
from services.common.grpc.client import rpc_error_details
from services.common.nats import free_port
from services.common.testing.services import running_service
from services.common.testing.tokens import TokenMinter
from services.identity.http.clean_input import answers_json

KEK = bytes(range(32))
PAIRWISE = b"bad-bytes-tests-pairwise-secret-32b"
SERVICES = ("identity", "accounts", "consent")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.fixture(scope="module")
def minter():
    return TokenMinter()


@pytest.fixture(scope="module")
async def services(minter, nats):
    http_port = free_port()
    env = {"MTLID_HTTP_PORT": str(http_port), "MTLID_KEY_ENCRYPTION_KEY": _b64(KEK),
           "MTLID_PAIRWISE_SECRET": _b64(PAIRWISE)}
    async with running_service("identity", nats_url=nats.url, minter=minter, env=env) as identity, \
            running_service("accounts", nats_url=nats.url, minter=minter) as accounts, \
            running_service("consent", nats_url=nats.url, minter=minter) as consent:
        for _ in range(200):  # the HTTP front is a runtime task: wait until it listens
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", http_port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.05)
        yield {"identity": identity, "accounts": accounts, "consent": consent, "http_port": http_port}


@pytest.fixture
def errors_logged(caplog):
    """Every record at ERROR or above, or carrying a traceback, logged during the test."""
    caplog.set_level(logging.INFO)
    yield lambda: [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


# -- HTTP --------------------------------------------------------------------------------------

async def raw_http(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 exchange over a plain socket: bytes exactly as given, no client library
    to clean them up first."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 15)
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def http_request(method: str, target: bytes, *, headers: list[bytes] = (), body: bytes = b"",
                 content_type: bytes = b"application/x-www-form-urlencoded") -> bytes:
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close",
             *headers]
    if method == "POST":
        lines += [b"Content-Type: " + content_type, b"Content-Length: " + str(len(body)).encode()]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def route_targets(app) -> list[tuple[str, str, str]]:
    """(method, path, path with a bad path parameter or suffix) for every route of the app."""
    targets = []
    for route in app.routes:
        if isinstance(route, Route):
            methods = sorted(route.methods - {"HEAD"})
            path = route.path
            for name in route.param_convertors:
                path = path.replace("{" + name + "}", "x")
            bad_path = route.path
            for name in route.param_convertors:
                bad_path = bad_path.replace("{" + name + "}", "a%00b")
            if bad_path == route.path:
                bad_path = route.path.rstrip("/") + "/a%00b"
            targets += [(m, path, bad_path) for m in methods]
        elif isinstance(route, Mount):
            targets.append(("GET", route.path + "/site.css", route.path + "/a%00b.css"))
    return targets


def bad_variants(method: str, path: str, bad_path: str) -> list[tuple[str, bytes]]:
    p = path.encode()
    variants = [
        ("NUL in the query", http_request(method, p + b"?client_id=a%00b&lang=fr")),
        ("invalid UTF-8 in the query", http_request(method, p + b"?client_id=a%FF%FEb")),
        ("raw invalid UTF-8 in the query", http_request(method, p + b"?state=\xc3\x28")),
        ("NUL in the path", http_request(method, bad_path.encode())),
        ("invalid UTF-8 in the path", http_request(method, bad_path.replace("%00", "%C3%28").encode())),
        ("invalid UTF-8 in a header", http_request(method, p, headers=[b"User-Agent: a\xff\xfeb"])),
        ("invalid UTF-8 in the authorization", http_request(method, p, headers=[b"Authorization: Bearer \xff"])),
        ("NUL in a cookie", http_request(method, p, headers=[b'Cookie: mtlid_session="a\\000b"'])),
        ("invalid UTF-8 in a cookie", http_request(method, p, headers=[b"Cookie: mtlid_lang=\xc3\x28"])),
    ]
    if method == "POST":
        variants += [
            ("NUL in a form field", http_request(method, p, body=b"client_id=a%00b&grant_type=client_credentials")),
            ("invalid UTF-8 in a form field", http_request(method, p, body=b"client_id=%C3%28&token=x")),
            ("raw NUL in a form field", http_request(method, p, body=b"email=a\x00b")),
            ("NUL in a multipart field", http_request(
                method, p, content_type=b"multipart/form-data; boundary=XyZ",
                body=b'--XyZ\r\nContent-Disposition: form-data; name="email"\r\n\r\na\x00b\r\n--XyZ--\r\n')),
            ("invalid UTF-8 in a JSON body", http_request(
                method, p, content_type=b"application/json", body=b'{"client_id": "a\xff\xfeb"}')),
            ("NUL in a text body", http_request(method, p, content_type=b"text/plain", body=b"a\x00b")),
        ]
    return variants


async def test_every_http_route_refuses_bad_bytes_with_its_own_error(services, errors_logged):
    app = services["identity"].http_app
    port = services["http_port"]
    targets = route_targets(app)
    assert len(targets) >= 40, "the sweep must see every route"
    failures = []
    for method, path, bad_path in targets:
        # the endpoint's own error: a route that answers a clean request in JSON answers bad
        # bytes in JSON too (the door's list of JSON endpoints, checked against the routes)
        _, clean_headers, _ = await raw_http(port, http_request(method, path.encode()))
        if clean_headers.get("content-type", "").startswith("application/json") and not answers_json(path):
            failures.append(f"{method} {path}: answers JSON but the door would answer a page")
        for what, request in bad_variants(method, path, bad_path):
            status, headers, body = await raw_http(port, request)
            if status != 400:
                failures.append(f"{method} {path} {what}: {status}")
                continue
            if what.startswith("raw") and "query" in what:
                continue  # not HTTP at all (RFC 9112 s.3.2): the server's parser says 400 first
            if answers_json(path) and "path" not in what:
                if json.loads(body).get("error") != "invalid_request":
                    failures.append(f"{method} {path} {what}: {body[:80]!r}")
            elif "text/html" not in headers.get("content-type", "") and not headers.get("content-type", "").startswith("application/json"):
                failures.append(f"{method} {path} {what}: content-type {headers.get('content-type')}")
    assert failures == [], "\n".join(failures)
    assert errors_logged() == []


async def test_clean_requests_still_pass(services):
    """The control: the same door lets ordinary requests through, accents included."""
    port = services["http_port"]
    status, _, body = await raw_http(port, http_request("GET", b"/jwks?lang=fr"))
    assert status == 200 and json.loads(body)["keys"]
    status, _, body = await raw_http(port, http_request(
        "POST", b"/token", body=b"grant_type=client_credentials&client_id=inconnu&client_secret=s%C3%A9same"))
    assert json.loads(body)["error"] == "invalid_client"  # not invalid_request: the é passed
    status, _, body = await raw_http(port, http_request("GET", b"/account/login?lang=fr&note=Montr%C3%A9al",
                                                       headers=[b'Cookie: mtlid_lang="fr"']))
    assert status == 200 and b"<form" in body


async def test_userinfo_answers_bad_bytes_in_rfc6750_terms(services):
    status, headers, body = await raw_http(services["http_port"], http_request(
        "GET", b"/userinfo?access_token=a%00b"))
    assert status == 400
    assert headers["www-authenticate"] == 'Bearer error="invalid_request"'
    assert json.loads(body)["error"] == "invalid_request"


async def test_authorize_and_end_session_show_the_error_page_in_french_first(services):
    for target in (b"/authorize?client_id=a%00b&response_type=code", b"/end-session?client_id=a%00b"):
        status, headers, body = await raw_http(services["http_port"], http_request("GET", target))
        assert status == 400
        assert headers["content-type"].startswith("text/html")
        assert b'lang="fr"' in body


# -- gRPC --------------------------------------------------------------------------------------

_F = FieldDescriptor


def string_paths(descriptor, prefix: tuple = (), depth: int = 0) -> list[tuple]:
    """Paths to every string field reachable from ``descriptor`` (two levels of messages)."""
    paths = []
    for field in descriptor.fields:
        here = (*prefix, field)
        if field.type == _F.TYPE_STRING:
            paths.append(here)
        elif field.type == _F.TYPE_MESSAGE and depth < 2:
            if field.message_type.GetOptions().map_entry:
                if field.message_type.fields_by_name["value"].type == _F.TYPE_STRING:
                    paths.append(here)
            elif not field.message_type.full_name.startswith("google.protobuf."):
                paths += string_paths(field.message_type, here, depth + 1)
    return paths


def request_with(descriptor, path: tuple, value: str):
    """A request with only the string at ``path`` set to ``value``."""
    message = message_factory.GetMessageClass(descriptor)()
    target = message
    for field in path[:-1]:
        if field.is_repeated:
            target = getattr(target, field.name).add()
        else:
            target = getattr(target, field.name)
    last = path[-1]
    if last.type == _F.TYPE_MESSAGE:  # map<string, string>
        getattr(target, last.name)["k"] = value
    elif last.is_repeated:
        getattr(target, last.name).append(value)
    else:
        setattr(target, last.name, value)
    return message


MARKER = "\x01\x02\x03\x04\x05\x06"
INVALID_UTF8 = b"\xff\xfe\xc3\x28\xed\xa0"  # the same length: the wire format's lengths hold


async def test_every_grpc_method_refuses_bad_strings_naming_the_field(services, minter, errors_logged):
    pool = descriptor_pool.Default()
    checked = 0
    failures = []
    for service in SERVICES:
        runtime = services[service]
        scopes = set()
        for policy in runtime._method_policies.values():
            if policy is not PUBLIC:
                scopes |= {policy} if isinstance(policy, str) else set(policy)
        token = minter.mint("sweeper", sorted(scopes), f"urn:mtlid:{service}")
        metadata = (("authorization", f"Bearer {token}"),)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{runtime.bound_grpc_port}") as channel:
            for _, _, name in runtime._grpc_parts:
                for method in pool.FindServiceByName(name).methods:
                    full = f"/{name}/{method.name}"
                    make = channel.unary_stream if method.server_streaming else channel.unary_unary
                    call = make(full, request_serializer=None, response_deserializer=None)
                    for path in string_paths(method.input_type):
                        top = path[0].name
                        nul = request_with(method.input_type, path, "a\x00b").SerializeToString()
                        marked = request_with(method.input_type, path, MARKER).SerializeToString()
                        invalid = marked.replace(MARKER.encode(), INVALID_UTF8)
                        for what, payload in (("NUL", nul), ("invalid UTF-8", invalid)):
                            checked += 1
                            try:
                                reply = call(payload, metadata=metadata, timeout=10)
                                if method.server_streaming:
                                    async for _ in reply:
                                        pass
                                else:
                                    await reply
                                failures.append(f"{full} {'.'.join(f.name for f in path)} {what}: accepted")
                                continue
                            except grpc.aio.AioRpcError as error:
                                code, violations, _ = rpc_error_details(error)
                                details = error.details()  # ``error`` is unbound after the except block
                            if code != grpc.StatusCode.INVALID_ARGUMENT or not any(
                                    v.startswith(top) for v in violations):
                                failures.append(f"{full} {'.'.join(f.name for f in path)} {what}: "
                                                f"{code.name} {violations or details}")
    assert checked > 100, "the sweep must see every method"
    assert failures == []
    assert errors_logged() == []


# -- the demo relying party ----------------------------------------------------------------------

async def test_every_demo_rp_route_refuses_bad_bytes_with_its_own_error(services, errors_logged):
    """Issue 16: the demo montreal.ca relying party behind the same door — its routes
    enumerated like the front's, 400 for every variant, its own page (French first) or JSON
    ``invalid_request`` at the back-channel logout endpoint, no traceback."""
    from services.identity.demo_rp.app import create_demo_app
    from services.identity.http.app import serve

    port = free_port()
    app = create_demo_app(f"http://127.0.0.1:{services['http_port']}", port)
    stop, started = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(app, "127.0.0.1", port, stop, started=started))
    await asyncio.wait_for(started.wait(), 10)
    try:
        targets = route_targets(app)
        assert {path for _, path, _ in targets} == {"/", "/login", "/callback", "/logout", "/backchannel-logout"}
        failures = []
        for method, path, bad_path in targets:
            for what, request in bad_variants(method, path, bad_path):
                status, headers, body = await raw_http(port, request)
                if status != 400:
                    failures.append(f"{method} {path} {what}: {status}")
                    continue
                if what.startswith("raw") and "query" in what:
                    continue  # uvicorn's own 400 (RFC 9112 s.3.2)
                if path == "/backchannel-logout" and "path" not in what:
                    if json.loads(body).get("error") != "invalid_request":
                        failures.append(f"{method} {path} {what}: {body[:80]!r}")
                elif not headers.get("content-type", "").startswith(("text/html", "application/json")):
                    failures.append(f"{method} {path} {what}: content-type {headers.get('content-type')}")
                elif headers["content-type"].startswith("text/html") and b'lang="fr"' not in body:
                    failures.append(f"{method} {path} {what}: not the French-first page")
        assert failures == []
        # the control: a clean request still reaches the demo
        status, _, body = await raw_http(port, http_request("GET", b"/?lang=fr&note=Montr%C3%A9al"))
        assert status == 200 and "Se connecter avec mon compte Montréal".encode() in body
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert errors_logged() == []


# -- bad characters hidden inside encoded parameters ----------------------------------------------

def _segment(obj: dict) -> bytes:
    """A JWT segment whose JSON carries the escapes as written (``json.dumps`` would keep
    ``\\u0000`` and a lone ``\\ud800`` escaped too)."""
    return _b64(json.dumps(obj).encode()).encode()


def _dpop_proof(claims: dict) -> bytes:
    """A DPoP proof (RFC 9449 s. 4.2) correctly signed by its own key, claims as given."""
    from joserfc import jws
    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256", private=True)
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    return jws.serialize_compact(header, json.dumps(claims).encode(), key).encode()


def hidden_bad_characters() -> list[tuple[str, bytes]]:
    """Requests whose bytes are clean but whose decoded content is not: a JSON ``\\u0000`` or
    lone surrogate ``\\ud800`` inside a JWT (client assertion, DPoP proof, ID token hint,
    request object, access token) or a JSON parameter or body. Decoded, these are a NUL or a
    string no database can store (PostgreSQL refuses both; SQLite the surrogate)."""
    import time as _time

    requests = []
    for name, bad in (("NUL", "a\u0000b"), ("lone surrogate", "a\ud800b")):
        unsigned = (_segment({"alg": "ES256", "kid": bad, "typ": "JWT"}) + b"."
                    + _segment({"iss": bad, "sub": bad, "aud": bad, "client_id": bad, "jti": bad,
                                "iat": int(_time.time()), "exp": int(_time.time()) + 60}) + b".c2ln")
        assertion = b"client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
        proof = _dpop_proof({"jti": bad, "htm": "POST", "htu": "http://127.0.0.1/token", "iat": int(_time.time())})
        json_param = json.dumps({"userinfo": {bad: None}}).encode()
        from urllib.parse import quote_from_bytes as q
        requests += [
            (f"{name} in a client assertion", http_request(
                "POST", b"/token", body=b"grant_type=client_credentials&" + assertion + b"&client_assertion=" + unsigned)),
            (f"{name} in a client assertion at introspection", http_request(
                "POST", b"/introspect", body=b"token=x&" + assertion + b"&client_assertion=" + unsigned)),
            (f"{name} in a client assertion at revocation", http_request(
                "POST", b"/revoke", body=b"token=x&" + assertion + b"&client_assertion=" + unsigned)),
            (f"{name} in a client assertion at PAR", http_request(
                "POST", b"/par", body=b"response_type=code&" + assertion + b"&client_assertion=" + unsigned)),
            (f"{name} in a DPoP proof", http_request(
                "POST", b"/token", headers=[b"DPoP: " + proof],
                body=b"grant_type=client_credentials&client_id=x&client_secret=y")),
            (f"{name} in an access token", http_request("GET", b"/userinfo", headers=[b"Authorization: Bearer " + unsigned])),
            (f"{name} in a DPoP-bound access token", http_request(
                "GET", b"/userinfo", headers=[b"Authorization: DPoP " + unsigned, b"DPoP: " + proof])),
            (f"{name} in an ID token hint", http_request("GET", b"/end-session?id_token_hint=" + unsigned)),
            (f"{name} in a request object", http_request(
                "GET", b"/authorize?client_id=x&response_type=code&request=" + unsigned)),
            (f"{name} in the claims parameter", http_request(
                "GET", b"/authorize?client_id=x&response_type=code&scope=openid&claims=" + q(json_param).encode())),
            (f"{name} in authorization details", http_request(
                "POST", b"/token", body=b"grant_type=client_credentials&client_id=x&client_secret=y&authorization_details="
                + q(json.dumps([{"type": bad}]).encode()).encode())),
            (f"{name} in a credential request", http_request(
                "POST", b"/card/credential", headers=[b"Authorization: Bearer " + unsigned],
                content_type=b"application/json",
                body=json.dumps({"credential_configuration_id": bad, "proofs": {"jwt": [unsigned.decode()]}}).encode())),
            (f"{name} in a card token request", http_request(
                "POST", b"/card/token", body=b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Apre-authorized_code"
                b"&pre-authorized_code=x", headers=[b"DPoP: " + proof])),
            (f"{name} in a presentation", http_request(
                "POST", b"/card/vp/response", body=b"state=x&vp_token=" + q(json.dumps({"card": [bad]}).encode()).encode())),
            (f"{name} in a JSON body", http_request(
                "POST", b"/token", content_type=b"application/json", body=json.dumps({"client_id": bad}).encode())),
            (f"{name} in a signed note", http_request(
                "POST", b"/ledger/cosignatures", content_type=b"text/plain", body=bad.encode("utf-8", "surrogatepass"))),
        ]
    return requests


async def test_bad_characters_hidden_in_encoded_parameters_get_the_endpoints_own_error(services, errors_logged):
    """Issue 16, bad bytes past the door: the door sees clean bytes, the endpoint decodes a
    NUL or a lone surrogate. Each endpoint answers in its own protocol terms (4xx, an RFC
    error code other than ``server_error``), never 500, never a traceback."""
    failures = []
    for what, request in hidden_bad_characters():
        status, headers, body = await raw_http(services["http_port"], request)
        error = None
        if headers.get("content-type", "").startswith("application/json"):
            error = json.loads(body or b"{}").get("error")
        if status >= 500 or error in ("server_error", "temporarily_unavailable"):
            failures.append(f"{what}: {status} {error}")
    assert failures == [], "\n".join(failures)
    assert errors_logged() == []


async def test_bad_characters_hidden_in_a_registered_clients_requests(services, minter, errors_logged):
    """The same, one step deeper: a registered client that authenticates correctly, so the
    hidden NUL or lone surrogate reaches what the endpoint stores (a DPoP proof's ``jti``, a
    pushed request's ``claims``, an authorization request's ``state``)."""
    import hashlib
    import time as _time
    from urllib.parse import quote as q

    from montreal.identity.v1 import identity_pb2 as pb
    from montreal.identity.v1 import identity_pb2_grpc as pb_grpc

    identity = services["identity"]
    token = minter.mint("sweeper", ["identity:admin"], "urn:mtlid:identity")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{identity.bound_grpc_port}") as channel:
        stub = pb_grpc.IdentityServiceStub(channel)
        admin = (("authorization", f"Bearer {token}"),)
        created = await stub.CreateClient(pb.CreateClientRequest(client=pb.Client(
            client_id="bad-bytes-rp", name="Bad bytes RP", redirect_uris=["http://127.0.0.1:9/cb"],
            grant_types=["authorization_code"], scopes=["openid", "profile"],
            token_endpoint_auth_method="client_secret_post")), metadata=admin, timeout=10)
        system = await stub.CreateClient(pb.CreateClientRequest(client=pb.Client(
            client_id="bad-bytes-system", name="Bad bytes system", grant_types=["client_credentials"],
            audiences=["urn:mtlid:identity"], token_endpoint_auth_method="client_secret_post")),
            metadata=admin, timeout=10)
    rp_secret = b"client_secret=" + q(created.client_secret).encode()
    auth = b"client_id=bad-bytes-system&client_secret=" + q(system.client_secret).encode()
    verifier = "v" * 43
    challenge = _b64(hashlib.sha256(verifier.encode()).digest()).encode()
    port = services["http_port"]
    failures = []
    for name, bad in (("NUL", "a\u0000b"), ("lone surrogate", "a\ud800b")):
        proof = _dpop_proof({"jti": bad, "htm": "POST", "htu": f"http://127.0.0.1:{port}/token",
                             "iat": int(_time.time())})
        claims = q(json.dumps({"id_token": {bad: None}, "userinfo": {"name": {"value": bad}}})).encode()
        details = q(json.dumps([{"type": bad, "locations": [bad]}])).encode()
        authorize = (b"client_id=bad-bytes-rp&response_type=code&scope=openid&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb"
                     b"&code_challenge_method=S256&code_challenge=" + challenge)
        for what, request in (
                (f"{name} in a DPoP proof's jti", http_request(
                    "POST", b"/token", headers=[b"DPoP: " + proof], body=b"grant_type=client_credentials&" + auth)),
                (f"{name} in authorization details", http_request(
                    "POST", b"/token", body=b"grant_type=client_credentials&" + auth + b"&authorization_details=" + details)),
                (f"{name} in a pushed request's claims", http_request(
                    "POST", b"/par", body=authorize + b"&" + rp_secret + b"&claims=" + claims)),
                (f"{name} in an authorization request's claims", http_request(
                    "GET", b"/authorize?" + authorize + b"&claims=" + claims)),
                (f"{name} in a pushed request's authorization details", http_request(
                    "POST", b"/par", body=authorize + b"&" + rp_secret + b"&authorization_details=" + details)),
        ):
            status, headers, body = await raw_http(port, request)
            error = None
            if headers.get("content-type", "").startswith("application/json"):
                error = json.loads(body or b"{}").get("error")
            if status >= 500 or error in ("server_error", "temporarily_unavailable"):
                failures.append(f"{what}: {status} {error}")
    assert failures == [], "\n".join(failures)
    assert errors_logged() == []


async def test_text_no_database_stores_is_the_callers_error_at_both_boundaries(services, errors_logged):
    """The net under the endpoints' own checks: whatever path a decoded NUL or lone surrogate
    finds to a query, the database's refusal (PostgreSQL: both; SQLite: the surrogate) is
    answered 400 ``invalid_request`` / INVALID_ARGUMENT, logged without a traceback — with the
    real driver's errors of the database under test, not imitations."""
    from sqlalchemy import text

    from services.common.errors import dependency_unavailable, unstorable_text
    from services.identity.http.routes.common import unexpected

    factory = services["identity"].session_factory
    refused = []
    for value in ("a\x00b", "a\ud800b"):
        try:
            async with factory() as session:
                await session.execute(text("SELECT CAST(:v AS TEXT) = 'x'"), {"v": value})
        except Exception as error:  # noqa: BLE001 - the driver's own class is what is checked
            refused.append(error)
    assert len(refused) >= 1   # SQLite stores a NUL; no database stores a lone surrogate
    for error in refused:
        assert unstorable_text(error) and not dependency_unavailable(error), repr(error)
        answer = unexpected("/token", error)
        assert answer.status == 400 and answer.body["error"] == "invalid_request"
    assert errors_logged() == []
    # the control: a bug is still a bug (500, logged with its traceback)
    assert not unstorable_text(RuntimeError("a bug")) and unexpected("/token", ValueError("a bug")).status == 500
    assert [type(r.exc_info[1]) for r in errors_logged()] == [ValueError]
