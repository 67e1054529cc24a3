"""Getting into Mon compte: sign up, confirm the email address, sign in (and the second
factor when the resident has one).

Sign-in reuses the OpenID provider's own login handlers (``services.identity.oidc.login``:
argon2id, throttling per account and address, ``login_succeeded``/``login_failed`` events, a
new session secret on every login) with an interaction sealed for the account pages; only
where it goes afterwards differs — back to the account page the resident asked for.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import urlencode

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from services.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from services.identity.http.account.web import (
    csrf_refused, first, form, new_password, page, signed_in, translator,
)
from services.identity.domain.citizen_number import CitizenNumber
from services.identity.http.convert import from_wire
from services.identity.http.routes.common import options, provider
from services.identity.oidc import interaction, login
from services.identity.oidc.sessions import SESSION_COOKIE
from services.identity.service_layer import authentication as auth

log = logging.getLogger(__name__)

SIGNUP_TTL = 3600
LOGIN_TTL = 1800


def _safe_next(value: str | None) -> str:
    """Only our own account pages: never an open redirect (RFC 9700 s. 4.11)."""
    if (value and (value == "/account" or value.startswith(("/account/", "/account?"))) and "\\" not in value
            and len(value) <= 512 and not value.startswith("/account/login")):
        return value
    return "/account"


def _seal(request: Request, purpose: str, value: str, ttl: int) -> str:
    return interaction.seal(provider(request).config.interaction_key, {"mtlid_account": [purpose], "v": [value]},
                            time.time(), ttl)


def _expired(request: Request) -> Response:
    """A sealed form or link that is forged, or older than its lifetime."""
    return page(request, "error.html", {"reason": "interaction_expired"}, 400)


def _mailed_code(fields) -> tuple[str, dict[str, str]]:
    """The 6-digit code of a mailed message as typed (spaces allowed), and the form's error."""
    code = first(fields, "code").replace(" ", "")
    return code, ({"code": "verify.error.format"} if not code.isdigit() or len(code) != 6 else {})


def _code_refused(error: FailedPrecondition) -> str:
    """The message key for a mailed code refused before it was compared."""
    return "verify.error.expired" if error.reason == "CODE_EXPIRED" else "verify.error.wait"


def _unseal(request: Request, purpose: str, token: str | None) -> str | None:
    try:
        params, _ = interaction.unseal(provider(request).config.interaction_key, token)
    except (interaction.InteractionInvalid, ValueError, KeyError):
        return None
    if params.get("mtlid_account") != [purpose] or not params.get("v"):
        return None
    return params["v"][0]


# --- sign in ---------------------------------------------------------------------------------

def _as_account_page(request: Request, wire, token: str, next_url: str) -> Response:
    if wire.page is not None:
        template, context = wire.page
        mapped = {"login.html": "account/login.html", "second_factor.html": "account/second_factor.html",
                  "lost_phone.html": "account/lost_phone.html"}
        steps = {"second_factor.html": "/account/login/second-factor?", "lost_phone.html": "/account/login/lost-phone?"}
        lang_path = (steps[template] + urlencode({"interaction": token}) if template in steps
                     else "/account/login?" + urlencode({"next": next_url}))
        wire.page = (mapped.get(template, template), {**context, "interaction": token, "nav": "",
                                                      "lang_path": lang_path})
    elif wire.status in (302, 303):
        location = dict((k.lower(), v) for k, v in wire.headers).get("location", "")
        if location.startswith("/authorize/resume"):
            wire.headers = [(k, v) for k, v in wire.headers if k.lower() != "location"]
            wire.headers.append(("Location", next_url))
        elif location.startswith("/login?"):
            wire.headers = [(k, v) for k, v in wire.headers if k.lower() != "location"]
            wire.headers.append(("Location", "/account/login?" + urlencode({"next": next_url})))
    return from_wire(request, wire, options(request))


