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
