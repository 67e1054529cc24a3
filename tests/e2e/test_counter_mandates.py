"""The counter records parental authority on a document (issue 22), in a real browser against
the whole system: on the child's file the agent names the parent by citizen number, forgets
to confirm the original document (the error summary says so, nothing is recorded), then
records it; consent's decision "may the parent act for the child" is then yes, for any
service and action; the agent suspends it and the decision is refused at once. axe-core finds
no WCAG 2.1 A/AA violation (``counter-mandate-*.png``)."""

from __future__ import annotations

import datetime as dt

import grpc
import pytest

from montreal.consent.v1 import consent_pb2 as cpb
from montreal.consent.v1 import consent_pb2_grpc
from services.identity.domain.citizen_number import CitizenNumber
from tests.e2e.pages import check_page, new_context
from tests.e2e.test_counter import _sign_in

pytestmark = pytest.mark.e2e


def _decide(system, parent: str, child: str) -> cpb.MandateDecision:
    client = system.cli("client", "create", "--name", "Loisirs Rosemont", "--client-id",
                        f"loisirs-{child.lower()}-{dt.datetime.now().microsecond}", "--grant-type",
                        "client_credentials", "--scope", "consent:check", "--audience", "urn:mtlid:consent", "--city")
    token = system.client_token(client["client_id"], client["client_secret"], "consent:check", "urn:mtlid:consent")
    with grpc.insecure_channel(system.target("consent")) as channel:
        stub = consent_pb2_grpc.ConsentServiceStub(channel)
        return stub.DecideMandates(cpb.DecideMandatesRequest(questions=[cpb.MandateQuestion(
            mandatary_id=parent, represented_id=child, service="montreal-ca", action="consent")]),
            metadata=(("authorization", f"Bearer {token}"),), timeout=5).decisions[0]


async def test_parental_authority_recorded_at_the_counter(system, browser):
    issuer = system.issuer
    agent = system.cli("agent", "create", "--email", "camille.gagnon@ville.montreal.qc.ca",
                       "--name", "Camille Gagnon", "--office", "Accès Montréal — Rosemont")
    parent = system.cli("resident", "create", "--email", "parent.comptoir@example.ca", "--password",
                        "une phrase de passe du parent 22", "--verified")["resident_id"]
    child = system.cli("resident", "create", "--email", "enfant.comptoir@example.ca", "--password",
                       "une phrase de passe de l'enfant 22", "--verified")["resident_id"]
    context = await new_context(browser, viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await _sign_in(page, issuer, agent)
    await page.fill("#citizen_number", CitizenNumber.parse(child).human)
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#mandate-title")
    await check_page(page, "counter-mandate-01-file")

    eighteen = (dt.date.today() + dt.timedelta(days=365 * 10)).isoformat()
    await page.fill("#holder", CitizenNumber.parse(parent).human)
    await page.select_option("#basis", "parental_authority")
    await page.select_option("#mandate_document", "birth_certificate")
    await page.fill("#document_reference", "QC-2016-004211")
    await page.fill("#until", eighteen)
    await page.click("form[action='/counter/resident/mandate'] button")
    await page.wait_for_selector("[role=alert]")
    assert 'href="#document_seen"' in await page.content()
    assert await page.get_attribute("#document_seen", "aria-invalid") == "true"
    await check_page(page, "counter-mandate-02-error")
    assert not _decide(system, parent, child).allowed

    await page.fill("#holder", CitizenNumber.parse(parent).human)
    await page.select_option("#basis", "parental_authority")
    await page.select_option("#mandate_document", "birth_certificate")
    await page.fill("#document_reference", "QC-2016-004211")
    await page.fill("#until", eighteen)
    await page.check("#document_seen")
    await page.click("form[action='/counter/resident/mandate'] button")
    await page.wait_for_selector("#recorded")
    content = await page.inner_text("main")
    assert "Autorité parentale (mineur) inscrite" in content and CitizenNumber.parse(parent).human in content
    assert "QC-2016-004211" not in await page.content()   # only its hash is in the register
    await check_page(page, "counter-mandate-03-recorded")
    decision = _decide(system, parent, child)
    assert decision.allowed and decision.mandate_id

    await page.click("form[action='/counter/resident/mandate/end'] button[value=suspend]")
    await page.wait_for_selector("#recorded")
    assert "suspendue" in await page.inner_text("main")
    await check_page(page, "counter-mandate-04-suspended")
    refused = _decide(system, parent, child)
    assert (refused.allowed, refused.reason) == (False, "MANDATE_SUSPENDED")
    await context.close()
