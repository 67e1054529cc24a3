"""Issue 15, section 5, in a real browser against the whole system (``mtlid up`` as
processes): sign in at the montreal.ca demo RP, consent to part, find that release in "Qui a
vu mes données" and in "Services connectés" (within 5 s), withdraw from there, sign in again
and see the consent screen, where "Tout refuser" signs in with nothing optional released.
axe-core finds no WCAG 2.1 A/AA violation on any new page, in French and in English.
"""

from __future__ import annotations

import time

import pytest

from tests.e2e.pages import check_page, new_context
from tests.e2e.system import prepare_catalogue

pytestmark = pytest.mark.e2e

PASSWORD = "une phrase de passe assez longue 15"


@pytest.fixture(scope="module")
def catalogue(system):
    """montreal-ca (the demo RP's service) known to the consent register."""
    return prepare_catalogue(system)


async def _sign_in_at_rp(page, system, email: str, lang: str = "fr") -> None:
    await page.goto(system.rp + f"/?lang={lang}")
    await page.click("a[href='/login']")
    await page.wait_for_url(system.issuer + "/login?**")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.keyboard.press("Enter")


async def _until_text(page, url: str, text: str, timeout: float = 5.0) -> float:
    started = time.monotonic()
    await page.goto(url)
    while text not in await page.inner_text("main"):
        assert time.monotonic() - started < timeout, f"{text!r} not on {url} within {timeout} s"
        await page.wait_for_timeout(200)
        await page.reload()
    return time.monotonic() - started


async def test_release_found_withdrawn_and_refused_in_french(system, browser, catalogue):
    email = "release.journey@example.ca"
    system.cli("resident", "create", "--email", email, "--password", PASSWORD, "--verified")
    context = await new_context(browser, viewport={"width": 412, "height": 915})
    page = await context.new_page()
    issuer = system.issuer

    await page.goto(system.rp + "/")
    await check_page(page, "15-01-rp-home")
    await _sign_in_at_rp(page, system, email)
    await page.wait_for_url(issuer + "/consent?**")
    await check_page(page, "15-02-consent")
    main = await page.inner_text("main")
    assert "Ce qui est nécessaire au service, et pourquoi" in main and "Si vous refusez" in main
    assert await page.locator("input[value^='service-provision']").count() == 0
    # consent to part: the email for communication, nothing for statistics
    await page.check("#choice-communication-email")
    await page.click("button[value=accept]")
    await page.wait_for_url(system.rp + "/**")
    await check_page(page, "15-03-rp-signed-in")
    assert await page.inner_text("#claim-email") == email
    assert await page.locator("pre").count() == 0             # a readable list, not JSON

    # the release, in "Services connectés" and "Qui a vu mes données", within 5 s
    await page.click("text=Services connectés")
    await page.wait_for_url(issuer + "/account/services**")
    waited = await _until_text(page, issuer + "/account/services", "Identifiant de connexion propre au service")
    assert waited < 5.0
    card = page.locator("li.card", has_text="montreal.ca")
    assert "Adresse courriel" in await card.inner_text()
    await check_page(page, "15-04-services")
    await _until_text(page, issuer + "/account/access", "montreal.ca")
    log = await page.inner_text("main")
    assert "Adresse courriel" in log and "Communiquer avec vous" in log
    await check_page(page, "15-05-access")

    # withdraw from "Services connectés"
    await page.goto(issuer + "/account/services")
    await page.locator("li.card", has_text="montreal.ca").locator("a[href$='/withdraw']").first.click()
    await page.wait_for_url("**/withdraw")
    await page.click("main form button[type=submit]")
    await page.wait_for_url("**/account/consents?done=withdrawn")

    # sign in again: the consent screen asks again; "Tout refuser" signs in with nothing optional
    await page.goto(system.rp + "/login")                     # the RP signs in again (same SSO session)
    await page.wait_for_url(issuer + "/consent?**")
    assert await page.locator("#choice-communication-email").count() == 1
    await page.check("#choice-communication-email")           # ticked, then everything refused
    await page.click("button[value=deny]")
    await page.wait_for_url(system.rp + "/**")
    assert await page.locator("#claim-email").count() == 0
    assert await page.locator("#claim-sub").count() == 1
    assert "Rien d'autre" in await page.inner_text("main")

    # the sign-in history shows the sign-ins to montreal.ca
    await page.goto(issuer + "/account/sign-ins")
    history = await page.inner_text("main")
    assert "montreal.ca" in history and "Connexion réussie" in history
    await check_page(page, "15-06-sign-ins")
    await context.close()


async def test_new_pages_in_english_have_no_accessibility_violation(system, browser, catalogue):
    email = "release.english@example.ca"
    system.cli("resident", "create", "--email", email, "--password", PASSWORD, "--verified")
    context = await new_context(browser, viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    issuer = system.issuer
    await _sign_in_at_rp(page, system, email, lang="en")
    await page.wait_for_url(issuer + "/consent?**")
    assert await page.get_attribute("html", "lang") == "en"
    assert "What the service needs, and why" in await page.inner_text("main")
    await check_page(page, "15-en-01-consent")
    await page.click("button[value=deny]")
    await page.wait_for_url(system.rp + "/**")
    assert "What montreal.ca received about you" in await page.inner_text("main")
    await check_page(page, "15-en-02-rp-signed-in")
    await _until_text(page, issuer + "/account/services?lang=en", "Sign-in identifier for the service")
    assert await page.get_attribute("html", "lang") == "en"
    await check_page(page, "15-en-03-services")
    await page.goto(issuer + "/account/access?lang=en")
    await check_page(page, "15-en-04-access")
    await page.goto(issuer + "/account/sign-ins?lang=en")
    assert "Sign-in history" in await page.inner_text("main")
    await check_page(page, "15-en-05-sign-ins")
    await context.close()
