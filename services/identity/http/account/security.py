"""Security in Mon compte: where the resident is signed in, sign out everywhere, change the
password, set up a second factor (TOTP, RFC 6238: any authenticator application). A new
password and a new second factor both ask for the current password (throttled like login:
``authentication._confirm_password``).

Signing out everywhere posts to the provider's own ``/logout/everywhere`` (it ends every
session and revokes the refresh tokens issued in them).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.identity.http.account.web import (
    first, local_time, new_password, opening, page, signed_in, to_login, translator,
)
from services.identity.http.routes.common import provider
from services.identity.oidc.records import utcnow
from services.identity.oidc.sessions import sign_out_everywhere
from services.identity.service_layer import authentication as auth

NOTICES = ("password_changed", "totp_enabled", "email_changed")


async def _context(request: Request, who, **extra) -> dict:
    t = translator(request)
    async with provider(request).uow_factory() as uow:
        sessions = await uow.sessions.active_for(who.resident_id, utcnow())
    views = [{"current": s.session_id == who.session_id, "since": local_time(s.created_at, t),
              "until": local_time(s.expires_at, t), "second_factor": "otp" in s.amr}
             for s in sorted(sessions, key=lambda s: s.created_at, reverse=True)]
    notice = request.query_params.get("done")
    return {"nav": "security", "sessions": views, "has_totp": who.has_totp, "errors": {},
            "notice": notice if notice in NOTICES else None, "enrollment": None, "email": who.email, **extra}


async def security(request: Request) -> Response:
    who = await signed_in(request)
    if who is None:
        return to_login(request)
    return page(request, "account/security.html", await _context(request, who))


async def change_password(request: Request) -> Response:
    who, fields, refusal = await opening(request)
    if refusal is not None:
        return refusal
    current = first(fields, "current_password")
    # In the form's order, for the error summary: the current password, then the new one.
    errors = {} if current else {"current_password": "account.security.error.current_required"}
    new, password_errors = new_password(fields)
    errors.update(password_errors)
    if not errors:
        try:
            await auth.change_password(auth.ChangePassword(who.resident_id, current, new, _address(request)),
                                       provider(request).uow_factory())
        except InvalidArgument as error:
            for field, _ in error.violations:
                errors[field] = ("account.security.error.current_wrong" if field == "current_password"
                                 else "signup.error.password")
        except FailedPrecondition:  # TOO_MANY_ATTEMPTS: throttled like login
            errors["current_password"] = "account.security.error.too_many"
    if errors:
        return page(request, "account/security.html", await _context(request, who, errors=errors), 400)
    # Whoever signed in with the old password (a shared computer, a stolen one) is signed out:
    # every other session ends and its refresh tokens stop working (OWASP ASVS V3.3.3).
    async with provider(request).uow_factory() as uow:
        await sign_out_everywhere(uow, who.resident_id, keep=who.session_id)
        await uow.commit()
    return RedirectResponse("/account/security?done=password_changed", status_code=303)


async def totp_start(request: Request) -> Response:
    who, fields, refusal = await opening(request)
    if refusal is not None:
        return refusal
    try:
        enrollment = await auth.begin_totp_enrollment(auth.BeginTotpEnrollment(who.resident_id),
                                                      provider(request).uow_factory())
    except NotFound:
        return to_login(request)
    secret = enrollment.secret_base32.rstrip("=")
    grouped = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    return page(request, "account/security.html", await _context(request, who, enrollment={
        "secret": grouped, "uri": enrollment.provisioning_uri}))


async def totp_confirm(request: Request) -> Response:
    who, fields, refusal = await opening(request)
    if refusal is not None:
        return refusal
    code = first(fields, "code").replace(" ", "")
    # Its own field name: the password-change form on the same page has a current_password.
    current = first(fields, "totp_current_password")
    errors = {}
    if not current:
        errors["totp_current_password"] = "account.security.error.current_required"
    if not (code.isdigit() and len(code) == 6):
        errors["code"] = "account.security.error.totp_code"
    if not errors:
        try:
            if not await auth.confirm_totp_enrollment(
                    auth.ConfirmTotpEnrollment(who.resident_id, code, current, _address(request)),
                    provider(request).uow_factory()):
                errors["code"] = "account.security.error.totp_code"
        except InvalidArgument:
            errors["totp_current_password"] = "account.security.error.current_wrong"
        except FailedPrecondition as error:
            if error.reason == "TOO_MANY_ATTEMPTS":
                errors["totp_current_password"] = "account.security.error.too_many"
            else:  # NO_PENDING_ENROLLMENT: start again
                errors["code"] = "account.security.error.totp_code"
    if errors:
        return page(request, "account/security.html", await _context(
            request, who, errors=errors, enrollment={"secret": first(fields, "secret")[:80], "uri": ""}), 400)
    return RedirectResponse("/account/security?done=totp_enabled", status_code=303)


def _address(request: Request) -> str:
    return request.client.host if request.client else ""
