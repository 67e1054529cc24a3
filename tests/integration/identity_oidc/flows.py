"""Helpers shared by the OIDC integration tests (authlib's client drives the protocol)."""

from __future__ import annotations

import httpx
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client

from tests.integration.identity_oidc.conftest import RP_REDIRECT, SECRET


def rp_client(client_id: str = "montreal-ca", scope: str = "openid email profile",
              redirect_uri: str = RP_REDIRECT, secret: str | None = SECRET) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(client_id=client_id, client_secret=secret, scope=scope, redirect_uri=redirect_uri,
                             code_challenge_method="S256",
                             token_endpoint_auth_method="client_secret_basic" if secret else "none")


async def code_for(front, browser, client: AsyncOAuth2Client, *, email: str | None = None,
                   scopes: list[str] | None = None, purposes: list[str] | None = None,
                   **params) -> tuple[str, str]:
    """Drive the browser to the callback; returns (callback URL, code_verifier)."""
    verifier = generate_token(48)
    url, _state = client.create_authorization_url(front.base + "/authorize", code_verifier=verifier, **params)
    page = await browser.follow(await browser.get(url))
    if "/login" in str(page.url):
        page = await browser.login(page, email or front.resident.email)
    if "/consent" in str(page.url):
        page = await browser.consent(page, scopes or [], purposes or [])
    assert page.status_code == 302, (page.status_code, page.text[:300])
    return page.headers["location"], verifier


async def tokens_for(front, browser, client: AsyncOAuth2Client, **kwargs) -> dict:
    callback, verifier = await code_for(front, browser, client, **kwargs)
    return await client.fetch_token(front.base + "/token", authorization_response=callback, code_verifier=verifier)


async def post_token(front, data: dict, auth: tuple[str, str] | None = ("montreal-ca", SECRET)) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(front.base + "/token", data=data, auth=auth)


async def introspect(front, token: str, auth=("montreal-ca", SECRET)) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(front.base + "/introspect", data={"token": token}, auth=auth)
