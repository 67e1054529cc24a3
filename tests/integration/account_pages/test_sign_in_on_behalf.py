"""Issue 22, signing in on someone's behalf, with the whole system running (``mtlid up`` as
processes): a mother gives her son a mandate in Mon compte, he accepts; at montreal.ca (the
demo RP, which accepts mandates) he signs in, is asked whom he acts for ("Vous-même" first),
chooses his mother, and the tokens say so in the standard way — checked with joserfc, not our
code: ``sub`` is the mother, ``act.sub`` the son, the mandate in ``authorization_details``
(RFC 9396), no refresh token. A relying party that did not opt in never asks nor sees a
represented resident. Revoked between the choice and the code, the sign-in on behalf is
refused at once (``access_denied``); the next chooser no longer offers her."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.jwk import KeySet

from services.identity.demo_rp.app import DEMO_CLIENT_ID
from services.identity.domain.citizen_number import CitizenNumber
from tests.e2e.system import System, prepare_catalogue
from tests.integration.account_pages.conftest import hidden_fields

PASSWORD = "a long enough password 2026"
MANDATE_ID = re.compile(r'name="mandate_id" value="([0-9a-f-]{36})"')


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
        self.system, self.email = system, email
        self.resident_id = system.cli("resident", "create", "--email", email, "--password", PASSWORD,
                                      "--verified")["resident_id"]
        self.http = httpx.AsyncClient(base_url=system.issuer, follow_redirects=False, timeout=15)

    async def follow(self, response: httpx.Response) -> httpx.Response:
        while response.status_code in (302, 303) and response.headers["location"].startswith(("/", self.system.issuer)):
            response = await self.http.get(response.headers["location"])
        return response

    async def sign_in_to_account(self) -> None:
        page = await self.http.get("/account/login")
        await self.http.post("/account/login", data={**hidden_fields(page.text), "email": self.email,
                                                     "password": PASSWORD})

    def rp(self, client_id: str = DEMO_CLIENT_ID) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(client_id=client_id, scope="openid email", redirect_uri=f"{self.system.rp}/callback",
                                 code_challenge_method="S256", token_endpoint_auth_method="none")

    async def authorize(self, rp: AsyncOAuth2Client, **extra) -> tuple[httpx.Response, str]:
        verifier = generate_token(48)
        url, _ = rp.create_authorization_url(self.system.issuer + "/authorize", code_verifier=verifier, **extra)
        page = await self.follow(await self.http.get(url))
        if "/login" in str(page.url):
            page = await self.follow(await self.http.post("/login", data={
                **hidden_fields(page.text), "email": self.email, "password": PASSWORD}))
        if "/consent" in str(page.url):
            page = await self.follow(await self.http.post("/consent", data={**hidden_fields(page.text),
                                                                             "decision": "accept"}))
        return page, verifier


def verified_claims(system, token: str) -> dict:
    """The ID token checked with joserfc against the provider's published keys."""
    jwks = httpx.get(system.issuer + "/jwks", timeout=5).json()
    decoded = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["ES256"])
    jwt.JWTClaimsRegistry(iss={"essential": True, "value": system.issuer},
                          aud={"essential": True, "value": DEMO_CLIENT_ID}).validate(decoded.claims)
    return decoded.claims


