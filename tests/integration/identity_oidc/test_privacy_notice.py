"""The privacy notice given at collection (Law 25; Access Act s. 65), issue 21: readable
without an account, French first and English, and linked from where information is
collected — the sign-up page and the consent screen a relying party sends the resident to."""

from __future__ import annotations

import httpx
from authlib.common.security import generate_token

from tests.integration.identity_oidc.conftest import Browser, add_resident
from tests.integration.identity_oidc.flows import rp_client
from services.identity.domain.assurance import LevelOfAssurance


def _text(response: httpx.Response) -> str:
    return response.text.replace("&#39;", "'")


async def test_the_notice_says_who_why_how_long_rights_and_whom_to_ask_in_both_languages(front):
    async with httpx.AsyncClient(base_url=front.base) as http:
        french = await http.get("/privacy")
        english = await http.get("/privacy?lang=en")
    assert french.status_code == 200 and '<html lang="fr">' in french.text
    for words in ("Qui recueille vos renseignements", "Pourquoi", "Combien de temps", "Vos droits",
                  "responsable de la protection des renseignements personnels", "Commission d'accès à l'information",
                  "obligatoires", "311"):
        assert words in _text(french), words
    assert english.status_code == 200 and '<html lang="en">' in english.text
    for words in ("Who collects your information", "Why", "For how long", "Your rights",
                  "person in charge of the protection of personal information", "Commission d'accès à l'information"):
        assert words in _text(english), words


async def test_sign_up_and_the_consent_screen_link_the_notice(front):
    async with httpx.AsyncClient(base_url=front.base) as http:
        assert 'href="/privacy"' in (await http.get("/signup")).text
    email = "avis.collecte@example.ca"
    await add_resident(front.uow, email, LevelOfAssurance.SELF_ASSERTED, False)
    browser, client = Browser(front.base), rp_client(scope="openid email")
    try:
        url, _ = client.create_authorization_url(front.base + "/authorize", code_verifier=generate_token(48))
        page = await browser.login(await browser.follow(await browser.get(url)), email)
        assert "/consent" in str(page.url)
        assert 'href="/privacy"' in page.text
    finally:
        await browser.close()
        await client.aclose()


async def test_the_notice_gives_the_controller_contact_from_the_configuration(front):
    """MTLID_CONTROLLER_EMAIL / MTLID_CONTROLLER_PHONE (issue 18): the notice gives the contact
    the city configured, the same the consent receipts carry; a real HTTP front."""
    import asyncio

    from services.common.config import Settings
    from services.common.nats import free_port
    from services.identity.http.app import create_app, serve

    app = create_app(front.provider)
    app.state.settings = Settings.from_env({"MTLID_CONTROLLER_EMAIL": "vie.privee@montreal.ca",
                                            "MTLID_CONTROLLER_PHONE": "+1 514 555-0199"})
    port = free_port()
    stop, started = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(app, "127.0.0.1", port, stop, started=started))
    await asyncio.wait_for(started.wait(), 10)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            french, english = await http.get("/privacy"), await http.get("/privacy?lang=en")
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    contact = _text(french).split('id="privacy-contact"')[1]
    assert 'href="mailto:vie.privee@montreal.ca">vie.privee@montreal.ca</a>' in contact
    assert 'href="tel:+15145550199">+1 514 555-0199</a>' in contact
    assert "Courriel :" in contact and "Téléphone :" in contact
    assert "vie.privee@montreal.ca" in english.text and "Phone:" in english.text
    # the defaults (placeholders for the privacy office to confirm) when nothing is configured
    async with httpx.AsyncClient(base_url=front.base) as http:
        default = (await http.get("/privacy")).text
    assert "acces.information@montreal.ca" in default and "+1-514-872-0311" in default
