"""Closing a Montréal account (issue 21), as the resident does it in Mon compte, against the
real front: the montreal.ca relying party (authlib's client) holds a refresh token from
another device; after the closure every session is over, that refresh token is refused, the
sign-in says where to reopen the account, and the linked services are told (identifiers
only). Reopening at a counter brings the same account back."""

from __future__ import annotations

import json

import httpx
from sqlalchemy import select

from services.common.uow import OUTBOX
from services.identity.domain.assurance import LevelOfAssurance
from services.identity.service_layer import account_closure as closure
from services.identity.service_layer.agents import Agent
from tests.integration.identity_oidc.conftest import PASSWORD, SECRET, Browser, add_resident
from tests.integration.identity_oidc.flows import post_token, rp_client, tokens_for


async def _events(front, name: str, resident_id: str) -> list[dict]:
    async with front.sessions() as session:
        rows = (await session.execute(select(OUTBOX.c.envelope).order_by(OUTBOX.c.seq))).scalars().all()
    return [e["data"] for e in map(json.loads, rows)
            if e["type"] == f"montreal.identity.v1.{name}" and e["data"].get("resident_id") == resident_id]


async def _sign_in_to_account(browser: Browser, email: str, password: str = PASSWORD) -> httpx.Response:
    page = await browser.get("/account/login")
    return await browser.submit(page, "/account/login", email=email, password=password)


async def test_closing_the_account_ends_everything_and_sign_in_points_to_the_counter(front):
    email = "fermeture@example.ca"
    resident = await add_resident(front.uow, email, LevelOfAssurance.SELF_ASSERTED, False)
    phone, laptop, later = Browser(front.base), Browser(front.base), Browser(front.base)
    client = rp_client(scope="openid offline_access")
    try:
        on_phone = await tokens_for(front, phone, client, email=email, scopes=["offline_access"])
        assert (await _sign_in_to_account(laptop, email)).headers["location"] == "/account"

        explained = await laptop.get("/account/close")
        assert explained.status_code == 200
        # MTLID_CLOSED_ACCOUNT_RETENTION_DAYS (730): deleted, and no longer reopened, after that
        assert "2 ans après la fermeture" in explained.text and "pendant 2 ans après la fermeture" in explained.text
        text = explained.text.replace("&#39;", "'")
        for words in ("Ce que la fermeture veut dire", "ne sera jamais donné à quelqu'un d'autre",
                      "Ce que nous gardons", "article 73", "Accès Montréal", 'href="/account/export"'):
            assert words in text, words
        wrong = await laptop.submit(explained, "/account/close", current_password="pas le mot de passe")
        assert wrong.status_code == 400 and 'id="current_password-error"' in wrong.text
        assert await _events(front, "resident_closed", resident.resident_id) == []   # nothing half-done

        receipt = await laptop.submit(explained, "/account/close", current_password=PASSWORD)
        assert receipt.status_code == 200 and "Votre compte est fermé" in receipt.text
        [closed] = await _events(front, "resident_closed", resident.resident_id)
        assert set(closed) == {"resident_id", "closure_id", "closed_at"}        # identifiers only
        assert closed["closure_id"] in receipt.text
        [mailed] = await _events(front, "account_closed_notice", resident.resident_id)
        assert mailed["email"] == email and mailed["closure_id"] == closed["closure_id"]
        assert any(c.startswith("mtlid_session=") and ("Max-Age=0" in c or "expires=" in c.lower())
                   for c in receipt.headers.get_list("set-cookie"))

        # Every session is over, and no refresh token outlives the account.
        assert (await laptop.get("/account")).status_code == 303
        refreshed = await post_token(front, {"grant_type": "refresh_token", "refresh_token": on_phone["refresh_token"]},
                                     auth=("montreal-ca", SECRET))
        assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
        url, _ = client.create_authorization_url(front.base + "/authorize", code_verifier="v" * 50, prompt="none")
        assert httpx.URL((await phone.get(url)).headers["location"]).params["error"] == "login_required"

        # Signing in again is refused, with the way back (after the right password only).
        again = await _sign_in_to_account(later, email)
        assert again.status_code == 400 and "fermé à votre demande" in again.text.replace("&#39;", "'")
        assert "Accès Montréal" in again.text
        stranger = await _sign_in_to_account(later, email, "pas le mot de passe")
        assert "fermé" not in stranger.text

        # At a counter, an agent reopens it: the same number, the same password.
        reopened = await closure.reopen_account(closure.ReopenAccount(
            Agent("agent-0042", "acces-montreal-counter"), resident.resident_id, "passport"), front.uow())
        assert reopened.closure_id == closed["closure_id"]
        assert (await _sign_in_to_account(later, email)).headers["location"] == "/account"
    finally:
        for browser in (phone, laptop, later):
            await browser.close()
        await client.aclose()
