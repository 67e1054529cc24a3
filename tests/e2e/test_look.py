"""The city's look on every page of the identity front (issue 21), in the browser against the
whole system: each page in French and English, at 1280 px and 390 px, with axe-core finding
no WCAG 2.1 A/AA violation, the "Montréal" text mark and the footer, nothing wider than a
phone, and the account navigation on one line on a large screen. Every page is screenshot to
var/screenshots/<width>-<lang>/<name>.png so a reviewer can look without running anything
(README "Screenshots")."""

from __future__ import annotations

import base64
import time

import pytest

from services.identity.domain import totp
from tests.e2e.pages import check_look, check_menu_opens, new_context, tab_to

pytestmark = pytest.mark.e2e

PASSWORD = "une phrase de passe pour voir la Ville"
SIZES = {"1280": {"width": 1280, "height": 900}, "390": {"width": 390, "height": 844}}
#: readable without an account
PUBLIC = [("login", "/account/login"), ("signup", "/signup"), ("forgot-password", "/account/password/forgot"),
          ("privacy", "/privacy"), ("accessibility", "/accessibility"), ("terms", "/terms"),
          ("not-found", "/account/nothing-here"), ("activate", "/activate")]
#: Mon compte, signed in
ACCOUNT = [("home", "/account"), ("profile", "/account/profile"), ("consents", "/account/consents"),
           ("access", "/account/access"), ("services", "/account/services"), ("sign-ins", "/account/sign-ins"),
           ("export", "/account/export"), ("security", "/account/security"), ("email", "/account/email"),
           ("close", "/account/close"), ("not-me", "/account/security/not-me"),
           ("how-to-check", "/account/ledger/how-to-check")]


def _in(lang: str, path: str) -> str:
    return path + ("&" if "?" in path else "?") + "lang=" + lang


def _code(secret_b32: str) -> str:
    return totp.hotp(base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8)), int(time.time()) // 30)


@pytest.mark.parametrize("size", list(SIZES))
async def test_every_page_of_mon_compte_looks_like_the_city(system, browser, size):
    issuer = system.issuer
    email = f"la.ville.{size}@example.ca"
    system.cli("resident", "create", "--email", email, "--password", PASSWORD, "--verified")
    context = await new_context(browser, viewport=SIZES[size])
    page = await context.new_page()
    for lang in ("fr", "en"):
        for name, path in PUBLIC:
            await page.goto(issuer + _in(lang, path))
            await check_look(page, name)

    # through the montreal.ca demo: its home, the sign-in and the consent screen, what it received
    # (a resident of its own per language: a grant once given is remembered, no consent screen)
    for lang in ("fr", "en"):
        demo_email = f"la.ville.{size}.{lang}@example.ca"
        system.cli("resident", "create", "--email", demo_email, "--password", PASSWORD, "--verified")
        await context.clear_cookies()
        await page.goto(system.rp + "/?lang=" + lang)
        await check_look(page, "demo-rp-home", city_front=False)
        await page.click("a[href='/login']")
        await page.wait_for_url(issuer + "/login?**")
        await check_look(page, "oidc-login")
        await page.fill("#email", demo_email)
        await page.fill("#password", PASSWORD)
        await page.keyboard.press("Enter")
        await page.wait_for_url(issuer + "/consent?**")
        await check_look(page, "consent")
        assert await page.locator("main a[href='/privacy']").count() >= 1     # the notice at collection
        await page.click("button[value=accept]")
        await page.wait_for_url(system.rp + "/**")
        await check_look(page, "demo-rp-signed-in", city_front=False)

    await context.clear_cookies()
    await page.goto(issuer + "/account/login")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("form[action='/account/login'] button[type=submit]")
    await page.wait_for_url(issuer + "/account")
    for lang in ("fr", "en"):
        for name, path in ACCOUNT:
            await page.goto(issuer + _in(lang, path))
            await check_look(page, name)
    # signing out from a service asks first (RP-initiated logout without an id_token_hint)
    for lang in ("fr", "en"):
        await page.goto(issuer + "/end-session?lang=" + lang)
        await check_look(page, "sign-out-confirm")
    await page.goto(issuer + "/account?lang=fr")
    # signing out leads somewhere: sign in again, or back to montreal.ca
    await page.click("form.signout button")
    await page.wait_for_selector("a[href='/account/login']")
    assert await page.locator("main a[href^='https://montreal.ca/']").count() == 1
    await check_look(page, "signed-out")
    await page.goto(issuer + "/account/login?lang=en")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("form[action='/account/login'] button[type=submit]")
    await page.wait_for_url(issuer + "/account")
    await page.click("form.signout button")
    await page.wait_for_selector("a[href='/account/login']")
    await check_look(page, "signed-out")
    await context.close()


