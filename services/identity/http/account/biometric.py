"""Mon compte: giving a biometric consent (city commitment 6), the only place it can be given.

A biometric consent is never bundled, never at a relying party's consent screen, never given
by an agent (the consent service refuses those: ``grant_rules``). This page is what the
resident sees instead: the purpose and what the city does with the data, the non-biometric
alternative they can choose instead, how long the consent lasts (they choose, 365 days at
most), how to withdraw it, an unticked box to tick (the explicit act) and their password
again, or a code of their second factor when they have one — a session alone may be someone
else's, and the consent service requires the proof to be less than 5 minutes old; it records
when and how (``password`` or ``second_factor``) in the ledger entry.
"""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from montreal.consent.v1 import consent_pb2 as cpb
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.identity.http.account.backends import BackendError
from services.identity.http.account.web import (
    client_for, first, name_in, opening, page, to_login, translator, unavailable,
)
from services.identity.http.routes.common import provider
from services.identity.service_layer import authentication as auth

# What the resident chooses from: the consent lasts this many days (365 at most).
DURATIONS = (30, 90, 180, 365)


async def confirm_password(request: Request, who, password: str) -> str | None:
    """The error key for a missing or wrong password, None when it is right; raises
    NotFound when the resident is gone (the caller sends them to sign in)."""
    if not password:
        return "account.security.error.current_required"
    try:
        await auth.confirm_password(auth.ConfirmPassword(
            who.resident_id, password, request.client.host if request.client else ""), provider(request).uow_factory())
    except InvalidArgument:
        return "account.security.error.current_wrong"
    except FailedPrecondition:
        return "account.security.error.too_many"
    return None


async def _prove_it_is_you(request: Request, who, fields) -> tuple[str | None, dict[str, str]]:
    """``(method, {})`` once the resident proved who they are again, else ``(None, errors)``:
    with a code from their authentication app when they have a second factor and gave one
    (``second_factor``: RFC 6238, a step used once, throttled), else with their password
    (``password``). The method is what the consent service records in the ledger entry."""
    code = "".join(first(fields, "totp_code").split())[:12]
    if who.has_totp and code:
        try:
            right = await auth.verify_totp(auth.VerifyTotp(
                who.resident_id, code, request.client.host if request.client else "", session_id=who.session_id),
                provider(request).uow_factory())
        except auth.LoginRefused:
            return None, {"totp_code": "account.security.error.too_many"}
        except FailedPrecondition:  # the second factor was removed meanwhile
            return None, {"totp_code": "account.biometric.error.code_wrong"}
        return ("second_factor", {}) if right else (None, {"totp_code": "account.biometric.error.code_wrong"})
    password = first(fields, "current_password")
    if who.has_totp and not password:
        return None, {"current_password": "account.biometric.error.proof_required"}
    wrong = await confirm_password(request, who, password)
    return (None, {"current_password": wrong}) if wrong else ("password", {})


async def _offer(client, service_id: str, purpose_id: str, lang: str) -> dict | None:
    """The biometric purpose a linked service asks for, in the page's words; None if it is not one."""
    purposes, accounts = await client.purposes(), await client.accounts()
    purpose = purposes.get(purpose_id)
    if purpose is None or not purpose.biometric or purpose.legal_basis != cpb.LEGAL_BASIS_CONSENT:
        return None
    if not any(a.service_id == service_id for a in accounts):
        return None
    service = (await client.services()).get(service_id)
    if service is None or purpose_id not in service.purposes:
        return None
    categories = await client.categories()
    return {"service_id": service_id, "purpose_id": purpose_id, "service": name_in(service, lang),
            "title": name_in(purpose, lang, "title"), "description": name_in(purpose, lang, "description"),
            "alternative": name_in(purpose, lang, "non_biometric_alternative"),
            "alternative_id": purpose.non_biometric_alternative_id,
            # what the consent will cover: the purpose's categories the service declared
            "categories": [name_in(categories[c], lang, "label") for c in purpose.data_categories
                           if c in categories and c in service.attributes],
            "max_days": min(purpose.max_validity_days or 365, 365)}


async def biometric_consent(request: Request) -> Response:
    who, fields, refusal = await opening(request)
    if refusal is not None:
        return refusal
    t = translator(request)
    if fields is None:
        service_id, purpose_id = request.query_params.get("service", "")[:64], request.query_params.get("purpose", "")[:64]
    else:
        service_id, purpose_id = first(fields, "service")[:64], first(fields, "purpose")[:64]
    try:
        client = await client_for(request, who)
        offer = await _offer(client, service_id, purpose_id, t.lang)
    except BackendError as error:
        return unavailable(request, error)
    if offer is None:
        return page(request, "error.html", {"reason": "not_found"}, 404)
    durations = [d for d in DURATIONS if d <= offer["max_days"]]
    context = {"nav": "consents", "offer": offer, "durations": durations, "errors": {}, "chosen": None,
               "agreed": False, "has_totp": who.has_totp}
    if fields is None:
        return page(request, "account/biometric.html", context)
    errors: dict[str, str] = {}
    days = first(fields, "days")
    if not days.isdigit() or int(days) not in durations:
        errors["days-" + str(durations[0])] = "account.biometric.error.days"
    if first(fields, "agree") != "yes":
        errors["agree"] = "account.biometric.error.agree"
    try:
        proof, wrong = await _prove_it_is_you(request, who, fields)
    except NotFound:
        return to_login(request)
    if wrong:
        errors.update(wrong)
    if errors:
        return page(request, "account/biometric.html", {**context, "errors": errors,
                                                         "chosen": int(days) if days.isdigit() else None,
                                                         "agreed": first(fields, "agree") == "yes"}, 400)
    now = dt.datetime.now(dt.timezone.utc)
    try:
        await client.grant_biometric(service_id, purpose_id, expires_at=now + dt.timedelta(days=int(days)),
                                     alternative_id=offer["alternative_id"], language=t.lang,
                                     reauthenticated_at=now, method=proof)
    except BackendError as error:
        if error.unavailable:
            return unavailable(request, error)
        return page(request, "error.html", {"reason": "invalid_request"}, 400)
    return RedirectResponse("/account/consents?done=granted", status_code=303)