async def test_signing_in_for_my_mother_and_only_where_it_is_accepted(system):
    mother, son = Resident(system, "mere.connexion@example.ca"), Resident(system, "fils.connexion@example.ca")
    try:
        # The mother gives, the son accepts, in Mon compte.
        await mother.sign_in_to_account()
        page = await mother.http.get("/account/mandates")
        given = await mother.http.post("/account/mandates/give", data={
            "csrf_token": hidden_fields(page.text)["csrf_token"], "mandatary": CitizenNumber.parse(son.resident_id).human,
            "service": "*", "action": ["view", "request"], "until": "2027-06-01"})
        assert given.status_code == 303
        [mandate_id] = set(MANDATE_ID.findall((await mother.http.get("/account/mandates")).text))
        await son.sign_in_to_account()
        waiting = await son.http.get("/account/mandates")
        await son.http.post("/account/mandates/accept", data={"csrf_token": hidden_fields(waiting.text)["csrf_token"],
                                                              "mandate_id": mandate_id})

        # At montreal.ca: whom does he act for? "Vous-même" first, then his mother.
        rp = son.rp()
        chooser, verifier = await son.authorize(rp)
        assert urlparse(str(chooser.url)).path == "/act-for", chooser.text[:500]
        text = chooser.text
        assert text.index("Vous-même") < text.index(CitizenNumber.parse(mother.resident_id).human)
        assert 'value="self" checked' in text
        chosen = await son.follow(await son.http.post("/act-for", data={
            **hidden_fields(text), "act_for": mandate_id}))
        location = chosen.headers["location"]
        assert chosen.status_code == 302 and "code=" in location, chosen.text[:300]
        tokens = await rp.fetch_token(system.issuer + "/token", authorization_response=location,
                                      code_verifier=verifier)
        claims = verified_claims(system, tokens["id_token"])
        # montreal.ca has public subjects: the citizen numbers themselves.
        assert claims["sub"] == mother.resident_id and claims["act"] == {"sub": son.resident_id}
        [detail] = claims["authorization_details"]
        assert detail == {"type": "urn:mtlid:mandate", "mandate_id": mandate_id, "basis": "resident_consent",
                          "locations": ["*"], "actions": ["request", "view"]}
        assert "email" not in claims and "refresh_token" not in tokens
        # The sign-in is an act under the mandate, on both sides' "Mes procurations".
        for person in (mother, son):
            listing = (await person.http.get("/account/mandates")).text
            assert "Ce qui a été fait en vertu de cette procuration" in listing and "consulter" in listing
        # ... and in "Qui a vu mes données": by whom, under which mandate; for whom, on his side.
        son_number, mother_number = (CitizenNumber.parse(r.resident_id).human for r in (son, mother))
        seen = (await mother.http.get("/account/access")).text
        assert f"par {son_number}, en vertu de la procuration {mandate_id}" in seen
        assert f"pour {mother_number}, en vertu de la procuration {mandate_id}" in (
            await son.http.get("/account/access")).text
        access = jwt.decode(tokens["access_token"], KeySet.import_key_set(
            httpx.get(system.issuer + "/jwks", timeout=5).json()), algorithms=["ES256"]).claims
        assert access["sub"] == mother.resident_id and access["act"] == {"sub": son.resident_id}

        # The relying party cannot choose for him: its own mtlid_act_for is dropped, he is asked.
        asked, _ = await son.authorize(son.rp(), mtlid_act_for=mandate_id)
        assert urlparse(str(asked.url)).path == "/act-for"

        # A relying party that did not opt in: no chooser, the son is himself.
        system.cli("client", "create", "--name", "Bibliothèques (démo)", "--client-id", "demo-biblio", "--public",
                   "--redirect-uri", f"{system.rp}/callback", "--scope", "openid", "--scope", "email",
                   "--city", "--subject-type", "public")
        other = son.rp("demo-biblio")
        other.scope = "openid"
        callback, other_verifier = await son.authorize(other)
        assert "/act-for" not in str(callback.url) and "code=" in callback.headers.get("location", ""), \
            callback.text[:300]
        plain = await other.fetch_token(system.issuer + "/token", authorization_response=callback.headers["location"],
                                        code_verifier=other_verifier)
        own = jwt.decode(plain["id_token"], KeySet.import_key_set(httpx.get(system.issuer + "/jwks").json()),
                         algorithms=["ES256"]).claims
        assert own["sub"] == son.resident_id and "act" not in own

        # Revoked after the choice, before the code: refused at once, and not offered again.
        chooser, verifier = await son.authorize(son.rp())
        chosen = await son.http.post("/act-for", data={**hidden_fields(chooser.text), "act_for": mandate_id})
        assert chosen.status_code in (302, 303) and "/authorize/resume" in chosen.headers["location"]
        mine = await mother.http.get("/account/mandates")
        revoked = await mother.http.post("/account/mandates/end", data={
            "csrf_token": hidden_fields(mine.text)["csrf_token"], "mandate_id": mandate_id})
        assert revoked.status_code == 303
        refused = await son.follow(chosen)
        query = parse_qs(urlparse(refused.headers["location"]).query)
        assert query["error"] == ["access_denied"] and "code" not in query
        again, _ = await son.authorize(son.rp())
        assert "/act-for" not in str(again.url) and "code=" in again.headers.get("location", "")
    finally:
        await mother.http.aclose()
        await son.http.aclose()


