"""Mon compte's carte citoyenne pages over real HTTP: the offer (QR code, link, 6-digit code)
taken by the reference wallet, "J'ai perdu mon téléphone" revoking the card in the published
status list, and a level-1 resident refused with an error summary."""

from __future__ import annotations

import html
import json
import re

import httpx
import pytest

from services.identity.card import status_list
from services.identity.card.sd_jwt import b64url_decode
from services.identity.card.wallet import ReferenceWallet
from tests.unit.identity_card.fakes import PIN
from tests.integration.account_pages.conftest import hidden_fields, sign_in
from tests.integration.card.front import PASSWORD, SELF_ASSERTED_EMAIL, VERIFIED_EMAIL, running_card_front


@pytest.fixture(scope="module")
async def card_front():
    async with running_card_front() as front:
        yield front


async def test_offer_page_to_wallet_and_lost_phone(card_front, tmp_path):
    async with httpx.AsyncClient(base_url=card_front.base, follow_redirects=False, timeout=10) as http:
        assert (await sign_in(http, VERIFIED_EMAIL, PASSWORD)).status_code in (302, 303)
        overview = await http.get("/account/card")
        assert overview.status_code == 200 and "Obtenir ma carte citoyenne" in overview.text
        assert overview.headers["cache-control"] == "no-store"
        offered = await http.post("/account/card/offer", data=hidden_fields(overview.text))
        assert offered.status_code == 200
        assert '<svg role="img" aria-label="Code QR de l' in offered.text
        link = html.unescape(re.search(r'<a href="(openid-credential-offer://[^"]+)" id="offer-link"', offered.text)[1])
        tx_code = re.search(r'<strong id="tx-code" class="code">(\d{6})</strong>', offered.text)[1]
        assert tx_code not in link

        wallet = ReferenceWallet.open(tmp_path / "wallet.json", PIN)
        async with httpx.AsyncClient(timeout=10) as wallet_http:
            await wallet.accept_offer(wallet_http, link, tx_code, pin=PIN)
        mine = await http.get("/account/card")
        assert "Valide" in mine.text and "J&#39;ai perdu mon téléphone" in mine.text

        lost = await http.post("/account/card/lost", data=hidden_fields(mine.text))
        assert (lost.status_code, lost.headers["location"]) == (303, "/account/card?notice=revoked")
        after = await http.get(lost.headers["location"])
        assert "Révoquée" in after.text and "Vos cartes sont révoquées" in after.text
        published = (await http.get("/card/status/1")).text
    entries = status_list.StatusList.decoded(json.loads(b64url_decode(published.split(".")[1]))["status_list"])
    assert entries.get(0) == status_list.INVALID


async def test_level_one_resident_is_told_what_is_missing(card_front):
    async with httpx.AsyncClient(base_url=card_front.base, follow_redirects=False, timeout=10) as http:
        await sign_in(http, SELF_ASSERTED_EMAIL, PASSWORD)
        overview = await http.get("/account/card")
        assert "identité vérifiée (niveau 2)" in overview.text and 'action="/account/card/offer"' not in overview.text
        refused = await http.post("/account/card/offer", data=hidden_fields(overview.text))
        assert refused.status_code == 400
        assert 'class="error-summary"' in refused.text and "niveau 2" in refused.text
        forged = await http.post("/account/card/offer", data={"csrf_token": "forged"})
        assert forged.status_code == 403


async def test_signed_out_visitor_is_sent_to_sign_in(card_front):
    async with httpx.AsyncClient(base_url=card_front.base, follow_redirects=False, timeout=10) as http:
        response = await http.get("/account/card")
    assert response.status_code == 303 and response.headers["location"].startswith("/account/login")
