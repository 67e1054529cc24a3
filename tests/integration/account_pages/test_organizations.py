"""Issue 22, organizations, with the whole system running (``mtlid up`` as processes): at the
counter an agent registers a condo association on the register's statement and names its
manager as representative — each bad form first, refused with its reason and nothing recorded.
The manager then signs in at montreal.ca (the demo RP, which accepts mandates) on behalf of the
association: ``sub`` is the association, ``act.sub`` the manager (tokens checked with joserfc).
At a partner's system that accepts mandates (pairwise subjects) the tokens carry the
association's pairwise subject, and the partner links its service account to the association
by that very subject. Borough systems' decisions say yes for the manager and no for a
neighbour, who is never offered the association. The association's file — its representatives
and what they did — is in the manager's "Mes procurations", not the neighbour's. Revoked at
the counter, the manager is refused at once."""

from __future__ import annotations

import asyncio
import datetime as dt
import re

import grpc
import httpx
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.jwk import KeySet

from montreal.accounts.v1 import accounts_pb2 as apb
from montreal.accounts.v1 import accounts_pb2_grpc
from montreal.consent.v1 import consent_pb2 as cpb
from montreal.consent.v1 import consent_pb2_grpc
from services.common.organization_number import OrganizationNumber
from services.identity.demo_rp.app import DEMO_CLIENT_ID
from services.identity.domain.citizen_number import CitizenNumber
from tests.e2e.system import System, prepare_catalogue
from tests.e2e.test_counter import _code
from tests.integration.account_pages.conftest import hidden_fields
from tests.integration.account_pages.test_sign_in_on_behalf import Resident, verified_claims

NAME = "Syndicat de copropriété du 4500 Fullum"
NEQ = "1171234567"
ORG_NUMBER = re.compile(r'id="organization-number">(ORG [^<]+)<')
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


class Counter:
    """An agent at the counter console, over HTTP (password, then the TOTP code: level 3)."""

    def __init__(self, system) -> None:
        self.agent = system.cli("agent", "create", "--email", "lea.tremblay@ville.montreal.qc.ca",
                                "--name", "Léa Tremblay", "--office", "Accès Montréal — Rosemont")
        self.http = httpx.AsyncClient(base_url=system.issuer, follow_redirects=False, timeout=15)

    async def sign_in(self) -> None:
        page = await self.http.get("/counter/login")
        done = await self.http.post("/counter/login", data={**hidden_fields(page.text), "email": self.agent["email"],
                                                            "password": self.agent["password"]})
        assert done.headers["location"] == "/counter/second-factor", done.text[:300]
        page = await self.http.get("/counter/second-factor")
        done = await self.http.post("/counter/second-factor", data={**hidden_fields(page.text),
                                                                    "code": _code(self.agent["totp_secret"])})
        assert done.headers["location"] == "/counter", done.text[:300]

    async def post(self, path: str, page: str, **fields) -> httpx.Response:
        form = await self.http.get(page)
        return await self.http.post(path, data={"csrf_token": hidden_fields(form.text)["csrf_token"], **fields})


def consent_stub(system):
    channel = grpc.insecure_channel(system.target("consent"))
    return channel, consent_pb2_grpc.ConsentServiceStub(channel)


def decide(system, token: str, *questions: tuple[str, str]) -> list:
    channel, stub = consent_stub(system)
    with channel:
        return list(stub.DecideMandates(cpb.DecideMandatesRequest(questions=[cpb.MandateQuestion(
            mandatary_id=mandatary, represented_id=represented, service="montreal-ca", action="view")
            for mandatary, represented in questions]), metadata=(("authorization", f"Bearer {token}"),),
            timeout=5).decisions)


