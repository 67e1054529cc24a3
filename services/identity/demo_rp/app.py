"""The demo montreal.ca relying party (issue 3, point 8).

A "Se connecter avec mon compte Montréal" button runs the authorization code flow with PKCE
(S256) through authlib's OAuth 2.0 client (httpx integration), verifies the ID token against
the provider's published JWKS, and shows the resulting claims. It is a *public* client
(``token_endpoint_auth_method: none``): no secret to share, PKCE protects the code.

It implements OpenID Connect Back-Channel Logout 1.0 (``POST /backchannel-logout``): a logout
token that verifies (signature by the provider's JWKS, ``typ: logout+jwt``, ``iss``, ``aud``,
``iat``/``exp``, the back-channel event, a ``sid`` or ``sub``, no ``nonce``, a ``jti`` not
seen before) signs out every browser of that session here.

Development only: its per-browser state (state, nonce, verifier, tokens) lives in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import secrets
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

log = logging.getLogger(__name__)

DEMO_CLIENT_ID = "demo-montreal-ca"
COOKIE = "demo_rp"
CSS = ("body{font-family:system-ui,Arial,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;"
       "line-height:1.5;color:#1a1a1a}a.button{display:inline-block;background:#0053b3;color:#fff;"
       "padding:.8rem 1.2rem;text-decoration:none;font-weight:700}a.button:focus-visible{outline:3px solid #ffbf47}"
       "pre{background:#f3f3f3;padding:1rem;overflow:auto}header{border-bottom:4px solid #0053b3;margin-bottom:1rem}")


def demo_client_spec(port: int) -> dict[str, Any]:
    """What identity must have registered for this RP (``ensure_demo_client`` does it in dev)."""
    base = f"http://127.0.0.1:{port}"
    return {"client_id": DEMO_CLIENT_ID, "name": "montreal.ca (démo)", "redirect_uris": (f"{base}/callback",),
            "post_logout_redirect_uris": (f"{base}/",), "grant_types": ("authorization_code", "refresh_token"),
            "backchannel_logout_uri": f"{base}/backchannel-logout",
            "scopes": ("openid", "email", "profile"), "token_endpoint_auth_method": "none",
            "subject_type": "public", "is_city_client": True,
            "purposes": ("service-provision", "communication", "statistics")}


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(f'<!doctype html><html lang="fr"><head><meta charset="utf-8">'
                        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
                        f'<header><p><strong>montreal.ca</strong> — démonstration</p></header>'
                        f"<main>{body}</main></body></html>",
                        headers={"Cache-Control": "no-store",
                                 "Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'; "
                                                            "frame-ancestors 'none'"})


def create_demo_app(issuer: str, port: int) -> Starlette:
    issuer = issuer.rstrip("/")
    redirect_uri = f"http://127.0.0.1:{port}/callback"
    states: dict[str, dict[str, Any]] = {}
    metadata_cache: dict[str, Any] = {}

    async def metadata() -> dict[str, Any]:
        if not metadata_cache:
            async with httpx.AsyncClient(timeout=5) as http:
                metadata_cache.update((await http.get(issuer + "/.well-known/openid-configuration")).json())
        return metadata_cache

    def client() -> AsyncOAuth2Client:
        return AsyncOAuth2Client(client_id=DEMO_CLIENT_ID, scope="openid email profile", redirect_uri=redirect_uri,
                                 code_challenge_method="S256", token_endpoint_auth_method="none", timeout=5)

    def browser_state(request: Request) -> tuple[str, dict[str, Any]]:
        key = request.cookies.get(COOKIE)
        if not key or key not in states:
            key = secrets.token_urlsafe(24)
            states[key] = {}
        return key, states[key]

    def with_cookie(response: Response, key: str) -> Response:
        response.set_cookie(COOKIE, key, httponly=True, samesite="lax")
        return response

    async def home(request: Request) -> Response:
        key, state = browser_state(request)
        claims = state.get("claims")
        if claims:
            body = ("<h1>Bonjour!</h1><p>Vous êtes connecté avec votre compte Montréal. "
                    "Voici ce que montreal.ca a reçu :</p>"
                    f"<pre>{html.escape(json.dumps(claims, indent=2, ensure_ascii=False))}</pre>"
                    '<p><a class="button" href="/logout">Se déconnecter</a></p>')
        else:
            body = ("<h1>Vos services municipaux en ligne</h1>"
                    "<p>Connectez-vous pour suivre vos demandes et gérer vos renseignements.</p>"
                    '<p><a class="button" href="/login">Se connecter avec mon compte Montréal</a></p>'
                    '<p lang="en">Sign in with your Montréal account.</p>')
        return with_cookie(_page("montreal.ca — démo", body), key)

    async def login(request: Request) -> Response:
        key, state = browser_state(request)
        meta = await metadata()
        verifier, nonce = generate_token(48), generate_token(24)
        async with client() as oauth:
            url, oauth_state = oauth.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier,
                                                              nonce=nonce)
        state.update(verifier=verifier, nonce=nonce, state=oauth_state)
        return with_cookie(RedirectResponse(url, status_code=302), key)

    async def callback(request: Request) -> Response:
        key, state = browser_state(request)
        if request.query_params.get("error"):
            return _page("Connexion annulée", "<h1>Connexion annulée</h1><p>"
                         f"{html.escape(request.query_params['error'])}</p><p><a href='/'>Retour</a></p>")
        if "verifier" not in state or request.query_params.get("state") != state.get("state"):
            return _page("Erreur", "<h1>Erreur</h1><p>La réponse ne correspond à aucune demande.</p>")
        meta = await metadata()
        if request.query_params.get("iss") != meta["issuer"]:  # RFC 9207: mix-up defence
            return _page("Erreur", "<h1>Erreur</h1><p>Émetteur inattendu.</p>")
        async with client() as oauth:
            token = await oauth.fetch_token(meta["token_endpoint"], authorization_response=str(request.url),
                                            code_verifier=state.pop("verifier"), state=state["state"])
            async with httpx.AsyncClient(timeout=5) as http:
                jwks = (await http.get(meta["jwks_uri"])).json()
        decoded = jwt.decode(token["id_token"], KeySet.import_key_set(jwks),
                             registry=JWSRegistry(algorithms=meta["id_token_signing_alg_values_supported"]))
        claims = CodeIDToken(decoded.claims, decoded.header, {"iss": {"values": [meta["issuer"]]}},
                             {"nonce": state.pop("nonce"), "client_id": DEMO_CLIENT_ID,
                              "access_token": token["access_token"]})
        claims.validate(leeway=30)
        state.update(claims=dict(claims), id_token=token["id_token"])
        return with_cookie(RedirectResponse("/", status_code=302), key)

    seen_logout_tokens: set[str] = set()

    async def backchannel_logout(request: Request) -> Response:
        """Back-Channel Logout 1.0 s. 2.6 (validation) and 2.8 (200, or 400 with an error)."""
        form = await request.form()
        token = form.get("logout_token")
        meta = await metadata()
        try:
            if not isinstance(token, str):
                raise ValueError("logout_token missing")
            async with httpx.AsyncClient(timeout=5) as http:
                jwks = (await http.get(meta["jwks_uri"])).json()
            decoded = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["ES256", "RS256"])
            claims = decoded.claims
            jwt.JWTClaimsRegistry(iss={"essential": True, "value": meta["issuer"]},
                                  aud={"essential": True, "value": DEMO_CLIENT_ID},
                                  iat={"essential": True}, exp={"essential": True},
                                  jti={"essential": True}, leeway=30).validate(claims)
            if decoded.header.get("typ") != "logout+jwt":
                raise ValueError("typ")
            if "http://schemas.openid.net/event/backchannel-logout" not in (claims.get("events") or {}):
                raise ValueError("events")
            if "nonce" in claims or not (claims.get("sid") or claims.get("sub")):
                raise ValueError("claims")
            if claims["jti"] in seen_logout_tokens:
                raise ValueError("replayed")
            seen_logout_tokens.add(claims["jti"])
        except Exception as error:  # noqa: BLE001 - any invalid token is a 400 (s. 2.8)
            log.info("demo RP: logout token refused", extra={"error": type(error).__name__})
            return Response('{"error":"invalid_request"}', status_code=400, media_type="application/json",
                            headers={"Cache-Control": "no-store"})
        for state in states.values():
            signed_in = state.get("claims") or {}
            if (claims.get("sid") and signed_in.get("sid") == claims["sid"]) or \
                    (not claims.get("sid") and signed_in.get("sub") == claims.get("sub")):
                state.pop("claims", None)
                state.pop("id_token", None)
        return Response(status_code=200, headers={"Cache-Control": "no-store"})

    async def logout(request: Request) -> Response:
        key, state = browser_state(request)
        meta = await metadata()
        id_token = state.pop("id_token", None)
        state.pop("claims", None)
        if not id_token:
            return RedirectResponse("/", status_code=302)
        url = httpx.URL(meta["end_session_endpoint"], params={
            "id_token_hint": id_token, "post_logout_redirect_uri": f"http://127.0.0.1:{port}/"})
        return with_cookie(RedirectResponse(str(url), status_code=302), key)

    return Starlette(routes=[Route("/", home), Route("/login", login), Route("/callback", callback),
                             Route("/logout", logout), Route("/backchannel-logout", backchannel_logout, methods=["POST"])])


async def ensure_demo_client(settings) -> None:
    """Development seeding: register the demo RP's public client in identity if it is missing."""
    from services.common.db import create_engine, session_factory
    from services.identity.adapters.uow import IdentityUnitOfWork
    from services.identity.domain.clients import OAuthClient

    engine = create_engine(settings.database_url("identity"))
    try:
        uow = IdentityUnitOfWork(session_factory(engine))
        async with uow:
            if await uow.clients.get(DEMO_CLIENT_ID) is None:
                await uow.clients.add(OAuthClient(secret_hash=None, **demo_client_spec(settings.demo_rp_port)))
                await uow.commit()
    finally:
        await engine.dispose()


async def run_demo_rp(settings, stop_event: asyncio.Event) -> None:
    """What ``mtlid up`` runs: the demo RP on MTLID_DEMO_RP_PORT until ``stop_event``."""
    from services.identity.http.app import serve

    for attempt in range(50):  # identity may still be migrating its database
        try:
            await ensure_demo_client(settings)
            break
        except Exception as error:  # noqa: BLE001 - retried, then reported
            if attempt == 49:
                log.warning("demo RP: cannot register its client", extra={"error": type(error).__name__})
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop_event.wait(), 0.2)
            if stop_event.is_set():
                return
    app = create_demo_app(settings.issuer, settings.demo_rp_port)
    await serve(app, settings.bind_host, settings.demo_rp_port, stop_event)
