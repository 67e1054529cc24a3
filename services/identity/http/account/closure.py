"""Closing the account in Mon compte (``service_layer.account_closure``): a page that says
plainly what closing means, what is kept and for how long, then the current password; the
answer is the receipt (its number is the closure's record, kept by identity and mailed).

    GET/POST /account/close
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.identity.domain.citizen_number import CitizenNumber
from services.identity.http.account.web import (
    first, forget_session, local_time, opening, page, settings, to_login, translator,
)
from services.identity.http.routes.common import provider
from services.identity.service_layer import account_closure as closure


def _explained(request: Request, who, errors: dict | None = None, status: int = 200) -> Response:
    days = settings(request).closed_account_retention_days   # the purge's period (closed_accounts.py)
    years, rest = divmod(days, 365)
    return page(request, "account/close.html", {"nav": "security", "errors": errors or {},
                                                "citizen_number": CitizenNumber(who.resident_id).human,
                                                "kept_years": years if not rest else None, "kept_days": days}, status)


async def close(request: Request) -> Response:
    who, fields, refusal = await opening(request)
    if refusal is not None:
        return refusal
    if fields is None:
        return _explained(request, who)
    current = first(fields, "current_password")
    if not current:
        return _explained(request, who, {"current_password": "account.security.error.current_required"}, 400)
    try:
        receipt = await closure.close_account(closure.CloseAccount(
            who.resident_id, current, request.client.host if request.client else ""), provider(request).uow_factory())
    except InvalidArgument:
        return _explained(request, who, {"current_password": "account.security.error.current_wrong"}, 400)
    except FailedPrecondition:  # TOO_MANY_ATTEMPTS: throttled like login
        return _explained(request, who, {"current_password": "account.security.error.too_many"}, 400)
    except NotFound:  # closed meanwhile (another tab): the session no longer signs anyone in
        return to_login(request)
    response = page(request, "account/closed.html", {
        "nav": "", "lang_path": "/account/login", "receipt": {
            "number": receipt.closure_id, "closed_at": local_time(receipt.closed_at, translator(request)),
            "citizen_number": CitizenNumber(receipt.resident_id).human, "email": who.email}})
    return forget_session(request, response)  # the session ended server-side with the others
