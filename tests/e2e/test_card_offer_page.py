"""The carte citoyenne pages in a real Chromium with axe-core (WCAG 2.1 A/AA, zero violations):
the overview, the offer (QR code, link, 6-digit code) in French and English, a level-1
resident's refusal with its error summary, all without JavaScript needed.

The identity front runs in-process (tests/integration/card/front.py) rather than the whole
system: the page under test is identity's alone."""

from __future__ import annotations

import os

import pytest

from tests.e2e.conftest import CHROMIUM, LAUNCH_ARGS, _ensure_axe
from tests.e2e.pages import check_page, new_context, tab_to
from tests.integration.card.front import PASSWORD, SELF_ASSERTED_EMAIL, VERIFIED_EMAIL, running_card_front


@pytest.fixture(scope="module")
async def card_front():
    async with running_card_front() as front:
        yield front


@pytest.fixture(scope="module")
async def chromium():
    if not os.access(CHROMIUM, os.X_OK):
        message = f"no Chromium at {CHROMIUM}: run tests/e2e/setup.sh as root (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    _ensure_axe()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


async def _signed_in_page(chromium, base: str, email: str, *, javascript: bool = True):
    context = await new_context(chromium, java_script_enabled=javascript)
    page = await context.new_page()
    await page.goto(base + "/account/login?next=/account/card")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/account/card")
    return context, page


async def test_offer_page_is_accessible_in_french_and_english(card_front, chromium):
    context, page = await _signed_in_page(chromium, card_front.base, VERIFIED_EMAIL)
    try:
        await check_page(page, "card-overview-fr")
        await tab_to(page, "#get-card")
        await page.keyboard.press("Enter")
        await page.wait_for_selector("#tx-code")
        assert await page.locator("svg[role=img]").count() == 1
        assert len(await page.inner_text("#tx-code")) == 6
        assert (await page.get_attribute("#offer-link", "href")).startswith("openid-credential-offer://")
        await check_page(page, "card-offer-fr")
        await page.goto(card_front.base + "/account/card?lang=en")
        await page.click("#get-card")
        await page.wait_for_selector("#tx-code")
        assert "Add the card to your wallet" in await page.inner_text("h1")
        await check_page(page, "card-offer-en")
    finally:
        await context.close()


async def test_level_one_refusal_has_an_error_summary_without_javascript(card_front, chromium):
    context, page = await _signed_in_page(chromium, card_front.base, SELF_ASSERTED_EMAIL, javascript=False)
    try:
        assert "niveau 2" in await page.inner_text("main")
    finally:
        await context.close()
    context, page = await _signed_in_page(chromium, card_front.base, SELF_ASSERTED_EMAIL)
    try:
        await check_page(page, "card-level-needed-fr")
    finally:
        await context.close()
