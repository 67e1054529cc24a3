"""The counter console through the running identity service (issue 17, points 3 and 4): a
mistyped number is explained, an enrolment without e-mail works and a refused one writes
nothing, the letter is a PDF carrying a one-time code, the resident activates with it and
signs in with the citizen number. accounts is not running here: the console says what it
could not record instead of failing."""

from __future__ import annotations

import io
import re

from pypdf import PdfReader
from sqlalchemy import func, select

from services.identity.adapters.orm import AgentActionRow, ResidentRow
from services.identity.domain.citizen_number import CitizenNumber
from tests.integration.counter.conftest import AgentBrowser, agent_of
from tests.integration.identity_oidc.conftest import hidden_fields

ENROLMENT = {"family_name": "Bouchard", "given_name": "Gisèle", "date_of_birth": "1941-06-02", "email": "",
             "phone": "", "preferred_language": "fr", "document_type": "birth_certificate",
             "document_last_digits": "7731"}


async def _count(uow, table) -> int:
    async with uow() as u:
        return (await u.session.execute(select(func.count()).select_from(table))).scalar_one()


def mistyped(number: CitizenNumber) -> str:
    """The human form with two neighbouring different characters swapped (a common slip)."""
    text = number.human
    for i in range(len(text) - 1):
        a, b = text[i], text[i + 1]
        if a != b and a.isalnum() and b.isalnum() and i > 3:
            return text[:i] + b + a + text[i + 2:]
    raise AssertionError(text)


async def _post(browser: AgentBrowser, page_path: str, action: str, **fields: str):
    page = await browser.http.get(page_path)
    data = hidden_fields(page.text)
    data.update(fields)
    return await browser.http.post(action, data=data)


