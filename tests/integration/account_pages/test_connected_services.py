"""Issue 15, section 2, with the whole system running (``mtlid up`` as processes): a resident
signs in at montreal.ca (the demo RP's client, driven by authlib's client), consents to part,
and finds the service in "Services connectés" and the release in "Qui a vu mes données"
within 5 s; withdrawing there stops the email in the next tokens; ending the connection
revokes the refresh token at once and the next sign-in asks again; a consent is given again
from Mon compte."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client

from services.identity.demo_rp.app import DEMO_CLIENT_ID
from tests.e2e.system import System, prepare_catalogue
from tests.integration.account_pages.conftest import hidden_fields

PASSWORD = "a long enough password 2026"


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    running = System(str(tmp_path_factory.mktemp("services") / "var"))
    running.start()
    try:
        prepare_catalogue(running)
        yield running
    finally:
        running.stop()


class Resident:
    def __init__(self, system, email: str) -> None:
        self.system = system
        self.email = email
        self.resident_id = system.cli("resident", "create", "--email", email, "--password", PASSWORD,
                                      "--verified")["resident_id"]
        self.http = httpx.AsyncClient(base_url=system.issuer, follow_redirects=False, timeout=15)

    async def follow(self, response: httpx.Response) -> httpx.Response:
        while response.status_code in (302, 303) and response.headers["location"].startswith(("/", self.system.issuer)):
            response = await self.http.get(response.headers["location"])
        return response

    def rp(self) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(client_id=DEMO_CLIENT_ID, scope="openid email profile",
                                 redirect_uri=f"{self.system.rp}/callback", code_challenge_method="S256",
                                 token_endpoint_auth_method="none")

    async def authorize(self, rp: AsyncOAuth2Client) -> tuple[httpx.Response, str]:
        verifier = generate_token(48)
        url, _ = rp.create_authorization_url(self.system.issuer + "/authorize", code_verifier=verifier)
        page = await self.follow(await self.http.get(url))
        if "/login" in str(page.url):
            page = await self.follow(await self.http.post("/login", data={
                **hidden_fields(page.text), "email": self.email, "password": PASSWORD}))
        return page, verifier

    async def consent(self, page: httpx.Response, **fields) -> httpx.Response:
        assert "/consent" in str(page.url), page.text[:300]
        return await self.follow(await self.http.post("/consent", data={**hidden_fields(page.text), **fields}))

    async def tokens(self, rp, callback: httpx.Response, verifier: str) -> dict:
        assert callback.status_code == 302 and "code=" in callback.headers["location"], callback.text[:300]
        return await rp.fetch_token(self.system.issuer + "/token", authorization_response=callback.headers["location"],
                                    code_verifier=verifier)

    async def page_until(self, path: str, predicate, timeout: float = 5.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = (await self.http.get(path)).text.replace("&#39;", "'")
            if predicate(text) or time.monotonic() > deadline:
                return text
            await asyncio.sleep(0.2)


def _card(text: str, name: str) -> str:
    cards = [c for c in text.split('<li class="card">')[1:] if f">{name}" in c]
    assert cards, text[-3000:]
    return cards[0]


async def test_connected_services_show_withdraw_end_and_give_again(system):
    resident = Resident(system, "oceane@example.ca")
    rp = resident.rp()
    try:
        page, verifier = await resident.authorize(rp)
        callback = await resident.consent(page, choice="communication:email", decision="accept")
        tokens = await resident.tokens(rp, callback, verifier)
        started = time.monotonic()
        services = await resident.page_until("/account/services",
                                             lambda t: "Identifiant de connexion propre au service" in t)
        access = await resident.page_until("/account/access", lambda t: "montreal.ca" in t)
        assert time.monotonic() - started < 5.0
        card = _card(services, "montreal.ca")
        received = card.split("Ce qu'il a reçu</dt><dd>")[1].split("</dd>")[0]
        assert "Adresse courriel" in received and "Identifiant de connexion propre au service" in received, card
        assert "Votre consentement" in card and "Mission de service public" in card
        assert "Communiquer avec vous" in card                     # the consent it rests on
        assert "Améliorer les services (statistiques)" in card      # refused: offered again from here
        assert "Adresse courriel" in access and "Communiquer avec vous" in access

        # withdraw the consent from there: the next token carries no email, the refresh token is gone
        consent_id = re.search(r'/account/consents/([\w-]+)/withdraw', card).group(1)
        confirm = await resident.http.get(f"/account/consents/{consent_id}/withdraw")
        done = await resident.http.post(f"/account/consents/{consent_id}/withdraw", data=hidden_fields(confirm.text))
        assert done.status_code == 303
        refreshed = await resident.http.post("/token", data={"grant_type": "refresh_token", "client_id": DEMO_CLIENT_ID,
                                                              "refresh_token": tokens["refresh_token"]})
        assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
        page, verifier = await resident.authorize(rp)              # asked again, for that purpose only
        assert 'value="communication:email"' in page.text and 'value="statistics:' not in page.text
        callback = await resident.consent(page, decision="deny")
        tokens = await resident.tokens(rp, callback, verifier)
        assert "email" not in tokens["scope"].split()

        # give it again from Mon compte, for the email only
        services = (await resident.http.get("/account/services")).text
        card = _card(services, "montreal.ca")
        form = re.search(r'<form method="post" action="/account/services/grant" class="offer">.*?'
                         r'name="purpose_id" value="communication"', card, re.S)
        assert form
        given = await resident.http.post("/account/services/grant", data={
            "csrf_token": hidden_fields(services)["csrf_token"], "recipient_id": "montreal-ca",
            "purpose_id": "communication", "category": "email"})
        assert given.status_code == 303 and given.headers["location"] == "/account/services?done=granted"
        # the next sign-in at montreal.ca gets the email without asking again
        callback, verifier = await resident.authorize(rp)
        refreshed = httpx.Response(200, json=await resident.tokens(rp, callback, verifier))
        assert "email" in refreshed.json()["scope"].split()
        consents = (await resident.http.get("/account/consents")).text
        assert "Communiquer avec vous" in consents

        # end the connection: the refresh token dies at once, every consent ends, the next sign-in asks
        services = (await resident.http.get("/account/services")).text
        ended = await resident.http.post("/account/services/end", data={
            "csrf_token": hidden_fields(services)["csrf_token"], "service": "montreal-ca"})
        assert ended.headers["location"] == "/account/services?done=ended"
        again = await resident.http.post("/token", data={"grant_type": "refresh_token", "client_id": DEMO_CLIENT_ID,
                                                          "refresh_token": refreshed.json()["refresh_token"]})
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
        after = _card((await resident.http.get("/account/services")).text, "montreal.ca")
        assert "Communiquer avec vous" not in after.split("Donner votre consentement")[0]
        # the ended connection is no longer shown as one (its grant is withdrawn)
        assert "Vous vous connectez à ce service avec votre compte Montréal." not in after
        page, _ = await resident.authorize(rp)
        assert "/consent" in str(page.url)
    finally:
        await rp.aclose()
        await resident.http.aclose()


async def test_bad_give_forms_are_a_400_and_record_nothing(system):
    resident = Resident(system, "paloma@example.ca")
    try:
        page = await resident.http.get("/account/login")
        await resident.http.post("/account/login", data={**hidden_fields(page.text), "email": resident.email,
                                                          "password": PASSWORD})
        services = await resident.http.get("/account/services")
        token = hidden_fields(services.text)["csrf_token"]
        for fields in ({"recipient_id": "montreal-ca", "purpose_id": "communication"},               # nothing ticked
                       {"recipient_id": "montreal-ca", "purpose_id": "communication", "category": ["email", "email"]},
                       {"recipient_id": "montreal-ca", "purpose_id": "communication", "category": "shoe_size"},
                       {"recipient_id": "nowhere", "purpose_id": "communication", "category": "email"},
                       {"recipient_id": "montreal-ca", "purpose_id": "service-provision", "category": "email"}):
            answer = await resident.http.post("/account/services/grant", data={"csrf_token": token, **fields})
            assert answer.status_code == 400, fields
        assert "Communiquer avec vous" not in (await resident.http.get("/account/consents")).text
    finally:
        await resident.http.aclose()
