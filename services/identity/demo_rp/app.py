"""The demo montreal.ca relying party (issue 3, point 8).

A "Se connecter avec mon compte Montréal" button runs the authorization code flow with PKCE
(S256) through authlib's OAuth 2.0 client (httpx integration), verifies the ID token against
the provider's published JWKS, and shows what a montreal.ca team should copy (issue 15): the
signed-in resident, a readable list of what the service received (never raw JSON), and links
to Mon compte, "Services connectés" and "Qui a vu mes données", in French and English. It is a *public* client
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
import warnings
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

with warnings.catch_warnings():
    # authlib's httpx integration announces at import that it would rather have httpx2: a
    # note for us, not for whoever runs `mtlid up` (and not our code's deprecation).
    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client

log = logging.getLogger(__name__)

DEMO_CLIENT_ID = "demo-montreal-ca"
COOKIE = "demo_rp"
#: The city's look (issue 21; the values and their source: README "The city's look"), inline
#: because the demo serves no static files.
CSS = (":root{--red:#d0021b;--ink:#212529;--blue:#0053b3}*{box-sizing:border-box}"
       "body{margin:0;font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;font-size:1.125rem;"
       "line-height:1.5;color:var(--ink);display:flex;flex-direction:column;min-height:100vh}"
       "header{border-top:.5rem solid var(--red);border-bottom:1px solid #d5d7da}"
       ".bar{max-width:80rem;margin:0 auto;padding:.75rem 1rem;display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;"
       "justify-content:space-between;align-items:center}.bar p{margin:0}"
       ".mark{font-size:2rem;font-weight:800;letter-spacing:-.02em;color:var(--red)}"
       ".tag{font-size:1.125rem;font-weight:600;border-left:2px solid var(--ink);padding-left:.75rem;margin-left:.5rem}"
       "main{flex:1 0 auto;width:100%;max-width:80rem;margin:0 auto;padding:1.5rem 1rem 3rem}main>*{max-width:48rem}"
       "h1{font-size:2.5rem;line-height:1.2}h2{font-size:1.75rem;line-height:1.2}"
       "a{color:var(--blue)}a.button{display:inline-block;background:var(--blue);color:#fff;border-radius:.25rem;"
       "padding:.7rem 1.25rem;text-decoration:none;font-weight:700;min-height:44px}"
       ":focus-visible{outline:3px solid #ffbf47;outline-offset:2px;box-shadow:0 0 0 5px var(--ink)}"
       "dt{font-weight:700}dd{margin:0 0 .6rem 0}"
       "footer{background:var(--ink);color:#fff;border-top:.5rem solid var(--red)}footer a{color:#fff}"
       "footer .bar{padding:1.25rem 1rem}"
       "@media (max-width:47.99em){body{font-size:1rem}h1{font-size:2rem}h2{font-size:1.5rem}.mark{font-size:1.625rem}}")
LANG_COOKIE = "demo_lang"

#: What a montreal.ca team shows, in both languages (the demo copies no template engine).
WORDS = {
    "fr": {"title": "montreal.ca — démonstration", "demo": "démonstration", "other": "English", "other_code": "en",
           "hello": "Bonjour {who}!", "signed_in": "Vous êtes connecté avec votre compte Montréal.",
           "received": "Ce que montreal.ca a reçu à votre sujet", "sub": "Identifiant de connexion",
           "act": "Connexion faite par (procuration)", "mandate": "En vertu de la procuration",
           "acting_for": "{actor}, pour {represented}", "name": "Nom", "act_name": "Nom de la personne qui agit",
           "email": "Adresse courriel", "email_verified": "Adresse courriel confirmée", "locale": "Langue",
           "acr": "Niveau de vérification de votre identité", "auth_time": "Connecté le",
           "amr": "Façon de vous connecter",
           "methods": {"pwd": "mot de passe", "otp": "code à usage unique", "hwk": "clé d'accès sur l'appareil",
                       "swk": "clé d'accès synchronisée", "user": "présence confirmée", "mfa": "deux facteurs"},
           "yes": "oui", "no": "non", "fr-CA": "français", "en-CA": "anglais",
           "level": {"1": "niveau 1 (déclarée par vous)", "2": "niveau 2 (vérifiée)",
                     "3": "niveau 3 (vérifiée, vérification en deux étapes)"},
           "nothing_more": "Rien d'autre : vous avez refusé le reste, ou ce service ne l'a pas demandé.",
           "manage": "Gérer ce que vous partagez", "account": "Mon compte",
           "services": "Services connectés", "access": "Qui a vu mes données",
           "logout": "Se déconnecter", "welcome": "Vos services municipaux en ligne",
           "pitch": "Connectez-vous pour suivre vos demandes et gérer vos renseignements.",
           "login": "Se connecter avec mon compte Montréal", "cancelled": "Connexion annulée",
           "back": "Retour", "error": "Erreur", "mismatch": "La réponse ne correspond à aucune demande.",
           "issuer": "Émetteur inattendu.", "footer": "Une question? Composez le"},
    "en": {"title": "montreal.ca — demo", "demo": "demo", "other": "Français", "other_code": "fr",
           "hello": "Hello {who}!", "signed_in": "You are signed in with your Montréal account.",
           "received": "What montreal.ca received about you", "sub": "Sign-in identifier",
           "act": "Signed in by (mandate)", "mandate": "Under the mandate",
           "acting_for": "{actor}, for {represented}", "name": "Name", "act_name": "Name of the person acting",
           "email": "Email address", "email_verified": "Email address confirmed", "locale": "Language",
           "acr": "How well your identity is verified", "auth_time": "Signed in on",
           "amr": "How you signed in",
           "methods": {"pwd": "password", "otp": "one-time code", "hwk": "passkey on the device",
                       "swk": "synced passkey", "user": "presence confirmed", "mfa": "two factors"},
           "yes": "yes", "no": "no", "fr-CA": "French", "en-CA": "English",
           "level": {"1": "level 1 (declared by you)", "2": "level 2 (verified)",
                     "3": "level 3 (verified, two-step verification)"},
           "nothing_more": "Nothing else: you refused the rest, or this service did not ask for it.",
           "manage": "Manage what you share", "account": "My account",
           "services": "Connected services", "access": "Who saw my data",
           "logout": "Sign out", "welcome": "Your municipal services online",
           "pitch": "Sign in to follow your requests and manage your information.",
           "login": "Sign in with my Montréal account", "cancelled": "Sign-in cancelled",
           "back": "Back", "error": "Error", "mismatch": "This answer matches no request.",
           "issuer": "Unexpected issuer.", "footer": "A question? Dial"},
}


def received_list(claims: dict[str, Any], words: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The ID token's claims as a resident reads them: (id, label, value), never raw JSON."""
    out = [("sub", words["sub"], str(claims.get("sub", "")))]
    if full_name(claims):
        out.append(("name", words["name"], full_name(claims)))
    act = claims.get("act")
    if isinstance(act, dict) and act.get("sub"):
        # Issue 22: someone signed in on behalf of the resident above (RFC 8693 s. 4.1).
        out.append(("act", words["act"], str(act["sub"])))
        if full_name(act):
            out.append(("act_name", words["act_name"], full_name(act)))
        details = [d for d in claims.get("authorization_details") or [] if isinstance(d, dict)]
        if details:
            what = "; ".join(f"{', '.join(d.get('locations', []))} : {', '.join(d.get('actions', []))}" for d in details)
            out.append(("mandate", words["mandate"], f"{details[0].get('mandate_id', '')} ({what})"))
    if "email" in claims:
        out.append(("email", words["email"], str(claims["email"])))
        if "email_verified" in claims:
            out.append(("email_verified", words["email_verified"],
                        words["yes"] if claims["email_verified"] else words["no"]))
    if "locale" in claims:
        out.append(("locale", words["locale"], words.get(str(claims["locale"]), str(claims["locale"]))))
    acr = str(claims.get("acr", ""))
    if acr:
        out.append(("acr", words["acr"], words["level"].get(acr.rsplit(":", 1)[-1], acr)))
    amr = claims.get("amr")
    if isinstance(amr, list) and amr:
        # RFC 8176 values, in words; the element keeps the values for whoever checks them.
        out.append(("amr", words["amr"], ", ".join(words["methods"].get(str(m), str(m)) for m in amr)))
    if claims.get("auth_time"):
        import datetime as dt

        when = dt.datetime.fromtimestamp(int(claims["auth_time"]), dt.timezone.utc)
        out.append(("auth_time", words["auth_time"], when.strftime("%Y-%m-%d %H:%M UTC")))
    return out


