"""An agent signs in at the counter console: password, then the TOTP second factor
(RFC 6238), then level 3. Separate from residents' sign-in: other accounts (``agents``),
another cookie (``mtlid_counter``), another page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from services.identity.domain.staff import SESSION_MAX
from services.identity.http.convert import set_cookie
from services.identity.http.counter.web import csrf_refused, first, form, on_duty, page, to_sign_in, OnDuty
from services.identity.http.routes.common import options, provider
from services.identity.oidc.agent_sessions import (AGENT_COOKIE, add_agent_second_factor, end_agent_session,
                                                   find_agent_session, open_agent_session)
from services.identity.oidc.records import utcnow
from services.identity.service_layer.authentication import LoginRefused
from services.identity.service_layer.staff import authenticate_agent, record_agent_signed_in, verify_agent_totp

MAX_EMAIL, MAX_PASSWORD = 254, 1024


def _remote(request: Request) -> str:
    return request.client.host if request.client else ""


def _login_page(request: Request, email: str = "", errors: dict | None = None, status: int = 200,
                retry_after: int | None = None) -> Response:
    response = page(request, "counter/login.html", {"email": email, "errors": errors or {}}, status)
    if retry_after:
        response.headers["Retry-After"] = str(int(retry_after))
    return response


async def sign_in(request: Request) -> Response:
    if request.method == "GET":
        duty = await on_duty(request)
        if isinstance(duty, OnDuty):
            return RedirectResponse("/counter", status_code=303)
        return _login_page(request)
    fields = await form(request)
    if fields is None:
        return csrf_refused(request)
    email, password = first(fields, "email").strip(), first(fields, "password")
    errors = {}
    if not email:
        errors["email"] = "counter.error.email_required"
    elif len(email) > MAX_EMAIL or "@" not in email:
        errors["email"] = "counter.error.email_invalid"
    if not password:
        errors["password"] = "counter.error.password_required"
    if errors:
        return _login_page(request, email, errors, 400)
    p = provider(request)
    try:
        who = await authenticate_agent(email, password[:MAX_PASSWORD], _remote(request), p.uow_factory())
    except LoginRefused as refused:
        status = 429 if refused.reason == "throttled" else 400
        return _login_page(request, email, {"password": f"counter.error.{refused.reason}"}, status,
                           getattr(refused, "retry_after", None))
    async with p.uow_factory() as uow:
        _session, secret = await open_agent_session(uow, who.agent.agent_id)
        await uow.commit()
    response = RedirectResponse("/counter/second-factor", status_code=303, headers={"Cache-Control": "no-store"})
    set_cookie(response, AGENT_COOKIE, secret, int(SESSION_MAX.total_seconds()), options(request))
    return response


async def second_factor(request: Request) -> Response:
    p = provider(request)
    async with p.uow_factory() as uow:
        session = await find_agent_session(uow, request.cookies.get(AGENT_COOKIE))
    if session is None or session.problem(utcnow()) is not None:
        return to_sign_in(request)
    if request.method == "GET":
        return await _second_factor_page(request, session, {})
    fields = await form(request)
    if fields is None:
        return csrf_refused(request)
    code = first(fields, "code").replace(" ", "")
    if not code.isdigit() or len(code) != 6:
        return await _second_factor_page(request, session, {"code": "counter.error.code_invalid"}, 400)
    try:
        ok = await verify_agent_totp(session.agent_id, code, _remote(request), p.uow_factory())
    except LoginRefused as refused:
        return await _second_factor_page(request, session, {"code": f"counter.error.{refused.reason}"}, 429)
    if not ok:
        return await _second_factor_page(request, session, {"code": "counter.error.code_wrong"}, 400)
    async with p.uow_factory() as uow:
        session = await add_agent_second_factor(uow, session)
        await record_agent_signed_in(uow, session.agent_id, session.session_id, session.amr)
        await uow.commit()
    return RedirectResponse("/counter", status_code=303, headers={"Cache-Control": "no-store"})


async def _second_factor_page(request: Request, session, errors: dict, status: int = 200) -> Response:
    """The code form, and a passkey ceremony when the agent registered a passkey."""
    from services.identity.domain.passkeys import AGENT
    from services.identity.oidc.login import relying_party
    from services.identity.service_layer import passkeys

    p = provider(request)
    options = None
    if await passkeys.passkeys_of(p.uow_factory(), AGENT, session.agent_id):
        options = await passkeys.authentication_options(p.uow_factory(), relying_party(p), passkeys.SECOND_FACTOR,
                                                        AGENT, session.agent_id)
    return page(request, "counter/second_factor.html", {"errors": errors, "passkey_options": options}, status)


async def passkey_second_factor(request: Request) -> Response:
    """An agent's passkey as the second factor (WebAuthn L3 s. 7.2): the session reaches level 3
    with the key's methods (``hwk``/``swk``, ``user``) and ``mfa``."""
    from services.identity.domain.passkeys import AGENT, amr_for
    from services.identity.oidc.login import relying_party
    from services.identity.service_layer import passkeys

    p = provider(request)
    async with p.uow_factory() as uow:
        session = await find_agent_session(uow, request.cookies.get(AGENT_COOKIE))
    if session is None or session.problem(utcnow()) is not None:
        return to_sign_in(request)
    fields = await form(request)
    if fields is None:
        return csrf_refused(request)
    try:
        used = await passkeys.verify_passkey(passkeys.VerifyPasskey(first(fields, "credential"), passkeys.SECOND_FACTOR,
                                                                    AGENT, session.agent_id),
                                             p.uow_factory(), relying_party(p))
    except passkeys.PasskeyRefused as refused:
        reason = refused.reason if refused.reason in PASSKEY_REASONS else "refused"
        return await _second_factor_page(request, session, {"passkey": f"counter.passkeys.error.{reason}"}, 400)
    async with p.uow_factory() as uow:
        await add_agent_second_factor(uow, session, amr_for(used.passkey, True)[:2])
        await uow.commit()
    return RedirectResponse("/counter", status_code=303, headers={"Cache-Control": "no-store"})