async def test_enrol_without_email_print_the_letter_activate_and_sign_in(running_identity):
    _runtime, base, uow = running_identity
    agent = await agent_of(uow)
    browser = AgentBrowser(base)
    try:
        await browser.sign_in(agent)
        # A refused enrolment writes nothing (and consumes no number: numbers are random).
        residents, actions = await _count(uow, ResidentRow), await _count(uow, AgentActionRow)
        bad = await _post(browser, "/counter/enroll", "/counter/enroll", **{
            **ENROLMENT, "family_name": "", "date_of_birth": "1941-13-40", "email": "pas-un-courriel",
            "document_type": "health_insurance_card", "document_last_digits": "123456"})
        assert bad.status_code == 400
        for field in ("family_name", "date_of_birth", "email", "document_type", "document_last_digits"):
            assert f'href="#{field}"' in bad.text, field
        assert "9.0.0.1" in bad.text  # the health card is refused with the reason
        assert (await _count(uow, ResidentRow), await _count(uow, AgentActionRow)) == (residents, actions)

        enrolled = await _post(browser, "/counter/enroll", "/counter/enroll", **ENROLMENT)
        assert enrolled.status_code == 200 and "Enregistré" in enrolled.text
        number = re.search(r"MTL [0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", enrolled.text).group(0)
        assert "le profil n’a pas pu être enregistré" in enrolled.text  # accounts is down: said, not hidden
        resident_id = CitizenNumber.parse(number).canonical
        async with uow() as u:
            resident = await u.residents.get(resident_id)
            journal = await u.agent_actions.for_resident(resident_id)
        assert resident.email is None and int(resident.level) == 2 and resident.registered_by == "agent"
        assert [(a["action"], a["agent_id"], a["office"]) for a in journal] == [
            ("create_resident_in_person", agent.agent_id, agent.office)]

        # A mistyped number gets a helpful message, not "not found".
        wrong = await browser.http.get("/counter/resident", params={"citizen_number": mistyped(CitizenNumber(resident_id))})
        assert wrong.status_code == 400 and "caractère de contrôle ne correspond pas" in wrong.text
        file = await browser.http.get("/counter/resident", params={"citizen_number": number})
        assert file.status_code == 200 and number in file.text

        letter = await _post(browser, "/counter/resident?citizen_number=" + resident_id, "/counter/resident/letter",
                             letter_language="fr")
        assert letter.status_code == 200 and letter.headers["content-type"] == "application/pdf"
        text = PdfReader(io.BytesIO(letter.content)).pages[0].extract_text()
        code = re.search(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}\n", text.replace(number, "")).group(0).strip()
        assert number in text and "/activate" in text and "311" in text
        assert "Code d'activation (à usage unique)" in text and "Ce code expire le" in text
        # In English if the resident prefers: a new code, and the French letter's stops working.
        english = await _post(browser, "/counter/resident?citizen_number=" + resident_id, "/counter/resident/letter",
                              letter_language="en")
        assert english.status_code == 200 and english.headers["content-type"] == "application/pdf"
        text = PdfReader(io.BytesIO(english.content)).pages[0].extract_text()
        assert number in text and "Activation code (single use)" in text and "call 311" in text
        assert "Code d'activation" not in text
        replaced, code = code, re.search(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}\n", text.replace(number, "")).group(0).strip()
        assert code != replaced
    finally:
        await browser.close()

    resident_browser = AgentBrowser(base)  # a resident's browser: same cookie jar mechanics
    try:
        password = "ma nouvelle phrase secrète"
        wrong = await _post(resident_browser, "/activate", "/activate", citizen_number=number,
                            code="AAAA-BBBB-CCCC", password=password, password_confirm=password)
        assert wrong.status_code == 400 and "a déjà servi ou a expiré" in wrong.text
        old = await _post(resident_browser, "/activate", "/activate", citizen_number=number, code=replaced,
                          password=password, password_confirm=password)
        assert old.status_code == 400 and "a déjà servi ou a expiré" in old.text  # replaced by the new letter
        done = await _post(resident_browser, "/activate", "/activate", citizen_number=number, code=code.lower(),
                           password=password, password_confirm=password)
        assert done.status_code == 200 and number in done.text
        again = await _post(resident_browser, "/activate", "/activate", citizen_number=number, code=code,
                            password=password, password_confirm=password)
        assert again.status_code == 400  # single use
        signed_in = await _post(resident_browser, "/account/login", "/account/login", email=number, password=password)
        assert signed_in.status_code in (302, 303) and signed_in.headers["location"].startswith("/account")
        # Throttled per account whatever the number's form (human, canonical, lower case).
        forms = [number, resident_id, resident_id.lower(), number.replace("-", " ")]
        stranger = AgentBrowser(base)
        try:
            for i in range(6):
                await _post(stranger, "/account/login", "/account/login", email=forms[i % 4], password="faux " * 4)
            throttled = await _post(stranger, "/account/login", "/account/login", email=resident_id.lower(),
                                    password=password)
        finally:
            await stranger.close()
        assert throttled.status_code == 429
    finally:
        await resident_browser.close()


async def test_document_check_refuses_the_health_card_and_records_the_rest(running_identity):
    _runtime, base, uow = running_identity
    agent = await agent_of(uow)
    browser = AgentBrowser(base)
    try:
        await browser.sign_in(agent)
        enrolled = await _post(browser, "/counter/enroll", "/counter/enroll", **ENROLMENT)
        number = re.search(r"MTL [0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", enrolled.text).group(0)
        resident_id = CitizenNumber.parse(number).canonical
        file_path = "/counter/resident?citizen_number=" + resident_id
        card = await _post(browser, file_path, "/counter/resident/document", citizen_number=resident_id,
                           document_type="health_insurance_card", document_last_digits="1234")
        assert card.status_code == 400 and "Loi sur l’assurance maladie, art. 9.0.0.1" in card.text
        empty = await _post(browser, file_path, "/counter/resident/document", citizen_number=resident_id,
                            document_type="", document_last_digits="")
        assert empty.status_code == 400 and 'href="#document_type"' in empty.text
        ok = await _post(browser, file_path, "/counter/resident/document", citizen_number=resident_id,
                         document_type="passport", document_last_digits="X9Q2")
        assert ok.status_code == 200 and "Vérification enregistrée : Passeport ••X9Q2" in ok.text
        assert agent.agent_id in ok.text
        bad_number = await _post(browser, file_path, "/counter/resident/letter", citizen_number="MTL 1234",
                                 letter_language="fr")
        assert bad_number.status_code == 400
        async with uow() as u:
            actions = [a["action"] for a in await u.agent_actions.for_resident(resident_id)]
        # every look-up of the file is journaled too; the refused health card wrote nothing
        assert [a for a in actions if a != "find_resident"] == ["create_resident_in_person", "raise_level_of_assurance"]
        assert "find_resident" in actions
    finally:
        await browser.close()


