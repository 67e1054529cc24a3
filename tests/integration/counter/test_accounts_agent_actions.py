"""Issue 17, point 5, for accounts: every agent action on a resident's file through accounts
(the console's enrolment and document check, and a counter system's FindResident, GetProfile,
VerifyAttribute, LinkAccountInPerson and ExportResidentData with an exchanged agent token) is a
``data_accessed`` entry in the resident's consent ledger — accounts' outbox, NATS, consent's
consumer, all real processes (``mtlid up``) — by the office's counter, naming the agent. The
resident, who activated online with the letter's code, sees each one in "Qui a vu mes données"
and in the downloaded file (accounts' journal line by line, each with its ledger entry)."""

from __future__ import annotations

import base64
import hashlib
import html
import io
import re
import time

import grpc
import httpx
import pytest
from pypdf import PdfReader

from montreal.accounts.v1 import accounts_pb2 as apb
from montreal.accounts.v1 import accounts_pb2_grpc
from montreal.identity.v1 import identity_pb2 as ipb
from montreal.identity.v1 import identity_pb2_grpc
from services.identity.domain import totp
from services.identity.domain.citizen_number import CitizenNumber
from services.identity.http.i18n import Translator
from services.identity.service_layer.resident_file import SECTIONS
from tests.e2e.system import BOROUGH_SERVICE, System, prepare_catalogue
from tests.integration.account_pages.conftest import hidden_fields

PASSWORD = "une phrase de passe de résidente 17b"
AGENT_PASSWORD = "un mot de passe de comptoir 17b"
OFFICE = "Accès Montréal — Rosemont"
COUNTER = "counter-rosemont"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
EXPECTED = {"enroll_resident", "verify_attribute", "record_document_check", "find_resident", "view_profile",
            "link_account", "export_resident_data"}


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    running = System(str(tmp_path_factory.mktemp("accounts-agents") / "var"))
    running.start()
    try:
        running.secret = prepare_catalogue(running)
        yield running
    finally:
        running.stop()


class Browser:
    def __init__(self, base: str) -> None:
        self.http = httpx.AsyncClient(base_url=base, follow_redirects=False, timeout=15)

    async def submit(self, path: str, **fields: str) -> httpx.Response:
        page = await self.http.get(path)
        return await self.http.post(path, data={**hidden_fields(page.text), **fields})


def _exchange(system, secret: str, subject_token: str, resource: str) -> str:
    reply = httpx.post(system.issuer + "/token", auth=(COUNTER, secret), timeout=5, data={
        "grant_type": TOKEN_EXCHANGE, "subject_token": subject_token,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "resource": resource})
    assert reply.status_code == 200, reply.text
    return reply.json()["access_token"]


