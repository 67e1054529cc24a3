"""The identity front as production serves it (``MTLID_ENV`` other than development), over
the real HTTP server: HSTS from the app itself (probe finding 6), ``__Host-`` cookies and a
CSRF token bound to the session (probe finding 4)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from services.identity.http.app import create_app, serve
from tests.integration.identity_oidc.conftest import PASSWORD, SECRET, free_port, hidden_fields
from tests.integration.identity_oidc.flows import rp_client


@pytest.fixture(scope="module")
async def production_base(front):
    """A second front on the same provider and database, with production's transport rules."""
    port = free_port()
    stop, started = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(create_app(front.provider, secure_cookies=True), "127.0.0.1", port, stop,
                                     started=started))
    await asyncio.wait_for(started.wait(), 10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_hsts_on_pages_protocol_and_direct_endpoints(production_base):
    async with httpx.AsyncClient(base_url=production_base) as http:
        responses = [await http.get("/.well-known/openid-configuration"), await http.get("/login"),
                     await http.get("/no-such-page"),
                     await http.post("/token", data={"grant_type": "client_credentials"}, auth=("single-aud", SECRET))]
    for response in responses:
        assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains", \
            response.request.url
    assert responses[3].status_code == 200


async def test_no_hsts_in_development(front):
    async with httpx.AsyncClient(base_url=front.base) as http:
        response = await http.get("/.well-known/openid-configuration")
    assert "strict-transport-security" not in response.headers


class CookieBrowser:
    """A browser over plain http to the test server that still keeps Secure cookies (as it
    would over https): every Set-Cookie is stored under its exact name and sent back."""

    def __init__(self, base: str) -> None:
        self.http = httpx.AsyncClient(base_url=base, follow_redirects=False, timeout=10)
        self.jar: dict[str, str] = {}
        self.set_cookies: list[str] = []

    async def request(self, method: str, url: str, **kwargs) -> httpx.Response:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.jar.items())} if self.jar else {}
        response = await self.http.request(method, url, headers=headers, **kwargs)
        for header in response.headers.get_list("set-cookie"):
            self.set_cookies.append(header)
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if value and "max-age=0" not in header.lower():
                self.jar[name] = value
            else:
                self.jar.pop(name, None)
        return response

    async def follow(self, response: httpx.Response) -> httpx.Response:
        while response.status_code in (302, 303) and response.headers["location"].startswith("/"):
            response = await self.request("GET", response.headers["location"])
        return response


async def _login_page(base: str, browser: CookieBrowser) -> httpx.Response:
    client = rp_client(scope="openid email")
    url, _ = client.create_authorization_url(base + "/authorize", code_verifier="v" * 50)
    await client.aclose()
    page = await browser.follow(await browser.request("GET", url.removeprefix(base)))
    assert "/login" in str(page.url)
    return page


async def test_cookies_are_host_prefixed_secure_and_path_root(production_base, front):
    browser = CookieBrowser(production_base)
    page = await _login_page(production_base, browser)
    page = await browser.follow(await browser.request("POST", "/login", data={
        **hidden_fields(page.text), "email": front.resident.email, "password": PASSWORD}))
    assert "__Host-mtlid_session" in browser.jar and "__Host-mtlid_csrf" in browser.jar
    ours = [c for c in browser.set_cookies if c.split("=", 1)[0].endswith(("mtlid_session", "mtlid_csrf", "mtlid_lang"))]
    assert ours
    for cookie in ours:
        attributes = [a.strip().lower() for a in cookie.split(";")[1:]]
        assert cookie.startswith("__Host-"), cookie
        assert "secure" in attributes and "path=/" in attributes, cookie
        assert not [a for a in attributes if a.startswith("domain")], cookie
    await browser.http.aclose()


async def test_a_planted_bare_cookie_cannot_carry_a_login_csrf(production_base, front):
    """A sibling subdomain can set ``mtlid_csrf`` on .montreal.ca, never ``__Host-mtlid_csrf``:
    the attacker's own nonce and token, planted in a victim's browser without the prefix,
    are refused; the same pair under the prefix (only the identity host can set it) works."""
    attacker = CookieBrowser(production_base)
    page = await _login_page(production_base, attacker)
    form = {**hidden_fields(page.text), "email": front.resident.email, "password": PASSWORD}
    nonce = attacker.jar["__Host-mtlid_csrf"]
    async with httpx.AsyncClient(base_url=production_base) as victim:
        planted = await victim.post("/login", data=form, headers={"Cookie": f"mtlid_csrf={nonce}"})
        assert planted.status_code == 403
        assert "mtlid_session" not in planted.headers.get("set-cookie", "")
        genuine = await victim.post("/login", data=form, headers={"Cookie": f"__Host-mtlid_csrf={nonce}"})
        assert genuine.status_code in (302, 303), genuine.text[:300]
    await attacker.http.aclose()


async def test_the_csrf_token_is_signed_and_bound_to_the_session(production_base, front):
    browser = CookieBrowser(production_base)
    page = await _login_page(production_base, browser)
    anonymous_token = hidden_fields(page.text)["csrf_token"]
    nonce = browser.jar["__Host-mtlid_csrf"]
    # the cookie's nonce alone (the old double submit) or with a made-up signature: refused
    for forged in (nonce, nonce + ".AAAA", nonce + "." + anonymous_token.split(".", 1)[1][::-1]):
        refused = await browser.request("POST", "/login", data={
            **hidden_fields(page.text), "csrf_token": forged, "email": front.resident.email, "password": PASSWORD})
        assert refused.status_code == 403
    await browser.follow(await browser.request("POST", "/login", data={
        **hidden_fields(page.text), "email": front.resident.email, "password": PASSWORD}))
    assert "__Host-mtlid_session" in browser.jar
    # signed in now: the token shown before sign-in no longer works, the session's own does
    stale = await browser.request("POST", "/logout/everywhere", data={"csrf_token": anonymous_token})
    assert stale.status_code == 403
    page = await browser.request("GET", "/end-session")
    done = await browser.request("POST", "/logout/everywhere", data={"csrf_token": hidden_fields(page.text)["csrf_token"]})
    assert done.status_code == 200
    await browser.http.aclose()