async def test_an_organization_registered_at_the_counter_acts_through_its_representative(system):
    counter = Counter(system)
    manager, neighbour = (Resident(system, "gerante.fullum@example.ca"),
                          Resident(system, "voisin.fullum@example.ca"))
    checker = system.cli("client", "create", "--name", "Permis Rosemont (décisions)", "--client-id", "rosemont-check",
                         "--grant-type", "client_credentials", "--scope", "consent:check",
                         "--audience", "urn:mtlid:consent", "--city")
    check_token = system.client_token("rosemont-check", checker["client_secret"], "consent:check", "urn:mtlid:consent")
    try:
        await counter.sign_in()

        # -- registration: the bad form is refused, field by field, and nothing is written ---
        refused = await counter.post("/counter/organization", "/counter/organization",
                                     name="", kind="shop", neq="12")
        assert refused.status_code == 400
        for field in ("name", "kind", "neq", "statement_seen"):
            assert f'href="#{field}"' in refused.text, field
        registered = await counter.post("/counter/organization", "/counter/organization", name=NAME,
                                        kind="condo_association", neq="117 123 4567", statement_seen="yes")
        assert registered.status_code == 200, registered.text[:500]
        [number] = ORG_NUMBER.findall(registered.text)
        organization_id = OrganizationNumber.parse(number).canonical
        assert "Organisation inscrite" in registered.text
        assert not CitizenNumber.is_valid(organization_id)          # its own series
        shown = system.cli("organization", "show", "--number", number)
        assert (shown["name"], shown["kind"], shown["neq"]) == (NAME, "condo_association", NEQ)
        twice = await counter.post("/counter/organization", "/counter/organization", name=NAME + " bis",
                                   kind="condo_association", neq=NEQ, statement_seen="yes")
        assert twice.status_code == 400 and "déjà inscrite" in twice.text

        # -- its representative: each bad form refused, nothing recorded ----------------------
        file_page = f"/counter/organization?organization_number={organization_id}"
        manager_number = CitizenNumber.parse(manager.resident_id).human
        good = {"organization_number": organization_id, "holder": manager_number,
                "document_reference": "État de renseignements du 2026-11-30", "statement_seen": "yes",
                "until": (dt.date.today() + dt.timedelta(days=300)).isoformat()}
        for bad, field, words in (
                ({"holder": manager_number[:-1] + ("2" if manager_number[-1] != "2" else "3")}, "holder",
                 "numéro citoyen valide"),
                ({"until": (dt.date.today() + dt.timedelta(days=400)).isoformat()}, "until", "un an au plus"),
                ({"statement_seen": ""}, "statement_seen", "nomme cette personne"),
                ({"document_reference": " "}, "document_reference", "numéro du document")):
            answer = await counter.post("/counter/organization/representative", file_page, **{**good, **bad})
            assert answer.status_code == 400 and f'href="#{field}"' in answer.text and words in answer.text, field
        assert "Aucun représentant n’est inscrit." in (await counter.http.get(file_page)).text
        assert not decide(system, check_token, (manager.resident_id, organization_id))[0].allowed
        named = await counter.post("/counter/organization/representative", file_page, **good)
        assert named.status_code == 200 and f"{manager_number} représente maintenant l’organisation" in named.text
        [mandate_id] = MANDATE_ID.findall(named.text)

        # -- borough systems' decisions: the manager yes, the neighbour no ------------------
        allowed, stranger = decide(system, check_token, (manager.resident_id, organization_id),
                                   (neighbour.resident_id, organization_id))
        assert (allowed.allowed, allowed.mandate_id) == (True, mandate_id)
        assert (stranger.allowed, stranger.reason) == (False, "NO_MANDATE")

        # -- at montreal.ca, the manager signs in on behalf of the association --------------
        rp = manager.rp()
        chooser, verifier = await manager.authorize(rp)
        assert chooser.url.path == "/act-for", chooser.text[:300]
        assert chooser.text.index("Vous-même") < chooser.text.index(f"{NAME} ({number})")
        chosen = await manager.follow(await manager.http.post("/act-for", data={
            **hidden_fields(chooser.text), "act_for": mandate_id}))
        assert chosen.status_code == 302 and "code=" in chosen.headers["location"], chosen.text[:300]
        tokens = await rp.fetch_token(system.issuer + "/token", authorization_response=chosen.headers["location"],
                                      code_verifier=verifier)
        claims = verified_claims(system, tokens["id_token"])
        assert claims["sub"] == organization_id and claims["act"] == {"sub": manager.resident_id}
        [detail] = claims["authorization_details"]
        assert (detail["mandate_id"], detail["basis"], detail["actions"]) == (
            mandate_id, "organization_representative", ["pay", "request", "view"])

        # The neighbour, who represents no one, is never offered the association.
        own, _ = await neighbour.authorize(neighbour.rp())
        assert "/act-for" not in str(own.url) and "code=" in own.headers.get("location", ""), own.text[:300]

        # -- a partner that accepts mandates sees the association's pairwise subject ---------
        # Its website and its back office are two clients of one sector (OIDC Core s. 8.1: the
        # same pairwise subjects), each registered as a service of the catalogue.
        web = system.cli("client", "create", "--name", "Déneigement Fullum", "--client-id", "deneigement-web",
                         "--redirect-uri", f"{system.rp}/callback", "--grant-type", "authorization_code",
                         "--scope", "openid", "--accepts-mandates", "--subject-type", "pairwise")
        back_office = system.cli("client", "create", "--name", "Déneigement Fullum (dossiers)",
                                 "--client-id", "deneigement-dossiers", "--grant-type", "client_credentials",
                                 "--scope", "accounts:link", "--audience", "urn:mtlid:accounts",
                                 "--subject-type", "pairwise", "--sector-identifier", "127.0.0.1")
        for service, client_id in (("deneigement-web", "deneigement-web"), ("deneigement-dossiers",
                                                                             "deneigement-dossiers")):
            system.cli("service", "create", "--id", service, "--kind", "partner", "--name-fr", "Déneigement Fullum",
                       "--name-en", "Fullum snow removal", "--owner", "Déneigement Fullum inc.",
                       "--client-id", client_id, "--attribute", "email", "--purpose", "service-provision")
        prp = AsyncOAuth2Client(client_id="deneigement-web", client_secret=web["client_secret"],
                                scope="openid", redirect_uri=f"{system.rp}/callback", code_challenge_method="S256")
        for _ in range(50):   # consent learns the partner's service from accounts' event
            chooser, verifier = await manager.authorize(prp)
            chosen = await manager.follow(await manager.http.post("/act-for", data={
                **hidden_fields(chooser.text), "act_for": mandate_id}))
            if "code=" in chosen.headers.get("location", ""):
                break
            await asyncio.sleep(0.2)
        ptokens = await prp.fetch_token(system.issuer + "/token", authorization_response=chosen.headers["location"],
                                        code_verifier=verifier)
        keys = KeySet.import_key_set(httpx.get(system.issuer + "/jwks", timeout=5).json())
        pclaims = jwt.decode(ptokens["id_token"], keys, algorithms=["ES256"]).claims
        organization_sub, manager_sub = pclaims["sub"], pclaims["act"]["sub"]
        assert organization_sub not in (organization_id, manager.resident_id)          # pairwise
        assert manager_sub not in (organization_id, manager.resident_id, organization_sub)
        link_token = system.client_token("deneigement-dossiers", back_office["client_secret"], "accounts:link",
                                         "urn:mtlid:accounts")
        with grpc.insecure_channel(system.target("accounts")) as channel:
            accounts = accounts_pb2_grpc.AccountsServiceStub(channel)
            for _ in range(100):   # accounts learns of the association from identity's event
                try:
                    account = accounts.LinkAccount(apb.LinkAccountRequest(
                        service_id="deneigement-dossiers", resident_id=organization_sub,
                        account_reference="DF-2026-017"), metadata=(("authorization", f"Bearer {link_token}"),),
                        timeout=5).account
                    break
                except grpc.RpcError as error:
                    assert error.code() == grpc.StatusCode.NOT_FOUND, error.details()
                    await asyncio.sleep(0.2)
            else:
                raise AssertionError("accounts never learned of the organization")
        assert account.resident_id == organization_sub and account.account_reference == "DF-2026-017"

        # -- the association's file, in the manager's Mes procurations (not the neighbour's) -
        await manager.sign_in_to_account()
        await neighbour.sign_in_to_account()
        mine = (await manager.http.get("/account/mandates")).text
        assert "Organisations que je représente" in mine and f"{NAME} ({number})" in mine
        assert f"Représentant : {manager_number}" in mine
        assert f"Fait par {manager_number} au nom de l’organisation" in mine and "consulter" in mine
        assert "Organisations que je représente" not in (await neighbour.http.get("/account/mandates")).text

        # -- revoked at the counter: refused at once --------------------------------------
        ended = await counter.post("/counter/organization/representative/end", file_page,
                                   organization_number=organization_id, mandate_id=mandate_id, how="revoke")
        assert ended.status_code == 200 and "révoquée" in ended.text
        [after] = decide(system, check_token, (manager.resident_id, organization_id))
        assert (after.allowed, after.reason) == (False, "MANDATE_REVOKED")
        again, _ = await manager.authorize(manager.rp())
        assert "/act-for" not in str(again.url) and "code=" in again.headers.get("location", "")

        # -- an operator registers one from the CLI; the counter finds it by its number ------
        with pytest.raises(RuntimeError, match="kind"):
            system.cli("organization", "create", "--name", "Boulangerie Rachel", "--kind", "bakery")
        bakery = system.cli("organization", "create", "--name", "Boulangerie Rachel", "--kind", "business")
        assert bakery["registered_by"] == "operator" and bakery["neq"] is None
        opened = await counter.http.get("/counter/organization", params={
            "organization_number": bakery["organization_number"].lower()})
        assert opened.status_code == 200 and "Boulangerie Rachel" in opened.text
        mistyped = bakery["organization_id"][:-1] + ("2" if bakery["organization_id"][-1] != "2" else "3")
        wrong = await counter.http.get("/counter/organization", params={"organization_number": mistyped})
        assert wrong.status_code == 400 and "n’est pas valide" in wrong.text
        as_resident = await counter.http.get("/counter/resident",
                                             params={"citizen_number": bakery["organization_number"]})
        assert as_resident.status_code == 400 and "numéro d’une organisation" in as_resident.text
    finally:
        await counter.http.aclose()
        await manager.http.aclose()
        await neighbour.http.aclose()
