"""The identity HTTP front: a Starlette app that only converts requests and responses for
the OIDC core (``services.identity.oidc``), plus ``add_http_front(runtime)`` for the runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pathlib

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from services.common.http_metrics import HttpMetrics
from services.common.metrics import enabled as metrics_enabled
from services.common.telemetry import instrument_asgi
from services.identity.http.convert import SECURITY_HEADERS, FrontOptions, render_page
from services.identity.http import account, activation, counter
from services.identity.http.clean_input import CleanInput, front_asgi
from services.identity.http.asgi import Headers, ResponseHeaders
from services.identity.http.cookies import HostCookies
from services.identity.http.direct import DirectProtocolEndpoints
from services.identity.http.routes import card, health, interaction, ledger, oidc

log = logging.getLogger(__name__)
STATIC = pathlib.Path(__file__).parent / "static"
HOUSEKEEPING_INTERVAL = 600.0


class SecurityHeaders(ResponseHeaders):
    """Adds the security headers to every response (pure ASGI, no buffering)."""

    def rewrite(self, headers: Headers) -> Headers:
        present = {name.lower() for name, _ in headers}
        for name, value in SECURITY_HEADERS:
            if name.lower().encode() not in present:
                headers.append((name.lower().encode(), value.encode()))
        return headers


class StrictTransportSecurity(ResponseHeaders):
    """HSTS (RFC 6797) on every response outside development, from the app itself: a
    resident's browser then refuses plain http to the identity front even if an ingress is
    misconfigured or absent (the probe's finding 6). Development serves http on loopback and
    sends none (a browser would remember it for 127.0.0.1)."""

    HEADER = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")

    def rewrite(self, headers: Headers) -> Headers:
        return [*headers, self.HEADER]


class PublicCors:
    """CORS for the endpoints a browser application (a public client: PKCE, no secret) calls
    from its own origin: discovery, JWKS, token, userinfo, revocation. They use no cookie, so
    any origin may read them (no ``Access-Control-Allow-Credentials``); the pages, which do use
    the session cookie, get no CORS headers at all."""

    PATHS = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/jwks",
             "/token", "/par", "/userinfo", "/revoke", "/ledger/keys", "/ledger/tree-head", "/ledger/consistency",
             # the carte citoyenne: wallets and verifiers read these from anywhere, no cookie
             "/.well-known/openid-credential-issuer", "/.well-known/oauth-authorization-server/card",
             "/.well-known/jwt-vc-issuer", "/card/token", "/card/nonce",
             "/card/credential", "/card/status/1")
    HEADERS = [(b"access-control-allow-origin", b"*"),
               (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
               # DPoP (RFC 9449): a browser app sends its proof in the DPoP header
               (b"access-control-allow-headers", b"Authorization, Content-Type, DPoP"),
               (b"access-control-max-age", b"600")]
    #: on answers: the allowed origin, and the headers a DPoP client must read (s. 8, 7.1)
    EXPOSED = [HEADERS[0], (b"access-control-expose-headers", b"DPoP-Nonce, WWW-Authenticate")]

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.PATHS:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":  # preflight
            await send({"type": "http.response.start", "status": 204, "headers": list(self.HEADERS)})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.EXPOSED]
            await send(message)

        await self.app(scope, receive, send_with_cors)


async def _not_found(request: Request, exc: Exception) -> Response:
    return render_page(request, "error.html", {"reason": "not_found"}, 404, request.app.state.front_options)


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    response = render_page(request, "error.html", {"reason": "invalid_request"}, 405, request.app.state.front_options)
    return response


def create_app(provider, *, secure_cookies: bool | None = None,
               consent_target: str = "127.0.0.1:50053") -> Starlette:
    """The ASGI app for ``provider`` (``services.identity.oidc.provider.Provider``)."""
    options = FrontOptions(secure_cookies=provider.config.secure_cookies if secure_cookies is None else secure_cookies)
    # outside development, every cookie is a __Host- cookie (http/cookies.py)
    cookie_names = [Middleware(HostCookies)] if options.secure_cookies else []
    app = Starlette(
        routes=[*health.routes, *oidc.routes, *card.routes, *interaction.routes, *ledger.routes, *account.routes, *counter.routes, *activation.routes, Mount("/static", StaticFiles(directory=STATIC))],
        middleware=[*cookie_names, Middleware(SecurityHeaders), Middleware(PublicCors)],
        exception_handlers={404: _not_found, 405: _method_not_allowed},
    )
    app.state.provider = provider
    app.state.consent_target = consent_target
    app.state.front_options = options
    return app


async def build_provider(runtime, context=None):
    """The provider for a runtime: keys loaded (created on first start), CORE's authentication.

    ``context`` is CORE's ``IdentityContext`` (services/identity/app.py): its key ring is shared,
    so gRPC and HTTP sign and verify with one ``SigningKeys`` per process."""
    from services.identity.adapters.oauth_repositories import OAuthUnitOfWork
    from services.identity.oidc.provider import CoreAuthenticator, Provider, config_from_settings
    from services.identity.service_layer.keys import SigningKeys

    settings = runtime.settings

    def uow_factory():
        return OAuthUnitOfWork(runtime.session_factory, kek=settings.key_encryption_key, on_commit=runtime.on_commit,
                               hand_over=runtime.hand_over)

    if context is not None and getattr(context, "keys", None) is not None:
        keys = await context.keys.get()
    else:
        keys = await SigningKeys.load(uow_factory(), settings.key_encryption_key)
    from services.identity.card.keys import card_issuer_for

    return Provider(config=config_from_settings(settings), keys=keys, uow_factory=uow_factory,
                    authenticator=CoreAuthenticator(uow_factory), reads=getattr(context, "reads", None),
                    single_use=getattr(context, "single_use", None), card=card_issuer_for(settings, uow_factory))


def _quiet_server_class():
    import uvicorn

    class QuietServer(uvicorn.Server):
        """uvicorn without its signal handlers: the runtime owns SIGTERM/SIGINT and sets ``stop``."""

        @contextlib.contextmanager
        def capture_signals(self):
            yield

    return QuietServer


async def serve(app: Starlette, host: str, port: int, stop: asyncio.Event, *, started: asyncio.Event | None = None,
                server_holder: list | None = None, reuse_port: bool = False) -> None:
    """Run uvicorn in the current loop until ``stop`` is set.

    ``X-Forwarded-For`` is trusted only from the addresses in uvicorn's ``FORWARDED_ALLOW_IPS``
    (default 127.0.0.1): behind an ingress, set it to the ingress's addresses so login
    throttling sees residents' addresses, not the proxy's."""
    import uvicorn

    _QuietServer = _quiet_server_class()
    # Bad bytes refused first (clean_input.py); /token and /introspect straight on ASGI, before
    # Starlette (direct.py); the rest through it. RED metrics per route when this process
    # exports metrics: the Starlette routes through services.common.http_metrics, /token and
    # /introspect by DirectProtocolEndpoints itself.
    measure = metrics_enabled()
    options = getattr(app.state, "front_options", None)   # the demo RP has none
    asgi: ASGIApp
    if options is None and hasattr(app.state, "bad_bytes_page"):
        # The demo relying party: the same door, its own answers, no protocol endpoints.
        asgi = CleanInput(app, app, json_paths=app.state.bad_bytes_json_paths, error_page=app.state.bad_bytes_page)
    else:
        asgi = front_asgi(app, lambda starlette: DirectProtocolEndpoints(
            HttpMetrics(starlette) if measure else starlette, measure=measure))
    if options is not None and options.secure_cookies:  # not development: https only (RFC 6797)
        asgi = StrictTransportSecurity(asgi)
    # A server span per request, continuing the caller's traceparent: only when exporting.
    asgi = instrument_asgi(asgi)
    from services.identity.http.one_write import OneWriteHttpToolsProtocol

    config = uvicorn.Config(asgi, host=host, port=port, log_level="warning", access_log=False, lifespan="off", log_config=None,
                            server_header=False, proxy_headers=True, http=OneWriteHttpToolsProtocol)
    server = _QuietServer(config)
    if server_holder is not None:
        server_holder.append(server)
    sockets = None
    if reuse_port:
        # A worker of several (mtlid serve --workers N): every worker binds the same port and
        # the kernel spreads new connections among them (SO_REUSEPORT).
        import socket

        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        shared = socket.socket(family, socket.SOCK_STREAM)
        shared.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        shared.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        shared.bind((host, port))
        shared.set_inheritable(False)
        sockets = [shared]
    serving = asyncio.create_task(server.serve(sockets=sockets))
    if started is not None:
        while not server.started and not serving.done():
            await asyncio.sleep(0.01)
        started.set()
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await serving
    stopping.cancel()


def add_http_front(runtime, context=None) -> None:
    """Adds the HTTP front (OIDC provider + pages) as a runtime task on MTLID_HTTP_PORT
    (docs/foundation.md, "Running a service"); uvicorn runs in the runtime's loop and stops on
    the runtime's stop event."""
    settings = runtime.settings

    async def http_front(stop: asyncio.Event) -> None:
        from services.identity.http.consent_terms import GrpcConsentTerms

        provider = await build_provider(runtime, context)
        provider.terms = GrpcConsentTerms(settings.grpc_target("consent"))  # the consent screen's wording
        from services.identity.http.mandates_port import GrpcMandates

        provider.mandates = GrpcMandates(settings.grpc_target("consent"), provider)  # issue 22: acting on behalf
        from services.identity.http.names_port import GrpcNames

        # issue 22: both people's names in an ID token on someone's behalf with ``profile``
        provider.names = GrpcNames(settings.grpc_target("accounts"), provider)
        from services.identity.adapters.logout_delivery import BackchannelLogoutSender

        # back-channel logouts recorded by logouts, sent with retries (oidc/logout.py)
        sender = BackchannelLogoutSender(provider)
        provider.on_logout = sender.wake
        sending = asyncio.create_task(sender.run(stop))
        app = create_app(provider, consent_target=settings.grpc_target("consent"))
        app.state.settings = settings  # the account pages' gRPC targets
        app.state.runtime = runtime    # the counter console calls this process's gRPC port
        runtime.http_app = app
        log.info("identity HTTP front", extra={"port": settings.http_port})
        try:
            await serve(app, settings.bind_host, settings.http_port, stop, reuse_port=settings.shares_ports)
            await sending
        finally:
            sending.cancel()
            # The account pages' channels to accounts and consent (opened on first use) end
            # with the front, not with the process: their calls are over by now.
            backends = getattr(app.state, "account_backends", None)
            if backends is not None:
                await backends.close()
            await provider.terms.close()
            await provider.names.close()

    async def oauth_housekeeping(stop: asyncio.Event) -> None:
        from services.identity.adapters.oauth_repositories import OAuthUnitOfWork
        from services.identity.oidc.records import utcnow

        while not stop.is_set():
            try:
                async with OAuthUnitOfWork(runtime.session_factory) as uow:
                    removed = await uow.housekeeping.purge(utcnow())
                    await uow.commit()
                if removed:
                    log.info("expired OAuth records purged", extra={"removed": removed})
            except Exception as error:  # noqa: BLE001 - housekeeping retries at the next round
                log.warning("OAuth housekeeping failed", extra={"error": type(error).__name__})
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), HOUSEKEEPING_INTERVAL)

    runtime.add_task(http_front)
    runtime.add_task(oauth_housekeeping)
