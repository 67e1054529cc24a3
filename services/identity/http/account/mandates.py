"""Mon compte — "Mes procurations" (issue 22; docs/mandates.md): the mandates the resident
gave (or that concern them), those they received, those waiting for their acceptance, and the
history of ended ones. From here the resident:

- gives a mandate to another resident, by citizen number, for one service (or every service)
  and the actions ticked, for at most one year (Civil Code of Québec art. 2130);
- accepts a mandate given to them (art. 2132) or declines it;
- revokes one they gave (art. 2176) or renounces one they hold (art. 2178), at once.

Consent owns the mandates (ledger entries); this page only asks it. No JavaScript is needed.

    GET  /account/mandates            the four lists and the form
    POST /account/mandates/give       citizen number, service, actions, end date
    POST /account/mandates/accept     mandate_id
    POST /account/mandates/end        mandate_id (revoke, decline or renounce)
    GET  /account/mandates/{id}/receipt  the mandate's signed receipt (JWS), for either side
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from montreal.consent.v1 import consent_pb2 as cpb
from services.common.organization_number import OrganizationNumber, is_organization_id
from services.identity.domain.citizen_number import CitizenNumber, InvalidCitizenNumber
from services.identity.http.account.backends import BackendError
from services.identity.http.account.web import (client_for, csrf_refused, first, form, local_time, name_in, page,
                                                signed_in, to_login, translator, unavailable)
from services.identity.http.routes.common import provider

ACTIONS = ("view", "request", "pay", "consent")
NOTICES = ("given", "accepted", "ended")
#: Why a mandate covers less (consent's ``narrow_reason``): the words shown for each.
NARROW_REASONS = ("minor_turned_14",)
MONTREAL = zoneinfo.ZoneInfo("America/Montreal")
MAX_DAYS = 365
_UUID = re.compile(r"^[0-9a-f-]{36}$")
_STATES = {cpb.MANDATE_STATE_PENDING: "pending", cpb.MANDATE_STATE_ACTIVE: "active",
           cpb.MANDATE_STATE_SUSPENDED: "suspended", cpb.MANDATE_STATE_REVOKED: "revoked",
           cpb.MANDATE_STATE_EXPIRED: "expired"}
_BASES = {cpb.MANDATE_BASIS_RESIDENT_CONSENT: "resident_consent",
          cpb.MANDATE_BASIS_PARENTAL_AUTHORITY: "parental_authority",
          cpb.MANDATE_BASIS_TUTORSHIP_MINOR: "tutorship_minor",
          cpb.MANDATE_BASIS_PROTECTION_MANDATE: "protection_mandate",
          cpb.MANDATE_BASIS_COURT_TUTORSHIP: "court_tutorship",
          cpb.MANDATE_BASIS_ORGANIZATION_REPRESENTATIVE: "organization_representative"}


def _human(resident_id: str) -> str:
    try:
        return CitizenNumber.parse(resident_id).human
    except InvalidCitizenNumber:
        return OrganizationNumber(resident_id).human if is_organization_id(resident_id) else resident_id


def _view(m: cpb.Mandate, t, recipients: dict, me: str) -> dict:
    def service(s: str) -> str:
        if s == "*":
            return t("account.mandates.service.all")
        recipient = recipients.get(s)
        return name_in(recipient, t.lang) if recipient else s

    return {"id": m.mandate_id, "state": _STATES.get(m.state, "pending"), "basis": _BASES.get(m.basis, ""),
            "represented": _human(m.represented_id), "mandatary": _human(m.mandatary_id),
            "for_me": m.represented_id == me,
            "scope": [{"service": service(s.service), "actions": [t(f"account.mandates.action.{a}") for a in s.actions]}
                      for s in m.scope],
            "since": local_time(m.grant_time, t),
            "until": local_time(m.valid_until_time, t) if m.HasField("valid_until_time") else None,
            "ended": local_time(m.end_time, t) if m.HasField("end_time") else None,
            "end_reason": m.end_reason, "document": m.document_kind,
            # Issue 22: since when it covers less (a minor's 14th birthday: no consent).
            "narrowed": local_time(m.narrow_time, t) if m.HasField("narrow_time") else None,
            "narrow_reason": m.narrow_reason if m.narrow_reason in NARROW_REASONS else "",
            # What was done under it, newest first: the same list on both sides.
            "acts": [{"service": service(a.service), "action": t(f"account.mandates.action.{a.action}")
                      if a.action in ACTIONS else a.action, "time": local_time(a.act_time, t)}
                     for a in reversed(m.acts)]}


async def _page(request: Request, who, *, errors: dict | None = None, values: dict | None = None,
                status: int = 200) -> Response:
    t = translator(request)
    try:
        client = await client_for(request, who)
        listing = await client.mandates()
        recipients = await client.recipients()
    except BackendError as error:
        return unavailable(request, error)
    given = [_view(m, t, recipients, who.resident_id) for m in listing.given]
    received = [_view(m, t, recipients, who.resident_id) for m in listing.received]
    # Issue 22: organizations are named by their registered name, and their files shown.
    from services.identity.http.account.organizations import organization_name, represented_organizations

    for m, wire in zip(received, listing.received):
        if is_organization_id(wire.represented_id):
            m["represented"] = await organization_name(request, wire.represented_id)
    organizations = await represented_organizations(
        request, client, [w for w in listing.received if w.state == cpb.MANDATE_STATE_ACTIVE],
        lambda w: _view(w, t, recipients, who.resident_id))
    current = ("pending", "active", "suspended")
    notice = request.query_params.get("done")
    default_until = (dt.datetime.now(MONTREAL).date() + dt.timedelta(days=MAX_DAYS)).isoformat()
    return page(request, "account/mandates.html", {
        "nav": "mandates",
        "given": [m for m in given if m["state"] in current],
        "received": [m for m in received if m["state"] in ("active", "suspended")],
        "pending": [m for m in received if m["state"] == "pending"],
        "history": [m for m in given + received if m["state"] not in current],
        "services": sorted(((r.recipient_id, name_in(r, t.lang)) for r in recipients.values()), key=lambda x: x[1]),
        "organizations": organizations,
        "actions": ACTIONS, "errors": errors or {},
        "values": values or {"until": default_until, "actions": ["view"]},
        "notice": notice if notice in NOTICES else None}, status)


async def mandates(request: Request) -> Response:
    who = await signed_in(request)
    if who is None:
        return to_login(request)
    return await _page(request, who)


async def give(request: Request) -> Response:
    """Give a mandate. Every problem is shown in the error summary, in the form's order."""
    who = await signed_in(request)
    if who is None:
        return to_login(request)
    fields = await form(request)
    if fields is None:
        return csrf_refused(request)
    number, service = first(fields, "mandatary").strip()[:40], first(fields, "service")[:64]
    actions, until_text = fields.get("action", [])[:8], first(fields, "until")[:10]
    values = {"mandatary": number, "service": service, "actions": actions, "until": until_text}
    errors: dict[str, str] = {}
    mandatary = None
    try:
        mandatary = CitizenNumber.parse(number).canonical
    except InvalidCitizenNumber:
        errors["mandatary"] = "account.mandates.error.number"
    if mandatary is not None:
        if mandatary == who.resident_id:
            errors["mandatary"] = "account.mandates.error.self"
        else:
            async with provider(request).uow_factory() as uow:
                other = await uow.residents.get(mandatary)
            if other is None or other.closed_at is not None or other.disabled:
                errors["mandatary"] = "account.mandates.error.unknown"
    if not service:
        errors["service"] = "account.mandates.error.service"
    if not actions or any(a not in ACTIONS for a in actions) or len(set(actions)) != len(actions):
        errors["action-view"] = "account.mandates.error.actions"
    until = None
    try:
        until_date = dt.date.fromisoformat(until_text)
        today = dt.datetime.now(MONTREAL).date()
        if until_date <= today:
            errors["until"] = "account.mandates.error.past"
        elif until_date > today + dt.timedelta(days=MAX_DAYS):
            errors["until"] = "account.mandates.error.too_long"
        else:
            # The mandate ends at the end of the day chosen, Montréal time.
            until = dt.datetime.combine(until_date, dt.time(23, 59), MONTREAL).astimezone(dt.timezone.utc)
    except ValueError:
        errors["until"] = "account.mandates.error.date"
    if not errors:
        try:
            await (await client_for(request, who)).give_mandate(mandatary, [(service, actions)], until)
        except BackendError as error:
            if error.unavailable:
                return unavailable(request, error)
            reason = (error.reason or "").lower()
            if error.violations and any(f.startswith("scope") for f in error.violations):
                errors["service"] = "account.mandates.error.service"
            elif reason in ("self_mandate",):
                errors["mandatary"] = "account.mandates.error.self"
            elif reason in ("too_long", "mandate_expired"):
                errors["until"] = "account.mandates.error.too_long" if reason == "too_long" else \
                    "account.mandates.error.past"
            else:
                errors["mandatary"] = "account.mandates.error.refused"
    if errors:
        return await _page(request, who, errors=errors, values=values, status=400)
    return RedirectResponse("/account/mandates?done=given", status_code=303)


