"""A resident's whole journey in a real browser (issue 6, point 5), against the whole system
started as processes: sign up, confirm the email, sign in through the montreal.ca demo RP
(keyboard only), consent to some purposes and refuse one, see a borough service linked, give
and withdraw a consent (keyboard only) and watch the borough's next attribute release
withhold it, see the access in the log, download the export, switch language, sign out
everywhere. axe-core finds no WCAG 2.1 A/AA violation on any page; every page is
screenshotted under tests/e2e/artifacts/.
"""

from __future__ import annotations

import json
import time

import pytest

from montreal.accounts.v1 import accounts_pb2 as apb
from tests.e2e.pages import check_page, new_context, tab_to
from tests.e2e.system import BOROUGH_SERVICE, Borough, prepare_catalogue

pytestmark = pytest.mark.e2e

EMAIL = "camille.tremblay@example.ca"
PASSWORD = "une phrase de passe assez longue 7"


async def test_resident_journey(system, browser):
    started = time.monotonic()
    secret = prepare_catalogue(system)
    context = await new_context(browser, accept_downloads=True, viewport={"width": 412, "height": 915})
    page = await context.new_page()
    issuer = system.issuer

    # -- sign up and confirm the email ------------------------------------------------------
    await page.goto(issuer + "/signup")
    assert await page.get_attribute("html", "lang") == "fr"
    await check_page(page, "01-signup")
    await page.fill("#email", EMAIL)
    await page.fill("#password", "court")
    await page.fill("#password_confirm", "court")
    await page.click("button[type=submit]")
    # the error is next to its field and announced
    assert await page.get_attribute("#password", "aria-invalid") == "true"
    assert "password-error" in (await page.get_attribute("#password", "aria-describedby"))
    assert await page.locator("[role=alert]").count() == 1
    assert await page.evaluate("document.activeElement.classList.contains('error-summary')")
    await check_page(page, "02-signup-error")
    await page.fill("#password", PASSWORD)
    await page.fill("#password_confirm", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/signup/verify?**")
    await check_page(page, "03-verify")
    code = await system.verification_code(EMAIL)
    await page.fill("#code", code)
    await page.click("button[value=verify]")
    await page.wait_for_selector("text=Votre adresse courriel est confirmée")
    await check_page(page, "04-verified")

    # -- sign in through the montreal.ca demo RP, keyboard only ------------------------------
    await page.goto(system.rp + "/")
    await tab_to(page, "a[href='/login']")
    await page.keyboard.press("Enter")
    await page.wait_for_url(issuer + "/login?**")
    await check_page(page, "05-login")
    await tab_to(page, "#email")
    await page.keyboard.type(EMAIL)
    await tab_to(page, "#password")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_url(issuer + "/consent?**")
    await check_page(page, "06-consent")
    # consent to part of one purpose, refuse the other (statistics stays unticked); the
    # public task is information, not a checkbox
    assert await page.locator("input[value^='service-provision']").count() == 0
    await page.check("#choice-communication-email")
    assert not await page.is_checked("#choice-statistics-preferred_language")
    await page.click("button[value=accept]")
    await page.wait_for_url(system.rp + "/**")
    assert EMAIL in await page.content()

    # -- the account home: citizen number, level, linked services ----------------------------
    resident_id = (await page.inner_text("#claim-sub")).strip()
    borough = Borough(system, secret)
    borough.link(resident_id)
    await page.goto(issuer + "/account")
    await check_page(page, "07-home")
    text = await page.inner_text("main")
    human = f"MTL {resident_id[0:4]}-{resident_id[4:8]}-{resident_id[8:12]}"
    assert human in text
    assert "Niveau 1" in text
    assert "Permis du Plateau" in text and "Actif" in text and "PMR-2026-0042" in text

    # -- consents: what the consent screen recorded; give one to the borough -------------------
    await page.goto(issuer + "/account/consents")
    deadline = time.monotonic() + 15
    while "montreal.ca" not in await page.inner_text("main") and time.monotonic() < deadline:
        await page.wait_for_timeout(300)  # grant_given travels through NATS to the ledger
        await page.reload()
    main = await page.inner_text("main")
    assert "montreal.ca" in main, main
    assert "Communiquer avec vous" in main
    assert "statistiques" not in main  # refused on the consent screen: no consent recorded
    await check_page(page, "08-consents")
    offers = page.locator("form[action='/account/consents/grant']").filter(
        has=page.locator(f"input[value='{BOROUGH_SERVICE}']")).filter(has=page.locator("input[value='communication']"))
    await offers.locator("button").click()
    await page.wait_for_url("**/account/consents?done=granted")
    assert await page.locator("[role=status]").count() == 1
    released = borough.release_email(resident_id)
    assert [a.name for a in released.released] == ["email"]
    assert released.released[0].value == EMAIL
    assert released.released[0].basis == apb.RELEASE_BASIS_CONSENT

    # -- withdraw it, keyboard only, with the confirmation step ----------------------------------
    consent_id = released.released[0].consent_id
    await tab_to(page, f"a[href='/account/consents/{consent_id}/withdraw']")
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"**/account/consents/{consent_id}/withdraw")
    await check_page(page, "09-withdraw-confirm")
    await tab_to(page, "form[action$='/withdraw'] button[type=submit]")
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/account/consents?done=withdrawn")
    # the confirmation is where the focus lands, so a screen reader reads it first
    assert await page.evaluate("document.activeElement.classList.contains('notice')")
    await check_page(page, "10-withdrawn")
    after = borough.release_email(resident_id)
    assert list(after.released) == []
    assert [(w.name, w.reason) for w in after.withheld] in (
        [("email", apb.WITHHELD_REASON_CONSENT_WITHDRAWN)], [("email", apb.WITHHELD_REASON_NO_CONSENT)])

    # -- who accessed my data ---------------------------------------------------------------
    await page.goto(issuer + "/account/access")
    await check_page(page, "11-access-log")
    log = await page.inner_text("main")
    assert "Permis du Plateau" in log and "Votre consentement" in log
    await page.select_option("#service", BOROUGH_SERVICE)
    await page.click("form.filter button")
    await page.wait_for_url(f"**/account/access?service={BOROUGH_SERVICE}")
    assert await page.locator(".access-log > li").count() == 1

    # -- profile -------------------------------------------------------------------------------
    await page.goto(issuer + "/account/profile")
    await page.fill("#phone", "pas un numéro")
    await page.click("form[action='/account/profile'] button[type=submit]")
    assert await page.get_attribute("#phone", "aria-invalid") == "true"
    await check_page(page, "12-profile-error")
    await page.fill("#phone", "514 555-1234")
    await page.fill("#given_name", "Camille")
    await page.check("#channel-post")
    await page.check("#channel-phone")
    await page.click("form[action='/account/profile'] button[type=submit]")
    await page.wait_for_url("**/account/profile?done=profile_saved")
    assert await page.input_value("#given_name") == "Camille"
    assert await page.is_checked("#channel-post") and await page.is_checked("#channel-phone")
    assert not await page.is_checked("#channel-digital")
    await check_page(page, "13-profile")

    # -- download my data --------------------------------------------------------------------
    await page.goto(issuer + "/account/export")
    await check_page(page, "14-export")
    await page.fill("#current_password", PASSWORD)
    async with page.expect_download() as download_info:
        await page.click("form[action='/account/export'] button")
    download = await download_info.value
    assert download.suggested_filename.endswith(".json")
    exported = json.loads(pathlib_read(await download.path()))
    assert exported["resident"]["citizen_number"] == resident_id
    assert exported["resident"]["email"] == EMAIL
    assert [s["service_id"] for s in exported["linked_services"]] == [BOROUGH_SERVICE]
    consent_text = json.dumps(exported["consent"])
    assert consent_id in consent_text and "communication" in consent_text
    assert exported["consent_ledger_proof"]["signed_tree_head"]["jws"].count(".") == 2
    assert "Camille" in json.dumps(exported["accounts"]) and "post,phone" in json.dumps(exported["accounts"])

    # -- English, remembered ------------------------------------------------------------------
    await page.goto(issuer + "/account")
    await page.click("a.lang-switch")
    await page.wait_for_selector("h1:has-text('My Montréal account')")
    assert await page.get_attribute("html", "lang") == "en"
    await check_page(page, "15-home-en")
    await page.goto(issuer + "/account/consents")  # no ?lang=: the cookie remembers
    assert await page.get_attribute("html", "lang") == "en"
    assert "Ended consents" in await page.inner_text("main")
    await check_page(page, "16-consents-en")

    # -- security: sign out everywhere, seen from a second device --------------------------------
    phone = await new_context(browser, viewport={"width": 360, "height": 740})
    other = await phone.new_page()
    await other.goto(issuer + "/account/login")
    await other.fill("#email", EMAIL)
    await other.fill("#password", PASSWORD)
    await other.click("form[action='/account/login'] button[type=submit]")
    await other.wait_for_url(issuer + "/account")
    await page.goto(issuer + "/account/security")
    assert "Another device or browser" in await page.inner_text("main")
    await check_page(page, "17-security-en")
    await page.click("form[action='/logout/everywhere'] button")
    await page.wait_for_load_state()
    await check_page(page, "18-signed-out")
    await page.goto(issuer + "/account")
    assert "/account/login" in page.url
    await check_page(page, "19-account-login-en")
    await other.goto(issuer + "/account/consents")
    assert "/account/login" in other.url  # the other device is signed out too
    await phone.close()
    await context.close()
    assert time.monotonic() - started < 120


def pathlib_read(path) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()
