"""Issue 22, "the demo relying party (which shows both names)", with the whole system running
(``mtlid up`` as processes; on PostgreSQL too when ``MTLID_TEST_DATABASE=postgres``: the three
services' databases are then fresh PostgreSQL databases).

A mother gives her son a mandate; at montreal.ca (accepts mandates, asks for ``profile``) he
signs in for her. The ID token, checked with joserfc, names both: her ``given_name`` and
``family_name`` (OIDC Core s. 5.1), his inside ``act`` next to his ``sub`` (RFC 8693 s. 4.1);
the access token carries no name. Each release is on its owner's record: in her "Qui a vu mes
données", her names to montreal.ca "par <son>, en vertu de la procuration <M>"; in his, his
own names to montreal.ca. The demo RP's page says "<his name>, pour <her name>". Without
``profile``, or at a relying party that did not opt in, no name at all."""

from __future__ import annotations

import asyncio
import html
import re
from urllib.parse import urlparse

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from services.common.testing.databases import backend, temporary_database
from services.identity.demo_rp.app import DEMO_CLIENT_ID
from services.identity.domain.citizen_number import CitizenNumber
from tests.e2e.system import System, prepare_catalogue
from tests.integration.account_pages.conftest import hidden_fields
from tests.integration.account_pages.test_sign_in_on_behalf import MANDATE_ID, Resident

SERVICES = ("identity", "accounts", "consent")


class SystemOn(System):
    """``mtlid up`` on the databases given (PostgreSQL in the second run)."""

    def __init__(self, var_dir: str, database_urls: dict[str, str]) -> None:
        super().__init__(var_dir)
        self.database_urls = database_urls

    def env(self) -> dict[str, str]:
        env = super().env()
        env.update({f"MTLID_{service.upper()}_DATABASE_URL": url for service, url in self.database_urls.items()})
        return env


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    loop = asyncio.new_event_loop()
    databases = [temporary_database(s) for s in SERVICES] if backend() == "postgres" else []
    try:
        urls = {s: loop.run_until_complete(d.__aenter__()) for s, d in zip(SERVICES, databases)}
        running = SystemOn(str(tmp_path_factory.mktemp("services") / "var"), urls)
        running.start()
        try:
            prepare_catalogue(running)
            yield running
        finally:
            running.stop()
    finally:
        for d in databases:
            loop.run_until_complete(d.__aexit__(None, None, None))
        loop.close()


async def set_names(person: Resident, given: str, family: str) -> None:
    """Mon compte, "Mon profil": the profile exists once accounts saw the registration."""
    for _ in range(50):
        page = await person.http.get("/account/profile")
        if page.status_code == 200 and 'name="given_name"' in page.text:
            break
        await asyncio.sleep(0.2)
    saved = await person.http.post("/account/profile", data={**hidden_fields(page.text), "given_name": given,
                                                             "family_name": family})
    assert saved.status_code == 303, saved.text[:500]


def keys(system) -> KeySet:
    return KeySet.import_key_set(httpx.get(system.issuer + "/jwks", timeout=5).json())


def id_token_claims(system, token: str, client_id: str = DEMO_CLIENT_ID) -> dict:
    decoded = jwt.decode(token, keys(system), algorithms=["ES256"])
    jwt.JWTClaimsRegistry(iss={"essential": True, "value": system.issuer},
                          aud={"essential": True, "value": client_id}).validate(decoded.claims)
    return decoded.claims


async def sign_in_for(person: Resident, rp, act_for: str) -> dict:
    chooser, verifier = await person.authorize(rp)
    assert urlparse(str(chooser.url)).path == "/act-for", chooser.text[:500]
    # told before choosing, only when the client asked for profile
    assert ('id="act-for-names"' in chooser.text) == ("profile" in rp.scope.split())
    chosen = await person.follow(await person.http.post("/act-for", data={**hidden_fields(chooser.text),
                                                                           "act_for": act_for}))
    assert chosen.status_code == 302 and "code=" in chosen.headers["location"], chosen.text[:300]
    return await rp.fetch_token(person.system.issuer + "/token", authorization_response=chosen.headers["location"],
                                code_verifier=verifier)


def cards(page: str) -> list[str]:
    """The access log's cards ("Qui a vu mes données"), as text."""
    return [html.unescape(re.sub(r"<[^>]+>", " ", c)) for c in re.findall(r'<li class="card">(.*?)</li>', page, re.S)]


async def eventually_cards(person: Resident, wanted) -> list[str]:
    """The access page's cards once ``wanted`` holds (the register records identity's events
    a moment after the token)."""
    for _ in range(75):
        found = [c for c in cards((await person.http.get("/account/access")).text) if wanted(c)]
        if found:
            return found
        await asyncio.sleep(0.2)
    return []


