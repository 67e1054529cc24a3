"""``<issuer>/activate``: a resident enrolled at a counter sets a password (and, if they wish,
an e-mail address) with the one-time code of their activation letter (issue 17, point 4;
``service_layer/activation.py``). French first, English; no JavaScript; an error summary."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.common.errors import InvalidArgument
from services.identity.http.account.web import csrf_refused, first, form, page
from services.identity.http.routes.common import provider
from services.identity.service_layer.activation import ActivateResident, activate_resident
from services.identity.service_layer.authentication import LoginRefused

_FIELD_ERRORS = {"citizen_number": "activate.error.citizen_number", "code": "activate.error.code",
                 "password": "activate.error.password", "email": "activate.error.email"}


async def activate(request: Request) -> Response:
    if request.method == "GET":
        return page(request, "activation/activate.html", {"errors": {}, "values": {}})
    fields = await form(request)
    if fields is None:
        return csrf_refused(request)
    values = {name: first(fields, name).strip() for name in ("citizen_number", "code", "email")}
    password, confirm = first(fields, "password"), first(fields, "password_confirm")
    errors: dict[str, str] = {}
    if password and password != confirm:
        errors["password_confirm"] = "activate.error.password_confirm"
        return page(request, "activation/activate.html", {"errors": errors, "values": values}, 400)
    try:
        number = await activate_resident(ActivateResident(
            citizen_number=values["citizen_number"], code=values["code"], password=password, email=values["email"],
            remote_addr=request.client.host if request.client else ""), provider(request).uow_factory())
    except InvalidArgument as invalid:
        for field, _ in invalid.violations:
            errors.setdefault(field, _FIELD_ERRORS.get(field, "activate.error.code"))
        return page(request, "activation/activate.html", {"errors": errors, "values": values}, 400)
    except LoginRefused as refused:
        status = 429 if refused.reason == "throttled" else 400
        key = "activate.error.throttled" if refused.reason == "throttled" else "activate.error.code_wrong"
        return page(request, "activation/activate.html", {"errors": {"code": key}, "values": values}, status)
    return page(request, "activation/activated.html", {"citizen_number": number.human,
                                                       "email": values["email"]})


routes = [Route("/activate", activate, methods=["GET", "POST"])]