async def test_the_account_navigation_without_javascript(system, browser):
    """Issue 21: with scripts off, the navigation is one line at 1280 px, its links reached by
    Tab; at 390 px it is collapsed behind "Menu", which opens from the keyboard, shows every
    link whole, and a link leads to its page — in French and in English."""
    issuer = system.issuer
    email = "sans.script@example.ca"
    system.cli("resident", "create", "--email", email, "--password", PASSWORD, "--verified")
    for size in SIZES:
        context = await browser.new_context(viewport=SIZES[size], java_script_enabled=False)
        page = await context.new_page()
        await page.goto(issuer + "/account/login")
        await page.fill("#email", email)
        await page.fill("#password", PASSWORD)
        await page.click("form[action='/account/login'] button[type=submit]")
        await page.wait_for_url(issuer + "/account")
        for lang, security in (("fr", "Sécurité"), ("en", "Security")):
            await page.goto(issuer + "/account?lang=" + lang)
            if size == "1280":
                assert not await page.is_visible("nav.account-nav summary")
                tops = {(await link.bounding_box())["y"] for link in await page.locator("nav.account-nav a").all()}
                assert len(tops) == 1, tops
                await tab_to(page, "nav.account-nav a[href='/account/security']")
            else:
                assert not await page.is_visible("nav.account-nav a[href='/account/security']")
                await check_menu_opens(page)
                await tab_to(page, "nav.account-nav a[href='/account/security']")
            assert (await page.inner_text("nav.account-nav a[href='/account/security']")).strip() == security
            await page.keyboard.press("Enter")
            await page.wait_for_url(issuer + "/account/security")
            assert await page.get_attribute("nav.account-nav a[href='/account/security']", "aria-current") == "page"
        await context.close()


@pytest.mark.parametrize("size", list(SIZES))
async def test_the_counter_console_looks_like_the_city(system, browser, size):
    issuer = system.issuer
    agent = system.cli("agent", "create", "--email", f"agent.look.{size}@ville.montreal.qc.ca",
                       "--name", "Camille Gagnon", "--office", "Accès Montréal — Ville-Marie")
    context = await new_context(browser, viewport=SIZES[size])
    page = await context.new_page()
    for lang in ("fr", "en"):
        await page.goto(issuer + "/counter/login?lang=" + lang)
        await check_look(page, "counter-login")
    await page.fill("#email", agent["email"])
    await page.fill("#password", agent["password"])
    await page.keyboard.press("Enter")
    await page.wait_for_url(issuer + "/counter/second-factor")
    await check_look(page, "counter-second-factor")
    await page.fill("#code", _code(agent["totp_secret"]))
    await page.keyboard.press("Enter")
    await page.wait_for_url(issuer + "/counter")
    for lang in ("fr", "en"):
        for name, path in (("counter-home", "/counter"), ("counter-enroll", "/counter/enroll"),
                           ("counter-search", "/counter/search")):
            await page.goto(issuer + path + "?lang=" + lang)
            await check_look(page, name)
    await page.click("form.signout button")
    await page.wait_for_selector("main a[href='/counter/login']")
    await check_look(page, "counter-signed-out")
    await context.close()
