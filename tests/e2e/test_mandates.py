"""Mandates in the browser (issue 22), against the whole system started as processes: a
resident gives a mandate in "Mes procurations" (keyboard only, French, 1280 px) after a
refused attempt (error summary, field marked), the other resident accepts it (English, 390
px), then the first revokes it. axe-core finds no WCAG 2.1 A/AA violation on any page
(``check_page``); screenshots go to tests/e2e/artifacts/ (``mandates-*.png``)."""

from __future__ import annotations

import pytest

from services.identity.domain.citizen_number import CitizenNumber
from tests.e2e.pages import check_page, new_context, tab_to

pytestmark = pytest.mark.e2e

PASSWORD = "une phrase de passe pour la procuration 22"
WIDE = {"width": 1280, "height": 900}
NARROW = {"width": 390, "height": 844}


async def _sign_in(page, issuer: str, email: str, lang: str = "fr") -> None:
    await page.goto(issuer + "/account/login" + ("?lang=en" if lang == "en" else ""))
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("form[action='/account/login'] button[type=submit]")
    await page.wait_for_url(issuer + "/account")


async def test_a_mandate_given_accepted_and_revoked_in_the_browser(system, browser):
    issuer = system.issuer
    system.cli("resident", "create", "--email", "grand.mere@example.ca", "--password", PASSWORD, "--verified")
    aidant = system.cli("resident", "create", "--email", "aidant@example.ca", "--password", PASSWORD,
                        "--verified")["resident_id"]
    number = CitizenNumber.parse(aidant).human

    giver = await new_context(browser, viewport=WIDE)
    page = await giver.new_page()
    await _sign_in(page, issuer, "grand.mere@example.ca")
    await page.goto(issuer + "/account")
    await tab_to(page, "a[href='/account/mandates']", limit=150)
    await page.keyboard.press("Enter")
    await page.wait_for_url(issuer + "/account/mandates")
    await check_page(page, "mandates-01-empty")

    # No action ticked: the summary names it, the fieldset is marked, nothing is given.
    await tab_to(page, "#mandatary", limit=150)
    await page.keyboard.type(number)
    await tab_to(page, "#action-view")
    await page.keyboard.press("Space")   # unticks the default "consulter"
    await tab_to(page, "form[action='/account/mandates/give'] button[type=submit]")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#actions-error")
    assert await page.locator("[role=alert]").count() == 1
    assert "Cochez au moins" in await page.inner_text("[role=alert]")
    await check_page(page, "mandates-02-error")

    await tab_to(page, "#action-view", limit=150)
    await page.keyboard.press("Space")
    await tab_to(page, "#action-request")
    await page.keyboard.press("Space")
    await tab_to(page, "form[action='/account/mandates/give'] button[type=submit]")
    await page.keyboard.press("Enter")
    await page.wait_for_url(issuer + "/account/mandates?done=given")
    assert "entrera en vigueur" in await page.inner_text("[role=status]")
    assert f"À {number}" in await page.inner_text("main")
    await check_page(page, "mandates-03-given")

    taker = await new_context(browser, viewport=NARROW)
    other = await taker.new_page()
    await _sign_in(other, issuer, "aidant@example.ca", "en")
    await other.goto(issuer + "/account/mandates?lang=en")
    assert "Waiting for your acceptance" in await other.inner_text("main")
    await check_page(other, "mandates-04-pending-en")
    await other.click("form[action='/account/mandates/accept'] button")
    await other.wait_for_url(issuer + "/account/mandates?done=accepted")
    assert "In force" in await other.inner_text(".mandates-received")
    await check_page(other, "mandates-05-accepted-en")

    await page.goto(issuer + "/account/mandates")
    await tab_to(page, ".mandates-given form[action='/account/mandates/end'] button", limit=150)
    await page.keyboard.press("Enter")
    await page.wait_for_url(issuer + "/account/mandates?done=ended")
    assert "Révoquée" in await page.inner_text(".mandates-history")
    await check_page(page, "mandates-06-revoked")
    await giver.close()
    await taker.close()
