"""The one shape of the front's header middlewares: pure ASGI, no buffering, the response's
headers rewritten as they start (security headers, HSTS, ``__Host-`` cookie names)."""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

Headers = list[tuple[bytes, bytes]]


class ResponseHeaders:
    """Calls ``rewrite(headers) -> headers`` on every HTTP response's headers; subclasses
    may also rewrite the request's ``scope`` (``request``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def request(self, scope: Scope) -> Scope:
        return scope

    def rewrite(self, headers: Headers) -> Headers:
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rewrite: Callable[[Headers], Headers] = self.rewrite

        async def send_rewritten(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = rewrite(list(message.get("headers", [])))
            await send(message)

        await self.app(self.request(scope), receive, send_rewritten)