async def sign_in(request: Request) -> Response:
    p = provider(request)
    if request.method == "GET":
        next_url = _safe_next(request.query_params.get("next"))
        if await signed_in(request) is not None:
            return RedirectResponse(next_url, status_code=303)
        token = _seal(request, "login", next_url, LOGIN_TTL)
        return _as_account_page(request, await login.login_page(p, token), token, next_url)
    fields = await form(request)
    if fields is None:
        return csrf_refused(request)
    token = first(fields, "interaction")
    next_url = _safe_next(_unseal(request, "login", token))
    wire = await login.submit_login(p, token, first(fields, "email"), first(fields, "password"),
                                    request.client.host if request.client else "", resume=False)
    if wire.status in (302, 303) and any(c[0] == SESSION_COOKIE and c[1] for c in wire.cookies):
        # A resident who set up a second factor confirms it before reaching their account.
        async with p.uow_factory() as uow:
            resident = await uow.residents.by_email(first(fields, "email").strip())
        if resident is not None and resident.has_totp:
            wire.headers = [(k, v) for k, v in wire.headers if k.lower() != "location"]
            wire.headers.append(("Location", "/account/login/second-factor?" + urlencode({"interaction": token})))
            return from_wire(request, wire, options(request))
    if wire.page is not None and (wire.page[1].get("errors") or {}).get("form") == "email_not_verified":
        # The password was right (the provider checks it before the address): offer to finish
        # the sign-up now rather than leave the resident at a dead end.
        async with p.uow_factory() as uow:
            resident = await uow.residents.by_email(first(fields, "email").strip())
        if resident is not None and not resident.email_verified:
            await _resend_quietly(request, resident.resident_id)
            verify_token = _seal(request, "verify", resident.resident_id, SIGNUP_TTL)
            wire.page = (wire.page[0], {**wire.page[1], "verify_url": "/signup/verify?" + urlencode({"t": verify_token})})
    return _as_account_page(request, wire, token, next_url)


async def _resend_quietly(request: Request, resident_id: str) -> None:
    try:
        await auth.resend_email_verification(auth.ResendEmailVerification(resident_id), provider(request).uow_factory())
    except (FailedPrecondition, NotFound):
        pass  # a code was sent moments ago: the resident uses that one


async def second_factor(request: Request) -> Response:
    p = provider(request)
    if request.method == "GET":
        token = request.query_params.get("interaction")
        if _unseal(request, "login", token) is None:
            return RedirectResponse("/account/login", status_code=303)
        wire = login.second_factor_page(p, token)
        wire.page[1]["passkey_options"] = await login.passkey_second_factor_options(
            p, request.cookies.get(SESSION_COOKIE))
        return _as_account_page(request, wire, token, "/account")
    fields = await form(request)
    if fields is None:
        return csrf_refused(request)
    token = first(fields, "interaction")
    next_url = _safe_next(_unseal(request, "login", token))
    wire = await login.submit_second_factor(p, token, request.cookies.get(SESSION_COOKIE), first(fields, "code"),
                                            request.client.host if request.client else "")
    return _as_account_page(request, wire, token, next_url)


async def lost_phone(request: Request) -> Response:
    """"I lost my phone" at the second step of Mon compte's sign-in (``login.lost_phone_page``)."""
    p = provider(request)
    if request.method == "GET":
        token = request.query_params.get("interaction")
        if _unseal(request, "login", token) is None:
            return RedirectResponse("/account/login", status_code=303)
        wire = login.lost_phone_page(p, token)
        wire.page[1]["passkey_options"] = await login.passkey_second_factor_options(
            p, request.cookies.get(SESSION_COOKIE))
        return _as_account_page(request, wire, token, "/account")
    fields = await form(request)
    if fields is None:
        return csrf_refused(request)
    token = first(fields, "interaction")
    next_url = _safe_next(_unseal(request, "login", token))
    wire = await login.submit_recovery_code(p, token, request.cookies.get(SESSION_COOKIE),
                                            first(fields, "recovery_code"),
                                            request.client.host if request.client else "")
    return _as_account_page(request, wire, token, next_url)


