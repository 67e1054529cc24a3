"""The machine-to-machine endpoints straight on ASGI: ``POST /token`` and ``POST /introspect``.

Borough systems and partners call these thousands of times a second (client credentials,
RFC 6749 s. 4.4; introspection, RFC 7662), with no cookie, no page, no CSRF token: the whole
Starlette request machinery (routing, the ``Request`` object, the multipart-capable form
parser, two header-rewriting middlewares) was a fifth of their CPU in the issue 8 profiles.
This middleware answers them itself — read the body, parse the form, call the same core
function as the Starlette route, write the response with the same headers — and passes
everything else on, unchanged:

- only ``POST`` with ``application/x-www-form-urlencoded`` (RFC 6749 s. 3.2, RFC 7662 s. 2.1);
  any other method or body goes to the Starlette route, which answers exactly as before;
- the same body limit as the pages (64 KiB, else ``invalid_request``) and at most 100 fields;
- the same security headers (``convert.SECURITY_HEADERS``), the same CORS answer for ``/token``
  (``app.PublicCors``), and an unexpected failure answered ``server_error``, never a traceback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from urllib.parse import unquote

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from services.common.http_metrics import HTTP_SERVER_DURATION
from services.identity.http.convert import MAX_FORM_FIELDS, SECURITY_HEADERS
from services.identity.http.routes.common import MAX_BODY_BYTES, unexpected
from services.identity.metrics import count_token_issued
from services.identity.oidc import introspection, token
from services.identity.oidc.errors import InvalidRequest, error_response
from services.identity.oidc.wire import WireRequest, WireResponse

log = logging.getLogger("services.identity.http")

ENDPOINTS = {"/token": token.token_endpoint, "/introspect": introspection.introspection_endpoint}
FORM = b"application/x-www-form-urlencoded"
_SECURITY = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in SECURITY_HEADERS]
# PublicCors: a browser application (public client) may call /token from its own origin.
_CORS = {"/token": [(b"access-control-allow-origin", b"*"),
                    (b"access-control-expose-headers", b"DPoP-Nonce, WWW-Authenticate")]}


class TooLarge(Exception):
    pass


def parse_form(encoded: str) -> dict[str, list[str]]:
    """``urllib.parse.parse_qs(encoded, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)``,
    in a third of its time: names and values percent-decoded as UTF-8 (the form's charset,
    WHATWG URL "application/x-www-form-urlencoded"), ``+`` as a space, a name without ``=``
    kept with an empty value, ``ValueError`` past ``MAX_FORM_FIELDS``. Only a part holding
    ``%`` or ``+`` is decoded: a token request's parts rarely do."""
    if not encoded:
        return {}
    if encoded.count("&") + 1 > MAX_FORM_FIELDS:
        raise ValueError("Max number of fields exceeded")
    form: dict[str, list[str]] = {}
    for part in encoded.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if "%" in name or "+" in name:
            name = unquote(name.replace("+", " "))
        if "%" in value or "+" in value:
            value = unquote(value.replace("+", " "))
        values = form.get(name)
        if values is None:
            form[name] = [value]
        else:
            values.append(value)
    return form


class DirectProtocolEndpoints:
    """Wraps the Starlette app (``app.state.provider`` is the OpenID provider)."""

    def __init__(self, app: ASGIApp, *, measure: bool = False) -> None:
        self.app = app
        # RED metrics of these two endpoints, recorded here where the status is known (no
        # ASGI send wrapper on the hottest path); the other routes: services.common.http_metrics.
        self._observers: dict[tuple[str, int], Callable[[float], None]] | None = {} if measure else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = ENDPOINTS.get(scope.get("path", "")) if scope["type"] == "http" else None
        if endpoint is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            key = name.decode("latin-1").lower()
            if key == "dpop" and key in headers:
                # RFC 9449 s. 4.3 item 1: exactly one proof; joined, the proof check refuses them
                headers[key] += "," + value.decode("latin-1")
            else:
                headers[key] = value.decode("latin-1")
        if not headers.get("content-type", "").encode("latin-1").lower().startswith(FORM):
            await self.app(scope, receive, send)
            return
        try:
            wire = await self._wire_request(scope, receive, headers)
            response = await endpoint(self.app.state.provider, wire)
            if response.status == 200 and endpoint is token.token_endpoint:
                count_token_issued(wire.form.get("grant_type", ("",))[0])
        except (TooLarge, ValueError) as refused:
            reason = "The request body is too large." if isinstance(refused, TooLarge) else "The form is malformed."
            response = WireResponse.json(*error_response(InvalidRequest(reason)))
        except Exception as error:  # noqa: BLE001 - the boundary: log once, answer in protocol terms
            response = unexpected(scope["path"], error)
        await self._send(scope["path"], response, send)
        if self._observers is not None:
            key = (scope["path"], response.status)
            observe = self._observers.get(key)
            if observe is None:
                observe = self._observers[key] = HTTP_SERVER_DURATION.bind({
                    "http.request.method": "POST", "http.route": key[0], "http.response.status_code": key[1],
                    "url.scheme": scope.get("scheme", "http")})
            observe(time.perf_counter() - started)

    @staticmethod
    async def _wire_request(scope: Scope, receive: Receive, headers: dict[str, str]) -> WireRequest:
        length = headers.get("content-length", "0")
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            raise TooLarge()
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:  # chunked bodies have no content-length to check first
                raise TooLarge()
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        form = parse_form(b"".join(chunks).decode("latin-1"))
        query = parse_form(scope.get("query_string", b"").decode("latin-1"))
        client = scope.get("client")
        return WireRequest(method="POST", path=scope["path"], query=query, form=form, headers=headers,
                           remote_addr=client[0] if client else "")

    @staticmethod
    async def _send(path: str, response: WireResponse, send: Send) -> None:
        # a protocol answer is a JSON object: orjson, a tenth of json.dumps's time (hot path)
        body = orjson.dumps(response.body) if isinstance(response.body, dict) else response.body_bytes()
        headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in response.headers]
        headers += _SECURITY
        headers += _CORS.get(path, [])
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
