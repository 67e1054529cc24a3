"""A resident's account life in the browser (issue 21), against the whole system started as
processes: change the sign-in address, close the account, "this was not me" (from the
security page and from an entry of the sign-in history), edit the profile, change the
password, download my data — each keyboard only in French at 1280 px, and in English at
390 px, with the codes read from the development mailbox (NATS) as the mail sender would.
The new actions (address, closing, "this was not me" from the history) also run keyboard only
in French at 390 px and in English at 1280 px. axe-core finds no WCAG 2.1 A/AA violation on
any page; each page is screenshot to var/screenshots/<width>-<lang>/life-*.png beside
test_look.py's (README "Screenshots")."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import SCREENSHOTS
from tests.e2e.pages import check_page as _check_page
from tests.e2e.pages import new_context, tab_to

pytestmark = pytest.mark.e2e

PASSWORD = "une phrase de passe pour la vie 21"
WIDE = {"width": 1280, "height": 900}
NARROW = {"width": 390, "height": 844}


async def check_page(page, name: str) -> None:
    """axe-core 0 on this page, its screenshot in the reviewer's folder (README "Screenshots"):
    var/screenshots/<width>-<lang>/<name>.png."""
    folder = SCREENSHOTS / f"{page.viewport_size['width']}-{await page.evaluate('document.documentElement.lang')}"
    folder.mkdir(parents=True, exist_ok=True)
    await _check_page(page, name, folder / f"{name}.png")


async def _sign_in(page, issuer: str, email: str, lang: str = "fr") -> None:
    await page.goto(issuer + "/account/login" + ("?lang=en" if lang == "en" else ""))
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("form[action='/account/login'] button[type=submit]")
    await page.wait_for_url(issuer + "/account")


async def _resident_signed_in(system, browser, email: str, lang: str = "fr", viewport=WIDE):
    """A new resident (its address verified), a browser at that size, signed in to Mon compte
    in that language: the steps every test here starts with. Returns (context, page)."""
    system.cli("resident", "create", "--email", email, "--password", PASSWORD, "--verified",
               *(("--language", "en") if lang == "en" else ()))
    context = await new_context(browser, viewport=viewport)
    page = await context.new_page()
    await _sign_in(page, system.issuer, email, lang)
    return context, page


async def _keyboard_submit(page, fields: dict[str, str], button: str) -> None:
    """Fill each field and send the form with the keyboard only (Tab to it, type; Tab to the
    button, Enter), the focus visible at each step (``tab_to``)."""
    for selector, text in fields.items():
        await tab_to(page, selector, limit=150)
        await page.keyboard.press("Control+A")
        await page.keyboard.type(text)
    await tab_to(page, button, limit=150)
    await page.keyboard.press("Enter")


async def test_changing_the_sign_in_address_keyboard_only_in_french(system, browser):
    old, new = "vie.courriel@example.ca", "vie.nouvelle@example.ca"
    context, page = await _resident_signed_in(system, browser, old, viewport=WIDE)
    issuer = system.issuer

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
    context, page = await _resident_signed_in(system, browser, old, "en", viewport=NARROW)
    issuer = system.issuer
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
    context, page = await _resident_signed_in(system, browser, email, viewport=WIDE)
    issuer = system.issuer

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
    context, page = await _resident_signed_in(system, browser, email, "en", viewport=NARROW)
    issuer = system.issuer
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
    context, page = await _resident_signed_in(system, browser, email, viewport=WIDE)
    issuer = system.issuer
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
    context, page = await _resident_signed_in(system, browser, email, "en", viewport=NARROW)
    await page.goto(issuer + "/account/security/not-me")
    assert "This was not me" in await page.inner_text("h1")
    await check_page(page, "life-20-not-me-en-390")
    await page.click("form[action='/account/security/not-me'] button[type=submit]")
    await page.wait_for_selector("text=Your account is protected")
    await check_page(page, "life-21-not-me-done-en-390")
    await context.close()


# -- every other Mon compte action, keyboard only in French at 1280 px, in English at 390 px --

ACTION_RUNS = [pytest.param("fr", WIDE, id="fr-1280-keyboard"), pytest.param("en", NARROW, id="en-390-keyboard")]
#: issue 21's new actions in the two other pairs too: each in French and English at both widths
OTHER_RUNS = [pytest.param("fr", NARROW, id="fr-390-keyboard"), pytest.param("en", WIDE, id="en-1280-keyboard")]


@pytest.mark.parametrize("lang, viewport", OTHER_RUNS)
async def test_changing_the_address_then_closing_keyboard_only(system, browser, lang, viewport):
    """The address changed (password, then the code mailed to the new address), then the
    account closed (password, then the receipt) — keyboard only, axe-core 0 on every page."""
    old, new = f"autre.adresse.{lang}@example.ca", f"autre.nouvelle.{lang}@example.ca"
    context, page = await _resident_signed_in(system, browser, old, lang, viewport)
    issuer, suffix = system.issuer, f"{lang}-{viewport['width']}"
    await page.goto(issuer + "/account/email")
    await check_page(page, f"life-40-email-form-{suffix}")
    await _keyboard_submit(page, {"#new_email": new, "#current_password": PASSWORD},
                           "form[action='/account/email'] button[type=submit]")
    await page.wait_for_url(issuer + "/account/email/confirm")
    await check_page(page, f"life-41-email-code-{suffix}")
    await _keyboard_submit(page, {"#code": "000"}, "form[action='/account/email/confirm'] button[type=submit]")
    await page.wait_for_selector("#code-error")
    assert await page.locator(".error-summary a[href='#code']").count() == 1
    await check_page(page, f"life-42-email-code-error-{suffix}")
    code = (await system.latest_mail("email_change_requested", new))["code"]
    await _keyboard_submit(page, {"#code": code}, "form[action='/account/email/confirm'] button[type=submit]")
    await page.wait_for_url(issuer + "/account/security?done=email_changed")
    assert new in await page.inner_text("main")
    await check_page(page, f"life-43-email-changed-{suffix}")

    await tab_to(page, "a[href='/account/close']", limit=150)
    await page.keyboard.press("Enter")
    await page.wait_for_url(issuer + "/account/close")
    await check_page(page, f"life-44-close-{suffix}")
    await _keyboard_submit(page, {"#current_password": "pas le bon"}, "form[action='/account/close'] button[type=submit]")
    await page.wait_for_selector("#current_password-error")
    await check_page(page, f"life-45-close-error-{suffix}")
    await _keyboard_submit(page, {"#current_password": PASSWORD}, "form[action='/account/close'] button[type=submit]")
    await page.wait_for_selector("text=" + ("Votre compte est fermé" if lang == "fr" else "Your account is closed"))
    receipt = await page.inner_text("main")
    assert ("Numéro du reçu" if lang == "fr" else "Receipt number") in receipt and "MTL " in receipt
    await check_page(page, f"life-46-closed-receipt-{suffix}")
    assert (await system.latest_mail("account_closed_notice", new))["closure_id"] in receipt
    await context.close()


@pytest.mark.parametrize("lang, viewport", ACTION_RUNS + OTHER_RUNS)
async def test_a_sign_in_of_the_history_reported_as_not_me(system, browser, lang, viewport):
    """Issue 21: each entry of the sign-in history leads to "this was not me" for that
    sign-in; the report names its session and ends every session."""
    email = f"historique.{lang}.{viewport['width']}@example.ca"
    context, page = await _resident_signed_in(system, browser, email, lang, viewport)
    issuer, suffix = system.issuer, f"{lang}-{viewport['width']}"
    other = await new_context(browser, viewport=viewport)        # someone else, elsewhere
    await _sign_in(await other.new_page(), issuer, email, lang)
    await other.close()

    await page.goto(issuer + "/account/sign-ins")
    assert await page.locator("ul.sign-ins > li").count() >= 2
    await check_page(page, f"life-22-sign-ins-{suffix}")
    newest = page.locator("ul.sign-ins > li").first.locator("a[href^='/account/security/not-me?session=']")
    href = await newest.get_attribute("href")
    await tab_to(page, f"ul.sign-ins > li:first-child a[href='{href}']", limit=150)
    await page.keyboard.press("Enter")
    await page.wait_for_url(issuer + href.replace("&amp;", "&"))
    assert await page.locator("input[name=session_id]").get_attribute("value") == href.split("=", 1)[1]
    await check_page(page, f"life-23-not-me-from-history-{suffix}")
    await tab_to(page, "form[action='/account/security/not-me'] button[type=submit]")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("text=" + ("Votre compte est protégé" if lang == "fr" else "Your account is protected"))
    await check_page(page, f"life-24-not-me-done-from-history-{suffix}")
    await context.close()


@pytest.mark.parametrize("lang, viewport", ACTION_RUNS)
async def test_editing_the_profile(system, browser, lang, viewport):
    context, page = await _resident_signed_in(system, browser, f"profil.{lang}@example.ca", lang, viewport)
    issuer, suffix = system.issuer, f"{lang}-{viewport['width']}"
    await page.goto(issuer + "/account/profile")
    await _keyboard_submit(page, {"#phone": "pas un numéro"}, "form[action='/account/profile'] button[type=submit]")
    await page.wait_for_selector("#phone-error")
    assert await page.get_attribute("#phone", "aria-invalid") == "true"
    await check_page(page, f"life-25-profile-error-{suffix}")
    await _keyboard_submit(page, {"#given_name": "Camille", "#phone": "514 555-1234"},
                           "form[action='/account/profile'] button[type=submit]")
    await page.wait_for_url("**/account/profile?done=profile_saved")
    assert await page.input_value("#given_name") == "Camille" and await page.locator("[role=status]").count() == 1
    await check_page(page, f"life-26-profile-saved-{suffix}")
    await context.close()


@pytest.mark.parametrize("lang, viewport", ACTION_RUNS)
async def test_changing_the_password(system, browser, lang, viewport):
    context, page = await _resident_signed_in(system, browser, f"mot.de.passe.{lang}@example.ca", lang, viewport)
    issuer, suffix = system.issuer, f"{lang}-{viewport['width']}"
    new = "une toute nouvelle phrase de passe 2026"
    await page.goto(issuer + "/account/security")
    await _keyboard_submit(page, {"#current_password": PASSWORD, "#new_password": new, "#new_password_confirm": new},
                           "form[action='/account/security/password'] button")
    await page.wait_for_url("**/account/security?done=password_changed")
    assert await page.locator("[role=status]").count() == 1
    await check_page(page, f"life-27-password-changed-{suffix}")
    await context.close()


@pytest.mark.parametrize("lang, viewport", ACTION_RUNS)
async def test_downloading_my_data_as_a_page_to_read(system, browser, lang, viewport):
    context, page = await _resident_signed_in(system, browser, f"mes.donnees.{lang}@example.ca", lang, viewport)
    issuer, suffix = system.issuer, f"{lang}-{viewport['width']}"
    await page.goto(issuer + "/account/export")
    await tab_to(page, "#format-json", limit=150)
    await page.keyboard.press("ArrowDown")                     # the radio group: the readable page
    assert await page.is_checked("#format-html")
    await check_page(page, f"life-28-my-data-{suffix}")
    async with page.expect_download() as downloading:   # a file to keep: its page is saved, not shown
        await _keyboard_submit(page, {"#current_password": PASSWORD},
                               "form[action='/account/export'] button[type=submit]")
    saved = await (await downloading.value).path()
    text = open(saved, encoding="utf-8").read()
    assert ("Mon dossier à la Ville de Montréal" if lang == "fr" else "My file at the City of Montréal") in text
    assert ("Fermetures de votre compte" if lang == "fr" else "Closures of your account") in text
    assert text.count("<h2") >= 5                               # every section, the account's life included
    await context.close()


@pytest.mark.parametrize("lang, viewport", ACTION_RUNS)
async def test_a_consent_withdrawn_and_a_connection_ended(system, browser, lang, viewport):
    """Signed in to montreal.ca (the demo) with a consent given on the consent screen; then in
    Mon compte the consent is withdrawn (with its confirmation step), and the connection with
    the service ended — keyboard only."""
    import time

    email = f"services.{lang}@example.ca"
    system.cli("resident", "create", "--email", email, "--password", PASSWORD, "--verified",
               *(("--language", "en") if lang == "en" else ()))
    context = await new_context(browser, viewport=viewport)
    page = await context.new_page()
    issuer, suffix = system.issuer, f"{lang}-{viewport['width']}"
    await page.goto(system.rp + "/?lang=" + lang)
    await tab_to(page, "a[href='/login']")
    await page.keyboard.press("Enter")
    await page.wait_for_url(issuer + "/login?**")
    await _keyboard_submit(page, {"#email": email, "#password": PASSWORD}, "form button[type=submit]")
    await page.wait_for_url(issuer + "/consent?**")
    await tab_to(page, "#choice-communication-email")
    await page.keyboard.press("Space")
    assert await page.is_checked("#choice-communication-email")
    await tab_to(page, "button[value=accept]")
    await page.keyboard.press("Enter")
    await page.wait_for_url(system.rp + "/**")

    await page.goto(issuer + "/account/consents")
    withdraw = "main a[href$='/withdraw']"
    deadline = time.monotonic() + 15
    while not await page.locator(withdraw).count() and time.monotonic() < deadline:
        await page.wait_for_timeout(300)            # grant_given travels through NATS to the ledger
        await page.reload()
    href = await page.locator(withdraw).first.get_attribute("href")
    await tab_to(page, f"a[href='{href}']", limit=150)
    await page.keyboard.press("Enter")
    await page.wait_for_url(issuer + href)
    await check_page(page, f"life-30-withdraw-confirm-{suffix}")
    await tab_to(page, "form[action$='/withdraw'] button[type=submit]", limit=150)
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/account/consents?done=withdrawn")
    assert await page.locator("[role=status]").count() == 1
    await check_page(page, f"life-31-withdrawn-{suffix}")

    await page.goto(issuer + "/account/services")
    await check_page(page, f"life-32-services-{suffix}")
    await tab_to(page, "form[action='/account/services/end'] button[type=submit]", limit=150)
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/account/services?done=ended")
    assert await page.locator("[role=status]").count() == 1
    await check_page(page, f"life-33-connection-ended-{suffix}")
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
        for _ in range(50):   # consent applies the two events in a moment, in either order
            await page.goto(system.issuer + "/account/access" + ("?lang=en" if lang == "en" else ""))
            if await page.locator("section[aria-labelledby=services-informed-title] li.card").count() == 2:
                break
            await page.wait_for_timeout(200)
        section = page.locator("section[aria-labelledby=services-informed-title]")
        assert words in await section.inner_text()
        assert await section.locator("li.card").count() == 2
        await check_page(page, f"life-informed-{lang}")
        await context.close()
