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
    csrf_refused, first, form, local_time, new_password, page, signed_in, to_login, translator,
)
from services.identity.http.account.qr import qr_svg
from services.identity.http.routes.common import provider
from services.identity.oidc.records import utcnow
from services.identity.oidc.sessions import sign_out_everywhere
from services.identity.service_layer import authentication as auth
from services.identity.service_layer import second_factor

NOTICES = ("password_changed", "totp_enabled", "email_changed", "totp_removed")


async def _context(request: Request, who, **extra) -> dict:
    t = translator(request)
    async with provider(request).uow_factory() as uow:
        sessions = await uow.sessions.active_for(who.resident_id, utcnow())
    views = [{"current": s.session_id == who.session_id, "since": local_time(s.created_at, t),
              "until": local_time(s.expires_at, t), "second_factor": "otp" in s.amr}
             for s in sorted(sessions, key=lambda s: s.created_at, reverse=True)]
    notice = request.query_params.get("done")
    left = await second_factor.recovery_codes_left(who.resident_id, provider(request).uow_factory())
    return {"recovery_left": left, "nav": "security", "sessions": views, "has_totp": who.has_totp, "errors": {},
            "notice": notice if notice in NOTICES else None, "enrollment": None, "email": who.email, **extra}


async def security(request: Request) -> Response:
    who = await signed_in(request)
    if who is None:
        return to_login(request)
    return page(request, "account/security.html", await _context(request, who))


async def change_password(request: Request) -> Response:
    who = await signed_in(request)
    if who is None:
        return to_login(request)
    fields = await form(request)
    if fields is None:
        return csrf_refused(request)
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
    who = await signed_in(request)
    if who is None:
        return to_login(request)
    fields = await form(request)
    if fields is None:
        return csrf_refused(request)
    try:
        enrollment = await auth.begin_totp_enrollment(auth.BeginTotpEnrollment(who.resident_id),
                                                      provider(request).uow_factory())
    except NotFound:
        return to_login(request)
    secret = enrollment.secret_base32.rstrip("=")
    grouped = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    return page(request, "account/security.html", await _context(request, who, enrollment=_enrollment(
        request, grouped, enrollment.provisioning_uri)))


def _enrollment(request: Request, grouped_secret: str, uri: str) -> dict:
    """What the enrolment step shows: the key as text (grouped by four) and, when the
    ``otpauth://`` URI is known, the same as a link (an app on this phone) and a QR code."""
    qr = qr_svg(uri, translator(request)("account.security.totp.qr")) if uri else None
    return {"secret": grouped_secret, "uri": uri, "qr": qr}


async def totp_confirm(request: Request) -> Response:
    who = await signed_in(request)
    if who is None:
        return to_login(request)
    fields = await form(request)
    if fields is None:
        return csrf_refused(request)
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
            request, who, errors=errors, enrollment=_enrollment(request, *_shown_again(first(fields, "secret"), who))), 400)
    return RedirectResponse("/account/security?done=totp_enabled", status_code=303)


def _shown_again(grouped: str, who) -> tuple[str, str]:
    """The key the form carried back, and its URI (for the QR code) when it is a key at all: a
    mistyped code must not make the resident start the enrolment again."""
    import base64
    import binascii

    from services.identity.domain import totp
    from services.identity.domain.citizen_number import CitizenNumber

    grouped = grouped[:80]
    key = grouped.replace(" ", "")
    try:
        secret = base64.b32decode(key + "=" * (-len(key) % 8))
    except (binascii.Error, ValueError):
        return grouped, ""
    if len(secret) != 20:
        return grouped, ""
    return grouped, totp.provisioning_uri(secret, who.email or CitizenNumber(who.resident_id).human)


def _address(request: Request) -> str:
    return request.client.host if request.client else ""


async def recovery_codes_new(request: Request) -> Response:
    """Ten new recovery codes, after the password, shown once on a page that is not cached
    (``second_factor.generate_recovery_codes``); the earlier ones stop working."""
    who = await signed_in(request)
    if who is None:
        return to_login(request)
    fields = await form(request)
    if fields is None:
        return csrf_refused(request)
    current = first(fields, "recovery_current_password")
    errors = {} if current else {"recovery_current_password": "account.security.error.current_required"}
    codes = None
    if not errors:
        try:
            codes = await second_factor.generate_recovery_codes(second_factor.GenerateRecoveryCodes(
                who.resident_id, current, _address(request)), provider(request).uow_factory())
        except InvalidArgument:
            errors["recovery_current_password"] = "account.security.error.current_wrong"
        except FailedPrecondition as error:
            errors["recovery_current_password"] = ("account.security.error.too_many"
                                                   if error.reason == "TOO_MANY_ATTEMPTS"
                                                   else "account.security.error.no_second_factor")
        except NotFound:
            return to_login(request)
    if errors:
        return page(request, "account/security.html", await _context(request, who, errors=errors), 400)
    return page(request, "account/recovery_codes.html", {"nav": "security", "codes": codes, "errors": {}})


async def totp_remove(request: Request) -> Response:
    """The application's codes turned off, after the password (``second_factor.remove_totp``);
    the recovery codes go with them. To replace the application, the resident starts a new
    enrolment instead: its confirmation replaces the old key."""
    who = await signed_in(request)
    if who is None:
        return to_login(request)
    fields = await form(request)
    if fields is None:
        return csrf_refused(request)
    current = first(fields, "remove_current_password")
    errors = {} if current else {"remove_current_password": "account.security.error.current_required"}
    if not errors:
        try:
            await second_factor.remove_totp(second_factor.RemoveTotp(who.resident_id, current, _address(request)),
                                            provider(request).uow_factory())
        except InvalidArgument:
            errors["remove_current_password"] = "account.security.error.current_wrong"
        except FailedPrecondition as error:
            errors["remove_current_password"] = ("account.security.error.too_many"
                                                 if error.reason == "TOO_MANY_ATTEMPTS"
                                                 else "account.security.error.no_second_factor")
        except NotFound:
            return to_login(request)
    if errors:
        return page(request, "account/security.html", await _context(request, who, errors=errors), 400)
    return RedirectResponse("/account/security?done=totp_removed", status_code=303)
