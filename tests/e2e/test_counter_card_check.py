"""The counter console's carte citoyenne verifier in a real Chromium with axe-core (WCAG 2.1
A/AA, zero violations): the empty page, an accepted card (only ``age_over_18`` shown), a
refused one with its reason, the cache too old, French and English; keyboard only for the
form; the console's navigation on one line at 1280 px.

The identity front runs in-process (tests/integration/counter/test_card_check.py's
composition), as tests/e2e/test_card_offer_page.py does: the page under test is identity's alone."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from types import SimpleNamespace

import httpx
import pytest

from services.common.db import create_engine, session_factory
from services.common.migrations import migrate_async
from services.common.testing.databases import temporary_database
from services.identity.adapters.oauth_repositories import OAuthUnitOfWork
from services.identity.card import issuance
from services.identity.card.keys import card_issuer_for
from services.identity.card.wallet import ReferenceWallet
from services.identity.domain import totp
from services.identity.domain.assurance import LevelOfAssurance
from services.identity.http.app import create_app, serve
from services.identity.oidc.provider import CoreAuthenticator, Provider, derive_key
from services.identity.oidc.tokens import OidcConfig
from services.identity.service_layer.authentication import add_new_resident
from services.identity.service_layer.keys import SigningKeys
from tests.e2e.conftest import CHROMIUM, LAUNCH_ARGS, _ensure_axe
from tests.e2e.pages import check_page, new_context, tab_to
from tests.integration.counter.conftest import PASSWORD, agent_of
from tests.integration.identity_oidc.conftest import KEK, PAIRWISE_SECRET, free_port
from tests.unit.identity_card.fakes import ELOISE, PIN

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def desk(tmp_path_factory):
    async with temporary_database("e2e_counter_card") as url:
        await migrate_async("identity", url)
        engine = create_engine(url)
        sessions = session_factory(engine)

        def uow_factory():
            return OAuthUnitOfWork(sessions, kek=KEK)

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        provider = Provider(config=OidcConfig(issuer=base, pairwise_secret=PAIRWISE_SECRET,
                                              interaction_key=derive_key(KEK, "interaction"), secure_cookies=False),
                            keys=await SigningKeys.load(uow_factory(), KEK), uow_factory=uow_factory,
                            authenticator=CoreAuthenticator(uow_factory),
                            card=card_issuer_for(SimpleNamespace(issuer=base, key_encryption_key=KEK), uow_factory))
        app = create_app(provider)
        stop, started = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(serve(app, "127.0.0.1", port, stop, started=started))
        await asyncio.wait_for(started.wait(), 10)
        async with uow_factory() as uow:
            resident = await add_new_resident(uow, email="carte-e2e@example.ca", password_hash=None,
                                              preferred_language="fr", now=dt.datetime.now(dt.timezone.utc),
                                              email_verified=True)
            resident.level = LevelOfAssurance.VERIFIED
            await uow.residents.save(resident)
            await uow.commit()
        offer = await issuance.create_offer(provider.card, resident.resident_id, ELOISE)
        wallet = ReferenceWallet.open(tmp_path_factory.mktemp("wallet") / "wallet.json", PIN)
        async with httpx.AsyncClient(timeout=10) as http:
            await wallet.accept_offer(http, offer.uri, offer.tx_code, pin=PIN)
        try:
            yield SimpleNamespace(base=base, app=app, wallet=wallet, agent=await agent_of(uow_factory))
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
            await engine.dispose()


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


async def _present(page, desk, claims=("age_over_18",), nonce=None) -> None:
    """The resident's wallet presents for the code the page shows; the agent's scanner types it."""
    audience = await page.inner_text("#audience")
    shown_nonce = await page.inner_text("#nonce")
    presentation = desk.wallet.present(list(claims), pin=PIN, audience=audience, nonce=nonce or shown_nonce)
    await tab_to(page, "#presentation")
    await page.fill("#presentation", presentation)
    await tab_to(page, "#check-card")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#result-title")


async def test_the_card_check_page_is_accessible(desk, chromium):
    context = await new_context(chromium, viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    try:
        await page.goto(desk.base + "/counter/login")
        await page.fill("#email", desk.agent.email)
        await page.fill("#password", PASSWORD)
        await page.keyboard.press("Enter")
        await page.wait_for_url("**/counter/second-factor")
        await page.fill("#code", totp.hotp(desk.agent.totp_secret, int(time.time()) // 30))
        await page.keyboard.press("Enter")
        await page.wait_for_url(desk.base + "/counter")
        await page.click("a[href='/counter/card']")
        await page.wait_for_url("**/counter/card")
        await check_page(page, "counter-card-fr")
        tops = await page.eval_on_selector_all("nav.counter-nav li", "items => items.map(i => i.offsetTop)")
        assert len(set(tops)) == 1, "the console's navigation takes more than one line at 1280 px"

        await _present(page, desk)
        assert await page.inner_text("#result-title") == "Carte valide"
        assert [t.strip() for t in await page.locator("#disclosed dt").all_inner_texts()] == ["18 ans ou plus"]
        await check_page(page, "counter-card-accepted-fr")

        await _present(page, desk, nonce="ffffffff")
        assert "code de vérification de ce comptoir" in await page.inner_text("#refusal-reason")
        await check_page(page, "counter-card-refused-fr")

        desk.app.state.card_verifier_cache.fetched_at -= 2 * 86400
        await page.goto(desk.base + "/counter/card?lang=en")
        assert "too old" in await page.inner_text("#cache-age")
        await _present(page, desk)
        assert "48 h old: too old" in await page.inner_text("#refusal-reason")
        await check_page(page, "counter-card-too-old-en")
    finally:
        await context.close()