async def passkey_sign_in(request: Request) -> Response:
    """A passkey instead of the e-mail and password (``login.submit_passkey``)."""
    fields = await form(request)
    if fields is None:
        return csrf_refused(request)
    token = first(fields, "interaction")
    next_url = _safe_next(_unseal(request, "login", token))
    wire = await login.submit_passkey(provider(request), token, first(fields, "credential"),
                                      request.client.host if request.client else "")
    return _as_account_page(request, wire, token, next_url)


async def passkey_second_factor(request: Request) -> Response:
    """A passkey as the second step (``login.submit_passkey_second_factor``)."""
    fields = await form(request)
    if fields is None:
        return csrf_refused(request)
    token = first(fields, "interaction")
    next_url = _safe_next(_unseal(request, "login", token))
    wire = await login.submit_passkey_second_factor(provider(request), token, request.cookies.get(SESSION_COOKIE),
                                                    first(fields, "credential"),
                                                    request.client.host if request.client else "")
    return _as_account_page(request, wire, token, next_url)


# --- sign up and email confirmation ----------------------------------------------------------

SIGNUP_ERRORS = {"email": "signup.error.email", "password": "signup.error.password",
                 "preferred_language": "signup.error.language"}


async def sign_up(request: Request) -> Response:
    t = translator(request)
    if request.method == "GET":
        return page(request, "account/signup.html", {"nav": "", "email": "", "errors": {}})
    fields = await form(request)
    if fields is None:
        return csrf_refused(request)
    email, password, confirm = first(fields, "email").strip(), first(fields, "password"), first(fields, "password_confirm")
    errors: dict[str, str] = {}
    if not email:
        errors["email"] = "signup.error.email_required"
    if not password:
        errors["password"] = "signup.error.password_required"
    elif password != confirm:
        errors["password_confirm"] = "signup.error.password_mismatch"
    if not errors:
        try:
            resident_id = await auth.register_resident(auth.RegisterResident(
                email=email, password=password, preferred_language=t.lang,
                remote_addr=request.client.host if request.client else ""), provider(request).uow_factory())
        except InvalidArgument as error:
            for field, _description in getattr(error, "violations", None) or [(getattr(error, "field", "email"), "")]:
                errors[field] = SIGNUP_ERRORS.get(field, "signup.error.email")
        except AlreadyExists:
            # Only a sign-up racing another with the same new address gets here: answer as
            # for any address (the confirmation page), never "this address is taken".
            resident_id = CitizenNumber.new().canonical
            return RedirectResponse("/signup/verify?" + urlencode({"t": _seal(request, "verify", resident_id, SIGNUP_TTL)}),
                                    status_code=303)
        except FailedPrecondition:  # TOO_MANY_ATTEMPTS: sign-ups from this address are spaced out
            errors["email"] = "signup.error.too_many"
        else:
            token = _seal(request, "verify", resident_id, SIGNUP_TTL)
            return RedirectResponse("/signup/verify?" + urlencode({"t": token}), status_code=303)
    return page(request, "account/signup.html", {"nav": "", "email": email, "errors": errors}, 400)


