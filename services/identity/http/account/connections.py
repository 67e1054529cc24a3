"""Mon compte — "Services connectés": every service that holds or received the resident's data.

One card per service: a relying party the resident signed in to (identity's grants), a
service account they are linked to (accounts), any recipient of a data access or of a consent
(the consent ledger). Each says what it received, on what basis, when last, and the consents
it rests on. From there the resident (Access Act s. 53.1: consent lasts only as long as the
resident wants; Law 25: withdrawable at any time):

- withdraws one consent (the existing confirmation page; identity narrows the client's grant
  and revokes its refresh tokens, ``oidc.consent.narrow_grant``);
- gives, or gives again, a consent for chosen categories (``widen_grant`` lets the client
  receive them from the next sign-in, without asking again);
- ends the connection: the grant is withdrawn, the client's refresh tokens for the resident
  are revoked at once, every consent to that service ends, and the next sign-in asks again.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from montreal.accounts.v1 import accounts_pb2 as apb
from montreal.consent.v1 import consent_pb2 as cpb
from services.identity.http.account.backends import BackendError
from services.identity.http.consent_terms import BASES
from services.identity.http.account.web import (
    client_for, first, local_time, name_in, opening, page, signed_in, to_login, translator, unavailable,
)
from services.identity.http.routes.common import provider
from services.identity.oidc.consent import narrow_grant, widen_grant, withdraw_grant

NOTICES = ("ended", "granted", "withdrawn")
ACCESS_WINDOW = 500   # the most recent accesses summarised per service


def _labels(categories: dict, ids, lang: str) -> list[str]:
    return [name_in(categories[c], lang, "label") if c in categories else c for c in ids]


async def _gather(request: Request, who):
    client = await client_for(request, who)
    consents, recipients, purposes, categories, accesses, accounts = await asyncio.gather(
        client.consents(include_inactive=False), client.recipients(), client.purposes(), client.categories(),
        client.access_log("", ACCESS_WINDOW, ""), client.accounts())
    services = await client.services() if accounts else {}
    async with provider(request).uow_factory() as uow:
        grants = await uow.grants.for_resident(who.resident_id)
        clients = {g.client_id: await uow.clients.get(g.client_id) for g in grants}
    return client, consents, recipients, purposes, categories, accesses.records, accounts, services, grants, clients


def _cards(t, consents, recipients, purposes, categories, records, accounts, services, grants, clients) -> list[dict]:
    lang = t.lang
    by_client = {r.client_id: r for r in recipients.values() if r.client_id}
    cards: dict[str, dict] = {}

    def card(key: str, name: str) -> dict:
        return cards.setdefault(key, {"key": key, "name": name, "recipient_id": None, "client_id": None,
                                      "received": [], "bases": set(), "last": None, "last_seconds": 0,
                                      "consents": [], "offers": [], "account": None, "signed_in": False})

    for g in grants:
        recipient = by_client.get(g.client_id)
        oauth = clients.get(g.client_id)
        name = (name_in(recipient, lang) if recipient else None) or (oauth.name if oauth else g.client_id)
        c = card(recipient.recipient_id if recipient else f"client:{g.client_id}", name)
        c.update(client_id=g.client_id, signed_in=True, recipient_id=recipient.recipient_id if recipient else None)
    for a in accounts:
        if a.state == apb.ACCOUNT_STATE_CLOSED:
            continue
        s = services.get(a.service_id)
        c = card(a.service_id, name_in(s, lang) if s else a.service_id)
        c.update(recipient_id=a.service_id, account=a.account_reference)
    for rec in records:
        recipient = recipients.get(rec.recipient_id)
        name = (rec.recipient_name_fr if lang == "fr" else rec.recipient_name_en) or rec.recipient_id
        c = card(rec.recipient_id, name)
        c["recipient_id"] = rec.recipient_id
        if recipient is not None and recipient.client_id and c["client_id"] is None and recipient.client_id in clients:
            c["client_id"] = recipient.client_id
        for label in _labels(categories, rec.data_categories, lang):
            if label not in c["received"]:
                c["received"].append(label)
        c["bases"] |= {BASES.get(b, "consent") for b in rec.bases.values()}
        if rec.access_time.seconds > c["last_seconds"]:
            c["last_seconds"], c["last"] = rec.access_time.seconds, local_time(rec.access_time, t)
    active = {}
    for consent in consents:
        recipient = recipients.get(consent.recipient_id)
        c = card(consent.recipient_id, name_in(recipient, lang) if recipient else consent.recipient_id)
        c["recipient_id"] = consent.recipient_id
        purpose = purposes.get(consent.purpose_id)
        c["consents"].append({"id": consent.consent_id,
                              "purpose": name_in(purpose, lang, "title") if purpose else consent.purpose_id,
                              "categories": _labels(categories, consent.data_categories, lang),
                              "since": local_time(consent.give_time, t)})
        active[(consent.recipient_id, consent.purpose_id)] = consent
    for c in cards.values():
        recipient = recipients.get(c["recipient_id"] or "")
        if recipient is None:
            continue
        for purpose_id in recipient.purposes:
            purpose = purposes.get(purpose_id)
            if (purpose is None or purpose.biometric or purpose.legal_basis != cpb.LEGAL_BASIS_CONSENT
                    or (recipient.recipient_id, purpose_id) in active):
                continue
            cats = [x for x in purpose.data_categories if x in recipient.data_categories]
            if cats:
                c["offers"].append({"purpose_id": purpose_id, "purpose": name_in(purpose, lang, "title"),
                                    "description": name_in(purpose, lang, "description"),
                                    "categories": [{"id": x, "label": _labels(categories, [x], lang)[0]} for x in cats]})
    out = sorted(cards.values(), key=lambda c: (-c["last_seconds"], c["name"].lower()))
    for c in out:
        c["bases"] = sorted(c["bases"])
    return out


async def connected_services(request: Request) -> Response:
    who = await signed_in(request)
    if who is None:
        return to_login(request)
    t = translator(request)
    try:
        _client, *data = await _gather(request, who)
    except BackendError as error:
        return unavailable(request, error)
    notice = request.query_params.get("done")
    return page(request, "account/services.html", {
        "nav": "services", "cards": _cards(t, *data), "notice": notice if notice in NOTICES else None})


async def end_connection(request: Request) -> Response:
    """End the connection with one service: the grant, its refresh tokens, its consents."""
    who, fields, refusal = await opening(request)
    if refusal is not None:
        return refusal
    key = first(fields, "service")[:80]
    try:
        client, consents, recipients, *_rest, grants, _clients = await _gather(request, who)
        by_client = {r.client_id: r.recipient_id for r in recipients.values() if r.client_id}
        client_ids = [g.client_id for g in grants if key in (f"client:{g.client_id}", by_client.get(g.client_id))]
        recipient_id = key if key in recipients else None
        if not client_ids and recipient_id is None:
            return page(request, "error.html", {"reason": "not_found"}, 404)
        async with provider(request).uow_factory() as uow:
            for client_id in client_ids:
                await withdraw_grant(uow, who.resident_id, client_id)   # refresh tokens revoked at once
            await uow.commit()
        for consent in consents:
            if consent.recipient_id == recipient_id:
                await client.withdraw(consent.consent_id)
    except BackendError as error:
        return unavailable(request, error)
    return RedirectResponse("/account/services?done=ended", status_code=303)


async def give_consent(request: Request) -> Response:
    """Give (or give again) one consent to one service, for the categories ticked."""
    who, fields, refusal = await opening(request)
    if refusal is not None:
        return refusal
    t = translator(request)
    recipient_id, purpose_id = first(fields, "recipient_id")[:64], first(fields, "purpose_id")[:64]
    chosen = fields.get("category", [])
    if not chosen or len(set(chosen)) != len(chosen) or len(chosen) > 32:
        return page(request, "error.html", {"reason": "consent_form_invalid"}, 400)
    try:
        client = await client_for(request, who)
        given = await client.grant(recipient_id, purpose_id, t.lang, tuple(chosen))
        recipients = await client.recipients()
    except BackendError as error:
        if error.unavailable:
            return unavailable(request, error)
        return page(request, "error.html", {"reason": "consent_form_invalid"}, 400)
    recipient = recipients.get(recipient_id)
    if recipient is not None and recipient.client_id and given:
        async with provider(request).uow_factory() as uow:
            if await widen_grant(uow, who.resident_id, recipient.client_id, purpose_id,
                                 tuple(given[0].data_categories)):
                await uow.commit()
    return RedirectResponse("/account/services?done=granted", status_code=303)


async def after_withdrawal(request: Request, who, consent: cpb.Consent) -> None:
    """Called by the consent withdrawal page: the client of that service stops receiving what
    the consent covered from now on (``narrow_grant``)."""
    try:
        recipients = await (await client_for(request, who)).recipients()
    except BackendError:
        return  # the consent is withdrawn; the ledger has it, the next token's record says so
    recipient = recipients.get(consent.recipient_id)
    if recipient is None or not recipient.client_id:
        return
    async with provider(request).uow_factory() as uow:
        if await narrow_grant(uow, who.resident_id, recipient.client_id, consent.purpose_id):
            await uow.commit()
