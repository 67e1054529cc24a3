"""A resident's account life in the browser (issue 21), against the whole system started as
processes: change the sign-in address (keyboard only, French at 1280 px; English at 390 px),
with the code read from the development mailbox (NATS) as the mail sender would. axe-core
finds no WCAG 2.1 A/AA violation on any page; screenshots go to tests/e2e/artifacts/
(``life-*.png``). Also: the services told of a closing, on the access page (issue 21)."""

from __future__ import annotations

import json

import pytest

from tests.e2e.pages import check_page, new_context, tab_to

pytestmark = pytest.mark.e2e

PASSWORD = "une phrase de passe pour la vie 21"
WIDE = {"width": 1280, "height": 900}
NARROW = {"width": 390, "height": 844}


async def _sign_in(page, issuer: str, email: str, lang: str = "fr") -> None:
    await page.goto(issuer + "/account/login" + ("?lang=en" if lang == "en" else ""))
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("form[action='/account/login'] button[type=submit]")
    await page.wait_for_url(issuer + "/account")


async def test_changing_the_sign_in_address_keyboard_only_in_french(system, browser):
    old, new = "vie.courriel@example.ca", "vie.nouvelle@example.ca"
    system.cli("resident", "create", "--email", old, "--password", PASSWORD, "--verified")
    context = await new_context(browser, viewport=WIDE)
    page = await context.new_page()
    issuer = system.issuer
    await _sign_in(page, issuer, old)

    await page.goto(issuer + "/account/security")
    await tab_to(page, "a[href='/account/email']", limit=150)
    await page.keyboard.press("Enter")
    await page.wait_for_url(issuer + "/account/email")
    await check_page(page, "life-01-email-form")
    # A wrong password: the error is next to its field, announced, and nothing is sent.
    await tab_to(page, "#new_email")
    await page.keyboard.type(new)
    await tab_to(page, "#current_password")
    await page.keyboard.type("pas le bon mot de passe")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#current_password-error")
    assert await page.get_attribute("#current_password", "aria-invalid") == "true"
    assert await page.locator("[role=alert]").count() == 1
    await check_page(page, "life-02-email-form-error")

    await tab_to(page, "#current_password")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_url(issuer + "/account/email/confirm")
    assert new in await page.inner_text("main")
    await check_page(page, "life-03-email-code")
    code = (await system.latest_mail("email_change_requested", new))["code"]
    await tab_to(page, "#code")
    await page.keyboard.type(code)
    await page.keyboard.press("Enter")
    await page.wait_for_url(issuer + "/account/security?done=email_changed")
    assert "nouvelle adresse courriel est confirmée" in await page.inner_text("[role=status]")
    assert new in await page.inner_text("main")
    await check_page(page, "life-04-email-changed")
    notice = await system.latest_mail("email_changed_notice", old)
    assert "code" not in notice and new not in json.dumps(notice)
    await context.close()


async def test_changing_the_sign_in_address_in_english_on_a_phone(system, browser):
    old, new = "life.email@example.ca", "life.new@example.ca"
    system.cli("resident", "create", "--email", old, "--password", PASSWORD, "--verified", "--language", "en")
    context = await new_context(browser, viewport=NARROW)
    page = await context.new_page()
    issuer = system.issuer
    await _sign_in(page, issuer, old, "en")
    await page.goto(issuer + "/account/email")
    assert await page.get_attribute("html", "lang") == "en"
    await check_page(page, "life-05-email-form-en-390")
    await page.fill("#new_email", new)
    await page.fill("#current_password", PASSWORD)
    await page.click("form[action='/account/email'] button[type=submit]")
    await page.wait_for_url(issuer + "/account/email/confirm")
    await page.fill("#code", "12")
    await page.click("form[action='/account/email/confirm'] button[type=submit]")
    await page.wait_for_selector("#code-error")
    await check_page(page, "life-06-email-code-error-en-390")
    code = (await system.latest_mail("email_change_requested", new))["code"]
    await page.fill("#code", code)
    await page.click("form[action='/account/email/confirm'] button[type=submit]")
    await page.wait_for_url(issuer + "/account/security?done=email_changed")
    assert "your new email address is confirmed" in await page.inner_text("[role=status]")
    await check_page(page, "life-07-email-changed-en-390")
    await context.close()


async def test_closing_the_account_keyboard_only_in_french(system, browser):
    email = "vie.fermeture@example.ca"
    system.cli("resident", "create", "--email", email, "--password", PASSWORD, "--verified")
    context = await new_context(browser, viewport=WIDE)
    page = await context.new_page()
    issuer = system.issuer
    await _sign_in(page, issuer, email)

    await page.goto(issuer + "/account/security")
    await tab_to(page, "a[href='/account/close']", limit=150)
    await page.keyboard.press("Enter")
    await page.wait_for_url(issuer + "/account/close")
    main = await page.inner_text("main")
    assert "Ce que la fermeture veut dire" in main and "jamais donné à quelqu'un d'autre" in main
    await check_page(page, "life-08-close")
    await tab_to(page, "#current_password")
    await page.keyboard.type("pas le bon")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#current_password-error")
    await check_page(page, "life-09-close-error")
    await tab_to(page, "#current_password")
    await page.keyboard.type(PASSWORD)
    await tab_to(page, "form[action='/account/close'] button[type=submit]")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("text=Votre compte est fermé")
    receipt = await page.inner_text("main")
    assert "Numéro du reçu" in receipt and "MTL " in receipt
    await check_page(page, "life-10-closed-receipt")
    mailed = await system.latest_mail("account_closed_notice", email)
    assert mailed["closure_id"] in receipt

    await page.goto(issuer + "/account")
    await page.wait_for_url("**/account/login**")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("form[action='/account/login'] button[type=submit]")
    await page.wait_for_selector("#form-error")
    assert "Accès Montréal" in await page.inner_text("#form-error")
    await check_page(page, "life-11-sign-in-closed")
    await context.close()