def full_name(claims: dict[str, Any]) -> str:
    """``given_name family_name`` as far as the claims hold them (OIDC Core s. 5.1), else ""."""
    return " ".join(str(claims[k]) for k in ("given_name", "family_name") if isinstance(claims.get(k), str)
                    and claims[k]).strip()


def acting_for(claims: dict[str, Any], words: dict[str, Any]) -> str:
    """Issue 22: "<mandatary>, pour <represented>" when the ID token names both people (a
    sign-in on someone's behalf with ``profile``: ``act`` carries the mandatary's names), else ""."""
    act = claims.get("act")
    if not isinstance(act, dict) or not full_name(act) or not full_name(claims):
        return ""
    return words["acting_for"].format(actor=full_name(act), represented=full_name(claims))


def demo_client_spec(port: int) -> dict[str, Any]:
    """What identity must have registered for this RP (``ensure_demo_client`` does it in dev)."""
    base = f"http://127.0.0.1:{port}"
    return {"client_id": DEMO_CLIENT_ID, "name": "montreal.ca (démo)", "redirect_uris": (f"{base}/callback",),
            "post_logout_redirect_uris": (f"{base}/",), "grant_types": ("authorization_code", "refresh_token"),
            "backchannel_logout_uri": f"{base}/backchannel-logout",
            "scopes": ("openid", "email", "profile"), "token_endpoint_auth_method": "none",
            "subject_type": "public", "is_city_client": True,
            "purposes": ("service-provision", "communication", "statistics"),
            # Issue 22: montreal.ca accepts residents acting for someone under a mandate.
            "accepts_mandates": True}


