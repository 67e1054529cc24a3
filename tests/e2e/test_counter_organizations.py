"""An organization at the counter (issue 22), in a real browser against the whole system: the
agent opens "Organisations" from the console's home, forgets to tick the register's statement
(the error summary names each field; nothing is registered), registers the condo association,
then names its manager — the end date beyond one year is refused first — and the file lists
her as representative. axe-core finds no WCAG 2.1 A/AA violation
(``counter-organization-*.png``)."""

from __future__ import annotations

import datetime as dt

import pytest

from services.identity.domain.citizen_number import CitizenNumber
from tests.e2e.pages import check_page, new_context, tab_to
from tests.e2e.test_counter import _sign_in

pytestmark = pytest.mark.e2e


async def test_registering_an_organization_and_naming_its_representative(system, browser):
    issuer = system.issuer
    agent = system.cli("agent", "create", "--email", "marc.roy@ville.montreal.qc.ca",
                       "--name", "Marc Roy", "--office", "Accès Montréal — Plateau")
    manager = system.cli("resident", "create", "--email", "gerante.rachel@example.ca", "--password",
                         "une phrase de passe de la gérante", "--verified")["resident_id"]
    context = await new_context(browser, viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await _sign_in(page, issuer, agent)
    await tab_to(page, "a[href='/counter/organization']")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#register-organization")
    await check_page(page, "counter-organization-01-home")

    await page.fill("#name", "Syndicat du 80 rue Rachel")
    await page.select_option("#kind", "condo_association")
    await page.fill("#neq", "1175550123")
    await page.click("form[action='/counter/organization'][method='post'] button")
    await page.wait_for_selector("[role=alert]")
    assert 'href="#statement_seen"' in await page.content()
    await check_page(page, "counter-organization-02-error")
    assert "Organisation inscrite" not in await page.content()

    await page.fill("#name", "Syndicat du 80 rue Rachel")
    await page.select_option("#kind", "condo_association")
    await page.fill("#neq", "1175550123")
    await page.check("#statement_seen")
    await page.click("form[action='/counter/organization'][method='post'] button")
    await page.wait_for_selector("#recorded")
    number = await page.inner_text("#organization-number")
    assert number.startswith("ORG ")
    await check_page(page, "counter-organization-03-registered")

    human = CitizenNumber.parse(manager).human
    await page.fill("#holder", human)
    await page.fill("#document_reference", "État de renseignements 2026-12-01")
    await page.fill("#until", (dt.date.today() + dt.timedelta(days=400)).isoformat())
    await page.check("#statement_seen")
    await page.click("form[action='/counter/organization/representative'] button")
    await page.wait_for_selector("[role=alert]")
    assert "Un représentant est nommé pour un an au plus." in await page.inner_text("main")
    await check_page(page, "counter-organization-04-too-long")

    await page.fill("#holder", human)
    await page.fill("#document_reference", "État de renseignements 2026-12-01")
    await page.fill("#until", (dt.date.today() + dt.timedelta(days=300)).isoformat())
    await page.check("#statement_seen")
    await page.click("form[action='/counter/organization/representative'] button")
    await page.wait_for_selector("#recorded")
    main = await page.inner_text("main")
    assert f"{human} représente maintenant l’organisation" in main and "Représentant de l’organisation" in main
    assert "État de renseignements 2026-12-01" not in await page.content()   # only its hash is in the register
    await check_page(page, "counter-organization-05-representative")
    await context.close()
