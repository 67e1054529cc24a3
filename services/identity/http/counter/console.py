"""The console's pages once the agent is at level 3."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from services.identity.http.counter.web import OnDuty, console_page, on_duty, to_sign_in


async def home(request: Request) -> Response:
    duty = await on_duty(request)
    if not isinstance(duty, OnDuty):
        return to_sign_in(request, duty)
    return console_page(request, "counter/home.html", duty, {"errors": {}, "nav": "home"})
