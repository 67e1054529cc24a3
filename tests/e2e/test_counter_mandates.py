"""The counter records parental authority on a document (issue 22), in a real browser against
the whole system: on the child's file the agent names the parent by citizen number, forgets
to confirm the original document (the error summary says so, nothing is recorded), then
records it; consent's decision "may the parent act for the child" is then yes, for any
service and action; the agent suspends it and the decision is refused at once. axe-core finds
no WCAG 2.1 A/AA violation (``counter-mandate-*.png``)."""

from __future__ import annotations

import datetime as dt

import asyncio

import grpc
import httpx
import pytest

from montreal.consent.v1 import consent_pb2 as cpb
from montreal.consent.v1 import consent_pb2_grpc
from services.identity.domain.citizen_number import CitizenNumber
from tests.e2e.pages import check_page, new_context, tab_to
from tests.e2e.test_counter import _sign_in
from tests.integration.account_pages.conftest import hidden_fields

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


async def _profile_names(system, email: str, password: str, given: str, family: str) -> None:
    """The resident's own "Mon profil" (over HTTP: the browser part of this test is the
    counter and montreal.ca): the names montreal.ca will show."""
    async with httpx.AsyncClient(base_url=system.issuer, timeout=15) as http:
        page = await http.get("/account/login")
        await http.post("/account/login", data={**hidden_fields(page.text), "email": email, "password": password})
        for _ in range(50):   # accounts creates the profile from the registration, a moment later
            page = await http.get("/account/profile")
            if page.status_code == 200 and 'name="given_name"' in page.text:
                break
            await asyncio.sleep(0.2)
        saved = await http.post("/account/profile", data={**hidden_fields(page.text), "given_name": given,
                                                          "family_name": family})
        assert saved.status_code == 303, saved.text[:300]


async def test_parental_authority_recorded_at_the_counter(system, browser):
    issuer = system.issuer
    agent = system.cli("agent", "create", "--email", "camille.gagnon@ville.montreal.qc.ca",
                       "--name", "Camille Gagnon", "--office", "Accès Montréal — Rosemont")
    parent = system.cli("resident", "create", "--email", "parent.comptoir@example.ca", "--password",
                        "une phrase de passe du parent 22", "--verified")["resident_id"]
    child = system.cli("resident", "create", "--email", "enfant.comptoir@example.ca", "--password",
                       "une phrase de passe de l'enfant 22", "--verified")["resident_id"]
    await _profile_names(system, "parent.comptoir@example.ca", "une phrase de passe du parent 22", "Nadia", "Benali")
    await _profile_names(system, "enfant.comptoir@example.ca", "une phrase de passe de l'enfant 22", "Yanis", "Benali")
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

    # -- the parent signs in at montreal.ca for the child (keyboard only) --------------------
    parent_context = await new_context(browser, viewport={"width": 1280, "height": 900})
    rp_page = await parent_context.new_page()
    await rp_page.goto(system.rp + "/")
    await tab_to(rp_page, "a[href='/login']")
    await rp_page.keyboard.press("Enter")
    await rp_page.wait_for_url(issuer + "/login?**")
    await tab_to(rp_page, "#email")
    await rp_page.keyboard.type("parent.comptoir@example.ca")
    await tab_to(rp_page, "#password")
    await rp_page.keyboard.type("une phrase de passe du parent 22")
    await rp_page.keyboard.press("Enter")
    await rp_page.wait_for_url(issuer + "/consent?**")
    await rp_page.click("button[value=accept]")
    await rp_page.wait_for_url(issuer + "/act-for?**")
    chooser = await rp_page.inner_text("main")
    # told before choosing: both names go to montreal.ca (it asked for profile)
    assert "recevra son prénom et son nom, et les vôtres" in chooser
    assert chooser.index("Vous-même") < chooser.index(CitizenNumber.parse(child).human)
    assert "autorité parentale" in chooser
    await check_page(rp_page, "counter-mandate-05-act-for")
    await tab_to(rp_page, "#act_for-self")
    await rp_page.keyboard.press("ArrowDown")       # the child, below "Vous-même"
    await tab_to(rp_page, "form[action='/act-for'] button[type=submit]")
    await rp_page.keyboard.press("Enter")
    await rp_page.wait_for_url(system.rp + "/**")
    # montreal.ca shows both: by name (it accepts mandates and asked for profile), the
    # child signed in, by the parent, under the mandate.
    assert (await rp_page.inner_text("#acting-for")).strip() == "Nadia Benali, pour Yanis Benali"
    assert (await rp_page.inner_text("#claim-name")).strip() == "Yanis Benali"
    assert (await rp_page.inner_text("#claim-act_name")).strip() == "Nadia Benali"
    assert (await rp_page.inner_text("#claim-sub")).strip() == child
    assert (await rp_page.inner_text("#claim-act")).strip() == parent
    assert decision.mandate_id in await rp_page.inner_text("#claim-mandate")
    await check_page(rp_page, "counter-mandate-06-demo-rp")
    await rp_page.goto(system.rp + "/?lang=en")
    assert (await rp_page.inner_text("#acting-for")).strip() == "Nadia Benali, for Yanis Benali"
    await parent_context.close()

    # -- the child's own file: the mandate and who received what, on their behalf -------------
    child_context = await new_context(browser, viewport={"width": 390, "height": 844})
    child_page = await child_context.new_page()
    await child_page.goto(issuer + "/account/login")
    await child_page.fill("#email", "enfant.comptoir@example.ca")
    await child_page.fill("#password", "une phrase de passe de l'enfant 22")
    await child_page.click("form[action='/account/login'] button[type=submit]")
    await child_page.wait_for_url(issuer + "/account")
    await child_page.goto(issuer + "/account/mandates")
    given = await child_page.inner_text(".mandates-given")
    assert CitizenNumber.parse(parent).human in given and "Autorité parentale" in given
    assert await child_page.locator(".mandates-given form[action='/account/mandates/end']").count() == 0
    await check_page(child_page, "counter-mandate-07-child-mandates")
    for _ in range(50):   # identity's release → outbox → NATS → consent's ledger
        await child_page.goto(issuer + "/account/access")
        if "montreal.ca" in await child_page.inner_text("main"):
            break
        await child_page.wait_for_timeout(200)
    access = await child_page.inner_text("main")
    assert "montreal.ca" in access
    # the sign-in on the child's behalf, by whom and under which mandate
    assert f"par {CitizenNumber.parse(parent).human}, en vertu de la procuration {decision.mandate_id}" in access
    # ... and that montreal.ca received the child's names, by the parent, under the mandate
    assert "Prénom" in access and "Nom de famille" in access
    await check_page(child_page, "counter-mandate-08-child-access")
    await child_context.close()

    await page.click("form[action='/counter/resident/mandate/end'] button[value=suspend]")
    await page.wait_for_selector("#recorded")
    assert "suspendue" in await page.inner_text("main")
    await check_page(page, "counter-mandate-04-suspended")
    refused = _decide(system, parent, child)
    assert (refused.allowed, refused.reason) == (False, "MANDATE_SUSPENDED")
    await context.close()
