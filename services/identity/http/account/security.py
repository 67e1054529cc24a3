"""Security in Mon compte: where the resident is signed in, sign out everywhere, change the
password, set up a second factor (TOTP, RFC 6238: any authenticator application; its key as a
QR code and as text), replace or turn it off, recovery codes, and passkeys (WebAuthn: added,
listed, removed). A new password, a new second factor, new recovery codes and turning the
factor off ask for the current password (throttled like login:
``authentication._confirm_password``); a passkey is added or removed within 5 minutes of
signing in, or with the password (issue 20).

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
from services.identity.domain.citizen_number import CitizenNumber
from services.identity.domain.passkeys import RESIDENT, clean_name
from services.identity.http.account.qr import qr_svg
from services.identity.http.routes.common import provider
from services.identity.oidc.records import utcnow
from services.identity.oidc.sessions import add_second_factor, sign_out_everywhere
from services.identity.service_layer import authentication as auth
from services.identity.service_layer import passkeys, second_factor
from services.identity.oidc.login import relying_party

NOTICES = ("password_changed", "totp_enabled", "email_changed", "totp_removed", "passkey_added", "passkey_removed",
           "passkey_renamed")
#: A passkey is added or removed within 5 minutes of signing in, or after the password again
#: (OWASP ASVS 4.0 V3.7.1; the brief of issue 20).
RECENT_SIGN_IN = 300


async def _context(request: Request, who, **extra) -> dict:
    t = translator(request)
    async with provider(request).uow_factory() as uow:
        sessions = await uow.sessions.active_for(who.resident_id, utcnow())
    views = [{"current": s.session_id == who.session_id, "since": local_time(s.created_at, t),
              "until": local_time(s.expires_at, t), "second_factor": "otp" in s.amr or "mfa" in s.amr}
             for s in sorted(sessions, key=lambda s: s.created_at, reverse=True)]
    notice = request.query_params.get("done")
    left = await second_factor.recovery_codes_left(who.resident_id, provider(request).uow_factory())
    keys = await passkeys.passkeys_of(provider(request).uow_factory(), RESIDENT, who.resident_id)
    passkey_views = [{"id": k.credential_id, "name": k.name, "created": local_time(k.created_at, t),
                      "used": local_time(k.last_used_at, t) if k.last_used_at else None,
                      "synced": k.multi_device} for k in keys]
    return {"recovery_left": left, "passkeys": passkey_views, "recent": await _recent(request, who), "nav": "security", "sessions": views, "has_totp": who.has_totp, "errors": {},
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
    return page(request, "account/security.html", await _context(request, who, enrollment=_enrollment(
        request, grouped, enrollment.provisioning_uri)))


def _enrollment(request: Request, grouped_secret: str, uri: str) -> dict:
    """What the enrolment step shows: the key as text (grouped by four) and, when the
    ``otpauth://`` URI is known, the same as a link (an app on this phone) and a QR code."""
    qr = qr_svg(uri, translator(request)("account.security.totp.qr")) if uri else None
    return {"secret": grouped_secret, "uri": uri, "qr": qr}


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
            request, who, errors=errors, enrollment=_enrollment(request, *_shown_again(first(fields, "secret"), who))), 400)
    # The resident just gave the password and a code of the new factor: this session has both
    # (Mon compte asks sessions of a resident with two-step verification for the second step).
    async with provider(request).uow_factory() as uow:
        session = await uow.sessions.get(who.session_id)
        if session is not None:
            await add_second_factor(uow, session, who.level)
            await uow.commit()
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
    who, fields, refusal = await opening(request)
    if refusal is not None:
        return refusal
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
    who, fields, refusal = await opening(request)
    if refusal is not None:
        return refusal
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


async def _recent(request: Request, who) -> bool:
    """Did the resident sign in less than ``RECENT_SIGN_IN`` seconds ago (``auth_time``)?"""
    async with provider(request).uow_factory() as uow:
        session = await uow.sessions.get(who.session_id)
    return session is not None and utcnow().timestamp() - session.auth_time <= RECENT_SIGN_IN


