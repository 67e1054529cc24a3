"""Changing the sign-in address in Mon compte (``service_layer.email_change``): the new
address and the current password, then the code mailed to the new address. The old address
gets a notice once the change is made.

    GET/POST /account/email            the new address and the current password
    GET/POST /account/email/confirm    the 6-digit code sent to the new address
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from services.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from services.identity.http.account.web import first, opening, page, to_login
from services.identity.http.routes.common import provider
from services.identity.service_layer import email_change as change


def _address(request: Request) -> str:
    return request.client.host if request.client else ""


def _form_page(request: Request, who, *, new_email: str = "", errors: dict | None = None,
               status: int = 200) -> Response:
    return page(request, "account/email.html", {"nav": "security", "current_email": who.email,
                                                "new_email": new_email, "errors": errors or {}}, status)


async def change_email(request: Request) -> Response:
    who, fields, refusal = await opening(request)
    if refusal is not None:
        return refusal
    if fields is None:
        return _form_page(request, who)
    new_email, current = first(fields, "new_email").strip()[:320], first(fields, "current_password")
    # In the form's order, for the error summary: the new address, then the password.
    errors: dict[str, str] = {}
    if not new_email:
        errors["new_email"] = "signup.error.email_required"
    if not current:
        errors["current_password"] = "account.security.error.current_required"
    if not errors:
        try:
            await change.request_email_change(change.RequestEmailChange(
                who.resident_id, new_email, current, _address(request)), provider(request).uow_factory())
        except InvalidArgument as error:
            for field, description in error.violations:
                if field == "current_password":
                    errors[field] = "account.security.error.current_wrong"
                else:
                    errors["new_email"] = ("account.email.error.same" if "already" in description
                                           else "signup.error.email")
        except AlreadyExists:
            errors["new_email"] = "account.email.error.taken"
        except FailedPrecondition as error:
            if error.reason == "TOO_MANY_CODES":
                errors["new_email"] = "verify.error.resend_wait"
            else:  # TOO_MANY_ATTEMPTS: wrong passwords, throttled like login
                errors["current_password"] = "account.security.error.too_many"
        except NotFound:
            return to_login(request)
    if errors:
        return _form_page(request, who, new_email=new_email, errors=errors, status=400)
    return RedirectResponse("/account/email/confirm", status_code=303)


async def confirm(request: Request) -> Response:
    who, fields, refusal = await opening(request)
    if refusal is not None:
        return refusal
    uow_factory = provider(request).uow_factory
    pending = await change.pending_email_change(uow_factory(), who.resident_id)
    if pending is None:
        # Nothing waits (never asked, expired, or done): start from the address.
        return RedirectResponse("/account/email", status_code=303)
    context = {"nav": "security", "pending_email": pending, "errors": {}}
    if fields is None:
        return page(request, "account/email_confirm.html", context)
    code = first(fields, "code").replace(" ", "")
    errors: dict[str, str] = {}
    if not code.isdigit() or len(code) != 6:
        errors["code"] = "verify.error.format"
    else:
        try:
            await change.confirm_email_change(change.ConfirmEmailChange(who.resident_id, code), uow_factory())
        except InvalidArgument:
            errors["code"] = "verify.error.wrong"
        except FailedPrecondition as error:
            errors["code"] = ("account.email.error.expired" if error.reason in ("CODE_EXPIRED", "NO_PENDING_CHANGE")
                              else "verify.error.wait")
        except AlreadyExists:
            errors["code"] = "account.email.error.taken"
        except NotFound:
            return to_login(request)
    if errors:
        return page(request, "account/email_confirm.html", {**context, "errors": errors}, 400)
    return RedirectResponse("/account/security?done=email_changed", status_code=303)
