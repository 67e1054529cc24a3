"""GET /healthz: the process serves HTTP and reaches its database."""

from __future__ import annotations

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def healthz(request: Request) -> JSONResponse:
    try:
        async with request.app.state.provider.uow_factory() as uow:
            await uow.session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - a health probe reports, it does not raise
        return JSONResponse({"status": "unavailable"}, status_code=503, headers={"Cache-Control": "no-store"})
    return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})


routes = [Route("/healthz", healthz, methods=["GET"])]
