"""The carte citoyenne verifier in the counter console (issue 23): an agent checks a resident's
card the way any desk does, offline, and the city learns nothing of whose card it was.

    GET  /counter/card            the desk's challenge (audience and a fresh nonce for the
                                  wallet), the cache's age, a field for the presentation
    POST /counter/card            check the presentation (pasted, or typed by a QR scanner)
    POST /counter/card/refresh    take home the issuer's card keys and status list again

The check is ``card/verifier.py``'s ``OfflineVerifier`` on a cache this process holds
(``app.state.card_verifier_cache``): the keys and status list the issuer publishes at
``/.well-known/jwt-vc-issuer``, taken when the agent asks (or at the first check). No
database read about the card or the resident, no event, no ledger entry: only the disclosed
claims are shown, never kept. The cache is **too old** after a day (``DEFAULT_MAX_AGE``) or
when its status list has expired: the page then refuses and says to refresh.

The one trace: a line of the agent's journal (``card_checked``: accepted or refused and why,
the names of the claims disclosed, never their values, no resident), so supervisors see the
desk's activity as for any other action.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from services.identity.card import issuance, verifier
from services.identity.card.sd_jwt import PresentationRefused
from services.identity.http.counter.web import OnDuty, console_page, csrf_refused, first, form, on_duty, to_sign_in
from services.identity.http.routes.common import provider
from services.identity.oidc.provider import derive_key
from services.identity.oidc.records import utcnow
from services.identity.service_layer.staff import CONSOLE_CLIENT_ID

CHALLENGE_LIFETIME = 600
MAX_PRESENTATION = 16_000
#: the order the disclosed claims are shown in (the card's)
CLAIM_ORDER = issuance.DISCLOSABLE


def audience(request: Request) -> str:
    """The desk's identifier a wallet binds its presentation to (the KB-JWT ``aud``)."""
    return provider(request).config.issuer.rstrip("/") + "/counter/card"


def _challenge_key(request: Request) -> bytes:
    return derive_key(provider(request).config.interaction_key, "counter-card-challenge")


def new_challenge(request: Request, duty: OnDuty) -> tuple[str, str]:
    """A nonce for the wallet, and the signed form field that proves this desk gave it to this
    agent's session in the last ten minutes (no table: any replica checks it)."""
    nonce, issued = secrets.token_hex(4), str(int(time.time()))
    mac = hmac.new(_challenge_key(request), f"{nonce}.{issued}.{duty.session.session_id}".encode(),
                   hashlib.sha256).hexdigest()[:32]
    return nonce, f"{nonce}.{issued}.{mac}"


def _nonce_of(request: Request, duty: OnDuty, challenge: str) -> str | None:
    try:
        nonce, issued, mac = challenge.split(".")
        age = time.time() - int(issued)
    except ValueError:
        return None
    expected = hmac.new(_challenge_key(request), f"{nonce}.{issued}.{duty.session.session_id}".encode(),
                        hashlib.sha256).hexdigest()[:32]
    if not hmac.compare_digest(mac, expected) or not 0 <= age <= CHALLENGE_LIFETIME:
        return None
    return nonce


async def refresh_cache(request: Request) -> verifier.VerifierCache:
    """What ``mtlid card refresh`` fetches over HTTP, taken from the issuer this front serves."""
    card = provider(request).card
    metadata = await issuance.jwt_vc_issuer_metadata(card)
    lists = {card.config.status_list_uri: await issuance.current_status_list_token(card)}
    cache = verifier.VerifierCache(metadata["issuer"], metadata["jwks"], lists, int(time.time()))
    request.app.state.card_verifier_cache = cache
    return cache


async def _cache(request: Request) -> verifier.VerifierCache:
    cache = getattr(request.app.state, "card_verifier_cache", None)
    return cache if cache is not None else await refresh_cache(request)


def _age(cache: verifier.VerifierCache) -> dict:
    seconds = max(0, int(time.time()) - cache.fetched_at)
    return {"minutes": seconds // 60, "hours": seconds // 3600, "too_old": seconds > verifier.DEFAULT_MAX_AGE}


async def _page(request: Request, duty: OnDuty, context: dict, status: int = 200) -> Response:
    cache = await _cache(request)
    nonce, challenge = new_challenge(request, duty)
    return console_page(request, "counter/card.html", duty, {
        "nav": "card", "nonce": nonce, "challenge": challenge, "audience": audience(request),
        "cache_age": _age(cache), "errors": {}, **context}, status)


def _shown(value) -> dict:
    if isinstance(value, bool):
        return {"key": "counter.card.yes" if value else "counter.card.no"}
    return {"text": "" if value is None else str(value)}


async def _journal(request: Request, duty: OnDuty, outcome: str, reason: str, claims: list[str]) -> None:
    async with provider(request).uow_factory() as uow:
        await uow.agent_actions.record(agent_id=duty.agent.agent_id, client_id=CONSOLE_CLIENT_ID,
                                       action="card_checked", resident_id="",
                                       details={"outcome": outcome, "reason": reason, "claims": claims},
                                       now=utcnow(), office=duty.agent.office)
        await uow.commit()


async def page(request: Request) -> Response:
    duty = await on_duty(request)
    if not isinstance(duty, OnDuty):
        return to_sign_in(request, duty)
    if provider(request).card is None:
        return console_page(request, "counter/card.html", duty, {"nav": "card", "not_offered": True})
    return await _page(request, duty, {"refreshed": request.query_params.get("refreshed") == "1"})


async def check(request: Request) -> Response:
    duty = await on_duty(request)
    if not isinstance(duty, OnDuty):
        return to_sign_in(request, duty)
    data = await form(request)
    if data is None:
        return csrf_refused(request)
    if provider(request).card is None:
        return console_page(request, "counter/card.html", duty, {"nav": "card", "not_offered": True}, 404)
    presentation = "".join(first(data, "presentation").split())  # a scanner may add line breaks
    nonce = _nonce_of(request, duty, first(data, "challenge"))
    # The checks, in order: a challenge this desk gave, something to check, then the card.
    if nonce is None:
        return await _page(request, duty, {"errors": {"presentation": "counter.card.error.challenge"}}, 400)
    if not presentation or len(presentation) > MAX_PRESENTATION:
        return await _page(request, duty, {"errors": {"presentation": "counter.card.error.empty"}}, 400)
    cache = await _cache(request)
    try:
        result = verifier.OfflineVerifier(cache).verify(presentation, audience=audience(request), nonce=nonce)
    except PresentationRefused as refused:
        await _journal(request, duty, "refused", refused.reason, [])
        return await _page(request, duty, {"refused": refused.reason, "refused_hours": _age(cache)["hours"]})
    shown = [{"name": name, **_shown(result.disclosed[name])} for name in CLAIM_ORDER if name in result.disclosed]
    await _journal(request, duty, "accepted", "", [c["name"] for c in shown])
    return await _page(request, duty, {"accepted": shown})


async def refresh(request: Request) -> Response:
    duty = await on_duty(request)
    if not isinstance(duty, OnDuty):
        return to_sign_in(request, duty)
    data = await form(request)
    if data is None:
        return csrf_refused(request)
    if provider(request).card is not None:
        await refresh_cache(request)
    return RedirectResponse("/counter/card?refreshed=1", status_code=303)