async def _act(request: Request, what: str) -> Response:
    who = await signed_in(request)
    if who is None:
        return to_login(request)
    fields = await form(request)
    if fields is None:
        return csrf_refused(request)
    mandate_id = first(fields, "mandate_id")[:36]
    if not _UUID.match(mandate_id):
        return page(request, "error.html", {"reason": "not_found"}, 404)
    try:
        client = await client_for(request, who)
        if what == "accept":
            await client.accept_mandate(mandate_id)
        else:
            await client.end_mandate(mandate_id)
    except BackendError as error:
        if error.unavailable:
            return unavailable(request, error)
        return page(request, "error.html", {"reason": "not_found"}, 404)
    return RedirectResponse(f"/account/mandates?done={'accepted' if what == 'accept' else 'ended'}", status_code=303)


async def accept(request: Request) -> Response:
    return await _act(request, "accept")


async def end(request: Request) -> Response:
    return await _act(request, "end")


async def receipt(request: Request) -> Response:
    """The mandate's signed receipt (consent's ``GetMandateReceipt``: its terms and every
    ledger entry of its life), to keep: either side may download it; anyone else is told the
    page does not exist."""
    who = await signed_in(request)
    if who is None:
        return to_login(request)
    mandate_id = request.path_params["mandate_id"][:36]
    if not _UUID.match(mandate_id):
        return page(request, "error.html", {"reason": "not_found"}, 404)
    try:
        reply = await (await client_for(request, who)).mandate_receipt(mandate_id)
    except BackendError as error:
        if error.unavailable:
            return unavailable(request, error)
        return page(request, "error.html", {"reason": "not_found"}, 404)
    return Response(reply.receipt_jws, media_type="application/jose", headers={
        "Content-Disposition": f'attachment; filename="recu-procuration-{mandate_id}.jws"',
        "Cache-Control": "no-store"})


