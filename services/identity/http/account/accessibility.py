"""The accessibility statement, linked from every page's footer (issue 21): the standard the
pages meet (WCAG 2.1 AA, which Québec's SGQRI 008 2.0 standard takes up), how they were
checked, and how to report a barrier or get help another way (311, a counter). Readable
without an account.

    GET /accessibility
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from services.identity.http.account.web import page


async def statement(request: Request) -> Response:
    return page(request, "account/accessibility.html", {"nav": ""})