async def test_supervisors_see_the_agents_actions_and_the_unusual_ones(running_identity):
    _runtime, base, uow = running_identity
    agent, supervisor = await agent_of(uow), await agent_of(uow, role="supervisor", office="Accès Montréal — Plateau")
    browser, boss = AgentBrowser(base), AgentBrowser(base)
    try:
        await browser.sign_in(agent)
        for _ in range(3):
            found = await browser.http.get("/counter/search", params={
                "family_name": "Personne", "date_of_birth": "1970-01-01"})
            assert found.status_code in (200, 400)  # accounts is down here; the search is still refused cleanly
        enrolled = await _post(browser, "/counter/enroll", "/counter/enroll", **ENROLMENT)
        assert enrolled.status_code == 200
        assert (await browser.http.get("/counter/supervision")).status_code == 403  # agents are not supervisors

        await boss.sign_in(supervisor)
        page = await boss.http.get("/counter/supervision")
        assert page.status_code == 200 and agent.agent_id in page.text and agent.office in page.text
        assert "create_resident_in_person" in page.text
        only = await boss.http.get("/counter/supervision", params={"agent_id": agent.agent_id})
        assert only.status_code == 200 and supervisor.agent_id not in (
            only.text.split("<main", 1)[1].split("</form>", 1)[1])  # after the filter form
        bad = await boss.http.get("/counter/supervision", params={"start_date": "2026-13-01", "agent_id": "x"})
        assert bad.status_code == 400 and 'href="#start_date"' in bad.text and 'href="#agent_id"' in bad.text
    finally:
        await browser.close()
        await boss.close()


async def test_the_complete_file_is_printed_only_after_a_document_check_in_the_visit(running_identity):
    """Issue 17: the export printed at the counter goes only to the person in front of the
    agent: this agent must have checked one of their identity documents in this session. A
    refused print writes nothing; with accounts and consent down (here), nothing is printed
    either — a partial file would pass for the whole one. (The printed file itself, with
    every service up: tests/e2e/test_counter.py.)"""
    _runtime, base, uow = running_identity
    enroller, other = await agent_of(uow), await agent_of(uow, office="Accès Montréal — Anjou")
    first_agent, second_agent = AgentBrowser(base), AgentBrowser(base)
    try:
        await first_agent.sign_in(enroller)
        enrolled = await _post(first_agent, "/counter/enroll", "/counter/enroll", **ENROLMENT)
        number = re.search(r"MTL [0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", enrolled.text).group(0)
        resident_id = CitizenNumber.parse(number).canonical
        file_page = "/counter/resident?citizen_number=" + resident_id

        await second_agent.sign_in(other)
        before = await _count(uow, AgentActionRow)
        unchecked = await _post(second_agent, file_page, "/counter/resident/file", file_language="fr")
        assert unchecked.status_code == 400 and 'href="#file_language"' in unchecked.text
        assert "Vérifiez d’abord une pièce d’identité de cette personne" in unchecked.text
        bad_language = await _post(second_agent, file_page, "/counter/resident/file", file_language="de")
        assert bad_language.status_code == 400 and "Choisissez la langue du dossier" in bad_language.text
        bad_format = await _post(second_agent, file_page, "/counter/resident/file", file_language="fr",
                                 file_format="docx")
        assert bad_format.status_code == 400 and 'href="#file_format"' in bad_format.text
        assert "Choisissez d’imprimer la page ou d’obtenir un PDF" in bad_format.text
        unknown = await _post(second_agent, file_page, "/counter/resident/file", file_language="fr",
                              citizen_number=mistyped(CitizenNumber(resident_id)))
        assert unknown.status_code == 400 and "caractère de contrôle" in unknown.text
        # the GETs of the file page journal their look-ups; the refused prints nothing more
        async with uow() as u:
            journal = await u.agent_actions.for_resident(resident_id)
        assert "print_resident_file" not in {a["action"] for a in journal}
        assert await _count(uow, AgentActionRow) == before + 4  # the file page opened before each form

        # the enroller checked a document in this session, but the services cannot answer
        down = await _post(first_agent, file_page, "/counter/resident/file", file_language="en")
        assert down.status_code == 503 and 'href="#file_language"' in down.text
        async with uow() as u:
            journal = await u.agent_actions.for_resident(resident_id)
        assert "print_resident_file" not in {a["action"] for a in journal}
    finally:
        await first_agent.close()
        await second_agent.close()