def as_document(listing: cpb.ListMandatesResponse) -> list[dict]:
    """The mandates for the resident's file (``resident_file.SECTIONS`` ``mandates``): each
    with its side (``given``: for the resident or given by them; ``received``: they hold it),
    its scope, period, state, document kind and the acts done under it."""
    def stamp(m, name):
        return m.__getattribute__(name).ToJsonString() if m.HasField(name) else None

    out = []
    for side, mandates in (("given", listing.given), ("received", listing.received)):
        for m in mandates:
            out.append({"side": side, "mandate_id": m.mandate_id, "represented": m.represented_id,
                        "mandatary": m.mandatary_id, "grantor": m.grantor_id, "basis": _BASES.get(m.basis, ""),
                        "state": _STATES.get(m.state, ""),
                        "scope": [{"service": s.service, "actions": list(s.actions)} for s in m.scope],
                        "valid_from": stamp(m, "valid_from_time"), "valid_until": stamp(m, "valid_until_time"),
                        "granted_at": stamp(m, "grant_time"), "ended_at": stamp(m, "end_time"),
                        "end_reason": m.end_reason, "document_kind": m.document_kind,
                        "acts": [{"time": a.act_time.ToJsonString(), "service": a.service, "action": a.action,
                                  "recorded_by": a.recorded_by} for a in m.acts]})
    return out