PASSKEY_REASONS = ("challenge", "origin", "rp_id", "counter", "unknown_credential", "not_yours")


async def sign_out(request: Request) -> Response:
    fields = await form(request)
    if fields is None:
        return csrf_refused(request)
    p = provider(request)
    async with p.uow_factory() as uow:
        session = await find_agent_session(uow, request.cookies.get(AGENT_COOKIE))
        if session is not None and session.ended_at is None:
            await end_agent_session(uow, session)
            await uow.commit()
    response = page(request, "counter/signed_out.html", {})
    response.delete_cookie(AGENT_COOKIE, path="/", secure=options(request).secure_cookies, httponly=True,
                           samesite="lax")
    return response


async def session_token(request: Request) -> Response:
    """The agent's session token (``agent_sessions.py``), for a counter system working beside
    the agent's signed-in browser, to exchange at the token endpoint (RFC 8693). JSON, never
    cached; a session still waiting for its second factor gets one too — the token endpoint,
    not this page, refuses what is below level 3, with the RFC's error."""
    from starlette.responses import JSONResponse

    from services.identity.oidc.agent_sessions import (SUBJECT_TOKEN_TTL, SUBJECT_TOKEN_TYPE,
                                                       mint_subject_token)

    p = provider(request)
    async with p.uow_factory() as uow:
        session = await find_agent_session(uow, request.cookies.get(AGENT_COOKIE))
    headers = {"Cache-Control": "no-store"}
    if session is None or session.problem(utcnow()) is not None:
        return JSONResponse({"error": "login_required", "error_description": "No open agent session."},
                            status_code=401, headers=headers)
    return JSONResponse({"subject_token": mint_subject_token(p.keys, p.config, session),
                         "subject_token_type": SUBJECT_TOKEN_TYPE, "expires_in": SUBJECT_TOKEN_TTL},
                        headers=headers)
