"""Issue 15, point 5, in the browser: the consent register is stopped (only identity runs) and
a resident reaches the consent screen of a client with purposes. The "temporarily
unavailable" page, French and English, passes axe-core (WCAG 2.1 A/AA) and its two plain
forms need no script (tests/integration/test_consent_register_down.py drives them over HTTP
alone): "go back to the service" lands on the client with ``temporarily_unavailable``."""

from __future__ import annotations

import os

import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client

from services.common.migrations import migrate
from services.common.nats import EmbeddedNats
from tests.e2e.conftest import CHROMIUM, _ensure_axe
from tests.e2e.pages import check_page, new_context
from tests.integration.test_release_ledger import Processes, _http_up, _until

pytestmark = pytest.mark.e2e

PASSWORD = "une phrase de passe assez longue 3"
REDIRECT = "http://127.0.0.1:9/callback"


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    """Identity alone on SQLite: consent is not running (this module's own system)."""
    if not os.access(CHROMIUM, os.X_OK):
        message = f"no Chromium at {CHROMIUM}: run tests/e2e/setup.sh as root (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    _ensure_axe()
    tmp = tmp_path_factory.mktemp("register-down")
    nats = EmbeddedNats(tmp / "nats").start()
    urls = {s: f"sqlite+aiosqlite:///{tmp / s}.db" for s in ("identity", "consent")}
    migrate("identity", urls["identity"])
    run = Processes(tmp, nats.url, urls)
    try:
        run.cli("client", "create", "--name", "Appli de quartier", "--client-id", "quartier-app", "--public",
                "--redirect-uri", REDIRECT, "--grant-type", "authorization_code", "--scope", "openid",
                "--scope", "email", "--purpose", "service-provision", "--purpose", "communication")
        run.start("identity")
        yield run
    finally:
        run.stop_all()
        nats.stop(timeout=2)


@pytest.mark.parametrize("lang", ["fr", "en"])
async def test_the_unavailable_page_is_accessible_and_leads_back_to_the_service(system, browser, lang):
    await _until(lambda: _http_up(system.issuer))
    email = f"register-down-{lang}@example.ca"
    system.cli("resident", "create", "--email", email, "--password", PASSWORD, "--verified")
    client = AsyncOAuth2Client(client_id="quartier-app", scope="openid email", redirect_uri=REDIRECT,
                               code_challenge_method="S256", token_endpoint_auth_method="none")
    url, state = client.create_authorization_url(system.issuer + "/authorize", code_verifier=generate_token(48),
                                                 ui_locales=lang)
    await client.aclose()
    context = await new_context(browser)
    page = await context.new_page()
    try:
        await page.goto(url)
        await page.fill("#email", email)
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url("**/consent?**")
        assert await page.get_attribute("html", "lang") == lang
        heading = await page.inner_text("h1")
        assert heading == {"fr": "Service temporairement indisponible", "en": "Service temporarily unavailable"}[lang]
        await check_page(page, f"consent-register-down-{lang}")
        # back to the service: the client hears temporarily_unavailable (RFC 6749 s. 4.1.2.1)
        async with page.expect_request(lambda r: r.url.startswith(REDIRECT)) as went:
            await page.click("button[value=return]")
        target = (await went.value).url
        assert "error=temporarily_unavailable" in target and f"state={state}" in target
    finally:
        await context.close()
