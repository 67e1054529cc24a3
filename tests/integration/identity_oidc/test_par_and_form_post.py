"""Pushed Authorization Requests (RFC 9126) and the form_post response mode, through the real
HTTP server and login/consent pages; the code is exchanged by authlib's client."""

from __future__ import annotations

import re

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from services.identity.domain.clients import OAuthClient, hash_client_secret
from tests.integration.identity_oidc.conftest import RP_REDIRECT, SECRET, hidden_fields
from tests.integration.identity_oidc.flows import rp_client
from tests.integration.identity_oidc.test_logout_everywhere import add_client

PREFIX = "urn:ietf:params:oauth:request_uri:"


def request_params(verifier: str, **extra) -> dict:
    return {"response_type": "code", "client_id": "montreal-ca", "redirect_uri": RP_REDIRECT, "scope": "openid",
            "state": "st-1", "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256", **extra}


async def push(front, data: dict, auth=("montreal-ca", SECRET)) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(front.base + "/par", data=data, auth=auth)


async def through_pages(front, browser, response: httpx.Response) -> httpx.Response:
    page = await browser.follow(response)
    if "/login" in str(page.url):
        page = await browser.login(page, front.resident.email)
    if "/consent" in str(page.url):
        page = await browser.consent(page, [], [])
    return page


async def test_a_pushed_request_runs_the_flow_once_and_ignores_url_parameters(front, browser):
    verifier = generate_token(48)
    pushed = await push(front, request_params(verifier))
    assert pushed.status_code == 201, pushed.text
    body = pushed.json()
    assert body["request_uri"].startswith(PREFIX) and body["expires_in"] == 90
    url = httpx.URL(front.base + "/authorize", params={
        "client_id": "montreal-ca", "request_uri": body["request_uri"],
        "redirect_uri": "https://evil.example/cb", "state": "tampered"})       # not from the pushed request
    done = await through_pages(front, browser, await browser.get(str(url)))
    assert done.status_code == 302
    callback = httpx.URL(done.headers["location"])
    assert str(callback).startswith(RP_REDIRECT) and callback.params["state"] == "st-1"
    client = rp_client(scope="openid")
    token = await client.fetch_token(front.base + "/token", authorization_response=str(callback), code_verifier=verifier)
    assert token["id_token"] and token["access_token"]
    await client.aclose()
    again = await browser.get(str(url))
    assert again.status_code == 400 and "location" not in again.headers             # single use
    foreign = await push(front, request_params(verifier))
    other = await browser.get(str(httpx.URL(front.base + "/authorize", params={
        "client_id": "library", "request_uri": foreign.json()["request_uri"]})))
    assert other.status_code == 400                                                   # bound to its client


async def test_pushed_requests_are_checked_and_errors_are_json(front):
    verifier = generate_token(48)
    cases = [
        (request_params(verifier), ("montreal-ca", "wrong"), 401, "invalid_client"),
        (request_params(verifier, redirect_uri="https://evil.example/cb"), ("montreal-ca", SECRET), 400,
         "invalid_request"),
        (request_params(verifier, code_challenge=None), ("montreal-ca", SECRET), 400, "invalid_request"),
        (request_params(verifier, request_uri=PREFIX + "x"), ("montreal-ca", SECRET), 400, "invalid_request"),
        (request_params(verifier, scope="openid identity:admin"), ("montreal-ca", SECRET), 400, "invalid_scope"),
        (request_params(verifier, client_id="library"), ("montreal-ca", SECRET), 400, "invalid_request"),
    ]
    for data, auth, status, error in cases:
        response = await push(front, {k: v for k, v in data.items() if v is not None}, auth=auth)
        assert response.status_code == status and response.json()["error"] == error, (data, response.text)
    # a public client pushes with its client_id (and PKCE), as RFC 9126 s. 2.1 allows
    public = await push(front, request_params(verifier, client_id="permits-spa"), auth=None)
    assert public.status_code == 201, public.text


async def test_a_client_may_be_required_to_push(front, browser):
    await add_client(front, OAuthClient(
        client_id="tax-portal", name="Taxes", secret_hash=hash_client_secret(SECRET), redirect_uris=(RP_REDIRECT,),
        grant_types=("authorization_code",), scopes=("openid",), require_pushed_authorization_requests=True))
    verifier = generate_token(48)
    plain = await browser.get(str(httpx.URL(front.base + "/authorize",
                                            params=request_params(verifier, client_id="tax-portal"))))
    refused = httpx.URL(plain.headers["location"])
    assert refused.params["error"] == "invalid_request" and "push" in refused.params["error_description"]
    # the marker the provider sets for pushed requests cannot be forged in the URL
    forged = await browser.get(str(httpx.URL(front.base + "/authorize", params=request_params(
        verifier, client_id="tax-portal", mtlid_pushed="1"))))
    assert httpx.URL(forged.headers["location"]).params["error"] == "invalid_request"
    pushed = await push(front, request_params(verifier, client_id="tax-portal"), auth=("tax-portal", SECRET))
    done = await through_pages(front, browser, await browser.get(str(httpx.URL(front.base + "/authorize", params={
        "client_id": "tax-portal", "request_uri": pushed.json()["request_uri"]}))))
    assert done.status_code == 302 and "code" in httpx.URL(done.headers["location"]).params


async def test_form_post_delivers_the_response_as_a_form_that_works_without_script(front, browser):
    verifier = generate_token(48)
    url = httpx.URL(front.base + "/authorize", params=request_params(verifier, response_mode="form_post"))
    page = await through_pages(front, browser, await browser.get(str(url)))
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    fields = hidden_fields(page.text)
    assert action == RP_REDIRECT and set(fields) == {"code", "state", "iss"}
    assert fields["state"] == "st-1" and fields["iss"] == front.base
    assert '<button type="submit">' in page.text                        # no script needed
    assert "code=" not in str(page.url)                                   # the code never was in a URL
    client = rp_client(scope="openid")
    token = await client.fetch_token(front.base + "/token", code=fields["code"], code_verifier=verifier)
    assert token["access_token"]
    await client.aclose()
    # errors travel the same way
    denied = await browser.get(str(httpx.URL(front.base + "/authorize", params=request_params(
        verifier, response_mode="form_post", prompt="none", max_age="0"))))
    assert denied.status_code == 200 and hidden_fields(denied.text)["error"] == "login_required"


async def test_discovery_advertises_par_and_form_post(front):
    async with httpx.AsyncClient() as http:
        meta = (await http.get(front.base + "/.well-known/openid-configuration")).json()
    assert meta["pushed_authorization_request_endpoint"] == front.base + "/par"
    assert meta["require_pushed_authorization_requests"] is False
    assert meta["response_modes_supported"] == ["query", "form_post"]
    assert meta["claims_parameter_supported"] is True
