"""Mon compte: the resident's own pages — home, linked services, consents, who accessed my
data, download my data, profile.

Québec's Access Act (CQLR c. A-2.1, as amended by Law 25): consent per purpose, in clear and
simple terms, withdrawable at any time (s. 53.1); the resident may know who accessed their
information (s. 83 access right) and get it in a structured, commonly used format (s. 84
portability).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import pathlib

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from montreal.accounts.v1 import accounts_pb2 as apb
from montreal.consent.v1 import consent_pb2 as cpb
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.identity.domain.assurance import LevelOfAssurance, session_level
from services.identity.domain.citizen_number import CitizenNumber
from services.identity.http.account import connections
from services.identity.http.account.backends import BackendError
from services.identity.http.account.proofs import witnesses_view
from services.identity.http.account.web import (
    client_for, first, local_time, name_in, opening, page, readable_times, signed_in, to_login, translator, unavailable,
)
from services.identity.http.routes.common import provider
from services.identity.service_layer import authentication as auth
from services.identity.service_layer.resident_file import SECTIONS as FILE_SECTIONS
from services.identity.service_layer.resident_file import FileSources
from services.identity.service_layer.resident_file import resident_file as build_resident_file

ACCOUNT_STATES = {apb.ACCOUNT_STATE_PENDING: "pending", apb.ACCOUNT_STATE_ACTIVE: "active",
                  apb.ACCOUNT_STATE_SUSPENDED: "suspended", apb.ACCOUNT_STATE_CLOSED: "closed"}
CONSENT_STATES = {cpb.CONSENT_STATE_GIVEN: "given", cpb.CONSENT_STATE_WITHDRAWN: "withdrawn",
                  cpb.CONSENT_STATE_EXPIRED: "expired"}
BASES = {cpb.LEGAL_BASIS_CONSENT: "consent", cpb.LEGAL_BASIS_PUBLIC_TASK: "public_task",
         cpb.LEGAL_BASIS_LEGAL_OBLIGATION: "legal_obligation"}
PROFILE_ATTRIBUTES = ("given_name", "family_name", "email", "phone", "postal_address", "date_of_birth",
                      "preferred_language", "preferred_channels", "accessibility_needs")
CHANNELS = ("digital", "counter", "post", "phone")
ACCESS_PAGE_SIZE = 20
NOTICES = ("withdrawn", "granted", "profile_saved", "unlink_requested")
# The printable file's styles, inlined into it (it is opened from disk, without the site).
FILE_STYLE = pathlib.Path(__file__).resolve().parent.parent / "static" / "file.css"


def _notice(request: Request) -> str | None:
    value = request.query_params.get("done")
    return value if value in NOTICES else None


def _service_name(services: dict, recipients: dict, service_id: str, lang: str) -> str:
    s = services.get(service_id) or recipients.get(service_id)
    return name_in(s, lang) if s is not None else service_id


def _labels(categories: dict, ids, lang: str) -> list[str]:
    return [name_in(categories[c], lang, "label") if c in categories else c for c in ids]


# --- home ----------------------------------------------------------------------------------

async def home(request: Request) -> Response:
    who = await signed_in(request)
    if who is None:
        return to_login(request)
    t = translator(request)
    linked, problem = [], False
    try:
        client = await client_for(request, who)
        accounts = await client.accounts()
        services = await client.services() if accounts else {}
        for account in accounts:
            service = services.get(account.service_id)
            linked.append({"id": account.account_id, "name": name_in(service, t.lang) if service else account.service_id,
                           "reference": account.account_reference,
                           "state": ACCOUNT_STATES.get(account.state, "pending"),
                           "since": local_time(account.create_time, t),
                           "unlink_requested": account.HasField("unlink_requested_at")})
    except BackendError as error:
        if not error.unavailable:
            raise
        problem = True  # identity's own part of the page still shows
    number = CitizenNumber(who.resident_id)
    # The level the account reaches when the resident signs in with everything they set up:
    # a second factor lifts a verified identity to level 3 (never a self-declared one).
    level = int(session_level(LevelOfAssurance(min(who.level, 3)), who.has_totp))
    return page(request, "account/home.html", {
        "nav": "home", "citizen_number": number.human,
        "email": who.email, "level": level, "has_totp": who.has_totp, "linked": linked,
        "services_unavailable": problem, "notice": _notice(request)})


async def unlink(request: Request) -> Response:
    who, fields, refusal = await opening(request)
    if refusal is not None:
        return refusal
    try:
        await (await client_for(request, who)).request_unlink(first(fields, "account_id"))
    except BackendError as error:
        if error.unavailable:
            return unavailable(request, error)
        return page(request, "error.html", {"reason": "invalid_request"}, 400)
    return RedirectResponse("/account?done=unlink_requested", status_code=303)


# --- consents --------------------------------------------------------------------------------

def _human_number(resident_id: str) -> str:
    from services.identity.http.account.mandates import _human

    return _human(resident_id)


async def _consent_views(client, lang: str, t):
    consents, purposes, categories, recipients = await asyncio.gather(
        client.consents(include_inactive=True), client.purposes(), client.categories(), client.recipients())
    active, past = [], []
    for c in sorted(consents, key=lambda c: c.give_time.seconds, reverse=True):
        purpose = purposes.get(c.purpose_id)
        view = {"id": c.consent_id, "purpose_id": c.purpose_id,
                "purpose": name_in(purpose, lang, "title") if purpose else c.purpose_id,
                "description": name_in(purpose, lang, "description") if purpose else "",
                "recipient": _service_name({}, recipients, c.recipient_id, lang),
                "categories": _labels(categories, c.data_categories, lang),
                "since": local_time(c.give_time, t), "until": local_time(c.expire_time, t) if c.HasField("expire_time") else None,
                # issue 17: a consent the resident expressed at a counter or on the phone says so
                "where": {cpb.COLLECTION_METHOD_COUNTER: "counter", cpb.COLLECTION_METHOD_PHONE: "phone"}.get(
                    c.collection_method),
                "ended": local_time(c.withdraw_time, t) if c.HasField("withdraw_time") else None,
                "state": CONSENT_STATES.get(c.state, "given"), "biometric": c.biometric,
                "ledger_index": c.ledger_index,
                # issue 22: given for the resident by a mandatary, under a mandate
                "by_mandatary": _human_number(c.given_by_mandatary) if c.given_by_mandatary else None,
                "mandate_id": c.mandate_id}
        (active if c.state == cpb.CONSENT_STATE_GIVEN else past).append(view)
    return consents, purposes, recipients, active, past


async def consents(request: Request) -> Response:
    who = await signed_in(request)
    if who is None:
        return to_login(request)
    t = translator(request)
    try:
        client = await client_for(request, who)
        (all_consents, purposes, recipients, active, past), accounts, head = await asyncio.gather(
            _consent_views(client, t.lang, t), client.accounts(), client.tree_head())
        # What the resident could still agree to: each consent-based purpose of each service
        # they are linked to, one at a time (s. 53.1: per purpose), never a biometric one here.
        offers, biometric_offers = [], []
        if accounts:
            services = await client.services()
            given = {(c.recipient_id, c.purpose_id) for c in all_consents if c.state == cpb.CONSENT_STATE_GIVEN}
            for account in accounts:
                service = services.get(account.service_id)
                if service is None or account.state == apb.ACCOUNT_STATE_CLOSED:
                    continue
                for purpose_id in service.purposes:
                    purpose = purposes.get(purpose_id)
                    if (purpose is not None and purpose.biometric and (service.service_id, purpose_id) not in given
                            and purpose.legal_basis == cpb.LEGAL_BASIS_CONSENT):
                        # Never offered with the others: a page of its own (account/biometric.py).
                        biometric_offers.append({"service_id": service.service_id, "purpose_id": purpose_id,
                                                 "recipient": name_in(service, t.lang),
                                                 "purpose": name_in(purpose, t.lang, "title")})
                    if (purpose is None or purpose.biometric or purpose.legal_basis != cpb.LEGAL_BASIS_CONSENT
                            or (service.service_id, purpose_id) in given):
                        continue
                    offers.append({"recipient_id": service.service_id, "purpose_id": purpose_id,
                                   "recipient": name_in(service, t.lang), "purpose": name_in(purpose, t.lang, "title"),
                                   "description": name_in(purpose, t.lang, "description")})
    except BackendError as error:
        return unavailable(request, error)
    return page(request, "account/consents.html", {"nav": "consents", "active": active, "past": past,
                                                   "offers": offers, "biometric_offers": biometric_offers,
                                                   "ledger": witnesses_view(head),
                                                   "notice": _notice(request)})


async def grant(request: Request) -> Response:
    who, fields, refusal = await opening(request)
    if refusal is not None:
        return refusal
    t = translator(request)
    try:
        await (await client_for(request, who)).grant(first(fields, "recipient_id"), first(fields, "purpose_id"), t.lang)
    except BackendError as error:
        if error.unavailable:
            return unavailable(request, error)
        return page(request, "error.html", {"reason": "invalid_request"}, 400)
    return RedirectResponse("/account/consents?done=granted", status_code=303)


async def _find_consent(client, consent_id: str, lang: str, t):
    _all, _p, _r, active, past = await _consent_views(client, lang, t)
    for view in active + past:
        if view["id"] == consent_id:
            return view
    return None


async def withdraw(request: Request) -> Response:
    """GET: the confirmation step (what stops, for whom); POST: withdraw (takes effect at once)."""
    who, fields, refusal = await opening(request)
    if refusal is not None:
        return refusal
    t = translator(request)
    consent_id = request.path_params["consent_id"]
    try:
        client = await client_for(request, who)
        if fields is not None:
            withdrawn = await client.withdraw(consent_id)
            await connections.after_withdrawal(request, who, withdrawn)  # the client stops receiving it
            return RedirectResponse("/account/consents?done=withdrawn", status_code=303)
        view = await _find_consent(client, consent_id, t.lang, t)
    except BackendError as error:
        if error.unavailable:
            return unavailable(request, error)
        view = None
    if view is None or view["state"] != "given":
        return page(request, "error.html", {"reason": "not_found"}, 404)
    return page(request, "account/withdraw.html", {"nav": "consents", "consent": view})


async def receipt(request: Request) -> Response:
    """The signed consent receipt (ISO/IEC TS 27560-shaped, compact JWS) to keep."""
    who = await signed_in(request)
    if who is None:
        return to_login(request)
    consent_id = request.path_params["consent_id"]
    try:
        reply = await (await client_for(request, who)).receipt(consent_id)
    except BackendError as error:
        if error.unavailable:
            return unavailable(request, error)
        return page(request, "error.html", {"reason": "not_found"}, 404)
    safe_id = "".join(ch for ch in consent_id if ch.isalnum() or ch == "-")[:64]
    return Response(reply.receipt_jws, media_type="application/jose", headers={
        "Content-Disposition": f'attachment; filename="recu-consentement-{safe_id}.jws"',
        "Cache-Control": "no-store"})


# --- who accessed my data ------------------------------------------------------------------------

async def access_log(request: Request) -> Response:
    who = await signed_in(request)
    if who is None:
        return to_login(request)
    t = translator(request)
    recipient_id = request.query_params.get("service", "")[:64]
    page_token = request.query_params.get("page", "")[:2048]
    try:
        client = await client_for(request, who)
        recipients, purposes, categories = await asyncio.gather(client.recipients(), client.purposes(),
                                                                client.categories())
        if recipient_id and recipient_id not in recipients:
            recipient_id = ""
        try:
            reply = await client.access_log(recipient_id, ACCESS_PAGE_SIZE, page_token)
        except BackendError as error:
            if error.code != "INVALID_ARGUMENT" or not page_token:
                raise
            page_token = ""  # a stale or altered page link: start from the newest
            reply = await client.access_log(recipient_id, ACCESS_PAGE_SIZE, "")
    except BackendError as error:
        return unavailable(request, error)
    records = []
    for r in reply.records:
        purpose = purposes.get(r.purpose_id)
        records.append({
            "service": (r.recipient_name_fr if t.lang == "fr" else r.recipient_name_en) or
                       _service_name({}, recipients, r.recipient_id, t.lang),
            "categories": _labels(categories, r.data_categories, t.lang),
            "withheld": _labels(categories, r.withheld_categories, t.lang),
            "purpose": name_in(purpose, t.lang, "title") if purpose else r.purpose_id,
            "bases": sorted({BASES.get(b, "consent") for b in r.bases.values()}),
            "time": local_time(r.access_time, t), "ledger_index": r.ledger_index,
            "agent": r.agent_reference,
            # issue 22: released to a client a mandatary signed in to for this resident
            "mandatary": _human_number(r.mandatary_id) if r.mandatary_id else None,
            "mandate_id": r.mandate_id})
    from services.identity.http.account.web import _settings

    if _settings(request).counter_agent_display == "name" and any(r["agent"] for r in records):
        # the ledger keeps the counter agent's reference; the city's policy shows the name
        from services.identity.service_layer.counter_journal import agent_names

        names = await agent_names(provider(request).uow_factory(), {r["agent"] for r in records if r["agent"]})
        for r in records:
            r["agent"] = names.get(r["agent"], r["agent"])
    options = sorted(({"id": rid, "name": name_in(r, t.lang)} for rid, r in recipients.items()),
                     key=lambda o: o["name"].lower())
    from urllib.parse import urlencode

    next_url = ("/account/access?" + urlencode({k: v for k, v in (("service", recipient_id),
                                                                  ("page", reply.next_page_token)) if v})
                if reply.next_page_token else None)
    try:
        entries = await client.account_life_entries() if not page_token else []
        informed = _services_informed(entries, recipients, t)
        card_history = _card_history(entries, t)
    except BackendError as error:
        return unavailable(request, error)
    return page(request, "account/access.html", {"nav": "access", "records": records, "services": options,
                                                 "selected": recipient_id, "next_url": next_url,
                                                 "first_page": not page_token, "informed": informed,
                                                 "card_history": card_history,
                                                 "counter_actions": await _counter_actions(request, who, t),
                                                 "mandate_acts": await _mandate_acts(request, who, t, recipients)})


async def _mandate_acts(request: Request, who, t, recipients) -> dict:
    """Issue 22: what was done for the resident under a mandate ("par X, en vertu de la
    procuration M"), and what they did for others; newest first. Nothing when consent is down
    (the rest of the page still answers)."""
    from services.identity.http.account import mandates as mandate_pages

    try:
        listing = await (await client_for(request, who)).mandates()
    except BackendError:
        return {"for_me": [], "by_me": []}

    def rows(mandates, other) -> list[dict]:
        out = []
        for m in mandates:
            view = mandate_pages._view(m, t, recipients, who.resident_id)
            for act, raw in zip(view["acts"], reversed(m.acts)):
                out.append({**act, "who": mandate_pages._human(other(m)), "mandate_id": m.mandate_id,
                            "basis": view["basis"], "seconds": raw.act_time.seconds})
        return sorted(out, key=lambda r: -r["seconds"])

    return {"for_me": rows([m for m in listing.given if m.represented_id == who.resident_id], lambda m: m.mandatary_id),
            "by_me": rows(listing.received, lambda m: m.represented_id)}


def _services_informed(entries, recipients: dict, t) -> list[dict]:
    """Issue 21, "what linked services are told": each service told that the account was
    closed (its link suspended) or reopened, as the consent register recorded it, newest first."""
    views = []
    for entry in entries:
        if entry.type != cpb.ENTRY_TYPE_SERVICE_INFORMED:
            continue
        informed_of = json.loads(entry.leaf_data).get("informed_of", "")
        if informed_of not in ("resident_closed", "resident_reopened"):
            continue
        views.append({"service": _service_name({}, recipients, entry.recipient_id, t.lang), "what": informed_of,
                      "time": local_time(entry.entry_time, t), "ledger_index": entry.index})
    return views[::-1]


#: what a card's ledger entry may say (consent's ``card_revoked`` reasons, and a renewal)
_CARD_HISTORY = {("card_revoked", "lost_device"), ("card_revoked", "resident_disabled"),
                 ("card_revoked", "account_closed"), ("card_renewed", "")}


def _card_history(entries, t) -> list[dict]:
    """Issue 23: the carte citoyenne's revocations and silent renewals, as the consent register
    recorded them, newest first (its first issuance is in the access log: the wallet received it)."""
    views = []
    for entry in entries:
        body = json.loads(entry.leaf_data)
        what = (body.get("type", ""), body.get("reason", "") if body.get("type") == "card_revoked" else "")
        if what not in _CARD_HISTORY:
            continue
        views.append({"what": ".".join(p for p in what if p), "time": local_time(entry.entry_time, t),
                      "ledger_index": entry.index})
    return views[::-1]


async def _counter_actions(request: Request, who, t) -> list[dict]:
    """What counter agents did on this resident's file (issue 17), newest first."""
    from services.identity.http.account.web import _settings
    from services.identity.service_layer.counter_journal import actions_for_resident

    show_names = _settings(request).counter_agent_display == "name"
    actions = await actions_for_resident(provider(request).uow_factory(), who.resident_id, show_names=show_names)
    return [{**a, "time": local_time(a["at"], t)} for a in reversed(actions)]


# --- download my data ----------------------------------------------------------------------------

async def export(request: Request) -> Response:
    """GET: what the file holds; POST: the file, once the resident re-entered their password:
    the file is everything the city holds about them, and a session alone may be someone
    else's (``authentication._confirm_password``). One document (Access Act s. 84), as JSON
    (structured, commonly used) or as an HTML page to read and print, in the page's language
    (``format``); ``mtlid export verify`` checks every receipt and proof in the JSON offline."""
    from services.identity.http.account.biometric import confirm_password

    who, fields, refusal = await opening(request)
    if refusal is not None:
        return refusal
    if fields is None:
        return page(request, "account/export.html", {"nav": "export", "errors": {}})
    try:
        error = await confirm_password(request, who, first(fields, "current_password"))
    except NotFound:
        return to_login(request)
    if error is not None:
        return page(request, "account/export.html", {"nav": "export", "errors": {"current_password": error}}, 400)
    try:
        document = await resident_file(request, who)
    except BackendError as error:
        return unavailable(request, error)
    day = document["generated_at"][:10]
    if first(fields, "format") == "html":
        shown = readable_times(document, translator(request))
        readable = page(request, "account/file.html", {"file": shown, "consent": shown["consent"],
                                                       "sections": FILE_SECTIONS, "style": FILE_STYLE.read_text()})
        readable.headers["Content-Disposition"] = f'attachment; filename="mon-dossier-montreal-{day}.html"'
        readable.headers["Cache-Control"] = "no-store"
        return readable
    body = json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")
    return Response(body, media_type="application/json; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="mes-donnees-montreal-{day}.json"', "Cache-Control": "no-store"})


async def resident_file(request: Request, who) -> dict:
    """The resident's complete file (``service_layer/resident_file.SECTIONS``), signed by
    identity: identity's own sections read from its store, the accounts and consent sections
    fetched here from those services (the web layer is the one that holds their clients)."""
    from services.identity.http.account.mandates import as_document as mandates_document
    from services.identity.http.account.web import _settings

    t = translator(request)
    client = await client_for(request, who)
    consent_reply = await client.consent_export()
    accounts_document = await client.accounts_export()
    linked = await client.accounts()
    services = await client.services() if linked else {}
    sth = consent_reply.signed_tree_head
    remote = {
        "accounts": json.loads(accounts_document or b"{}"),
        "linked_services": [{
            "account_id": a.account_id, "service_id": a.service_id,
            "service_name_fr": services[a.service_id].name_fr if a.service_id in services else "",
            "service_name_en": services[a.service_id].name_en if a.service_id in services else "",
            "account_reference": a.account_reference, "state": ACCOUNT_STATES.get(a.state, "pending"),
            "linked_at": (local_time(a.create_time, t) or {}).get("iso")} for a in linked],
        "consent": json.loads(consent_reply.document or b"{}"),
        "mandates": mandates_document(await client.mandates()),
        "consent_ledger_proof": {
            "signed_tree_head": {"tree_size": sth.tree_size, "jws": sth.jws, "key_id": sth.key_id},
            "keys": json.loads(consent_reply.jwks_json or "{}")},
    }
    resident = {"citizen_number": who.resident_id, "citizen_number_human": CitizenNumber(who.resident_id).human,
                "email": who.email, "email_verified": who.email_verified, "level_of_assurance": who.level,
                "second_factor": who.has_totp}
    sources = FileSources(resident_id=who.resident_id, resident=resident, uow_factory=provider(request).uow_factory,
                          now=dt.datetime.now(dt.timezone.utc),
                          show_agent_names=_settings(request).counter_agent_display == "name", remote=remote)
    await provider(request).refresh_keys()
    return await build_resident_file(sources, issuer=provider(request).config.issuer, keys=provider(request).keys)


# --- profile -------------------------------------------------------------------------------------

PROVENANCES = {apb.PROVENANCE_SELF_DECLARED: "self", apb.PROVENANCE_VERIFIED_AT_COUNTER: "counter",
               apb.PROVENANCE_VERIFIED_FROM_DOCUMENT: "document", apb.PROVENANCE_RECEIVED_FROM_SERVICE: "service"}


def _profile_fields(profile, t, values: dict[str, str] | None = None, errors: dict[str, str] | None = None):
    current = {a.name: a for a in (profile.attributes if profile is not None else [])}
    fields = []
    for name in PROFILE_ATTRIBUTES:
        a = current.get(name)
        provenance = PROVENANCES.get(a.provenance, "self") if a is not None else None
        fields.append({"name": name, "value": (values or {}).get(name, a.value if a else ""),
                       "verified": provenance in ("counter", "document"),
                       "provenance": provenance,
                       "verified_at": local_time(a.verified_at, t) if a is not None and a.HasField("verified_at") else None,
                       "error": (errors or {}).get(name)})
    return fields


async def profile(request: Request) -> Response:
    who, fields, refusal = await opening(request)
    if refusal is not None:
        return refusal
    t = translator(request)
    try:
        client = await client_for(request, who)
        current = await client.profile()
    except BackendError as error:
        return unavailable(request, error)
    if fields is None:
        return page(request, "account/profile.html", {"nav": "profile", "fields": _profile_fields(current, t),
                                                      "notice": _notice(request), "errors": {},
                                                      "channels": CHANNELS})
    existing = {a.name: a.value for a in (current.attributes if current is not None else [])}
    posted = {name: first(fields, name).strip() for name in PROFILE_ATTRIBUTES}
    # checkboxes: one value per ticked channel, in the catalogue's order
    ticked = set(fields.get("preferred_channels", []))
    posted["preferred_channels"] = ",".join(c for c in CHANNELS if c in ticked)
    changes = []
    for name in PROFILE_ATTRIBUTES:
        new, old = posted[name], existing.get(name, "")
        if new == old:
            continue
        changes.append((name, new if new else None))
    if changes:
        try:
            await client.update_profile(changes)
        except BackendError as error:
            if error.code != "INVALID_ARGUMENT":
                return unavailable(request, error)
            errors = {}
            for field in error.violations:
                # "changes[3].value" names the fourth change
                if field.startswith("changes[") and "]" in field:
                    index = int(field[len("changes["):field.index("]")])
                    if 0 <= index < len(changes):
                        errors[changes[index][0]] = "error.attr." + changes[index][0]
            errors = errors or {"given_name": "error.attr.invalid"}
            return page(request, "account/profile.html", {
                "nav": "profile", "fields": _profile_fields(current, t, posted, errors), "notice": None,
                "errors": errors, "channels": CHANNELS}, 400)
    return RedirectResponse("/account/profile?done=profile_saved", status_code=303)
