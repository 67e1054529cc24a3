"""The login, second-factor and consent pages: French by default, English available, accessible
markup, CSRF on every form, security headers and cookie attributes."""

from __future__ import annotations

import re

import httpx

from tests.integration.identity_oidc.flows import rp_client


async def login_page(front, browser, **params) -> httpx.Response:
    client = rp_client(scope="openid email")
    url, _ = client.create_authorization_url(front.base + "/authorize", code_verifier="v" * 50, **params)
    await client.aclose()
    page = await browser.follow(await browser.get(url))
    assert "/login" in str(page.url)
    return page


async def test_login_page_is_french_accessible_and_protected(front, browser):
    page = await login_page(front, browser)
    html = page.text
    assert page.status_code == 200
    assert "<html lang=\"fr\">" in html and "Se connecter" in html and "continuer vers : montreal.ca" in html
    assert 'class="skip-link" href="#main"' in html
    assert '<label for="email">' in html and '<label for="password">' in html
    assert 'name="csrf_token"' in html
    # nothing inline: the CSP forbids it (the passkey script is a file of our own origin)
    assert re.search(r"<script(?![^>]*\bsrc=\"/static/)", html) is None and "style=" not in html
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie   # development


async def test_english_is_available_and_remembered(front, browser):
    page = await login_page(front, browser)
    english = await browser.get(str(page.url) + "&lang=en")
    assert '<html lang="en">' in english.text and "Sign in" in english.text
    again = await browser.get(str(page.url))
    assert '<html lang="en">' in again.text                       # remembered in a cookie


async def test_errors_are_next_to_their_field(front, browser):
    page = await login_page(front, browser)
    response = await browser.submit(page, "/login", email="pas-une-adresse", password="")
    assert response.status_code == 400
    html = response.text
    assert 'id="email-error"' in html and 'aria-describedby="email-hint email-error"' in html
    assert 'id="password-error"' in html and 'aria-invalid="true"' in html
    assert 'role="alert"' in html
    wrong = await browser.submit(page, "/login", email=front.resident.email, password="not the password")
    assert wrong.status_code == 400 and "incorrect" in wrong.text
    assert "mtlid_session" not in wrong.headers.get("set-cookie", "")


async def test_forms_refuse_a_missing_or_forged_csrf_token(front, browser):
    page = await login_page(front, browser)
    response = await browser.submit(page, "/login", csrf_token="forged", email=front.resident.email,
                                    password="whatever")
    assert response.status_code == 403
    assert "mtlid_session" not in response.headers.get("set-cookie", "")


async def test_consent_page_asks_each_consent_purpose_separately(front, browser):
    page = await login_page(front, browser)
    page = await browser.login(page, front.resident.email)
    assert "/consent" in str(page.url)
    html = page.text
    for purpose in ("communication", "statistics"):              # consent purposes: a choice each
        assert f'name="choice" value="{purpose}:' in html
    assert 'value="service-provision' not in html                 # a public task is information
    assert "checked" not in html                                   # nothing pre-ticked (free, manifest consent)
    assert 'value="deny"' in html and 'value="accept"' in html
    assert "<fieldset" in html and "<legend>" in html


async def test_healthz(front):
    async with httpx.AsyncClient() as http:
        r = await http.get(front.base + "/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


async def test_login_hint_prefills_the_email(front, browser):
    page = await login_page(front, browser, login_hint="camille@example.ca")
    assert 'value="camille@example.ca"' in page.text


async def test_ui_locales_chooses_english(front, browser):
    page = await login_page(front, browser, ui_locales="en-CA fr-CA")
    assert '<html lang="en">' in page.text


async def test_token_endpoints_answer_get_with_a_json_error(front):
    async with httpx.AsyncClient() as http:
        for path in ("/token", "/introspect", "/revoke"):
            r = await http.get(front.base + path)
            assert r.status_code == 400 and r.json()["error"] == "invalid_request", path


async def test_browser_applications_may_call_the_token_endpoints_but_not_read_pages(front):
    async with httpx.AsyncClient() as http:
        preflight = await http.options(front.base + "/token", headers={
            "Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
        assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == "*"
        jwks = await http.get(front.base + "/jwks", headers={"Origin": "https://app.example"})
        assert jwks.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in jwks.headers
        page = await http.get(front.base + "/login?interaction=x", headers={"Origin": "https://app.example"})
        assert "access-control-allow-origin" not in page.headers


async def test_repeated_failures_are_throttled_with_retry_after(front, browser):
    page = await login_page(front, browser)
    statuses = []
    for _ in range(7):
        response = await browser.submit(page, "/login", email="personne@example.ca", password="wrong password")
        statuses.append(response.status_code)
    assert statuses[0] == 400 and statuses[-1] == 429
    assert int(response.headers["retry-after"]) > 0
    assert "Trop d'essais" in response.text or "Trop d&#39;essais" in response.text


async def test_behind_a_trusted_proxy_each_resident_address_has_its_own_throttle(front, browser):
    """Behind the ingress every connection comes from the proxy: the front reads the resident's
    address from X-Forwarded-For when the peer is a trusted proxy (here 127.0.0.1, uvicorn's
    FORWARDED_ALLOW_IPS default; the cluster's private ranges in deploy/), so one address's
    failures throttle that address, not every resident behind the same proxy."""
    from services.identity.domain.throttling import ADDRESS_POLICY

    page = await login_page(front, browser)
    browser.http.headers["X-Forwarded-For"] = "198.51.100.200, 203.0.113.10"
    for i in range(ADDRESS_POLICY.free_failures + 1):
        last = await browser.submit(page, "/login", email=f"inconnu{i}@example.ca", password="wrong password")
    assert last.status_code == 429
    # Another resident, through the same proxy: refused for the password only.
    browser.http.headers["X-Forwarded-For"] = "203.0.113.11"
    other = await browser.submit(page, "/login", email="inconnu-autre@example.ca", password="wrong password")
    assert other.status_code == 400
    # The address a client writes itself (left of what the proxy appended) is not believed.
    browser.http.headers["X-Forwarded-For"] = "203.0.113.11, 203.0.113.10"
    spoofed = await browser.submit(page, "/login", email="inconnu-encore@example.ca", password="wrong password")
    assert spoofed.status_code == 429
