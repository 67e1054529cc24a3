"""The terms of use, linked from every page's footer (issue 21): what the account is for,
what the resident and the city each commit to, in plain words. The privacy notice
(``privacy.py``) says what is collected and why; these terms point to it rather than repeat
it. Readable without an account.

    GET /terms
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from services.identity.http.account.web import page


async def terms(request: Request) -> Response:
    return page(request, "account/terms.html", {"nav": ""})