async def test_both_names_released_under_the_mandate_on_both_records_and_shown_by_the_demo_rp(system):
    mother, son = Resident(system, "mere.noms@example.ca"), Resident(system, "fils.noms@example.ca")
    try:
        await mother.sign_in_to_account()
        await son.sign_in_to_account()
        await set_names(mother, "Hélène", "Tremblay")
        await set_names(son, "Samuel", "Tremblay-Roy")
        page = await mother.http.get("/account/mandates")
        given = await mother.http.post("/account/mandates/give", data={
            "csrf_token": hidden_fields(page.text)["csrf_token"], "mandatary": CitizenNumber.parse(son.resident_id).human,
            "service": "*", "action": ["view"], "until": "2027-06-01"})
        assert given.status_code == 303
        [mandate_id] = set(MANDATE_ID.findall((await mother.http.get("/account/mandates")).text))
        waiting = await son.http.get("/account/mandates")
        await son.http.post("/account/mandates/accept", data={"csrf_token": hidden_fields(waiting.text)["csrf_token"],
                                                              "mandate_id": mandate_id})

        # montreal.ca accepts mandates and asks for profile: both names in the ID token.
        rp = son.rp()
        rp.scope = "openid email profile"
        tokens = await sign_in_for(son, rp, mandate_id)
        claims = id_token_claims(system, tokens["id_token"])
        assert claims["sub"] == mother.resident_id
        assert (claims["given_name"], claims["family_name"]) == ("Hélène", "Tremblay")
        assert claims["act"] == {"sub": son.resident_id, "given_name": "Samuel", "family_name": "Tremblay-Roy"}
        assert claims["authorization_details"][0]["mandate_id"] == mandate_id
        assert "email" not in claims and "refresh_token" not in tokens
        access = jwt.decode(tokens["access_token"], keys(system), algorithms=["ES256"]).claims
        assert access["act"] == {"sub": son.resident_id} and "given_name" not in access  # never in the access token
        # userinfo is no second door for names on behalf: it answers a resident's own token only
        userinfo = httpx.get(system.issuer + "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert userinfo.status_code == 401 and "Hélène" not in userinfo.text

        # Her record: her names to montreal.ca, by him, under the mandate.
        son_number = CitizenNumber.parse(son.resident_id).human
        by_him = f"par {son_number}, en vertu de la procuration {mandate_id}"
        hers = await eventually_cards(mother, lambda c: "Prénom" in c and by_him in c)
        assert hers, cards((await mother.http.get("/account/access")).text)
        assert "Nom de famille" in hers[0] and "montreal.ca" in hers[0]
        # His record: his own names to montreal.ca (the act's names), as his own release.
        his = await eventually_cards(son, lambda c: "Prénom" in c and "Nom de famille" in c)
        assert his and "montreal.ca" in his[0] and "procuration" not in his[0], \
            cards((await son.http.get("/account/access")).text)
        names_released = len(his)

        # Without profile: no name, on either side.
        plain_rp = son.rp()   # scope "openid email"
        plain = id_token_claims(system, (await sign_in_for(son, plain_rp, mandate_id))["id_token"])
        assert plain["act"] == {"sub": son.resident_id} and "given_name" not in plain and "family_name" not in plain

        # A relying party that did not opt in, asking for profile: no chooser, he is himself, no names.
        system.cli("client", "create", "--name", "Bibliothèques (démo)", "--client-id", "demo-biblio-noms", "--public",
                   "--redirect-uri", f"{system.rp}/callback", "--scope", "openid", "--scope", "profile",
                   "--city", "--subject-type", "public")
        other = son.rp("demo-biblio-noms")
        other.scope = "openid profile"
        callback, verifier = await son.authorize(other)
        assert "/act-for" not in str(callback.url) and "code=" in callback.headers.get("location", ""), \
            callback.text[:300]
        own = id_token_claims(system, (await other.fetch_token(
            system.issuer + "/token", authorization_response=callback.headers["location"],
            code_verifier=verifier))["id_token"], "demo-biblio-noms")
        assert own["sub"] == son.resident_id and "act" not in own
        assert not {"given_name", "family_name"} & set(own)

        # The demo RP's own page (what the browser shows): "<his name>, pour <her name>".
        shown = await demo_rp_sign_in_for(son, mandate_id)
        assert "Samuel Tremblay-Roy, pour Hélène Tremblay" in html.unescape(shown), shown[:2000]
        english = (await son.http.get(system.rp + "/?lang=en")).text
        assert "Samuel Tremblay-Roy, for Hélène Tremblay" in html.unescape(english)

        # The demo RP's sign-in released his names once more; the two without names did not.
        def his_names(page: str) -> list[str]:
            return [c for c in cards(page) if "Prénom" in c and "Nom de famille" in c]

        for _ in range(75):
            his_now = his_names((await son.http.get("/account/access")).text)
            if len(his_now) > names_released:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)
        assert len(his_names((await son.http.get("/account/access")).text)) == names_released + 1
    finally:
        await mother.http.aclose()
        await son.http.aclose()


async def demo_rp_sign_in_for(person: Resident, mandate_id: str) -> str:
    """The demo RP's "Se connecter" through the chooser, following every redirect between
    the RP and the provider (one cookie jar: both on 127.0.0.1); returns the RP's page."""
    system = person.system
    response = await person.http.get(system.rp + "/login")
    for _ in range(20):
        if response.status_code not in (302, 303):
            break
        location = response.headers["location"]
        if location.startswith("/"):
            base = system.rp if str(response.url).startswith(system.rp) else system.issuer
            location = base + location
        response = await person.http.get(location)
        if urlparse(str(response.url)).path == "/act-for":
            response = await person.http.post(system.issuer + "/act-for", data={
                **hidden_fields(response.text), "act_for": mandate_id})
        elif urlparse(str(response.url)).path == "/consent":
            response = await person.http.post(system.issuer + "/consent", data={
                **hidden_fields(response.text), "decision": "accept"})
    assert response.status_code == 200, (response.status_code, response.text[:500])
    return response.text
