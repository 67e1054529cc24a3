""""This was not me" in Mon compte (``service_layer.suspicious_activity``): a confirmation
page that says what will happen, then the report; the answer says what was done and leads
to choosing a new password.

    GET  /account/security/not-me[?session=<session_id>]   what will happen, one button
    POST /account/security/not-me                            the report (field ``session_id``)

The seam for the sign-in history (issue 15): each entry links to
``/account/security/not-me?session=<its session_id>``; the security page links it without a
session (something the resident does not recognise, whatever it is).
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from services.common.errors import InvalidArgument, NotFound
from services.identity.http.account.web import first, forget_session, opening, page, to_login
from services.identity.http.routes.common import provider
from services.identity.service_layer import suspicious_activity as suspicious


def not_me_url(session_id: str | None = None) -> str:
    """Where an entry of the sign-in history (or anything else) sends a resident who does not
    recognise it."""
    return "/account/security/not-me" + (("?" + urlencode({"session": session_id})) if session_id else "")


async def not_me(request: Request) -> Response:
    who, fields, refusal = await opening(request)
    if refusal is not None:
        return refusal
    if fields is None:
        session_id = (request.query_params.get("session") or "")[:suspicious.MAX_SESSION_ID]
        return page(request, "account/not_me.html", {"nav": "security", "session_id": session_id,
                                                     "lang_path": not_me_url(session_id or None)})
    try:
        report = await suspicious.report_suspicious_activity(
            suspicious.ReportSuspiciousActivity(who.resident_id, first(fields, "session_id") or None),
            provider(request).uow_factory())
    except InvalidArgument:
        return page(request, "error.html", {"reason": "invalid_request"}, 400)
    except NotFound:
        return to_login(request)
    response = page(request, "account/not_me_done.html", {"nav": "", "lang_path": "/account/password/forgot",
                                                          "report_id": report.report_id})
    return forget_session(request, response)  # the session ended server-side with the others