async def _reauthenticated(request: Request, who, password: str, field: str) -> dict[str, str]:
    """No error when the sign-in is recent or ``password`` is the resident's (throttled like
    login); else the error of ``field``."""
    if await _recent(request, who):
        return {}
    if not password:
        return {field: "account.security.error.current_required"}
    try:
        await auth.confirm_password(auth.ConfirmPassword(who.resident_id, password, _address(request)),
                                    provider(request).uow_factory())
    except InvalidArgument:
        return {field: "account.security.error.current_wrong"}
    except FailedPrecondition:
        return {field: "account.security.error.too_many"}
    return {}


async def _passkey_page(request: Request, who, errors: dict, values: dict, status: int = 200) -> Response:
    options = await passkeys.registration_options(
        provider(request).uow_factory(), relying_party(provider(request)), RESIDENT, who.resident_id,
        user_name=who.email or CitizenNumber(who.resident_id).human,
        display_name=who.email or CitizenNumber(who.resident_id).human)
    return page(request, "account/passkey_new.html", {
        "nav": "security", "errors": errors, "values": values, "passkey_options": options,
        "recent": await _recent(request, who)}, status)


async def passkey_new(request: Request) -> Response:
    """Add a passkey: its name, the password unless the sign-in is recent, then the browser's
    ceremony (static/passkeys.js) posts the new credential (``passkey_add``)."""
    who = await signed_in(request)
    if who is None:
        return to_login(request)
    return await _passkey_page(request, who, {}, {})


async def passkey_add(request: Request) -> Response:
    who, fields, refusal = await opening(request)
    if refusal is not None:
        return refusal
    name = first(fields, "passkey_name")
    errors = {} if clean_name(name) else {"passkey_name": "account.passkeys.error.name"}
    errors.update(await _reauthenticated(request, who, first(fields, "passkey_password"), "passkey_password"))
    if not first(fields, "credential"):
        errors["passkey"] = "account.passkeys.error.no_credential"
    if not errors:
        try:
            await passkeys.register_passkey(passkeys.RegisterPasskey(RESIDENT, who.resident_id,
                                                                     first(fields, "credential"), name),
                                            provider(request).uow_factory(), relying_party(provider(request)))
        except passkeys.PasskeyRefused as refused:
            errors["passkey"] = "account.passkeys.error." + (
                refused.reason if refused.reason in PASSKEY_REASONS else "refused")
    if errors:
        return await _passkey_page(request, who, errors, {"passkey_name": name[:60]}, 400)
    return RedirectResponse("/account/security?done=passkey_added", status_code=303)


PASSKEY_REASONS = ("challenge", "origin", "rp_id", "already_registered", "name")


async def passkey_remove(request: Request) -> Response:
    """Remove a passkey after re-authentication — never the last way in
    (``passkeys.remove_passkey``)."""
    who, fields, refusal = await opening(request)
    if refusal is not None:
        return refusal
    errors = await _reauthenticated(request, who, first(fields, "remove_passkey_password"), "remove_passkey_password")
    if not errors:
        try:
            await passkeys.remove_passkey(passkeys.RemovePasskey(RESIDENT, who.resident_id,
                                                                 first(fields, "credential_id")[:1400]),
                                          provider(request).uow_factory())
        except NotFound:
            errors["remove_passkey_password"] = "account.passkeys.error.unknown"
        except FailedPrecondition:
            errors["remove_passkey_password"] = "account.passkeys.error.last_way_in"
    if errors:
        return page(request, "account/security.html", await _context(request, who, errors=errors), 400)
    return RedirectResponse("/account/security?done=passkey_removed", status_code=303)


async def passkey_rename(request: Request) -> Response:
    """A new name for a passkey (no re-authentication: a name protects nothing)."""
    who, fields, refusal = await opening(request)
    if refusal is not None:
        return refusal
    errors = {}
    try:
        await passkeys.rename_passkey(passkeys.RenamePasskey(RESIDENT, who.resident_id,
                                                             first(fields, "rename_credential_id")[:1400],
                                                             first(fields, "passkey_new_name")),
                                      provider(request).uow_factory())
    except passkeys.PasskeyRefused:
        errors["passkey_new_name"] = "account.passkeys.error.name"
    except NotFound:
        errors["rename_credential_id"] = "account.passkeys.error.unknown"
    if errors:
        return page(request, "account/security.html", await _context(request, who, errors=errors), 400)
    return RedirectResponse("/account/security?done=passkey_renamed", status_code=303)
