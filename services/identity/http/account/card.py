"""The carte citoyenne in Mon compte (issue 23): get a card into a wallet, see one's cards,
revoke them when the phone is lost.

    GET  /account/card          the cards issued, what the card says, how to get one
    POST /account/card/offer    a credential offer: a QR code, the same link, a 6-digit code
    POST /account/card/lost     "J'ai perdu mon téléphone": every valid card revoked

The card is offered at assurance level 2 or higher, with the names and birth date the
accounts service holds as *verified* (at a counter, from a document or from a service):
a self-declared name is not put on a city card. The QR code carries the offer only; the
transaction code is shown beside it, so a photographed QR code alone obtains nothing.
"""

from __future__ import annotations

import datetime as dt
import unicodedata

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from montreal.accounts.v1 import accounts_pb2 as apb
from services.identity.card import issuance
from services.identity.card.boroughs import borough_of
from services.identity.card.issuance import Holder, OfferRefused
from services.identity.http.account.backends import BackendError
from services.identity.http.account.qr import qr_svg
from services.identity.http.account.web import (
    client_for, csrf_refused, form, local_time, page, signed_in, to_login, translator, unavailable,
)
from services.identity.http.routes.common import provider

_VERIFIED = {apb.PROVENANCE_VERIFIED_AT_COUNTER, apb.PROVENANCE_VERIFIED_FROM_DOCUMENT,
             apb.PROVENANCE_RECEIVED_FROM_SERVICE}


def holder_from_profile(profile) -> Holder | None:
    """The card's holder from the verified attributes of an accounts ``Profile``; None when a
    verified name or birth date is missing."""
    verified = {a.name: a.value for a in (profile.attributes if profile is not None else [])
                if a.provenance in _VERIFIED and a.value}
    try:
        birthdate = dt.date.fromisoformat(verified.get("date_of_birth", ""))
    except ValueError:
        return None
    if not verified.get("given_name") or not verified.get("family_name"):
        return None
    address = unicodedata.normalize("NFKD", verified.get("postal_address", "")).encode("ascii", "ignore").decode()
    # a verified borough attribute if accounts ever holds one; else what the verified address
    # names as its municipality (card/boroughs.py; null when it says only "Montréal")
    borough = verified.get("borough") or borough_of(verified.get("postal_address", ""))
    return Holder(given_name=verified["given_name"], family_name=verified["family_name"], birthdate=birthdate,
                  borough=borough, resident_of_montreal=borough is not None or _in_montreal(address.lower()))


# Montréal-Est and Montréal-Ouest are municipalities of their own on the island, not boroughs
# (Montréal-Nord is a borough): their addresses do not make a resident of Montréal.
_OTHER_CITIES = ("montreal-est", "montreal est", "montreal-ouest", "montreal ouest")


def _in_montreal(address: str) -> bool:
    return "montreal" in address and not any(city in address for city in _OTHER_CITIES)


async def _holder(request: Request, who) -> Holder | None:
    # Tests of the page alone (no accounts service) give the attributes here.
    given = getattr(request.app.state, "card_holders", None)
    if given is not None:
        return given(who.resident_id)
    return holder_from_profile(await (await client_for(request, who)).profile())


async def _cards(request: Request, who) -> list[dict]:
    t = translator(request)
    async with provider(request).uow_factory() as uow:
        cards = await uow.cards.cards_for(who.resident_id)
    now = int(dt.datetime.now(dt.timezone.utc).timestamp())
    shown = []
    for card in reversed(cards):
        state = "revoked" if card.revoked_at else ("expired" if card.expires_at < now else "valid")
        shown.append({"state": state,
                      "issued_at": local_time(dt.datetime.fromtimestamp(card.issued_at, dt.timezone.utc), t),
                      "expires_at": local_time(dt.datetime.fromtimestamp(card.expires_at, dt.timezone.utc), t)})
    return shown


async def _overview(request: Request, who, errors: dict | None = None, status: int = 200) -> Response:
    cards = await _cards(request, who)
    return page(request, "account/card.html", {
        "nav": "card", "errors": errors or {}, "level": who.level, "cards": cards,
        "has_valid": any(c["state"] == "valid" for c in cards), "min_level": issuance.MIN_LEVEL,
        "notice": "account.card.notice.revoked" if request.query_params.get("notice") == "revoked" else None,
        "claims": issuance.DISCLOSABLE}, status)


async def card(request: Request) -> Response:
    who = await signed_in(request)
    if who is None:
        return to_login(request)
    if provider(request).card is None:
        return page(request, "error.html", {"reason": "not_found"}, 404)
    return await _overview(request, who)


async def offer(request: Request) -> Response:
    who = await signed_in(request)
    if who is None:
        return to_login(request)
    fields = await form(request)
    if fields is None:
        return csrf_refused(request)
    card_issuer = provider(request).card
    if card_issuer is None:
        return page(request, "error.html", {"reason": "not_found"}, 404)
    try:
        holder = await _holder(request, who)
        made = await issuance.create_offer(card_issuer, who.resident_id, holder)
    except BackendError as error:
        return unavailable(request, error)
    except OfferRefused as refused:
        return await _overview(request, who, {"get-card": f"account.card.error.{refused.reason}"}, 400)
    expires = dt.datetime.fromtimestamp(made.expires_at, dt.timezone.utc)
    t = translator(request)
    return page(request, "account/card_offer.html", {
        "nav": "card", "lang_path": "/account/card", "offer_uri": made.uri, "tx_code": made.tx_code,
        "qr": qr_svg(made.uri, t("account.card.offer.qr_label")), "expires_at": local_time(expires, t)})


async def lost(request: Request) -> Response:
    who = await signed_in(request)
    if who is None:
        return to_login(request)
    fields = await form(request)
    if fields is None:
        return csrf_refused(request)
    card_issuer = provider(request).card
    if card_issuer is None:
        return page(request, "error.html", {"reason": "not_found"}, 404)
    async with card_issuer.uow_factory() as uow:
        await issuance.revoke_cards(card_issuer, uow, who.resident_id, "lost_device")
        await uow.commit()
    return RedirectResponse("/account/card?notice=revoked", status_code=303, headers={"Cache-Control": "no-store"})
