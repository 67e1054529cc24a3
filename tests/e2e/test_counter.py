"""The counter, for everyone (issue 17, "Shown"), in a real browser against the whole system
(``mtlid up`` as processes): an operator creates an agent (``mtlid agent create``), the agent
signs in with the second factor (the console exchanges the session for an agent token under
the hood, RFC 8693), a mistyped citizen number gets a helpful message, a resident with no
e-mail is enrolled, the letter is printed (the PDF opens and carries the code), the resident
activates online with the code and signs in with the citizen number, and the agent's actions
appear in the resident's history and in the supervisor's view. axe-core finds no WCAG 2.1
A/AA violation on any console page."""

from __future__ import annotations

import base64
import io
import re
import time
from urllib.parse import urlencode

import pytest
from pypdf import PdfReader

from services.identity.domain import totp
from services.identity.domain.citizen_number import CitizenNumber
from tests.e2e.pages import check_page, new_context, tab_to

pytestmark = pytest.mark.e2e

RESIDENT_PASSWORD = "une phrase de passe pour Gisèle"


def _code(secret_b32: str, step_offset: int = 0) -> str:
    secret = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    return totp.hotp(secret, int(time.time()) // 30 + step_offset)


def _mistyped() -> str:
    text = CitizenNumber.new().human  # MTL XXXX-XXXX-XXXX
    for i in range(4, len(text) - 1):
        if text[i] != text[i + 1] and text[i].isalnum() and text[i + 1].isalnum():
            return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    raise AssertionError(text)


async def _sign_in(page, issuer: str, agent: dict, name: str | None = None) -> None:
    await page.goto(issuer + "/counter")
    await page.wait_for_url(issuer + "/counter/login")
    if name:
        await check_page(page, name + "-login")
    await tab_to(page, "#email")
    await page.keyboard.type(agent["email"])
    await tab_to(page, "#password")
    await page.keyboard.type(agent["password"])
    await page.keyboard.press("Enter")
    await page.wait_for_url(issuer + "/counter/second-factor")
    if name:
        await check_page(page, name + "-second-factor")
    await page.fill("#code", _code(agent["totp_secret"]))
    await page.keyboard.press("Enter")
    await page.wait_for_url(issuer + "/counter")


def _counter_accesses(system, token: str, resident_id: str, at_least: int, timeout: float = 20.0,
                      source: str = "counter.") -> list:
    """The resident's data accesses by a counter, from the consent ledger, once ``at_least``
    arrived (identity's outbox → NATS → consent's consumer). ``source``: the access ids'
    prefix, ``counter.`` for identity's look-ups, ``accounts.`` for what the agent read or did
    through accounts (its counter journal's lines)."""
    import grpc

    from montreal.consent.v1 import consent_pb2 as cpb
    from montreal.consent.v1 import consent_pb2_grpc

    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(system.target("consent")) as channel:
        stub = consent_pb2_grpc.ConsentServiceStub(channel)
        while True:
            records = stub.AccessLog(cpb.AccessLogRequest(resident_id=resident_id), timeout=5,
                                     metadata=(("authorization", f"Bearer {token}"),)).records
            found = [r for r in records if r.recipient_id.startswith("counter-") and r.access_id.startswith(source)]
            if len(found) >= at_least or time.monotonic() > deadline:
                return found
            time.sleep(0.3)


async def test_the_counter_for_everyone(system, browser):
    issuer = system.issuer
    agent = system.cli("agent", "create", "--email", "dominique.tremblay@ville.montreal.qc.ca",
                       "--name", "Dominique Tremblay", "--office", "Accès Montréal — Ville-Marie")
    supervisor = system.cli("agent", "create", "--email", "sam.roy@ville.montreal.qc.ca", "--name", "Sam Roy",
                            "--office", "Accès Montréal — Ville-Marie", "--role", "supervisor")
    context = await new_context(browser, viewport={"width": 1280, "height": 900})
    page = await context.new_page()

    # -- the agent signs in: password, then the TOTP code (level 3) ---------------------------
    await _sign_in(page, issuer, agent, "counter-01")
    assert agent["agent_id"] in await page.content()
    await check_page(page, "counter-02-home")

    # -- a mistyped number: a helpful message, not "not found" --------------------------------
    await page.fill("#citizen_number", _mistyped())
    await page.keyboard.press("Enter")
    await page.wait_for_selector("text=Le caractère de contrôle ne correspond pas")
    assert await page.get_attribute("#citizen_number", "aria-invalid") == "true"
    await check_page(page, "counter-03-mistyped")

    # -- enrol a resident with no e-mail ------------------------------------------------------
    await page.goto(issuer + "/counter/enroll")
    await check_page(page, "counter-04-enroll")
    await page.fill("#family_name", "Bouchard")
    await page.select_option("#document_type", "health_insurance_card")
    await page.fill("#document_last_digits", "1234")
    await page.click("form[action='/counter/enroll'] button")
    await page.wait_for_selector("[role=alert]")
    content = await page.content()
    assert "9.0.0.1" in content and 'href="#given_name"' in content and 'href="#date_of_birth"' in content
    await check_page(page, "counter-05-enroll-errors")
    await page.fill("#given_name", "Gisèle")
    await page.fill("#date_of_birth", "1941-06-02")
    await page.select_option("#document_type", "birth_certificate")
    await page.fill("#document_last_digits", "7731")
    await page.click("form[action='/counter/enroll'] button")
    await page.wait_for_selector("#recorded")
    content = await page.content()
    number = re.search(r"MTL [0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", content).group(0)
    assert "Gisèle" in content and "aucun" in content and "Certificat de naissance ••7731" in content
    await check_page(page, "counter-06-enrolled")

    # -- a homonym: same names, same date of birth (the search shows both) ------------------
    await page.goto(issuer + "/counter/enroll")
    await page.fill("#family_name", "Bouchard")
    await page.fill("#given_name", "Gisèle")
    await page.fill("#date_of_birth", "1941-06-02")
    await page.select_option("#document_type", "passport")
    await page.fill("#document_last_digits", "5150")
    await page.click("form[action='/counter/enroll'] button")
    await page.wait_for_selector("#recorded")
    homonym = re.search(r"MTL [0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", await page.content()).group(0)
    assert homonym != number

    # -- find them again by name and date of birth (least data: names, year, number) ---------
    await page.goto(issuer + "/counter")
    await page.fill("#family_name", "Bouchard")
    await page.fill("#date_of_birth", "1941-06-02")
    await page.click("form[action='/counter/search'] button")
    await page.wait_for_url(re.compile(r".*/counter/search\?.*"))
    results = await page.inner_text("table")
    assert number in results and "1941" in results and "1941-06-02" not in results
    await check_page(page, "counter-06a-search")
    await page.click(f"text={number}")
    await page.wait_for_url(re.compile(r".*/counter/resident\?.*"))

    # -- every look-up is a data access in the consent ledger (identity → NATS → consent) ----
    # each resident the search showed, and the file opened, by "Comptoir Accès Montréal — bureau
    # …", naming the agent's reference; read as the privacy officer would (consent AccessLog)
    office_counter = "Comptoir Accès Montréal — bureau Accès Montréal — Ville-Marie"
    officer = system.cli("client", "create", "--name", "Responsable de la protection des renseignements",
                         "--grant-type", "client_credentials", "--scope", "consent:admin",
                         "--audience", "urn:mtlid:consent")
    officer_token = system.client_token(officer["client_id"], officer["client_secret"], "consent:admin",
                                        "urn:mtlid:consent")
    seen = _counter_accesses(system, officer_token, CitizenNumber.parse(number).canonical, 2)
    assert [r.recipient_name_fr for r in seen] == [office_counter] * 2
    assert {r.agent_reference for r in seen} == {agent["agent_id"]} and {r.purpose_id for r in seen} == {
        "service-provision"}
    assert {"given_name", "family_name", "date_of_birth"} <= set(seen[0].data_categories)
    [shown] = _counter_accesses(system, officer_token, CitizenNumber.parse(homonym).canonical, 1)
    assert shown.recipient_name_fr == office_counter and shown.agent_reference == agent["agent_id"]
    # what the console did through accounts (the profile entered at enrolment, the file opened)
    # is in the ledger too, by the same office's counter, naming the same agent
    through_accounts = _counter_accesses(system, officer_token, CitizenNumber.parse(number).canonical, 2,
                                         source="accounts.")
    assert len(through_accounts) >= 2 and {r.recipient_name_fr for r in through_accounts} == {office_counter}
    assert {r.agent_reference for r in through_accounts} == {agent["agent_id"]}

    # -- a document check: type and last four only, the level raised -------------------------
    await page.select_option("#document_type", "passport")
    await page.fill("#document_last_digits", "X9Q2")
    await page.click("form[action='/counter/resident/document'] button")
    await page.wait_for_selector("#recorded")
    assert "Passeport ••X9Q2" in await page.content()
    await check_page(page, "counter-06c-document")

    # -- a consent the resident gives at the counter: their choice, marked as such ------------
    await page.select_option("#recipient_id", "montreal-ca")
    await page.select_option("#purpose_id", "communication")
    await page.click("form[action='/counter/resident/consent'] button[value=give]")
    await page.wait_for_selector("[role=alert]")  # the resident's own choice was not ticked
    assert "seulement si le résident a lui-même exprimé ce choix" in await page.content()
    await page.select_option("#recipient_id", "montreal-ca")
    await page.select_option("#purpose_id", "communication")
    await page.check("#resident_choice")
    await page.click("form[action='/counter/resident/consent'] button[value=give]")
    await page.wait_for_selector("#recorded")
    assert "Consentement enregistré, donné au comptoir, agent " + agent["agent_id"] in await page.content()
    await check_page(page, "counter-06b-consent")

    # -- print the resident's complete file, in their language (after the document check) ----
    await page.check("input[name=file_language][value=en]")
    await page.click("form[action='/counter/resident/file'] button")
    await page.wait_for_selector("text=My file at the City of Montréal")
    printed = await page.inner_text("main")
    assert number in printed and "Identity" in printed and "Consents" in printed  # identity, consent
    assert "Gisèle" in printed and "Bouchard" in printed  # accounts' profile, with provenance
    assert "communication" in printed and "print_resident_file" in printed and agent["agent_id"] in printed
    assert "export_requested" in printed  # consent's ledger: the export, by the agent
    assert await page.get_attribute("html", "lang") == "en"
    await check_page(page, "counter-06d-printed-file")
    await page.goto(issuer + "/counter/resident?" + urlencode({"citizen_number": number}))
    await page.wait_for_selector("form[action='/counter/resident/file']")

    # -- print the letter: the PDF opens and carries the code ---------------------------------
    csrf = await page.get_attribute("form[action='/counter/resident/letter'] input[name=csrf_token]", "value")
    resident_id = await page.get_attribute("form[action='/counter/resident/letter'] input[name=citizen_number]",
                                           "value")
    letter = await context.request.post(issuer + "/counter/resident/letter", form={
        "csrf_token": csrf, "citizen_number": resident_id, "letter_language": "fr"})
    assert letter.status == 200 and letter.headers["content-type"] == "application/pdf"
    text = PdfReader(io.BytesIO(await letter.body())).pages[0].extract_text()
    assert number in text and "311" in text and issuer + "/activate" in text
    code = re.search(r"\n([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})\n", text.replace(number, "")).group(1)

    # -- the resident activates online with the code and signs in -----------------------------
    resident_context = await new_context(browser, viewport={"width": 412, "height": 915})
    resident = await resident_context.new_page()
    await resident.goto(issuer + "/activate")
    await check_page(resident, "counter-07-activate")
    await resident.fill("#citizen_number", number)
    await resident.fill("#code", code)
    await resident.fill("#password", RESIDENT_PASSWORD)
    await resident.fill("#password_confirm", RESIDENT_PASSWORD)
    await resident.click("form[action='/activate'] button")
    await resident.wait_for_selector("text=Votre compte est activé")
    await check_page(resident, "counter-08-activated")
    await resident.click("text=Me connecter")
    await resident.fill("#email", number)
    await resident.fill("#password", RESIDENT_PASSWORD)
    await resident.click("button[type=submit]")
    await resident.wait_for_url(re.compile(r".*/account$"))
    assert CitizenNumber.parse(number).human in await resident.content()

    # -- the agent's actions are in the resident's history ------------------------------------
    await resident.goto(issuer + "/account/access")
    history = await resident.inner_text("#counter-actions-title ~ ul")
    assert "Inscription au comptoir" in history and "Lettre d’activation imprimée" in history
    assert "Accès Montréal — Ville-Marie" in history and agent["agent_id"] in history
    assert "Consentement enregistré au comptoir" in history
    assert "Votre dossier complet a été imprimé pour vous au comptoir" in history
    assert "Dominique" not in history  # pseudonymous by default
    ledger_cards = await resident.inner_text("ul.access-log")
    assert "Comptoir Accès Montréal — bureau Accès Montréal — Ville-Marie" in ledger_cards
    assert agent["agent_id"] in ledger_cards and "Dominique" not in ledger_cards
    await check_page(resident, "counter-09-resident-history")
    await resident.goto(issuer + "/account/consents")
    assert "au comptoir, auprès d’un agent (votre choix)" in await resident.content()
    await check_page(resident, "counter-09b-resident-consents")

    # -- and in the supervisor's view ---------------------------------------------------------
    boss_context = await new_context(browser, viewport={"width": 1280, "height": 900})
    boss = await boss_context.new_page()
    await _sign_in(boss, issuer, supervisor)
    await boss.click("text=Supervision")
    await boss.wait_for_url(issuer + "/counter/supervision")
    view = await boss.content()
    assert agent["agent_id"] in view and "create_resident_in_person" in view and "issue_activation_letter" in view
    await check_page(boss, "counter-10-supervision")

    # -- the agent signs out: nothing more can be done in their name --------------------------
    await page.goto(issuer + "/counter")
    await page.click("form[action='/counter/logout'] button")
    await page.wait_for_selector("text=Session fermée")
    await check_page(page, "counter-11-signed-out")
    await page.goto(issuer + "/counter")
    await page.wait_for_url(issuer + "/counter/login")
    for ctx in (context, resident_context, boss_context):
        await ctx.close()


async def test_a_profile_not_recorded_at_enrolment_is_completed_in_the_browser(system, browser):
    """The file of a resident whose enrolment left a number without its profile (accounts did
    not answer then): "Compléter le profil", a value accounts refuses named on its field, then
    recorded; axe-core 0 violations in each state."""
    import grpc
    import httpx

    from montreal.identity.v1 import identity_pb2 as ipb
    from montreal.identity.v1 import identity_pb2_grpc

    issuer = system.issuer
    agent = system.cli("agent", "create", "--email", "camille.roy@ville.montreal.qc.ca", "--name", "Camille Roy",
                       "--office", "Accès Montréal — Verdun")
    counter = system.cli("client", "create", "--name", "Comptoir Verdun", "--client-id", "counter-verdun-e2e",
                         "--grant-type", "urn:ietf:params:oauth:grant-type:token-exchange",
                         "--scope", "identity:agent", "--audience", "urn:mtlid:identity", "--city")
    context = await new_context(browser, viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await _sign_in(page, issuer, agent)
    subject_token = (await (await context.request.get(issuer + "/counter/session-token")).json())["subject_token"]
    token = httpx.post(issuer + "/token", auth=("counter-verdun-e2e", counter["client_secret"]), timeout=5, data={
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "subject_token": subject_token,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "resource": "urn:mtlid:identity"}
    ).json()["access_token"]
    with grpc.insecure_channel(system.target("identity")) as channel:
        created = identity_pb2_grpc.IdentityServiceStub(channel).CreateResidentInPerson(
            ipb.CreateResidentInPersonRequest(preferred_language="fr", document_type=ipb.DOCUMENT_TYPE_PASSPORT,
                                              document_last_digits="4411"),
            timeout=5, metadata=(("authorization", f"Bearer {token}"),))
    await page.goto(issuer + "/counter/resident?" + urlencode({"citizen_number": created.citizen_number_human}))
    await page.wait_for_selector("#profile-title")
    await check_page(page, "counter-12-profile-missing")
    form = "form[action='/counter/resident/profile']"
    await page.fill(f"{form} #family_name", "Lalonde")
    await page.fill(f"{form} #given_name", "Rosalie")
    await page.fill(f"{form} #date_of_birth", "1958-03-14")
    await page.fill(f"{form} #phone", "+0514 555 1234")
    await page.click(f"{form} button")
    await page.wait_for_selector("[role=alert]")
    assert await page.get_attribute(f"{form} #phone", "aria-invalid") == "true"
    await check_page(page, "counter-13-profile-refused")
    await page.fill(f"{form} #phone", "514 555-1234")
    await page.click(f"{form} button")
    await page.wait_for_selector("#recorded")
    assert "Profil enregistré, vérifié au comptoir" in await page.inner_text("#recorded")
    assert await page.query_selector(form) is None
    await check_page(page, "counter-14-profile-recorded")
    await context.close()