async def test_closing_the_account_in_english_on_a_phone(system, browser):
    email = "life.closing@example.ca"
    system.cli("resident", "create", "--email", email, "--password", PASSWORD, "--verified", "--language", "en")
    context = await new_context(browser, viewport=NARROW)
    page = await context.new_page()
    issuer = system.issuer
    await _sign_in(page, issuer, email, "en")
    await page.goto(issuer + "/account/close")
    assert "What closing means" in await page.inner_text("main")
    await check_page(page, "life-12-close-en-390")
    await page.fill("#current_password", PASSWORD)
    await page.click("form[action='/account/close'] button[type=submit]")
    await page.wait_for_selector("text=Your account is closed")
    await check_page(page, "life-13-closed-receipt-en-390")
    await context.close()


async def test_the_privacy_notice_is_reached_from_sign_up_by_keyboard(system, browser):
    context = await new_context(browser, viewport=WIDE)
    page = await context.new_page()
    await page.goto(system.issuer + "/signup")
    await tab_to(page, "a[href='/privacy']")
    await page.keyboard.press("Enter")
    await page.wait_for_url(system.issuer + "/privacy")
    assert "Vos droits" in await page.inner_text("main")
    await check_page(page, "life-14-privacy")
    await context.close()
    context = await new_context(browser, viewport=NARROW)
    page = await context.new_page()
    await page.goto(system.issuer + "/privacy?lang=en")
    assert "Your rights" in await page.inner_text("main")
    await check_page(page, "life-15-privacy-en-390")
    await context.close()


async def test_this_was_not_me_keyboard_only_in_french_and_in_english_on_a_phone(system, browser):
    email = "vie.pas.moi@example.ca"
    system.cli("resident", "create", "--email", email, "--password", PASSWORD, "--verified")
    context = await new_context(browser, viewport=WIDE)
    page = await context.new_page()
    issuer = system.issuer
    await _sign_in(page, issuer, email)
    await page.goto(issuer + "/account/security")
    await check_page(page, "life-16-security-with-account-life")
    await tab_to(page, "a[href='/account/security/not-me']", limit=150)
    await page.keyboard.press("Enter")
    await page.wait_for_url(issuer + "/account/security/not-me")
    await check_page(page, "life-17-not-me")
    await tab_to(page, "form[action='/account/security/not-me'] button[type=submit]")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("text=Votre compte est protégé")
    await check_page(page, "life-18-not-me-done")
    await page.goto(issuer + "/account/login")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("form[action='/account/login'] button[type=submit]")
    await page.wait_for_selector("#form-error")
    assert "nouveau mot de passe" in await page.inner_text("#form-error")
    await check_page(page, "life-19-sign-in-new-password-required")
    await context.close()

    email = "life.not.me@example.ca"
    system.cli("resident", "create", "--email", email, "--password", PASSWORD, "--verified", "--language", "en")
    context = await new_context(browser, viewport=NARROW)
    page = await context.new_page()
    await _sign_in(page, issuer, email, "en")
    await page.goto(issuer + "/account/security/not-me")
    assert "This was not me" in await page.inner_text("h1")
    await check_page(page, "life-20-not-me-en-390")
    await page.click("form[action='/account/security/not-me'] button[type=submit]")
    await page.wait_for_selector("text=Your account is protected")
    await check_page(page, "life-21-not-me-done-en-390")
    await context.close()


async def test_the_services_told_of_a_closing_are_listed_in_french_and_in_english_on_a_phone(system, browser):
    """Issue 21, "what linked services are told": the access page's section, read in the
    browser; the events are what accounts publishes after a closing and a counter's reopening
    (the hop itself: tests/integration/test_one_trace.py)."""
    from services.accounts.domain.events import ServiceAccountReactivated, ServiceAccountSuspended
    from tests.integration.account_pages.test_with_services import _publish_as_accounts

    email = "vie.informee@example.ca"
    resident_id = system.cli("resident", "create", "--email", email, "--password", PASSWORD,
                             "--verified")["resident_id"]
    account_id = "5f0c2b7e-2d1a-4c8e-9f3b-6a7d8e9f0a1b"
    await _publish_as_accounts(system, *(
        cls(account_id=account_id, resident_id=resident_id, service_id="montreal-ca", reason=reason)
        for cls, reason in ((ServiceAccountSuspended, "resident_closed"),
                            (ServiceAccountReactivated, "resident_reopened"))))
    for lang, viewport, words in (("fr", WIDE, "informé de la réouverture du compte"),
                                  ("en", NARROW, "told that the account was reopened")):
        context = await new_context(browser, viewport=viewport)
        page = await context.new_page()
        await _sign_in(page, system.issuer, email, lang)
        for _ in range(50):   # consent applies the events in a moment
            await page.goto(system.issuer + "/account/access" + ("?lang=en" if lang == "en" else ""))
            if await page.locator("#services-informed-title").count():
                break
            await page.wait_for_timeout(200)
        section = page.locator("section[aria-labelledby=services-informed-title]")
        assert words in await section.inner_text()
        assert await section.locator("li.card").count() == 2
        await check_page(page, f"life-informed-{lang}")
        await context.close()
