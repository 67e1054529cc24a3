"""Glue shared by the route modules: call a core function, convert, never leak a 500 page."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from services.common.errors import dependency_unavailable, unstorable_text
from services.identity.http import csrf
from services.identity.http.convert import FrontOptions, from_wire, render_page, to_wire
from services.identity.oidc.errors import InvalidRequest, ServerError, TemporarilyUnavailable, error_response
from services.identity.oidc.wire import WireRequest, WireResponse

log = logging.getLogger("services.identity.http")
MAX_BODY_BYTES = 64 * 1024  # no protocol or page form comes near this


def options(request: Request) -> FrontOptions:
    return request.app.state.front_options


def provider(request: Request):
    return request.app.state.provider


async def respond(request: Request, handler: Callable[[WireRequest], Awaitable[WireResponse]], *,
                  json_errors: bool, check_csrf: bool = False) -> Response:
    """Run ``handler`` on the converted request; an unexpected failure is logged and answered
    with an RFC 6749 ``server_error`` (JSON endpoints) or an error page — never a traceback."""
    try:
        length = request.headers.get("content-length", "0")
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            error = InvalidRequest("The request body is too large.")
            if json_errors:
                return from_wire(request, WireResponse.json(*error_response(error)), options(request))
            return render_page(request, "error.html", {"reason": "invalid_request"}, 413, options(request))
        wire = await to_wire(request)
        if check_csrf and not csrf.request_valid(request, wire.first(wire.form, csrf.CSRF_FIELD)):
            return render_page(request, "error.html", {"reason": "csrf"}, 403, options(request))
        return from_wire(request, await handler(wire), options(request))
    except Exception as error:  # noqa: BLE001 - the boundary: log once, answer in protocol terms
        answer = unexpected(request.url.path, error)
        if json_errors:
            return from_wire(request, answer, options(request))
        reason = "invalid_request" if answer.status == 400 else "server_error"
        return render_page(request, "error.html", {"reason": reason}, answer.status, options(request))


def unexpected(path: str, error: Exception) -> WireResponse:
    """The answer to a failure no handler expected: ``temporarily_unavailable`` (503, retry)
    when a dependency — the database, another service — is away or slow, logged as a warning;
    ``invalid_request`` (400, logged at INFO) when the database refused text from the request
    (``unstorable_text``: a NUL or lone surrogate decoded from inside a parameter);
    otherwise ``server_error`` (500), logged with its traceback. Never a traceback in the body."""
    if dependency_unavailable(error):
        log.warning("dependency unavailable", extra={"path": path, "error": type(error).__name__})
        response = WireResponse.json(*error_response(TemporarilyUnavailable("Try again in a moment.")))
        response.headers.append(("Retry-After", "1"))
        return response
    if unstorable_text(error):
        # a JSON escape (\\u0000, a lone surrogate) inside a JWT or JSON parameter decoded to
        # what no database stores: the front's door could not see it (clean_input.py)
        log.info("refused a request with bad characters inside a parameter", extra={"path": path})
        return WireResponse.json(*error_response(InvalidRequest(
            "A parameter holds a NUL character or text that is not UTF-8.")))
    log.error("unexpected error", exc_info=error, extra={"path": path})
    return WireResponse.json(*error_response(ServerError()))