def _counter_system_acts(system, token: str, resident_id: str) -> None:
    """A counter system, for the agent: what an Accès Montréal desk does through accounts."""
    metadata = (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(system.target("accounts")) as channel:
        stub = accounts_pb2_grpc.AccountsServiceStub(channel)
        found = stub.FindResident(apb.FindResidentRequest(resident_id=resident_id), metadata=metadata, timeout=5)
        assert len(found.matches) == 1, found
        stub.GetProfile(apb.GetProfileRequest(resident_id=resident_id), metadata=metadata, timeout=5)
        stub.RecordDocumentCheck(apb.RecordDocumentCheckRequest(resident_id=resident_id,
                                                                document_type=apb.DOCUMENT_TYPE_DRIVER_LICENCE,
                                                                last_digits="5512"), metadata=metadata, timeout=5)
        stub.VerifyAttribute(apb.VerifyAttributeRequest(resident_id=resident_id, attribute="family_name",
                                                        method=apb.VERIFICATION_METHOD_AT_COUNTER),
                             metadata=metadata, timeout=5)
        stub.LinkAccountInPerson(apb.LinkAccountInPersonRequest(service_id=BOROUGH_SERVICE, resident_id=resident_id,
                                                                account_reference="PMR-17B"),
                                 metadata=metadata, timeout=5)
        stub.ExportResidentData(apb.ExportResidentDataRequest(resident_id=resident_id), metadata=metadata, timeout=10)


async def _print_the_file_as_pdf(console: Browser, resident_id: str) -> str:
    """Point 3: the resident gives a consent at the counter, then the agent prints the complete
    file as a PDF in English; the text of every page of the PDF (read with pypdf)."""
    file_page = "/counter/resident?citizen_number=" + resident_id
    page = await console.http.get(file_page)
    given = await console.http.post("/counter/resident/consent", data={
        **hidden_fields(page.text), "recipient_id": BOROUGH_SERVICE, "purpose_id": "communication",
        "channel": "counter", "resident_choice": "yes", "decision": "give"})
    assert given.status_code == 200 and 'id="recorded"' in given.text, given.text[:2000]
    page = await console.http.get(file_page)
    reply = await console.http.post("/counter/resident/file", data={
        **hidden_fields(page.text), "file_language": "en", "file_format": "pdf"})
    assert reply.status_code == 200, reply.text[:2000]
    assert reply.headers["content-type"] == "application/pdf" and reply.headers["cache-control"] == "no-store"
    reader = PdfReader(io.BytesIO(reply.content))
    return "\n".join(p.extract_text() for p in reader.pages)


async def _link_and_withdraw_at_the_console(console: Browser, resident_id: str) -> None:
    """Issue 17, point 3: at the console, a service account linked in person and the consent
    withdrawn at the resident's request, each confirmed on screen with what was recorded."""
    file_page = "/counter/resident?citizen_number=" + resident_id
    page = await console.http.get(file_page)
    linked = await console.http.post("/counter/resident/link", data={
        **hidden_fields(page.text), "service_id": "montreal-ca", "account_reference": "MTLCA-17B"})
    assert linked.status_code == 200 and 'id="recorded"' in linked.text, linked.text[:2000]
    assert "MTLCA-17B" in html.unescape(linked.text.split('id="recorded"', 1)[1])
    page = await console.http.get(file_page)
    consent_id = re.search(r'name="consent_id" value="([^"]+)"', page.text).group(1)
    withdrawn = await console.http.post("/counter/resident/consent", data={
        **hidden_fields(page.text), "consent_id": consent_id, "decision": "withdraw"})
    assert withdrawn.status_code == 200 and 'id="recorded"' in withdrawn.text, withdrawn.text[:2000]
    assert 'name="consent_id"' not in (await console.http.get(file_page)).text  # no active consent left


async def test_every_agent_action_through_accounts_is_in_the_residents_ledger_history_and_file(system):
    agent = system.cli("agent", "create", "--email", "agent.rosemont@montreal.ca", "--name", "Agente Rosemont",
                       "--office", OFFICE, "--password", AGENT_PASSWORD)
    counter = system.cli("client", "create", "--name", "Comptoir Rosemont", "--client-id", COUNTER,
                         "--grant-type", TOKEN_EXCHANGE, "--scope", "identity:agent", "--scope", "accounts:agent",
                         "--audience", "urn:mtlid:identity", "--audience", "urn:mtlid:accounts", "--city")
    secret = base64.b32decode(agent["totp_secret"] + "=" * (-len(agent["totp_secret"]) % 8))
    console = Browser(system.issuer)
    try:
        assert (await console.submit("/counter/login", email=agent["email"], password=AGENT_PASSWORD)
                ).headers["location"] == "/counter/second-factor"
        assert (await console.submit("/counter/second-factor", code=totp.totp(secret, time.time()))
                ).headers["location"] == "/counter"
        enrolled = await console.submit("/counter/enroll", family_name="Lalonde", given_name="Rosalie",
                                        date_of_birth="1958-03-14", email="", phone="", preferred_language="fr",
                                        document_type="passport", document_last_digits="7731")
        assert enrolled.status_code == 200, enrolled.text[:2000]
        number = re.search(r"MTL [0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", enrolled.text).group(0)
        subject_token = (await console.http.get("/counter/session-token")).json()["subject_token"]
        with grpc.insecure_channel(system.target("identity")) as channel:
            letter = identity_pb2_grpc.IdentityServiceStub(channel).IssueActivationCode(
                ipb.IssueActivationCodeRequest(citizen_number=number), timeout=5, metadata=(
                    ("authorization",
                     f"Bearer {_exchange(system, counter['client_secret'], subject_token, 'urn:mtlid:identity')}"),))
        resident_id = letter.resident_id
        _counter_system_acts(system, _exchange(system, counter["client_secret"], subject_token,
                                               "urn:mtlid:accounts"), resident_id)
        printed = await _print_the_file_as_pdf(console, resident_id)
        await _link_and_withdraw_at_the_console(console, resident_id)
    finally:
        await console.http.aclose()

    resident = Browser(system.issuer)
    try:
        activated = await resident.submit("/activate", citizen_number=resident_id, code=letter.activation_code,
                                          password=PASSWORD, password_confirm=PASSWORD, email="")
        assert activated.status_code == 200, activated.text[:1000]
        assert (await resident.submit("/account/login", email=resident_id, password=PASSWORD)).status_code in (302, 303)
        form = await resident.http.get("/account/export")
        deadline = time.monotonic() + 30
        while True:  # the ledger records them as consent's consumer receives accounts' events
            reply = await resident.http.post("/account/export", data={**hidden_fields(form.text),
                                                                      "current_password": PASSWORD})
            assert reply.status_code == 200, reply.text[:2000]
            document = reply.json()
            journal = document["accounts"]["counter_journal"]
            accesses = {e["entry"]["access_id"]: e["entry"] for e in document["access_log"]}
            if all(f"accounts.{j['action_id']}" in accesses for j in journal) or time.monotonic() > deadline:
                break
            form = await resident.http.get("/account/export")
        history = (await resident.http.get("/account/access")).text
    finally:
        await resident.http.aclose()

    # the file: accounts' journal holds every action, each one the agent's, by the counter system or the console
    assert {j["action"] for j in journal} == EXPECTED, journal
    assert {j["agent_id"] for j in journal} == {agent["agent_id"]}
    assert {j["office"] for j in journal} == {OFFICE}  # the agent, the client and the office, every line
    assert COUNTER in {j["client_id"] for j in journal}
    # ... and each line is a data access in the ledger: the office's counter, the agent, the public task
    office_counter = f"counter-{hashlib.sha256(OFFICE.encode()).hexdigest()[:16]}"
    for line in journal:
        entry = accesses.get(f"accounts.{line['action_id']}")
        assert entry is not None, (line, sorted(accesses))
        assert (entry["recipient_id"], entry["agent"], entry["source"], entry["purpose_id"]) == (
            office_counter, agent["agent_id"], "accounts:counter", "service-provision"), entry
        assert entry["data_categories"], entry
    by_action = {j["action"]: accesses[f"accounts.{j['action_id']}"] for j in journal}
    # what the agent saw, as categories: never a value
    assert {"given_name", "family_name", "date_of_birth"} <= set(by_action["view_profile"]["data_categories"])
    assert by_action["record_document_check"]["data_categories"] == ["date_of_birth", "family_name", "given_name"]
    # (identifiers, hashes and times left out: a random id may hold "5512" by chance)
    values = [v for entry in accesses.values() for k, v in entry.items()
              if not (k.endswith("id") or k in ("time", "accessed_at", "leaf_hash"))]
    assert "Rosalie" not in str(values) and "5512" not in str(values), values
    # the complete file printed at the counter as a PDF: every section, as the HTML print
    number_human = CitizenNumber(resident_id).human
    assert number_human in printed and "My file at the City" in printed
    flat = " ".join(printed.split())
    english = Translator("en")
    for section in SECTIONS:
        if section.heading:
            assert " ".join(english(section.heading).replace("’", "'").split()) in flat, section.name
    consents = flat[flat.index("Consents"):]
    # the consent given at the counter (a table cell may wrap a long service id: compared without spaces)
    assert f"{BOROUGH_SERVICE}communication" in consents.replace(" ", ""), consents[:1500]
    # the ledger's entries written before the print (the consent; the export the print asked for);
    # the data accesses arrive through NATS and may or may not be in it yet
    assert "consent_given" in printed and "export_requested" in printed
    assert "print_resident_file" in printed and "view_profile" in printed       # both journals
    # linked in person at the console; the consent given then withdrawn at the counter, by the agent
    assert {"PMR-17B", "MTLCA-17B"} <= {s["account_reference"] for s in document["linked_services"]}
    [consent] = [c for c in document["consent"]["consents"] if c["recipient_id"] == BOROUGH_SERVICE]
    assert consent["state"] == "withdrawn", consent
    actors = {(e["entry"]["type"], e["entry"].get("actor")) for e in document["consent"]["ledger_entries"]}
    assert {("consent_given", f"agent:{agent['agent_id']}"), ("consent_withdrawn", f"agent:{agent['agent_id']}")} \
        <= actors, actors
    # the history page ("Qui a vu mes données"): the office's counter and the agent's reference, once per action
    text = html.unescape(history)
    assert f"Comptoir Accès Montréal — bureau {OFFICE}" in text
    assert text.count(f"<dd>{agent['agent_id']}</dd>") >= len(journal), text[:3000]


def _rows(system, service: str, table: str) -> int:
    """Rows in one service's table, on the system's database (SQLite or PostgreSQL)."""
    return system.query(service, f"SELECT count(*) FROM {table}")[0][0]


async def test_an_enrolment_accounts_would_refuse_writes_nothing_anywhere(system):
    """Issue 17, "Shown": a failed enrolment leaves no resident and no number consumed. The
    console asks accounts first (``EnrollResident`` with ``validate_only``, AIP-163): a phone
    number the console's own form lets through but accounts refuses (not E.164) is named on the
    form, and neither identity nor accounts wrote a row."""
    agent = system.cli("agent", "create", "--email", "agent.lachine@montreal.ca", "--name", "Agent Lachine",
                       "--office", "Accès Montréal — Lachine", "--password", AGENT_PASSWORD)
    counter = system.cli("client", "create", "--name", "Comptoir Lachine", "--client-id", "counter-lachine",
                         "--grant-type", TOKEN_EXCHANGE, "--scope", "accounts:agent",
                         "--audience", "urn:mtlid:accounts", "--city")
    secret = base64.b32decode(agent["totp_secret"] + "=" * (-len(agent["totp_secret"]) % 8))
    console = Browser(system.issuer)
    try:
        await console.submit("/counter/login", email=agent["email"], password=AGENT_PASSWORD)
        assert (await console.submit("/counter/second-factor", code=totp.totp(secret, time.time()))
                ).headers["location"] == "/counter"
        tables = (("identity", "residents"), ("identity", "agent_actions"), ("accounts", "profiles"),
                  ("accounts", "agent_actions"), ("identity", "outbox"), ("accounts", "outbox"))
        before = [_rows(system, *t) for t in tables]
        refused = await console.submit("/counter/enroll", family_name="Lalonde", given_name="Rosalie",
                                       date_of_birth="1958-03-14", email="", phone="+0514 555 1234",
                                       preferred_language="fr", document_type="passport",
                                       document_last_digits="7731")
        assert refused.status_code == 400, refused.text[:2000]
        assert 'href="#phone"' in refused.text and 'aria-invalid="true"' in refused.text
        assert "ce numéro de téléphone n’est pas valide" in html.unescape(refused.text).lower()
        assert 'value="Lalonde"' in refused.text  # what was typed stays, to correct one field
        assert [_rows(system, *t) for t in tables] == before

        # The same, as a counter system asks it over gRPC: every problem named, nothing written.
        subject_token = (await console.http.get("/counter/session-token")).json()["subject_token"]
        token = httpx.post(system.issuer + "/token", auth=("counter-lachine", counter["client_secret"]), data={
            "grant_type": TOKEN_EXCHANGE, "subject_token": subject_token, "resource": "urn:mtlid:accounts",
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt"}, timeout=5).json()["access_token"]
        with grpc.insecure_channel(system.target("accounts")) as channel:
            stub = accounts_pb2_grpc.AccountsServiceStub(channel)
            metadata = (("authorization", f"Bearer {token}"),)
            with pytest.raises(grpc.RpcError) as error:
                stub.EnrollResident(apb.EnrollResidentRequest(resident_id="MTL 2345", validate_only=True, attributes=[
                    apb.AttributeChange(name="family_name", value="Lalonde"),
                    apb.AttributeChange(name="date_of_birth", value="2999-01-01")]), timeout=5, metadata=metadata)
            assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "resident_id" in error.value.details() and "attributes[1].value" in error.value.details()
            ok = stub.EnrollResident(apb.EnrollResidentRequest(validate_only=True, attributes=[
                apb.AttributeChange(name="family_name", value="Lalonde")]), timeout=5, metadata=metadata)
            assert not ok.HasField("profile")
            with pytest.raises(grpc.RpcError) as error:  # without validate_only, the number is required
                stub.EnrollResident(apb.EnrollResidentRequest(attributes=[
                    apb.AttributeChange(name="family_name", value="Lalonde")]), timeout=5, metadata=metadata)
            assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "resident_id" in error.value.details()
        assert [_rows(system, *t) for t in tables] == before
    finally:
        await console.http.aclose()


async def test_a_profile_enrolment_could_not_record_is_completed_from_the_file(system):
    """When accounts did not answer at enrolment, the number exists without its profile and the
    page says so; the file then offers "Compléter le profil" (accounts ``EnrollResident``), with
    the enrolment form's checks, accounts' own refusals named on the field, nothing half-written."""
    agent = system.cli("agent", "create", "--email", "agent.verdun@montreal.ca", "--name", "Agent Verdun",
                       "--office", "Accès Montréal — Verdun", "--password", AGENT_PASSWORD)
    counter = system.cli("client", "create", "--name", "Comptoir Verdun", "--client-id", "counter-verdun",
                         "--grant-type", TOKEN_EXCHANGE, "--scope", "identity:agent",
                         "--audience", "urn:mtlid:identity", "--city")
    secret = base64.b32decode(agent["totp_secret"] + "=" * (-len(agent["totp_secret"]) % 8))
    console = Browser(system.issuer)
    try:
        await console.submit("/counter/login", email=agent["email"], password=AGENT_PASSWORD)
        assert (await console.submit("/counter/second-factor", code=totp.totp(secret, time.time()))
                ).headers["location"] == "/counter"
        # the number issued by identity alone: what an enrolment leaves when accounts is down
        subject_token = (await console.http.get("/counter/session-token")).json()["subject_token"]
        token = httpx.post(system.issuer + "/token", auth=("counter-verdun", counter["client_secret"]), data={
            "grant_type": TOKEN_EXCHANGE, "subject_token": subject_token, "resource": "urn:mtlid:identity",
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt"}, timeout=5).json()["access_token"]
        with grpc.insecure_channel(system.target("identity")) as channel:
            created = identity_pb2_grpc.IdentityServiceStub(channel).CreateResidentInPerson(
                ipb.CreateResidentInPersonRequest(preferred_language="fr", document_type=ipb.DOCUMENT_TYPE_PASSPORT,
                                                  document_last_digits="4411"),
                timeout=5, metadata=(("authorization", f"Bearer {token}"),))
        page = f"/counter/resident?citizen_number={created.resident_id}"
        file = await console.http.get(page)
        assert file.status_code == 200 and 'action="/counter/resident/profile"' in file.text, file.text[:3000]

        async def post(**fields):
            form = await console.http.get(page)
            return await console.http.post("/counter/resident/profile", data={
                **hidden_fields(form.text), "citizen_number": created.resident_id, **fields})

        # The attributes this form writes (the resident_created event may still be bringing the
        # preferred language through NATS: that one is not the form's)
        def form_attributes() -> int:
            return system.query("accounts", "SELECT count(*) FROM profile_attributes WHERE resident_id = ? AND name IN "
                                "('family_name', 'given_name', 'date_of_birth', 'phone')", created.resident_id)[0][0]

        before = form_attributes()
        missing = await post(family_name="", given_name="Rosalie", date_of_birth="1958-13-01", phone="")
        assert missing.status_code == 400
        assert 'href="#family_name"' in missing.text and 'href="#date_of_birth"' in missing.text
        refused = await post(family_name="Lalonde", given_name="Rosalie", date_of_birth="1958-03-14",
                             phone="+0514 555 1234")
        assert refused.status_code == 400 and 'href="#phone"' in refused.text, refused.text[:3000]
        assert form_attributes() == before == 0  # nothing half-written
        done = await post(family_name="Lalonde", given_name="Rosalie", date_of_birth="1958-03-14", phone="")
        assert done.status_code == 200 and 'id="recorded"' in done.text, done.text[:3000]
        assert "Profil enregistré, vérifié au comptoir" in html.unescape(done.text)
        again = await console.http.get(page)
        assert "Rosalie" in again.text and "1958" in again.text
        assert 'action="/counter/resident/profile"' not in again.text  # the profile is there now
    finally:
        await console.http.aclose()