async def test_a_borough_system_exchanges_the_mandatarys_token_for_one_on_behalf(system):
    """RFC 8693 with RFC 9396: the borough's system, which the son signed in to as himself,
    shows his access token and names the mandate; it gets a token for his father, ``act``
    naming him — pairwise for that system — and the act is on both sides' record."""
    father, son = Resident(system, "pere.echange@example.ca"), Resident(system, "fils.echange@example.ca")
    client = system.cli("client", "create", "--name", "Permis Rosemont", "--client-id", "permis-rosemont",
                        "--redirect-uri", f"{system.rp}/callback", "--grant-type", "authorization_code",
                        "--grant-type", "urn:ietf:params:oauth:grant-type:token-exchange", "--scope", "openid",
                        "--audience", "urn:mtlid:accounts",
                        "--accepts-mandates", "--subject-type", "pairwise")
    system.cli("service", "create", "--id", "permis-rosemont", "--kind", "borough", "--borough", "Rosemont–La Petite-Patrie",
               "--name-fr", "Permis Rosemont", "--name-en", "Rosemont permits", "--owner", "Arrondissement de Rosemont",
               "--client-id", "permis-rosemont", "--attribute", "email", "--purpose", "service-provision")
    try:
        await father.sign_in_to_account()
        page = await father.http.get("/account/mandates")
        await father.http.post("/account/mandates/give", data={
            "csrf_token": hidden_fields(page.text)["csrf_token"], "mandatary": CitizenNumber.parse(son.resident_id).human,
            "service": "*", "action": ["view"], "until": "2027-06-01"})
        [mandate_id] = set(MANDATE_ID.findall((await father.http.get("/account/mandates")).text))
        await son.sign_in_to_account()
        waiting = await son.http.get("/account/mandates")
        await son.http.post("/account/mandates/accept", data={"csrf_token": hidden_fields(waiting.text)["csrf_token"],
                                                              "mandate_id": mandate_id})

        # The son signs in to the borough's system as himself.
        rp = AsyncOAuth2Client(client_id="permis-rosemont", client_secret=client["client_secret"], scope="openid",
                               redirect_uri=f"{system.rp}/callback", code_challenge_method="S256")
        chooser, verifier = await son.authorize(rp)
        assert urlparse(str(chooser.url)).path == "/act-for"
        chosen = await son.follow(await son.http.post("/act-for", data={**hidden_fields(chooser.text),
                                                                         "act_for": "self"}))
        own = await rp.fetch_token(system.issuer + "/token", authorization_response=chosen.headers["location"],
                                   code_verifier=verifier)
        keys = KeySet.import_key_set(httpx.get(system.issuer + "/jwks", timeout=5).json())
        son_sub = jwt.decode(own["access_token"], keys, algorithms=["ES256"]).claims["sub"]
        assert son_sub != son.resident_id            # pairwise for the borough's system

        exchange = {"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                    "subject_token": own["access_token"],
                    "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
                    "authorization_details": '[{"type": "urn:mtlid:mandate", "mandate_id": "%s"}]' % mandate_id}
        auth = ("permis-rosemont", client["client_secret"])
        for _ in range(50):   # consent learns the borough's service from accounts' event
            reply = httpx.post(system.issuer + "/token", data=exchange, auth=auth, timeout=10)
            if reply.status_code == 200 or "NO_SERVICE" not in reply.text:
                break
            await asyncio.sleep(0.2)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
        assert "refresh_token" not in body
        claims = jwt.decode(body["access_token"], keys, algorithms=["ES256"]).claims
        assert claims["act"] == {"sub": son_sub} and claims["sub"] not in (father.resident_id, son_sub)
        assert claims["authorization_details"][0]["mandate_id"] == mandate_id
        listing = (await father.http.get("/account/mandates")).text
        assert "Permis Rosemont : consulter" in listing

        # Signing in on his father's behalf at the same pairwise system gives the same two
        # subjects: the father's pairwise sub, the son's pairwise act.sub, for this client.
        chooser, verifier = await son.authorize(rp)
        chosen = await son.follow(await son.http.post("/act-for", data={**hidden_fields(chooser.text),
                                                                         "act_for": mandate_id}))
        on_behalf = await rp.fetch_token(system.issuer + "/token", authorization_response=chosen.headers["location"],
                                         code_verifier=verifier)
        signed_in = jwt.decode(on_behalf["id_token"], keys, algorithms=["ES256"]).claims
        assert (signed_in["sub"], signed_in["act"]) == (claims["sub"], {"sub": son_sub})

        # A system that did not opt in to mandates never gets a represented resident, even when
        # shown a mandatary's token and the mandate: unauthorized_client, nothing recorded.
        verdun = system.cli("client", "create", "--name", "Permis Verdun", "--client-id", "permis-verdun",
                            "--redirect-uri", f"{system.rp}/callback", "--grant-type", "authorization_code",
                            "--grant-type", "urn:ietf:params:oauth:grant-type:token-exchange", "--scope", "openid",
                            "--audience", "urn:mtlid:accounts", "--subject-type", "pairwise")
        acts_before = (await father.http.get("/account/mandates")).text.count("Permis Rosemont : consulter")
        not_opted = httpx.post(system.issuer + "/token", data=exchange, auth=("permis-verdun", verdun["client_secret"]),
                               timeout=10)
        assert not_opted.status_code == 400 and not_opted.json()["error"] == "unauthorized_client", not_opted.text
        assert "access_token" not in not_opted.text
        assert (await father.http.get("/account/mandates")).text.count("Permis Rosemont : consulter") == acts_before

        # Bad input: a malformed mandate, someone else's token, a revoked mandate — refused.
        bad = httpx.post(system.issuer + "/token", data={**exchange, "authorization_details": "[]"}, auth=auth)
        assert bad.status_code == 400 and bad.json()["error"] == "invalid_authorization_details", bad.text
        forged = httpx.post(system.issuer + "/token", data={**exchange, "subject_token": body["access_token"] + "x"},
                            auth=auth)
        assert forged.status_code == 400 and forged.json()["error"] == "invalid_request"
        mine = await father.http.get("/account/mandates")
        await father.http.post("/account/mandates/end", data={"csrf_token": hidden_fields(mine.text)["csrf_token"],
                                                               "mandate_id": mandate_id})
        refused = httpx.post(system.issuer + "/token", data=exchange, auth=auth)
        assert refused.status_code == 400 and refused.json()["error"] == "access_denied"
    finally:
        await father.http.aclose()
        await son.http.aclose()