async def verify(request: Request) -> Response:
    if request.method == "GET":
        token = request.query_params.get("t")
        if _unseal(request, "verify", token) is None:
            return _expired(request)
        notice = "resent" if request.query_params.get("done") == "resent" else None
        return page(request, "account/verify.html", {"nav": "", "token": token, "errors": {}, "notice": notice})
    fields = await form(request)
    if fields is None:
        return csrf_refused(request)
    token = first(fields, "t")
    resident_id = _unseal(request, "verify", token)
    if resident_id is None:
        return _expired(request)
    uow = provider(request).uow_factory()
    if first(fields, "action") == "resend":
        try:
            await auth.resend_email_verification(auth.ResendEmailVerification(resident_id), uow)
        except FailedPrecondition:
            return page(request, "account/verify.html", {"nav": "", "token": token, "notice": None,
                                                         "errors": {"code": "verify.error.resend_wait"}}, 429)
        return RedirectResponse("/signup/verify?" + urlencode({"t": token, "done": "resent"}), status_code=303)
    code, errors = _mailed_code(fields)
    if not errors:
        try:
            await auth.verify_email(auth.VerifyEmail(resident_id=resident_id, code=code), uow)
        except InvalidArgument:
            errors["code"] = "verify.error.wrong"
        except FailedPrecondition as error:
            errors["code"] = _code_refused(error)
        except NotFound:
            return _expired(request)
    if errors:
        return page(request, "account/verify.html", {"nav": "", "token": token, "errors": errors, "notice": None}, 400)
    return page(request, "account/verified.html", {"nav": ""})


# --- forgotten password (and a first one, for residents enrolled at a counter) -----------------

RESET_TTL = 3600  # the code's own lifetime


async def forgot_password(request: Request) -> Response:
    """The address of the account. Whatever it is — an account's or not — the next page says
    the same ("if an account uses this address, a code is on its way"): the form tells no one
    which addresses have an account (``authentication.spend_reset_budget``)."""
    if request.method == "GET":
        return page(request, "account/forgot.html", {"nav": "", "email": "", "errors": {}})
    fields = await form(request)
    if fields is None:
        return csrf_refused(request)
    email = first(fields, "email").strip()
    if not email:
        return page(request, "account/forgot.html", {
            "nav": "", "email": "", "errors": {"email": "signup.error.email_required"}}, 400)
    cmd = auth.RequestPasswordReset(email, request.client.host if request.client else "")
    try:
        await auth.spend_reset_budget(cmd, provider(request).uow_factory())
    except FailedPrecondition:  # TOO_MANY_ATTEMPTS from this address
        return page(request, "account/forgot.html", {
            "nav": "", "email": email, "errors": {"email": "reset.error.too_many"}}, 429)
    # The address travels sealed in the form, not in a URL (history, logs, referrers).
    response = page(request, "account/reset.html", {"nav": "", "errors": {},
                                                    "token": _seal(request, "reset", email, RESET_TTL)})
    # The lookup and the code after the answer: its timing is the same for every address.
    response.background = BackgroundTask(_send_reset_quietly, cmd, provider(request).uow_factory())
    return response


async def _send_reset_quietly(cmd, uow) -> None:
    try:
        await auth.send_password_reset(cmd, uow)
    except Exception as error:  # noqa: BLE001 - after the answer there is nobody to tell; they ask again
        log.warning("password reset code not sent", extra={"error": type(error).__name__})


async def reset_password(request: Request) -> Response:
    """The mailed code and the new password; every session of the resident ends."""
    if request.method == "GET":
        return RedirectResponse("/account/password/forgot", status_code=303)
    fields = await form(request)
    if fields is None:
        return csrf_refused(request)
    token = first(fields, "t")
    email = _unseal(request, "reset", token)
    if email is None:
        return _expired(request)
    # In the form's order, for the error summary: the code, then the new password.
    code, errors = _mailed_code(fields)
    new, password_errors = new_password(fields)
    errors.update(password_errors)
    if not errors:
        try:
            await auth.reset_password(auth.ResetPassword(email, code, new), provider(request).uow_factory())
        except InvalidArgument as error:
            for field, _description in error.violations:
                errors[field] = "verify.error.wrong" if field == "code" else "signup.error.password"
        except FailedPrecondition as error:
            errors["code"] = _code_refused(error)
    if errors:
        return page(request, "account/reset.html", {"nav": "", "errors": errors, "token": token}, 400)
    return page(request, "account/reset_done.html", {"nav": ""})
