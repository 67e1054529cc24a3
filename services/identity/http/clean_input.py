"""Bad bytes stop at the door: a NUL or invalid UTF-8 anywhere in a request is refused
before any route, core function or database sees it.

Why at the door and not in each endpoint: PostgreSQL refuses NUL in ``text`` (SQLite keeps
it), and Starlette decodes invalid UTF-8 in forms and query strings to U+FFFD without a
word, so the same input gave a 500 on one database, a silently altered value on the other.
RFC 3629 s.3 forbids the invalid sequences; WHATWG URL's form decoding and RFC 9110 s.5.5
(no CTL in a field value) leave no room for NUL in a parameter, header or cookie a client
means. Nothing legitimate is refused.

Checked, on the raw bytes (after percent-decoding where the format percent-encodes):
the path, the query string, every header value, every cookie (after RFC 6265 unquoting,
which turns ``"\\000"`` into NUL), and a form or text body (``application/x-www-form-urlencoded``,
``multipart/form-data``, ``application/json``, ``text/*``; the body is read here and handed on
unchanged, at most ``MAX_BODY_BYTES``: the endpoints refuse more anyway).

What the door cannot see, a NUL or lone surrogate written as a JSON escape inside a JWT or a
JSON parameter, is the endpoint's: decoded, it reaches no database as a 500
(``routes.common.unexpected`` answers ``invalid_request``; tests/integration/test_bad_bytes.py).

The answer is the endpoint's own: RFC 6749 s.5.2 ``invalid_request`` (400, JSON, ``no-store``)
on the protocol endpoints that answer JSON (RFC 6750 s.3.1 ``WWW-Authenticate`` for
userinfo), the ``invalid_request`` error page (400, French first) everywhere else.
Logged once at INFO with the part of the request at fault, never the bytes themselves.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from http.cookies import _unquote  # RFC 6265 quoted-string unquoting, as Starlette does
from urllib.parse import unquote_to_bytes

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.identity.http.convert import SECURITY_HEADERS, render_page
from services.identity.http.routes.common import MAX_BODY_BYTES

log = logging.getLogger("services.identity.http")

# Endpoints whose errors are JSON (RFC 6749 s.5.2 and the JSON documents); every other path
# is a page or a redirect a browser follows, and gets the error page.
JSON_PATHS = frozenset({"/token", "/introspect", "/revoke", "/userinfo", "/jwks", "/healthz",
                        "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server",
                        "/ledger/keys", "/ledger/tree-head",
                        # the carte citoyenne (issue 23): wallets and verifiers read JSON errors
                        "/.well-known/openid-credential-issuer", "/.well-known/oauth-authorization-server/card",
                        "/.well-known/jwt-vc-issuer", "/card/token", "/card/nonce", "/card/credential",
                        "/card/status/1", "/card/vp/requests", "/card/vp/response", "/card/vp/result",
                        # PAR (RFC 9126 s. 2.3) and the ledger's witness endpoints answer JSON too
                        "/par", "/ledger/consistency", "/ledger/cosignatures",
                        "/counter/session-token"})  # an agent session token (RFC 8693)
#: JSON endpoints with a path parameter (OpenID4VP's request object by reference)
JSON_PREFIXES = ("/card/vp/request/",)


def answers_json(path: str) -> bool:
    """Whether the endpoint at ``path`` answers its errors in JSON (else the error page)."""
    return path in JSON_PATHS or path.startswith(JSON_PREFIXES)
FORM_TYPES = (b"application/x-www-form-urlencoded", b"multipart/form-data")
# Bodies that are text, checked whole: a JSON request (OpenID4VCI's credential request) and a
# text/plain one (a witness's signed note). Their escapes (JSON's \u0000) are the endpoint's.
TEXT_TYPES = (b"application/json", b"text/")
_SECURITY = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in SECURITY_HEADERS]


# A percent-escape that may decode to NUL or to a non-ASCII byte: only then is decoding needed.
_SUSPECT_ESCAPE = re.compile(rb"%(?:00|[89A-Fa-f][0-9A-Fa-f])")


def bad_text(raw: bytes) -> bool:
    """True when ``raw`` holds a NUL or is not UTF-8 (RFC 3629)."""
    if b"\x00" in raw:
        return True
    if raw.isascii():
        return False
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def bad_encoded(raw: bytes, *, plus_is_space: bool = False) -> bool:
    """``bad_text`` of a percent-encoded string (a path, a query string, a form body).

    The common case (ASCII, no escape of NUL or of a byte above 0x7F) is decided without
    decoding: this runs on every request, /token included."""
    if b"%" not in raw or not _SUSPECT_ESCAPE.search(raw):
        return bad_text(raw)
    if plus_is_space:
        raw = raw.replace(b"+", b" ")
    return bad_text(unquote_to_bytes(raw))


def find_bad_part(scope: Scope) -> str | None:
    """The part of the request head holding bad bytes (``path``, ``query``, ``header <name>``,
    ``cookie``), or None."""
    if bad_encoded(scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")):
        return "path"
    if bad_encoded(scope.get("query_string", b""), plus_is_space=True):
        return "query"
    headers = scope["headers"]
    everything = b"".join([value for _, value in headers] + [name for name, _ in headers])
    if everything.isascii() and b"\x00" not in everything and b"\\" not in everything:
        return None  # the common case, decided in one pass over the bytes
    for name, value in headers:
        if bad_text(value) or b"\x00" in name:
            return f"header {name.decode('latin-1', 'replace')[:40]}"
        if name == b"cookie" and b"\\" in value:
            # An octal escape inside a quoted cookie value decodes to any byte.
            for pair in value.decode("latin-1").split(";"):
                _, _, cookie = pair.partition("=")
                unquoted = _unquote(cookie.strip())
                if "\x00" in unquoted or bad_text(unquoted.encode("latin-1", "replace")):
                    return "cookie"
    return None


class CleanInput:
    """Pure ASGI middleware, the outermost layer of the identity HTTP front (``front_asgi``).

    ``app`` is what it protects; ``pages`` the Starlette application that renders the error
    page (its ``state.front_options``). An application that is not the identity front (the
    demo relying party) gives its own ``json_paths`` and ``error_page`` (a function returning
    the HTML of its 400 page) instead."""

    def __init__(self, app: ASGIApp, pages, *, json_paths: frozenset[str] = JSON_PATHS,
                 error_page: Callable[[], bytes] | None = None) -> None:
        self.app = app
        self.pages = pages
        self.json_paths = json_paths
        self.error_page = error_page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        part = find_bad_part(scope)
        content_type = _content_type(scope) if scope["method"] in ("POST", "PUT", "PATCH") else b""
        if part is None and content_type.startswith(FORM_TYPES + TEXT_TYPES):
            body, more = await _read_body(receive)
            if body is not None and not more:
                urlencoded = content_type.startswith(FORM_TYPES[0])
                if bad_encoded(body, plus_is_space=True) if urlencoded else bad_text(body):
                    part = "form" if content_type.startswith(FORM_TYPES) else "body"
                receive = _replay(body, receive)
            else:
                # Too large to check here: the endpoints refuse it on its size alone.
                receive = _replay(body or b"", receive, more=more)
        if part is None:
            await self.app(scope, receive, send)
            return
        log.info("refused a request with bad bytes", extra={"path": scope["path"][:200], "part": part})
        await self._refuse(scope, part, send)

    async def _refuse(self, scope: Scope, part: str, send: Send) -> None:
        description = f"The request's {part} holds a NUL character or bytes that are not UTF-8."
        path = scope["path"]
        if path in self.json_paths or path.startswith(JSON_PREFIXES) or "\x00" in path:
            body = json.dumps({"error": "invalid_request", "error_description": description}).encode()
            headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store"),
                       (b"pragma", b"no-cache")]
            if path == "/userinfo":
                headers.append((b"www-authenticate", b'Bearer error="invalid_request"'))
        elif self.error_page is not None:
            body = self.error_page()
            headers = [(b"content-type", b"text/html; charset=utf-8"), (b"cache-control", b"no-store")]
        else:
            response = render_page(_clean_request(scope, self.pages), "error.html",
                                   {"reason": "invalid_request"}, 400, self.pages.state.front_options)
            body = response.body
            headers = [(k, v) for k, v in response.raw_headers if k != b"content-length"]
        headers += _SECURITY
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 400, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _content_type(scope: Scope) -> bytes:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.lower()
    return b""


async def _read_body(receive: Receive) -> tuple[bytes | None, bool]:
    """The body (None past ``MAX_BODY_BYTES``) and whether more of it is still unread."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        more = message.get("more_body", False)
        if size > MAX_BODY_BYTES and more:
            return b"".join(chunks), True
        if not more:
            return b"".join(chunks), False


def _replay(body: bytes, receive: Receive, *, more: bool = False) -> Receive:
    """A ``receive`` that gives ``body`` first, then whatever the client still sends."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()  # the rest of a long body, or the client's disconnect

    return replay


def _clean_request(scope: Scope, app) -> Request:
    """The request stripped of everything the client sent but its method and a clean path:
    what the error page needs (language from nothing: French first)."""
    clean = {"type": "http", "method": "GET", "path": "/", "raw_path": b"/", "query_string": b"",
             "headers": [], "app": app, "scheme": scope.get("scheme", "http"),
             "server": scope.get("server"), "root_path": ""}
    return Request(clean)


def front_asgi(app, direct_endpoints=None) -> ASGIApp:
    """The whole identity HTTP front as served: ``CleanInput`` outermost, then the direct
    protocol endpoints (direct.py), then the Starlette application."""
    inner = app if direct_endpoints is None else direct_endpoints(app)
    return CleanInput(inner, app)
