"""In the browser, the two pages of issue 20 that had no browser test:

- ``response_mode=form_post``: the page that carries the code to the client in a POST. With
  scripts it submits itself; without scripts (a context with JavaScript off) its button is
  visible and takes the resident on. The client receives ``code``, ``state`` and ``iss``.
- front-channel logout: the signed-out page frames each client's
  ``frontchannel_logout_uri`` with ``iss`` and ``sid``, and the client's endpoint is
  actually requested by the browser.

Both pages in French and in English, axe-core finding no WCAG 2.1 A/AA violation (the frame
of the client's own page included). The client is a small real HTTP server run by the test.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import secrets
import threading
import time
import urllib.parse

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from services.common.nats import free_port
from tests.e2e.pages import check_page, new_context

pytestmark = pytest.mark.e2e

EMAIL = "formulaire.retour@example.ca"
PASSWORD = "une phrase de passe pour revenir 7"


class Partner:
    """The client's side: its redirect URI takes the POSTed response, its front-channel
    logout URI records each request the browser makes to it (an accessible page each)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.responses: list[dict[str, str]] = []
        self.logouts: list[dict[str, str]] = []
        partner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _page(self, title: str) -> None:
                body = (f'<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>{title}</title></head>'
                        f'<body><main><h1>{title}</h1></main></body></html>').encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                length = int(self.headers.get("Content-Length", "0"))
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                partner.responses.append({k: v[0] for k, v in form.items()})
                self._page("Permis en ligne : connecté")

            def do_GET(self) -> None:  # noqa: N802
                url = urllib.parse.urlsplit(self.path)
                if url.path == "/frontchannel-logout":
                    partner.logouts.append(dict(urllib.parse.parse_qsl(url.query)))
                    self._page("Permis en ligne : déconnexion")
                else:
                    self._page("Permis en ligne")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Partner":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def partner(system):
    with Partner() as running:
        created = system.cli("client", "create", "--name", "Permis en ligne", "--public",
                             "--redirect-uri", running.base + "/callback",
                             "--post-logout-redirect-uri", running.base + "/bye",
                             "--frontchannel-logout-uri", running.base + "/frontchannel-logout",
                             "--scope", "openid")
        running.client_id = created["client_id"]
        system.cli("resident", "create", "--email", EMAIL, "--password", PASSWORD, "--verified")
        yield running


def authorization_url(system, partner, state: str) -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urllib.parse.urlencode({
        "response_type": "code", "response_mode": "form_post", "client_id": partner.client_id,
        "redirect_uri": partner.base + "/callback", "scope": "openid", "state": state,
        "code_challenge": challenge, "code_challenge_method": "S256"})
    return f"{system.issuer}/authorize?{query}", verifier


async def sign_in_and_consent(page, system) -> None:
    await page.wait_for_url(system.issuer + "/login?**")
    await page.fill("#email", EMAIL)
    await page.fill("#password", PASSWORD)
    await page.click("form[action='/login'] button[type=submit]")
    if "/consent" in page.url or await page.locator("button[value=accept]").count():
        await page.click("button[value=accept]")


async def received(partner, state: str, timeout: float = 10.0) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for response in partner.responses:
            if response.get("state") == state:
                return response
        time.sleep(0.05)
    raise AssertionError(f"the client never received the response for {state}")


def id_token_for(system, partner, response: dict[str, str], verifier: str) -> str:
    tokens = httpx.post(system.issuer + "/token", data={
        "grant_type": "authorization_code", "code": response["code"], "client_id": partner.client_id,
        "redirect_uri": partner.base + "/callback", "code_verifier": verifier}, timeout=10)
    assert tokens.status_code == 200, tokens.text
    return tokens.json()["id_token"]


@pytest.mark.parametrize("lang", ["fr", "en"])
async def test_form_post_then_front_channel_logout(system, browser, partner, lang):
    context = await new_context(browser, viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await page.goto(f"{system.issuer}/account/login?lang={lang}")  # the language cookie

    # 1. with scripts: the form_post page submits itself to the client
    state = f"auto-{lang}"
    url, verifier = authorization_url(system, partner, state)
    await page.goto(url)
    await sign_in_and_consent(page, system)
    await page.wait_for_url(partner.base + "/callback")
    first = await received(partner, state)
    assert first["iss"] == system.issuer and first["code"]

    # 2. the page itself, kept on screen (its script blocked) for axe-core and the eye
    await page.route("**/static/form_post.js", lambda route: route.abort())
    state = f"page-{lang}"
    url, verifier = authorization_url(system, partner, state)
    await page.goto(url)                       # signed in: straight to the form_post page
    await page.wait_for_selector("#form-post-response")
    title = {"fr": "Retour au service", "en": "Back to the service"}[lang]
    assert (await page.inner_text("h1")).strip() == title
    await check_page(page, f"form-post-{lang}")
    # the code travels in the body, never in the URL
    assert "code=" not in page.url
    await page.click("#form-post-response button[type=submit]")
    await page.wait_for_url(partner.base + "/callback")
    response = await received(partner, state)
    await page.unroute("**/static/form_post.js")

    # 3. front-channel logout: the signed-out page frames the client's logout URI
    id_token = id_token_for(system, partner, response, verifier)
    sid = jwt.decode(id_token, KeySet.import_key_set(httpx.get(system.issuer + "/jwks").json())).claims["sid"]
    before = len(partner.logouts)
    await page.goto(f"{system.issuer}/end-session?" + urllib.parse.urlencode({
        "id_token_hint": id_token, "post_logout_redirect_uri": partner.base + "/bye", "state": "bye"}))
    await page.wait_for_selector("iframe.frontchannel-logout")
    deadline = time.monotonic() + 10
    while len(partner.logouts) == before and time.monotonic() < deadline:
        await page.wait_for_timeout(50)
    assert partner.logouts[before:] == [{"iss": system.issuer, "sid": sid}]   # really requested
    done = {"fr": "Vous êtes déconnecté", "en": "You are signed out"}[lang]
    assert (await page.inner_text("h1")).strip() == done
    frame = page.frame_locator("iframe.frontchannel-logout")
    assert "déconnexion" in await frame.locator("h1").inner_text()
    await check_page(page, f"front-channel-logout-{lang}")
    # the way back to the client is a link (no timed redirect)
    assert await page.get_attribute("main a[href*='/bye']", "href") == partner.base + "/bye?state=bye"
    await context.close()


async def test_form_post_works_without_javascript(system, browser, partner):
    context = await new_context(browser, java_script_enabled=False)
    page = await context.new_page()
    state = "no-script"
    url, _verifier = authorization_url(system, partner, state)
    await page.goto(url)
    await sign_in_and_consent(page, system)
    await page.wait_for_selector("#form-post-response")
    button = page.locator("#form-post-response button[type=submit]")
    assert await button.is_visible()
    assert partner.responses == [] or all(r.get("state") != state for r in partner.responses)
    await button.click()
    await page.wait_for_url(partner.base + "/callback")
    response = await received(partner, state)
    assert response["iss"] == system.issuer and response["code"]
    await context.close()
