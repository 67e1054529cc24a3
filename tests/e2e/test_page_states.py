"""The account pages' other states, in the browser: errors, the second-factor set-up and
challenge, an English sign-in error, a page that does not exist. axe-core finds no WCAG 2.1
A/AA violation on any of them; errors are next to their field and announced."""

from __future__ import annotations

import base64
import re
import time

import pytest

from services.identity.domain import totp
from tests.e2e.pages import check_page, new_context, tab_to

pytestmark = pytest.mark.e2e

EMAIL = "etats.des.pages@example.ca"
PASSWORD = "encore une phrase de passe 9"


async def _sign_in(page, issuer: str, email: str, password: str) -> None:
    await page.goto(issuer + "/account/login")
    await page.fill("#email", email)
    await page.fill("#password", password)
    await page.click("form[action='/account/login'] button[type=submit]")


async def _announced_error(page, field: str) -> None:
    """The field is marked invalid, its description includes an error text next to it, and an
    alert announces the problem."""
    assert await page.get_attribute(f"#{field}", "aria-invalid") == "true"
    described = (await page.get_attribute(f"#{field}", "aria-describedby") or "").split()
    errors = [i for i in described if await page.locator(f"#{i}.field-error").count() == 1]
    assert errors, f"no error text describes #{field}"
    # words, not a message key the catalogues lack (``security.error.current_wrong`` once)
    text = (await page.inner_text(f"#{errors[0]}")).strip()
    assert " " in text and not text.startswith(("account.", "security.", "signup.")), text
    assert await page.locator("[role=alert]").count() >= 1


async def test_error_and_second_factor_states_are_accessible(system, browser):
    system.cli("resident", "create", "--email", EMAIL, "--password", PASSWORD, "--verified")
    context = await new_context(browser, viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    issuer = system.issuer

    await _sign_in(page, issuer, EMAIL, "pas le bon mot de passe")
    await _announced_error(page, "password")
    await check_page(page, "s01-login-error")

    await _sign_in(page, issuer, EMAIL, PASSWORD)
    await page.wait_for_url(issuer + "/account")
    await page.goto(issuer + "/account/security")
    # the skip link is the first thing the keyboard reaches, and it lands on the content
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.classList.contains('skip-link')")
    await page.fill("#current_password", "pas le bon")
    await page.fill("#new_password", "un tout nouveau mot de passe")
    await page.fill("#new_password_confirm", "un tout nouveau mot de passe")
    await page.click("form[action='/account/security/password'] button")
    await _announced_error(page, "current_password")
    await check_page(page, "s02-password-error")

    await page.click("form[action='/account/security/totp'] button")
    await check_page(page, "s03-totp-enrolment")
    secret_text = (await page.inner_text("code.secret")).replace(" ", "")
    secret = base64.b32decode(secret_text + "=" * (-len(secret_text) % 8))
    await page.fill("#code", "000000")
    await page.fill("#totp_current_password", PASSWORD)
    await page.click("form[action='/account/security/totp/confirm'] button")
    await _announced_error(page, "code")
    await check_page(page, "s04-totp-error")
    await page.fill("#code", totp.totp(secret, time.time()))
    await page.fill("#totp_current_password", PASSWORD)
    await page.click("form[action='/account/security/totp/confirm'] button")
    await page.wait_for_url("**/account/security?done=totp_enabled")
    await check_page(page, "s05-totp-on")

    # a new sign-in asks for the code, keyboard only
    await page.click("form.signout button")
    await page.goto(issuer + "/account/login?lang=en")
    await tab_to(page, "#email")
    await page.keyboard.type(EMAIL)
    await tab_to(page, "#password")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r".*/account/login/second-factor\?.*"))
    await check_page(page, "s06-second-factor-en")
    await tab_to(page, "#code")
    await page.keyboard.type(totp.totp(secret, time.time() + 30))
    await page.keyboard.press("Enter")
    await page.wait_for_url(issuer + "/account")
    assert "Two-step verification" in await page.inner_text("main")

    await page.goto(issuer + "/account/nothing-here")
    await check_page(page, "s07-not-found")
    await page.goto(issuer + "/signup/verify?t=forged")
    await check_page(page, "s08-verify-link-expired")

    # a forgotten password: the address, then the code and the new password
    await page.goto(issuer + "/account/password/forgot")
    await check_page(page, "s09-forgot-password")
    await page.fill("#email", EMAIL)
    await page.click("form[action='/account/password/forgot'] button")
    await check_page(page, "s10-reset-password")
    await page.fill("#code", "12")
    await page.fill("#new_password", "une phrase neuve et longue")
    await page.fill("#new_password_confirm", "une phrase neuve et longue")
    await page.click("form[action='/account/password/reset'] button")
    await _announced_error(page, "code")
    await check_page(page, "s11-reset-password-error")
    await context.close()
