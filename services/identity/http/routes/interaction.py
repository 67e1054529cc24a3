"""The resident's pages during an authorization: login, second factor, consent."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from services.identity.http.routes.common import provider, respond
from services.identity.oidc import act_for, consent, login
from services.identity.oidc.sessions import SESSION_COOKIE


async def login_route(request: Request):
    p = provider(request)
    if request.method == "GET":
        return await respond(request, lambda w: login.login_page(p, w.first(w.query, "interaction")),
                             json_errors=False)
    return await respond(request, lambda w: login.submit_login(
        p, w.first(w.form, "interaction"), w.first(w.form, "email") or "", w.first(w.form, "password") or "",
        w.remote_addr), json_errors=False, check_csrf=True)


async def second_factor_route(request: Request):
    p = provider(request)
    if request.method == "GET":
        return await respond(request, lambda w: _with_passkey(p, login.second_factor_page(
            p, w.first(w.query, "interaction")), w.cookies.get(SESSION_COOKIE)), json_errors=False)
    return await respond(request, lambda w: login.submit_second_factor(
        p, w.first(w.form, "interaction"), w.cookies.get(SESSION_COOKIE), w.first(w.form, "code") or "",
        w.remote_addr), json_errors=False, check_csrf=True)


async def passkey_route(request: Request):
    p = provider(request)
    return await respond(request, lambda w: login.submit_passkey(
        p, w.first(w.form, "interaction"), w.first(w.form, "credential") or "", w.remote_addr),
        json_errors=False, check_csrf=True)


async def passkey_second_factor_route(request: Request):
    p = provider(request)
    return await respond(request, lambda w: login.submit_passkey_second_factor(
        p, w.first(w.form, "interaction"), w.cookies.get(SESSION_COOKIE), w.first(w.form, "credential") or "",
        w.remote_addr), json_errors=False, check_csrf=True)


async def lost_phone_route(request: Request):
    p = provider(request)
    if request.method == "GET":
        return await respond(request, lambda w: _with_passkey(p, login.lost_phone_page(
            p, w.first(w.query, "interaction")), w.cookies.get(SESSION_COOKIE)), json_errors=False)
    return await respond(request, lambda w: login.submit_recovery_code(
        p, w.first(w.form, "interaction"), w.cookies.get(SESSION_COOKIE), w.first(w.form, "recovery_code") or "",
        w.remote_addr), json_errors=False, check_csrf=True)


async def consent_route(request: Request):
    p = provider(request)
    if request.method == "GET":
        return await respond(request, lambda w: consent.consent_page(
            p, w.first(w.query, "interaction"), w.cookies.get(SESSION_COOKIE)), json_errors=False)
    return await respond(request, lambda w: consent.submit_consent(
        p, w.first(w.form, "interaction"), w.cookies.get(SESSION_COOKIE), w.form),
        json_errors=False, check_csrf=True)


async def _with_passkey(p, wire, session_secret: str | None):
    """The second step's page, with a passkey ceremony when the resident has a passkey."""
    if wire.page is not None:
        options = await login.passkey_second_factor_options(p, session_secret)
        wire.page = (wire.page[0], {**wire.page[1], "passkey_options": options})
    return wire


async def act_for_route(request: Request):
    """Issue 22: whom the resident acts for at a client that accepts mandates."""
    p = provider(request)
    if request.method == "GET":
        return await respond(request, lambda w: act_for.act_for_page(
            p, w.first(w.query, "interaction"), w.cookies.get(SESSION_COOKIE)), json_errors=False)
    return await respond(request, lambda w: act_for.submit_act_for(
        p, w.first(w.form, "interaction"), w.cookies.get(SESSION_COOKIE), w.form),
        json_errors=False, check_csrf=True)


async def _async(value):
    return value


routes = [
    Route("/login", login_route, methods=["GET", "POST"]),
    Route("/login/second-factor", second_factor_route, methods=["GET", "POST"]),
    Route("/login/lost-phone", lost_phone_route, methods=["GET", "POST"]),
    Route("/login/passkey", passkey_route, methods=["POST"]),
    Route("/login/second-factor/passkey", passkey_second_factor_route, methods=["POST"]),
    Route("/consent", consent_route, methods=["GET", "POST"]),
    Route("/act-for", act_for_route, methods=["GET", "POST"]),
]