async def test_searches_by_name_are_limited_per_agent(running_identity):
    """Issue 17, point 3: 30 searches by name and date of birth per agent per hour
    (``NAME_SEARCHES_PER_HOUR``): the 31st is a 429 page with ``Retry-After`` and the error
    summary, journals nothing and asks accounts nothing; another agent is not held back by it."""
    import datetime as dt

    from services.identity.http.counter.console import NAME_SEARCHES_PER_HOUR

    _runtime, base, uow = running_identity
    busy, other = await agent_of(uow), await agent_of(uow)
    now = dt.datetime.now(dt.timezone.utc)
    async with uow() as u:  # the searches this agent made in the last hour
        for minutes in range(NAME_SEARCHES_PER_HOUR):
            await u.agent_actions.record(agent_id=busy.agent_id, client_id="counter-console", action="find_by_name",
                                         resident_id="", details={"matches": 1}, office=busy.office,
                                         now=now - dt.timedelta(minutes=minutes))
        await u.commit()
    first, second = AgentBrowser(base), AgentBrowser(base)
    try:
        await first.sign_in(busy)
        before = await _count(uow, AgentActionRow)
        held = await first.http.get("/counter/search", params={"family_name": "Bouchard", "date_of_birth": "1941-06-02"})
        assert held.status_code == 429 and int(held.headers["retry-after"]) > 0
        assert 'href="#family_name"' in held.text
        assert await _count(uow, AgentActionRow) == before
        await second.sign_in(other)
        free = await second.http.get("/counter/search", params={"family_name": "Bouchard", "date_of_birth": "1941-06-02"})
        assert free.status_code == 400  # not limited: it reaches accounts (not running here) and says so
        assert "href=\"#family_name\"" in free.text
    finally:
        await first.close()
        await second.close()


