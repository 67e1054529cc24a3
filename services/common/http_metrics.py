"""RED metrics of an ASGI app: ``http.server.request.duration`` (OpenTelemetry HTTP semantic
conventions, seconds) by ``http.request.method``, ``http.route`` and
``http.response.status_code``; its count is the request rate, its 5xx share the error rate.

Why not opentelemetry-instrumentation-asgi: measured on the token endpoint's path in-process,
it doubled the time of a request (+160 µs: a span, several histograms and header parsing per
request, even with a no-op tracer), against a budget of 5 % of ~220 µs. This middleware
records one histogram value through a bound instrument (``HotInstrument``, a few µs). Traces of HTTP requests
remain the collector's job when one is configured.

``http.route`` is the route's template as Starlette matched it (``/account/consents/{id}``),
the path itself for ``direct_paths``, and ``unmatched`` for anything else, so a scanner's
random paths cannot grow the series. (identity's ``/token`` and ``/introspect``, answered
before Starlette, record the same histogram themselves: services/identity/http/direct.py.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.metrics import HotInstrument

HTTP_SERVER_DURATION = HotInstrument("histogram", "http.server.request.duration", unit="s",
                                     description="Duration of HTTP server requests")


class HttpMetrics:
    def __init__(self, app: ASGIApp, *, direct_paths: Collection[str] = ()) -> None:
        self.app = app
        self.direct_paths = frozenset(direct_paths)
        self._observers: dict[tuple[str, str, int, str], Callable[[float], None]] = {}

    def __getattr__(self, name: str):
        # uvicorn and tests reach the wrapped app's ``state``: stay transparent.
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None)
            if template is None:
                template = scope["path"] if scope["path"] in self.direct_paths else "unmatched"
            key = (scope["method"], template, status, scope.get("scheme", "http"))
            observe = self._observers.get(key)
            if observe is None:
                observe = self._observers[key] = HTTP_SERVER_DURATION.bind({
                    "http.request.method": key[0], "http.route": key[1], "http.response.status_code": key[2],
                    "url.scheme": key[3]})
            observe(time.perf_counter() - started)
