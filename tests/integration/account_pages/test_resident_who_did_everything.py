"""Issue 18's "Shown": the file of a resident who did everything, with the whole system running
(``mtlid up`` as processes). An agent enrols the resident at a counter (console, password +
TOTP) and a counter system, by RFC 8693 token exchange of the agent's session, issues the
activation code over identity's gRPC; the resident activates, signs in at two relying parties
(montreal.ca, the demo RP, and a second one, "Permis en ligne"), has two service accounts
linked, gives and withdraws a consent, receives data, and gives a biometric consent in Mon
compte. The downloaded file holds every one of these, `mtlid export verify` (a real process,
offline) passes, and fails — naming the section — on one flipped byte."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import subprocess
import sys
import time

import grpc
import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client

from montreal.accounts.v1 import accounts_pb2 as apb
from montreal.accounts.v1 import accounts_pb2_grpc
from montreal.consent.v1 import consent_pb2 as cpb
from montreal.consent.v1 import consent_pb2_grpc
from montreal.identity.v1 import identity_pb2 as ipb
from montreal.identity.v1 import identity_pb2_grpc
from services.identity.demo_rp.app import DEMO_CLIENT_ID
from services.identity.domain import totp
from tests.e2e.system import BOROUGH_SERVICE, Borough, System, prepare_catalogue
from tests.integration.account_pages.conftest import hidden_fields

PASSWORD = "une phrase de passe pour tout faire 18"
AGENT_PASSWORD = "un mot de passe de comptoir 2026"
EMAIL = "fait.tout@example.ca"
OFFICE = "Accès Montréal — Ville-Marie"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
SECOND_RP, SECOND_RP_NAME, SECOND_RP_CALLBACK = "permis-en-ligne", "Permis en ligne", "http://127.0.0.1:9/callback"
POOLS, BIOMETRIC = "pool-access", "biometric-identity-verification"


WITNESSES = ("auditor.montreal.example", "cai.quebec.example")


def _witness_key(where, name: str) -> tuple[str, str]:
    """(key file, verifier key): ``mtlid ledger witness-key``, as a witness's operator runs it."""
    path = where / f"{name}.key"
    done = subprocess.run([sys.executable, "-m", "services.cli", "ledger", "witness-key", "--name", name,
                           "--out", str(path)], capture_output=True, text=True, timeout=60, check=True)
    return str(path), json.loads(done.stdout)["verifier_key"]


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    where = tmp_path_factory.mktemp("everything")
    witnesses = [_witness_key(where, name) for name in WITNESSES]
    # the ledger publishes the two witnesses' cosignatures and needs both (quorum 2); the rate
    # is raised so that witnesses polling every 0.3 s are never refused during the test
    running = System(str(where / "var"), settings={
        "MTLID_LEDGER_WITNESSES": ",".join(vkey for _, vkey in witnesses),
        "MTLID_LEDGER_WITNESS_QUORUM": "2", "MTLID_LEDGER_WITNESS_RATE": "600"})
    running.witnesses = witnesses
    running.start()
    try:
        running.secret = prepare_catalogue(running)
        yield running
    finally:
        running.stop()


def _start_witness(system, key: str) -> subprocess.Popen:
    """A witness as a process of its own (someone else's machine), polling the published head."""
    return subprocess.Popen([sys.executable, "-m", "services.cli", "ledger", "witness", "--issuer", system.issuer,
                             "--key", key, "--interval", "0.3"], env={**os.environ},
                            stdout=open(key + ".out", "w"), stderr=open(key + ".err", "w"), text=True)