def _page(title: str, body: str, lang: str = "fr", switch: str = "") -> HTMLResponse:
    words = WORDS[lang]
    switch_link = (f'<a href="{html.escape(switch)}" lang="{words["other_code"]}">{words["other"]}</a>'
                   if switch else "")
    return HTMLResponse(f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
                        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
                        f'<header><div class="bar"><p><span class="mark" lang="fr">Montréal</span>'
                        f'<span class="tag">montreal.ca — {words["demo"]}</span></p>{switch_link}</div></header>'
                        f"<main>{body}</main>"
                        f'<footer><div class="bar"><p>{words["footer"]} <a href="tel:311">311</a></p>'
                        f'<p lang="fr">© Ville de Montréal</p></div></footer></body></html>',
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

    def language(request: Request) -> str:
        asked = request.query_params.get("lang")
        if asked in WORDS:
            return asked
        return request.cookies.get(LANG_COOKIE) if request.cookies.get(LANG_COOKIE) in WORDS else "fr"

    async def home(request: Request) -> Response:
        key, state = browser_state(request)
        lang = language(request)
        words = WORDS[lang]
        claims = state.get("claims")
        e = html.escape
        if claims:
            rows = "".join(f'<dt>{e(label)}</dt><dd id="claim-{cid}">{e(value)}</dd>'
                           for cid, label, value in received_list(claims, words))
            account = issuer + "/account"
            both = acting_for(claims, words)
            act = claims.get("act") if isinstance(claims.get("act"), dict) else {}
            who = (act.get("given_name") if both else None) or claims.get("email") or ""
            body = (f"<h1>{e(words['hello'].format(who=who))}</h1>"
                    + (f'<p id="acting-for"><strong>{e(both)}</strong></p>' if both else "")
                    + f"<p>{words['signed_in']}</p><h2>{words['received']}</h2><dl>{rows}</dl>"
                    + ("" if "email" in claims else f"<p>{words['nothing_more']}</p>")
                    + f"<h2>{words['manage']}</h2><ul>"
                    f'<li><a href="{e(account)}?lang={lang}">{words["account"]}</a></li>'
                    f'<li><a href="{e(account)}/services?lang={lang}">{words["services"]}</a></li>'
                    f'<li><a href="{e(account)}/access?lang={lang}">{words["access"]}</a></li></ul>'
                    f'<p><a class="button" href="/logout">{words["logout"]}</a></p>')
        else:
            body = (f"<h1>{words['welcome']}</h1><p>{words['pitch']}</p>"
                    f'<p><a class="button" href="/login">{words["login"]}</a></p>')
        response = _page(words["title"], body, lang, switch=f"/?lang={words['other_code']}")
        response.set_cookie(LANG_COOKIE, lang, httponly=True, samesite="lax")
        return with_cookie(response, key)

    async def login(request: Request) -> Response:
        key, state = browser_state(request)
        meta = await metadata()
        verifier, nonce = generate_token(48), generate_token(24)
        async with client() as oauth:
            # OIDC Core s. 3.1.2.1 ui_locales: the sign-in and consent pages in the RP's language
            url, oauth_state = oauth.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier,
                                                              nonce=nonce, ui_locales=language(request))
        state.update(verifier=verifier, nonce=nonce, state=oauth_state)
        return with_cookie(RedirectResponse(url, status_code=302), key)

    async def callback(request: Request) -> Response:
        key, state = browser_state(request)
        lang = language(request)
        w = WORDS[lang]
        if request.query_params.get("error"):
            return _page(w["cancelled"], f"<h1>{w['cancelled']}</h1><p>"
                         f"{html.escape(request.query_params['error'])}</p><p><a href='/'>{w['back']}</a></p>", lang)
        if "verifier" not in state or request.query_params.get("state") != state.get("state"):
            return _page(w["error"], f"<h1>{w['error']}</h1><p>{w['mismatch']}</p>", lang)
        meta = await metadata()
        if request.query_params.get("iss") != meta["issuer"]:  # RFC 9207: mix-up defence
            return _page(w["error"], f"<h1>{w['error']}</h1><p>{w['issuer']}</p>", lang)
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

    app = Starlette(routes=[Route("/", home), Route("/login", login), Route("/callback", callback),
                            Route("/logout", logout), Route("/backchannel-logout", backchannel_logout, methods=["POST"])])
    # Issue 16: the same door as the identity front (clean_input.py), with the demo's own
    # answers: JSON invalid_request where it answers JSON (Back-Channel Logout 1.0 s. 2.8),
    # its own 400 page, French first, everywhere else. ``serve`` reads these two.
    app.state.bad_bytes_json_paths = frozenset({"/backchannel-logout"})
    app.state.bad_bytes_page = bad_request_page
    return app


def bad_request_page() -> bytes:
    """The demo's 400 page for a request with bad bytes: nothing of the request is echoed."""
    fr, en = WORDS["fr"], WORDS["en"]
    body = (f"<h1>{fr['error']}</h1><p>La demande contient des caractères invalides. "
            f"<a href='/'>{fr['back']}</a></p>"
            f"<div lang='en'><h2>{en['error']}</h2><p>The request holds invalid characters. "
            f"<a href='/?lang=en'>{en['back']}</a></p></div>")
    return _page(fr["error"], body, "fr").body


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