async def test_supervisors_see_the_unusual_ones_many_name_searches_and_outside_office_hours(running_identity):
    """Issue 17, point 6: the unusual ones, through the page (identity ``SummarizeAgentActions``
    with the supervisor's agent token): 20 or more searches by name by one agent in a Montréal
    day, and any action outside 7:00–22:00 Montréal time; 19 searches and daytime actions are
    not flagged."""
    import datetime as dt
    import html

    from services.identity.service_layer.counter_journal import MANY_NAME_SEARCHES, MONTREAL

    _runtime, base, uow = running_identity
    fishing, night, ordinary = [await agent_of(uow, office="Accès Montréal — Anjou") for _ in range(3)]
    supervisor = await agent_of(uow, role="supervisor", office="Accès Montréal — Anjou")
    yesterday = dt.datetime.now(MONTREAL).date() - dt.timedelta(days=1)
    def at(hour: int, minute: int = 0) -> dt.datetime:  # Montréal wall time, stored in UTC as the console does
        return dt.datetime.combine(yesterday, dt.time(hour, minute), MONTREAL).astimezone(dt.timezone.utc)
    async with uow() as u:
        for agent, count in ((fishing, MANY_NAME_SEARCHES), (ordinary, MANY_NAME_SEARCHES - 1)):
            for i in range(count):
                await u.agent_actions.record(agent_id=agent.agent_id, client_id="counter-console",
                                             action="find_by_name", resident_id="", details={"matches": 1},
                                             office=agent.office, now=at(10, i))
        await u.agent_actions.record(agent_id=night.agent_id, client_id="counter-console", action="find_resident",
                                     resident_id="RESIDENT0002", details={}, office=night.office, now=at(3, 12))
        await u.commit()
    boss = AgentBrowser(base)
    try:
        await boss.sign_in(supervisor)
        page = await boss.http.get("/counter/supervision", params={
            "start_date": yesterday.isoformat(), "end_date": yesterday.isoformat(), "office": "Accès Montréal — Anjou"})
        assert page.status_code == 200, page.text[:2000]
        unusual = html.unescape(page.text.split("<tbody>", 1)[1].split("</tbody>", 1)[0])
        rows = [r for r in unusual.split("<tr>") if "<td>" in r]
        flagged = {(r.split("<td>")[1].split("</td>")[0], r.split("<td>")[2].split("</td>")[0]) for r in rows}
        assert flagged == {("Nombreuses recherches par nom", fishing.agent_id),
                           ("Hors des heures d’ouverture", night.agent_id)}, flagged
        assert f"{MANY_NAME_SEARCHES} " in unusual and "find_resident" in unusual
    finally:
        await boss.close()


async def test_a_visit_at_the_counter_is_one_sign_in_per_agent_session(running_identity):
    """Issue 15: opening a resident's file at the counter is a sign-in in their history — "au
    comptoir", the office, the resident's level — once per agent session (opening the file
    again or acting on it adds nothing); another agent's session is another visit."""
    from services.identity.http.account.sign_ins import view
    from services.identity.http.i18n import Translator
    from services.identity.service_layer.sign_ins import history

    _runtime, base, uow = running_identity
    first_agent = await agent_of(uow, office="Bureau Accès Montréal Rosemont")
    browser = AgentBrowser(base)
    try:
        await browser.sign_in(first_agent)
        enrolled = await _post(browser, "/counter/enroll", "/counter/enroll", **ENROLMENT)
        resident_id = CitizenNumber.parse(
            re.search(r"MTL [0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", enrolled.text).group(0)).canonical
        assert await history(resident_id, uow()) == []        # enrolling is not signing in
        file_path = "/counter/resident?citizen_number=" + resident_id
        assert (await browser.http.get(file_path)).status_code == 200
        assert (await browser.http.get(file_path)).status_code == 200            # again: the same visit
        checked = await _post(browser, file_path, "/counter/resident/document", citizen_number=resident_id,
                              document_type="passport", document_last_digits="K4P1")
        assert checked.status_code == 200
        [visit] = await history(resident_id, uow())
        assert visit.methods == ("counter",) and visit.outcome == "succeeded"
        assert visit.client_name == "Bureau Accès Montréal Rosemont"
        assert visit.acr == "urn:mtlid:loa:2"                  # verified at the counter when enrolled
        shown = view(visit, Translator("fr"))
        assert shown["service"] == "Bureau Accès Montréal Rosemont"
        assert shown["methods"] == ["au comptoir, avec une personne de la Ville"] and shown["level"] == 2
    finally:
        await browser.close()

    other = AgentBrowser(base)
    try:
        await other.sign_in(await agent_of(uow, office="Comptoir Verdun"))
        assert (await other.http.get("/counter/resident?citizen_number=" + resident_id)).status_code == 200
        offices = [s.client_name for s in await history(resident_id, uow())]
        assert sorted(offices) == ["Bureau Accès Montréal Rosemont", "Comptoir Verdun"]
    finally:
        await other.close()