async def _consents_page_until(resident, predicate, what: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = (await resident.http.get("/account/consents")).text.replace("&#39;", "'")
        if predicate(text):
            return text
        assert time.monotonic() < deadline, f"timed out waiting for {what}: " + text[:3000]
        await asyncio.sleep(0.3)


class Browser:
    """A browser without JavaScript: keeps cookies, sends each form with its hidden fields."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = httpx.AsyncClient(base_url=base, follow_redirects=False, timeout=15)

    async def submit(self, path: str, *, from_page: str | None = None, **fields: str) -> httpx.Response:
        page = await self.http.get(from_page or path)
        return await self.http.post(path, data={**hidden_fields(page.text), **fields})

    async def follow(self, response: httpx.Response) -> httpx.Response:
        while response.status_code in (302, 303) and response.headers["location"].startswith(("/", self.base)):
            response = await self.http.get(response.headers["location"])
        return response


async def _enrol_at_the_counter(system) -> tuple[str, str, str]:
    """(resident id, agent id, activation code): the console's enrolment, then the activation
    code issued by a counter system acting for the agent (token exchange, ``act.sub``)."""
    agent = system.cli("agent", "create", "--email", "agent.ville-marie@montreal.ca", "--name", "Agent Ville-Marie",
                       "--office", OFFICE, "--password", AGENT_PASSWORD)
    counter = system.cli("client", "create", "--name", "Comptoir Ville-Marie", "--client-id", "counter-vm",
                         "--grant-type", TOKEN_EXCHANGE, "--scope", "identity:agent",
                         "--audience", "urn:mtlid:identity", "--city")
    secret = base64.b32decode(agent["totp_secret"] + "=" * (-len(agent["totp_secret"]) % 8))
    console = Browser(system.issuer)
    try:
        signed = await console.submit("/counter/login", email=agent["email"], password=AGENT_PASSWORD)
        assert signed.headers["location"] == "/counter/second-factor", signed.text[:500]
        second = await console.submit("/counter/second-factor", code=totp.totp(secret, time.time()))
        assert second.headers["location"] == "/counter", second.text[:500]
        enrolled = await console.submit("/counter/enroll", family_name="Tremblay", given_name="Gisèle",
                                        date_of_birth="1961-06-02", email="", phone="", preferred_language="fr",
                                        document_type="passport", document_last_digits="4821")
        assert enrolled.status_code == 200, enrolled.text[:2000]
        number = re.search(r"MTL [0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", enrolled.text).group(0)
        subject_token = (await console.http.get("/counter/session-token")).json()["subject_token"]
    finally:
        await console.http.aclose()
    exchanged = httpx.post(system.issuer + "/token", auth=("counter-vm", counter["client_secret"]), timeout=5, data={
        "grant_type": TOKEN_EXCHANGE, "subject_token": subject_token,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "resource": "urn:mtlid:identity"})
    assert exchanged.status_code == 200, exchanged.text
    with grpc.insecure_channel(system.target("identity")) as channel:
        letter = identity_pb2_grpc.IdentityServiceStub(channel).IssueActivationCode(
            ipb.IssueActivationCodeRequest(citizen_number=number),
            metadata=(("authorization", f"Bearer {exchanged.json()['access_token']}"),), timeout=5)
    return letter.resident_id, agent["agent_id"], letter.activation_code


def _pools(system, resident_id: str, reference: str = "PISC-18") -> None:
    """The pools' access system: a service asking for the biometric purpose (registered once
    per system), an account there."""
    if not getattr(system, "pools_secret", None):
        client = system.cli("client", "create", "--name", "Accès piscines", "--client-id", POOLS,
                            "--grant-type", "client_credentials", "--scope", "accounts:link",
                            "--audience", "urn:mtlid:accounts", "--city")
        system.cli("service", "create", "--id", POOLS, "--kind", "municipal", "--name-fr", "Accès aux piscines",
                   "--name-en", "Pool access", "--owner", "Ville de Montréal", "--client-id", POOLS,
                   "--attribute", "biometric_face", "--purpose", BIOMETRIC)
        system.pools_secret = client["client_secret"]
    token = system.client_token(POOLS, system.pools_secret, "accounts:link", "urn:mtlid:accounts")
    metadata = (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(system.target("accounts")) as channel:
        stub = accounts_pb2_grpc.AccountsServiceStub(channel)
        deadline = time.monotonic() + 20
        while True:
            try:
                account = stub.LinkAccount(apb.LinkAccountRequest(service_id=POOLS, resident_id=resident_id,
                                                                  account_reference=reference),
                                           metadata=metadata, timeout=5).account
                break
            except grpc.RpcError as error:
                if error.code() not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION) \
                        or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        stub.ActivateAccount(apb.ActivateAccountRequest(account_id=account.account_id, reason="carte d'accès"),
                             metadata=metadata, timeout=5)
    # consent learns of the service from accounts' events
    with grpc.insecure_channel(system.target("consent")) as channel:
        stub = consent_pb2_grpc.ConsentServiceStub(channel)
        deadline = time.monotonic() + 20
        while POOLS not in {r.recipient_id for r in stub.ListRecipients(cpb.ListRecipientsRequest(),
                                                                        timeout=5).recipients}:
            assert time.monotonic() < deadline, "consent never learned the pools' service"
            time.sleep(0.2)


async def _sign_in_at(resident: Browser, number: str, rp: AsyncOAuth2Client) -> dict:
    """The authorization code flow at a relying party, as the resident's browser goes through it."""
    verifier = generate_token(48)
    url, _ = rp.create_authorization_url(resident.base + "/authorize", code_verifier=verifier)
    page = await resident.follow(await resident.http.get(url))
    if "/login" in str(page.url):
        page = await resident.follow(await resident.http.post("/login", data={
            **hidden_fields(page.text), "email": number, "password": PASSWORD}))
    if "/consent" in str(page.url):
        page = await resident.follow(await resident.http.post("/consent", data={
            **hidden_fields(page.text), "decision": "accept"}))
    assert page.status_code == 302 and "code=" in page.headers["location"], (page.url, page.text[:1000])
    return await rp.fetch_token(resident.base + "/token", authorization_response=page.headers["location"],
                                code_verifier=verifier)


