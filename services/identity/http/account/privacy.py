"""The privacy notice given at collection (Québec's Access Act, CQLR c. A-2.1, s. 65 as
amended by Law 25: whoever collects personal information informs the person of who collects
it, why, how, whether answering is required and what refusing means, who will see it, their
rights, and whom to ask). Short, in plain words, French first; linked from the sign-up page
and from the consent screen, readable without an account.

    GET /privacy
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from services.identity.http.account.web import _settings, page


async def notice(request: Request) -> Response:
    # whom to ask: the controller's contact from the configuration (MTLID_CONTROLLER_EMAIL,
    # MTLID_CONTROLLER_PHONE), the same the consent receipts carry
    settings = _settings(request)
    return page(request, "account/privacy.html", {"nav": "", "controller": {
        "email": settings.controller_email, "phone": settings.controller_phone}})
