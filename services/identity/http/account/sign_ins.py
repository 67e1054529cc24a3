"""Mon compte — "Historique de connexion": every sign-in of the resident, succeeded or
refused (when, which service, how, the level reached), newest first, with how long it is
kept (``domain/sign_ins.py``). Identity's own data: no other service is called."""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request
from starlette.responses import Response

from services.identity.domain.assurance import LevelOfAssurance
from services.identity.domain.sign_ins import RETENTION_DAYS, SignIn
from services.identity.http.account.suspicious import not_me_url
from services.identity.http.account.web import local_time, page, signed_in, to_login, translator
from services.identity.http.routes.common import provider
from services.identity.service_layer import sign_ins as history

PAGE_SIZE = 25


def view(entry: SignIn, t) -> dict:
    level = None
    if entry.acr:
        try:
            level = int(LevelOfAssurance.from_acr(entry.acr))
        except ValueError:
            level = None
    return {"time": local_time(entry.occurred_at, t),
            "service": entry.client_name or (t("account.signins.account") if entry.client_id is None else entry.client_id),
            "methods": [t(f"account.signins.method.{m}") if t.has(f"account.signins.method.{m}") else m
                        for m in entry.methods],
            "level": level, "refused": entry.outcome != "succeeded",
            # a refused sign-in opened no session: the report then names none (someone tried)
            "not_me": not_me_url(entry.session_id),
            "reason": t(f"account.signins.reason.{entry.reason}") if entry.reason and t.has(
                f"account.signins.reason.{entry.reason}") else None}


def as_document(entry: SignIn) -> dict:
    """One sign-in in the export (``pages.export``)."""
    return {"time": entry.occurred_at.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z"),
            "client_id": entry.client_id, "service": entry.client_name, "methods": list(entry.methods),
            "acr": entry.acr, "outcome": entry.outcome, "reason": entry.reason}


async def sign_in_history(request: Request) -> Response:
    who = await signed_in(request)
    if who is None:
        return to_login(request)
    t = translator(request)
    before = None
    raw = request.query_params.get("before", "")[:40]
    if raw:
        try:
            before = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
            before = before if before.tzinfo else before.replace(tzinfo=dt.timezone.utc)
        except ValueError:
            before = None  # an altered link starts again from the newest
    entries = await history.history(who.resident_id, provider(request).uow_factory(), limit=PAGE_SIZE + 1,
                                    before=before)
    more = len(entries) > PAGE_SIZE
    entries = entries[:PAGE_SIZE]
    older = (entries[-1].occurred_at.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
             if more and entries else None)
    return page(request, "account/sign_ins.html", {
        "nav": "signins", "entries": [view(e, t) for e in entries], "older": older, "first_page": before is None,
        "retention_days": RETENTION_DAYS})


async def export_section(resident_id: str, uow) -> list[dict]:
    """Every sign-in still kept, for the export."""
    return [as_document(e) for e in await history.history(resident_id, uow, limit=500)]