def _verify(path, *options: str) -> tuple[int, dict]:
    done = subprocess.run([sys.executable, "-m", "services.cli", "export", "verify", str(path), *options],
                          capture_output=True, text=True, timeout=60, env={**os.environ})
    return done.returncode, json.loads(done.stdout)


async def test_the_file_of_a_resident_who_did_everything(system, tmp_path):
    resident_id, agent_id, code = await _enrol_at_the_counter(system)
    system.cli("client", "create", "--name", SECOND_RP_NAME, "--client-id", SECOND_RP, "--public",
               "--redirect-uri", SECOND_RP_CALLBACK, "--grant-type", "authorization_code", "--scope", "openid")
    resident = Browser(system.issuer)
    borough = Borough(system, system.secret)
    witnesses: list[subprocess.Popen] = []
    try:
        activated = await resident.submit("/activate", citizen_number=resident_id, code=code, password=PASSWORD,
                                          password_confirm=PASSWORD, email=EMAIL)
        assert activated.status_code == 200, activated.text[:1000]
        signed = await resident.submit("/account/login", email=resident_id, password=PASSWORD)
        assert signed.status_code in (302, 303), signed.text[:500]

        # two relying parties
        montreal_ca = AsyncOAuth2Client(client_id=DEMO_CLIENT_ID, scope="openid profile",
                                        redirect_uri=f"{system.rp}/callback", code_challenge_method="S256",
                                        token_endpoint_auth_method="none")
        permits = AsyncOAuth2Client(client_id=SECOND_RP, scope="openid", redirect_uri=SECOND_RP_CALLBACK,
                                    code_challenge_method="S256", token_endpoint_auth_method="none")
        assert (await _sign_in_at(resident, resident_id, montreal_ca))["id_token"]
        assert (await _sign_in_at(resident, resident_id, permits))["id_token"]

        # two service accounts; a consent given, used, withdrawn, given again; a biometric one
        borough.link(resident_id, "PMR-18")
        _pools(system, resident_id)
        consents = await resident.http.get("/account/consents")
        granted = await resident.http.post("/account/consents/grant", data={
            "csrf_token": hidden_fields(consents.text)["csrf_token"], "recipient_id": BOROUGH_SERVICE,
            "purpose_id": "communication"})
        assert granted.status_code == 303, granted.text[:500]
        listing = (await resident.http.get("/account/consents")).text
        first_consent = re.search(r'/account/consents/([\w-]+)/withdraw', listing).group(1)
        # the borough receives the name the agent entered (the e-mail is not confirmed yet)
        received = borough.stub.ReleaseAttributes(apb.ReleaseAttributesRequest(
            service_id=BOROUGH_SERVICE, resident_id=resident_id, purpose_id="service-provision",
            attributes=["given_name"]), metadata=borough.metadata, timeout=10)
        assert received.access_id, received
        withdraw = await resident.http.get(f"/account/consents/{first_consent}/withdraw")
        assert (await resident.http.post(f"/account/consents/{first_consent}/withdraw",
                                         data=hidden_fields(withdraw.text))).status_code == 303
        consents = await resident.http.get("/account/consents")
        assert (await resident.http.post("/account/consents/grant", data={
            "csrf_token": hidden_fields(consents.text)["csrf_token"], "recipient_id": BOROUGH_SERVICE,
            "purpose_id": "communication"})).status_code == 303
        offer = re.search(r'href="(/account/consents/biometric\?[^"]+)"', consents.text).group(1).replace("&amp;", "&")
        page = await resident.http.get(offer)
        biometric = await resident.http.post("/account/consents/biometric", data={
            **hidden_fields(page.text), "days": "90", "agree": "yes", "current_password": PASSWORD})
        assert biometric.status_code == 303, biometric.text[:2000]

        # The witnesses, each a process of its own. With one of the two required, the
        # resident's page says how many cosigned the head their proofs refer to, and flags it.
        (key_a, vkey_a), (key_b, vkey_b) = system.witnesses
        witnesses.append(_start_witness(system, key_a))
        page = await _consents_page_until(
            resident, lambda text: "cosigné par 1 témoin(s) indépendant(s) sur 2 requis" in text, "one cosignature")
        assert "Attention : moins de 2 témoins ont cosigné cet état du registre." in page
        witnesses.append(_start_witness(system, key_b))
        page = await _consents_page_until(
            resident, lambda text: "cosigné par 2 témoin(s) indépendant(s) sur 2 requis" in text, "two cosignatures")
        assert "Attention : moins de" not in page
        for process in witnesses:  # the file below carries the head both cosigned
            process.terminate()
            process.wait(timeout=20)

        form = await resident.http.get("/account/export")
        reply = await resident.http.post("/account/export", data={**hidden_fields(form.text),
                                                                  "current_password": PASSWORD})
        assert reply.status_code == 200, reply.text[:2000]
        document = reply.json()
        # the same file to read and print (FR), every section's heading and the cosigned head
        readable = await resident.http.post("/account/export", data={
            **hidden_fields(form.text), "current_password": PASSWORD, "format": "html"})
        assert readable.status_code == 200 and readable.headers["content-type"].startswith("text/html")
        readable_text = readable.text.replace("&#39;", "'")
    finally:
        for process in witnesses:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=20)
        await resident.http.aclose()

    # identity: the number, the level the counter's document check gave
    assert document["resident"]["citizen_number"] == resident_id and document["resident"]["level_of_assurance"] >= 2
    # one sign-in section: Mon compte and both relying parties, and the sessions opened
    succeeded = {a["client_id"] for a in document["sign_ins"]["attempts"] if a["outcome"] == "succeeded"}
    assert {DEMO_CLIENT_ID, SECOND_RP} <= succeeded, document["sign_ins"]
    assert SECOND_RP_NAME in {a["service"] for a in document["sign_ins"]["attempts"]}
    assert document["sign_ins"]["sessions"] and document["sign_ins"]["sessions"][0]["methods"] == ["pwd"]
    # the relying parties and their grants
    assert {DEMO_CLIENT_ID, SECOND_RP} <= {g["client_id"] for g in document["relying_parties"]}
    # one agent-actions section: the console's enrolment and the counter system's letter, both the agent's
    actions = {a["action"]: a for a in document["agent_actions"]}
    assert {"create_resident_in_person", "issue_activation_letter"} <= set(actions), document["agent_actions"]
    assert actions["create_resident_in_person"]["details"]["document_type"] == "passport"
    assert actions["create_resident_in_person"]["details"]["document_last_digits"] == "4821"
    assert actions["issue_activation_letter"]["client_id"] == "counter-vm"
    assert {a["agent"] for a in document["agent_actions"]} == {agent_id}
    assert {a["office"] for a in document["agent_actions"]} == {OFFICE}
    # the profile the agent entered, with its provenance; both service accounts
    attributes = {a["name"]: a for a in document["accounts"]["profile"]["attributes"]}
    assert attributes["given_name"]["value"] == "Gisèle" and attributes["given_name"]["provenance"]
    assert {s["account_reference"] for s in document["linked_services"]} == {"PMR-18", "PISC-18"}
    # consents: withdrawn, given, biometric (with the re-authentication in its entry), receipts
    consent = document["consent"]
    states = {(c["recipient_id"], c["purpose_id"], c["state"]) for c in consent["consents"]}
    assert {(BOROUGH_SERVICE, "communication", "withdrawn"), (BOROUGH_SERVICE, "communication", "given"),
            (POOLS, BIOMETRIC, "given")} <= states, states
    assert "montreal-ca" in {c["recipient_id"] for c in consent["consents"]}  # given at montreal.ca's screen
    assert len(consent["receipts"]) == len(consent["consents"]) == 4
    biometric_entry = next(e["entry"] for e in consent["ledger_entries"]
                           if e["entry"].get("type") == "consent_given" and e["entry"].get("purpose_id") == BIOMETRIC)
    assert biometric_entry["reauthentication_method"] and biometric_entry["reauthenticated_at"]
    assert {e["entry"]["type"] for e in consent["ledger_entries"]} >= {"consent_given", "consent_withdrawn",
                                                                       "data_accessed"}
    # the access log, every entry proven, the heads
    # (what the borough received, and what each relying party received at sign-in)
    assert {BOROUGH_SERVICE, "montreal-ca"} <= {e["entry"]["recipient_id"] for e in document["access_log"]}
    assert set(consent["inclusion_proofs"]) == {str(e["index"]) for e in consent["ledger_entries"]}
    assert consent["tree_head"]["jws"]
    # the head both witnesses cosigned, in the file, with its consistency to the signed head
    witnessed = consent["witnessed_head"]
    assert (witnessed["count"], witnessed["quorum"], witnessed["below_quorum"]) == (2, 2, False), witnessed
    assert set(witnessed["witnesses"]) == set(WITNESSES)
    assert all(f"\n— {name} " in witnessed["note"] for name in WITNESSES), witnessed["note"]
    assert 0 < witnessed["tree_size"] <= consent["tree_head"]["tree_size"]
    # each receipt: consent type, the controller's contact, each category's source, the cosigned head
    for signed_receipt in consent["receipts"]:
        payload = signed_receipt["jws"].split(".")[1]
        receipt = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        assert receipt["events"][0]["consent_type"] and receipt["processing"]["controllers"][0]["email"]
        assert receipt["processing"]["controllers"][0]["phone"]
        assert all(c["source"] for c in receipt["processing"]["pii_categories"]), receipt
        assert receipt["ledger"]["witnessed_head"]["count"] == 2, receipt["ledger"]
        if receipt["processing"]["purposes"][0]["purpose_id"] == BIOMETRIC:
            assert receipt["biometric"]["non_biometric_alternative"]["id"], receipt
    assert document["signature"]["jws"].count(".") == 2
    # the printable version: the number and every section's heading
    shown_number = f"MTL {resident_id[:4]}-{resident_id[4:8]}-{resident_id[8:]}"
    assert shown_number in readable_text and "2 témoin(s) indépendant(s) sur 2 requis" in readable_text
    for words in ("Identité", "Historique des connexions", "Permis en ligne",
                  "Services en ligne où vous vous êtes connecté", "Actions d'agents sur votre dossier",
                  "Profil et provenance de chaque renseignement", "Comptes de service liés", "PISC-18",
                  "Journal des accès", "Registre des consentements"):
        assert words in readable_text, words

    saved = tmp_path / "dossier.json"
    saved.write_text(reply.text)
    # offline, with the keys identity publishes (pinned) and the two witnesses' verifier keys
    jwks = tmp_path / "jwks.json"
    jwks.write_text(httpx.get(system.issuer + "/jwks", timeout=5).text)
    keys = ("--identity-keys", str(jwks), *(o for _, vkey in system.witnesses for o in ("--witness-key", vkey)))
    code, report = _verify(saved, *keys)
    assert code == 0 and report["ok"] and all(report["checks"].values()), report
    assert report["receipts"] == 4 and report["entries"] == len(consent["ledger_entries"])
    assert (report["witnessed"]["verified"], report["witnessed"]["below_quorum"]) == (2, False), report
    # one flipped byte, in identity's part and in the ledger's part
    raw = bytearray(saved.read_bytes())
    where = raw.index(b'"Tremblay"') + 2          # accounts' profile: the family name
    raw[where] ^= 0x01
    (tmp_path / "flipped.json").write_bytes(bytes(raw))
    code, report = _verify(tmp_path / "flipped.json", *keys)
    assert code == 1 and report["problems"] == ["section accounts: changed since the file was signed"], report
    raw = bytearray(saved.read_bytes())
    where = raw.index(b'"leaf_data_base64": "') + len(b'"leaf_data_base64": "') + 8
    raw[where] = ord("A") if raw[where] != ord("A") else ord("B")
    (tmp_path / "flipped-proof.json").write_bytes(bytes(raw))
    code, report = _verify(tmp_path / "flipped-proof.json", *keys)
    assert code == 1 and not report["checks"]["entries"]
    assert "section consent: changed since the file was signed" in report["problems"]
    # any byte: one flipped bit at 600 places spread over the whole file (every section, the
    # signature, the keys) and the same check refuses each copy (unreadable, or not ok)
    from services.consent.domain.export_check import verify_export
    from services.consent.domain.witness import VerifierKey

    original = saved.read_bytes()
    identity_keys = json.loads(jwks.read_text())
    witness_keys = [VerifierKey.parse(vkey) for _, vkey in system.witnesses]
    assert verify_export(json.loads(original.decode()), witness_keys, identity_keys)["ok"]
    step = max(1, len(original) // 600)
    accepted = []
    for where in range(step // 2, len(original), step):
        raw = bytearray(original)
        raw[where] ^= 0x01
        try:
            copy = json.loads(bytes(raw).decode("utf-8"))
        except ValueError:
            continue   # not even JSON any more: `mtlid export verify` says so and exits 1
        if not isinstance(copy, dict):
            continue   # "not a resident's file"
        try:
            if verify_export(copy, witness_keys, identity_keys)["ok"]:
                accepted.append((where, original[max(0, where - 40):where + 40]))
        except Exception as error:  # a refusal must be a report, not a crash
            accepted.append((where, repr(error)))
    assert not accepted, accepted[:5]


async def test_a_biometric_consent_given_with_the_second_factor_records_it(system):
    """Point 6: a resident who has a second factor proves it is them with a code of their
    authentication app instead of the password; the ledger entry records `second_factor`. A
    wrong code, or neither code nor password, is refused with the field named and nothing
    granted."""
    email = "deux.facteurs@example.ca"
    resident_id = system.cli("resident", "create", "--email", email, "--password", PASSWORD,
                             "--verified")["resident_id"]
    resident = Browser(system.issuer)
    try:
        signed = await resident.submit("/account/login", email=email, password=PASSWORD)
        assert signed.status_code in (302, 303), signed.text[:500]
        security = await resident.http.get("/account/security")
        start = await resident.http.post("/account/security/totp", data=hidden_fields(security.text))
        secret_b32 = re.search(r"secret=([A-Z2-7]+)", start.text).group(1)
        secret = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
        now = time.time()
        enrolled = await resident.http.post("/account/security/totp/confirm", data={
            **hidden_fields(start.text), "code": totp.totp(secret, now), "totp_current_password": PASSWORD})
        assert enrolled.status_code == 303, enrolled.text[:1000]
        _pools(system, resident_id, "PISC-2FA")

        consents = await resident.http.get("/account/consents")
        offer = re.search(r'href="(/account/consents/biometric\?[^"]+)"', consents.text).group(1).replace("&amp;", "&")
        page = await resident.http.get(offer)
        assert 'autocomplete="one-time-code"' in page.text and 'id="current_password"' in page.text
        form = {**hidden_fields(page.text), "days": "30", "agree": "yes"}
        neither = await resident.http.post("/account/consents/biometric", data=form)
        assert neither.status_code == 400 and 'href="#current_password"' in neither.text
        assert "Entrez un code de votre application d'authentification, ou votre mot de passe." in \
            neither.text.replace("&#39;", "'")
        wrong = await resident.http.post("/account/consents/biometric", data={**form, "totp_code": "000000"})
        assert wrong.status_code == 400 and 'href="#totp_code"' in wrong.text
        # the next step's code (the enrolment used this one: a step is accepted once)
        given = await resident.http.post("/account/consents/biometric",
                                         data={**form, "totp_code": totp.totp(secret, now + 30)})
        assert given.status_code == 303, given.text[:2000]

        export_form = await resident.http.get("/account/export")
        document = (await resident.http.post("/account/export", data={
            **hidden_fields(export_form.text), "current_password": PASSWORD})).json()
    finally:
        await resident.http.aclose()
    [entry] = [e["entry"] for e in document["consent"]["ledger_entries"]
               if e["entry"].get("type") == "consent_given" and e["entry"].get("purpose_id") == BIOMETRIC]
    assert entry["reauthentication_method"] == "second_factor" and entry["reauthenticated_at"]
    assert [c["state"] for c in document["consent"]["consents"] if c["purpose_id"] == BIOMETRIC] == ["given"]
