"""Bad input at the console's and the activation page's forms: a clear message next to the
field (an error summary linking to it), a 4xx page, and nothing written. (The consent form's
bad input is in the browser test, where the consent service runs.)"""

from __future__ import annotations

import re

from sqlalchemy import func, select

from services.identity.adapters.orm import AgentActionRow, ResidentRow
from services.identity.domain.citizen_number import CitizenNumber
from tests.integration.counter.conftest import AgentBrowser, agent_of
from tests.integration.counter.test_console import ENROLMENT, _post


async def _counts(uow) -> tuple[int, int]:
    async with uow() as u:
        return ((await u.session.execute(select(func.count()).select_from(ResidentRow))).scalar_one(),
                (await u.session.execute(select(func.count()).select_from(AgentActionRow)
                                         .where(AgentActionRow.action != "find_resident"))).scalar_one())


async def test_every_console_form_names_what_is_wrong_and_writes_nothing(running_identity):
    _runtime, base, uow = running_identity
    agent = await agent_of(uow)
    browser = AgentBrowser(base)
    try:
        await browser.sign_in(agent)
        enrolled = await _post(browser, "/counter/enroll", "/counter/enroll", **ENROLMENT)
        number = re.search(r"MTL [0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", enrolled.text).group(0)
        rid = CitizenNumber.parse(number).canonical
        file_path = "/counter/resident?citizen_number=" + rid
        before = await _counts(uow)

        cases = [
            ("/counter/resident/link", {"citizen_number": rid, "service_id": "", "account_reference": "x" * 101},
             ("service_id", "account_reference")),
            ("/counter/resident/letter", {"citizen_number": rid, "letter_language": "de"}, ("letter_language",)),
            ("/counter/resident/document", {"citizen_number": rid, "document_type": "selfie",
                                            "document_last_digits": "1"}, ("document_type", "document_last_digits")),
            ("/counter/resident/document", {"citizen_number": "MTL 2345-6789", "document_type": "passport",
                                            "document_last_digits": "12"}, ("citizen_number",)),
        ]
        for action, fields, named in cases:
            answer = await _post(browser, file_path, action, **fields)
            assert 400 <= answer.status_code < 500, (action, answer.status_code)
            for field in named:
                assert f'href="#{field}"' in answer.text and f'id="{field}"' in answer.text, (action, field)
        for params, named in (({"citizen_number": "MTL 0000-0000-0000"}, "citizen_number"),
                              ({"citizen_number": ""}, "citizen_number")):
            answer = await browser.http.get("/counter/resident", params=params)
            assert answer.status_code == 400 and f'href="#{named}"' in answer.text
        answer = await browser.http.get("/counter/search", params={"given_name": "Gisèle"})
        assert answer.status_code == 400 and 'href="#family_name"' in answer.text and 'href="#date_of_birth"' in answer.text
        # a form posted without its CSRF token is refused, not half done
        forged = await browser.http.post("/counter/resident/letter", data={"citizen_number": rid,
                                                                           "letter_language": "fr"})
        assert forged.status_code == 403
        assert await _counts(uow) == before
    finally:
        await browser.close()


async def test_the_activation_page_names_every_problem(running_identity):
    _runtime, base, _uow = running_identity
    browser = AgentBrowser(base)
    try:
        answer = await _post(browser, "/activate", "/activate", citizen_number="MTL 2345", code="abc",
                             password="court", password_confirm="court", email="pas-un-courriel")
        assert answer.status_code == 400
        for field in ("citizen_number", "code", "password", "email"):
            assert f'href="#{field}"' in answer.text, field
        mismatch = await _post(browser, "/activate", "/activate", citizen_number="MTL 2345", code="abc",
                               password="une longue phrase", password_confirm="une autre phrase")
        assert mismatch.status_code == 400 and 'href="#password_confirm"' in mismatch.text
        english = await browser.http.get("/activate", params={"lang": "en"})
        assert "Activate my account online" in english.text
    finally:
        await browser.close()
