"""Every OAuth 2.0 / OIDC error path answers with its RFC 6749 error code — JSON at the token
endpoint, a redirect (with state and iss) at the authorization endpoint once the redirect URI
is verified, an error page before — and never a 500."""

from __future__ import annotations

import asyncio
import datetime as dt
from urllib.parse import urlencode

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from sqlalchemy import update

from services.identity.adapters.oauth_orm import AuthorizationCodeRow
from tests.integration.identity_oidc.conftest import RP_REDIRECT, SECRET
from tests.integration.identity_oidc.flows import code_for, introspect, post_token, rp_client, tokens_for

VERIFIER = "v" * 50
CHALLENGE = create_s256_code_challenge(VERIFIER)


def authorize_url(front, **overrides) -> str:
    params = {"response_type": "code", "client_id": "montreal-ca", "redirect_uri": RP_REDIRECT,
              "scope": "openid", "state": "xyz", "code_challenge": CHALLENGE, "code_challenge_method": "S256"}
    params.update(overrides)
    return front.base + "/authorize?" + urlencode({k: v for k, v in params.items() if v is not None}, doseq=True)


def redirected_error(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, (response.status_code, response.text[:200])
    location = httpx.URL(response.headers["location"])
    assert str(location).startswith(RP_REDIRECT)
    return dict(location.params)


@pytest.mark.parametrize("overrides, error", [
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"response_type": "code id_token"}, "unsupported_response_type"),
    ({"response_type": None}, "invalid_request"),
    ({"code_challenge": None}, "invalid_request"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"code_challenge": "short"}, "invalid_request"),
    ({"scope": "openid identity:admin"}, "invalid_scope"),
    ({"scope": "email"}, "invalid_scope"),
    ({"prompt": "none login"}, "invalid_request"),
    ({"prompt": "select_account"}, "invalid_request"),
    ({"max_age": "-1"}, "invalid_request"),
    ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
    ({"state": ["a", "b"]}, "invalid_request"),
])
async def test_authorization_errors_redirect_with_state_and_iss(front, browser, overrides, error):
    params = redirected_error(await browser.get(authorize_url(front, **overrides)))
    assert params["error"] == error
    assert params["iss"] == front.base
    if overrides.get("state") is None:
        assert params["state"] == "xyz"


async def test_client_not_allowed_the_code_grant_is_unauthorized_client(front, browser):
    url = authorize_url(front, client_id="borough-system")
    # borough-system has no redirect URI: error page, not a redirect
    response = await browser.get(url)
    assert response.status_code == 400 and "location" not in response.headers


@pytest.mark.parametrize("overrides", [
    {"redirect_uri": "https://evil.example/callback"},
    {"redirect_uri": RP_REDIRECT + "/extra"},                 # exact match, no prefix
    {"redirect_uri": RP_REDIRECT.upper()},
    {"redirect_uri": None},
    {"client_id": "unknown-client"},
    {"client_id": None},
    {"redirect_uri": [RP_REDIRECT, RP_REDIRECT]},
])
async def test_bad_client_or_redirect_uri_gives_an_error_page_not_a_redirect(front, browser, overrides):
    response = await browser.get(authorize_url(front, **overrides))
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert '<html lang="fr">' in response.text
    assert response.headers["cache-control"] == "no-store"


async def test_prompt_none_without_session_is_login_required(front, browser):
    params = redirected_error(await browser.get(authorize_url(front, prompt="none")))
    assert params["error"] == "login_required" and params["state"] == "xyz"


async def test_prompt_none_without_consent_is_consent_required(front, browser):
    client = rp_client(scope="openid")
    await code_for(front, browser, client)                   # logged in, consented for "openid"
    params = redirected_error(await browser.get(authorize_url(front, prompt="none", scope="openid email")))
    assert params["error"] == "consent_required"
    ok = await browser.get(authorize_url(front, prompt="none", scope="openid"))
    assert "code" in redirected_error(ok)
    await client.aclose()


async def code_and_verifier(front, browser) -> tuple[str, str]:
    client = rp_client(scope="openid")
    callback, verifier = await code_for(front, browser, client)
    await client.aclose()
    return httpx.URL(callback).params["code"], verifier


def code_request(code: str, verifier: str | None, **extra) -> dict:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": RP_REDIRECT}
    if verifier is not None:
        data["code_verifier"] = verifier
    data.update(extra)
    return data


async def test_wrong_verifier_is_invalid_grant(front, browser):
    code, _verifier = await code_and_verifier(front, browser)
    r = await post_token(front, code_request(code, generate_token(48)))
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


async def test_missing_verifier_is_invalid_request_even_for_confidential_clients(front, browser):
    code, _verifier = await code_and_verifier(front, browser)
    r = await post_token(front, code_request(code, None))
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


async def test_reused_code_is_invalid_grant_and_revokes_what_it_issued(front, browser):
    client = rp_client(scope="openid offline_access")
    callback, verifier = await code_for(front, browser, client, scopes=["offline_access"])
    code = httpx.URL(callback).params["code"]
    first = await post_token(front, code_request(code, verifier))
    assert first.status_code == 200
    second = await post_token(front, code_request(code, verifier))
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"
    refresh = await post_token(front, {"grant_type": "refresh_token", "refresh_token": first.json()["refresh_token"]})
    assert refresh.json()["error"] == "invalid_grant"     # RFC 6749 s. 4.1.2: tokens of a replayed code revoked
    # probe finding 2: the access token issued from the code is revoked too
    assert (await introspect(front, first.json()["access_token"])).json() == {"active": False}
    async with httpx.AsyncClient() as http:
        userinfo = await http.get(front.base + "/userinfo",
                                  headers={"Authorization": "Bearer " + first.json()["access_token"]})
    assert userinfo.status_code == 401
    await client.aclose()


async def test_reused_code_revokes_access_tokens_minted_by_refresh_too(front, browser):
    """Every token based on the code (RFC 6749 s. 4.1.2), also those a refresh minted since."""
    client = rp_client(scope="openid offline_access")
    callback, verifier = await code_for(front, browser, client, scopes=["offline_access"])
    code = httpx.URL(callback).params["code"]
    first = (await post_token(front, code_request(code, verifier))).json()
    refreshed = (await post_token(front, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})).json()
    assert (await introspect(front, refreshed["access_token"])).json()["active"] is True
    assert (await post_token(front, code_request(code, verifier))).json()["error"] == "invalid_grant"
    for token in (first["access_token"], refreshed["access_token"], refreshed["refresh_token"]):
        assert (await introspect(front, token)).json() == {"active": False}
    await client.aclose()


async def test_replayed_code_revokes_nothing_without_client_authentication(front, browser):
    """Probe finding 2: someone holding a used code (a log, a Referer) cannot sign the
    resident's tokens out: a wrong secret, no secret, or a public client without the code's
    PKCE verifier gets an error and every token stays active."""
    client = rp_client(scope="openid offline_access")
    callback, verifier = await code_for(front, browser, client, scopes=["offline_access"])
    code = httpx.URL(callback).params["code"]
    first = (await post_token(front, code_request(code, verifier))).json()
    wrong_secret = await post_token(front, code_request(code, verifier), auth=("montreal-ca", "not-the-secret"))
    assert wrong_secret.status_code == 401 and wrong_secret.json()["error"] == "invalid_client"
    no_secret = await post_token(front, code_request(code, verifier, client_id="montreal-ca"), auth=None)
    assert no_secret.status_code in (400, 401) and no_secret.json()["error"] == "invalid_client"
    assert (await introspect(front, first["access_token"])).json()["active"] is True
    assert (await introspect(front, first["refresh_token"])).json()["active"] is True
    await client.aclose()

    public = rp_client(client_id="permits-spa", scope="openid", secret=None)
    callback, verifier = await code_for(front, browser, public)
    code = httpx.URL(callback).params["code"]
    issued = (await post_token(front, code_request(code, verifier, client_id="permits-spa"), auth=None)).json()
    replay = await post_token(front, code_request(code, generate_token(48), client_id="permits-spa"), auth=None)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert (await introspect(front, issued["access_token"])).json()["active"] is True
    # the client itself (it has the verifier) replaying: everything from the code is revoked
    again = await post_token(front, code_request(code, verifier, client_id="permits-spa"), auth=None)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert (await introspect(front, issued["access_token"])).json() == {"active": False}
    await public.aclose()


async def test_reused_refresh_token_revokes_nothing_without_client_authentication(front, browser):
    client = rp_client(scope="openid offline_access")
    first = await tokens_for(front, browser, client, scopes=["offline_access"])
    rotated = (await post_token(front, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})).json()
    stranger = await post_token(front, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
                                auth=("montreal-ca", "not-the-secret"))
    assert stranger.status_code == 401 and stranger.json()["error"] == "invalid_client"
    assert (await introspect(front, rotated["refresh_token"])).json()["active"] is True
    await client.aclose()


async def test_concurrent_use_of_one_code_gives_tokens_once(front, browser):
    code, verifier = await code_and_verifier(front, browser)
    results = await asyncio.gather(*(post_token(front, code_request(code, verifier)) for _ in range(3)))
    assert sorted(r.status_code for r in results) == [200, 400, 400]


async def test_expired_code_is_invalid_grant(front, browser):
    code, verifier = await code_and_verifier(front, browser)
    from services.identity.oidc.tokens import secret_hash

    async with front.sessions() as session:
        await session.execute(update(AuthorizationCodeRow).where(AuthorizationCodeRow.code_hash == secret_hash(code))
                              .values(expires_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)))
        await session.commit()
    r = await post_token(front, code_request(code, verifier))
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


async def test_code_of_another_client_or_redirect_is_invalid_grant(front, browser):
    code, verifier = await code_and_verifier(front, browser)
    other_redirect = await post_token(front, code_request(code, verifier, redirect_uri=RP_REDIRECT + "x"))
    assert other_redirect.json()["error"] == "invalid_grant"
    other_client = await post_token(front, code_request(code, verifier), auth=("library", SECRET))
    assert other_client.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("auth, data, status", [
    (("montreal-ca", "wrong"), {}, 401),
    (("nobody", SECRET), {}, 401),
    (None, {}, 400),
    (None, {"client_id": "montreal-ca", "client_secret": SECRET}, 401),   # registered for basic, not post
])
async def test_invalid_client(front, browser, auth, data, status):
    r = await post_token(front, {"grant_type": "authorization_code", "code": "x", "redirect_uri": RP_REDIRECT,
                                 "code_verifier": VERIFIER, **data}, auth=auth)
    assert r.json()["error"] == "invalid_client"
    if auth is not None:
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
    else:
        assert r.status_code in (400, 401)


@pytest.mark.parametrize("data, error", [
    ({"grant_type": "password", "username": "a", "password": "b"}, "unsupported_grant_type"),
    ({"grant_type": "implicit"}, "unsupported_grant_type"),
    ({"grant_type": "urn:ietf:params:oauth:grant-type:device_code"}, "unsupported_grant_type"),
    ({}, "unsupported_grant_type"),
    ({"grant_type": "authorization_code"}, "invalid_request"),
    ({"grant_type": "refresh_token"}, "invalid_request"),
    ({"grant_type": "refresh_token", "refresh_token": "unknown"}, "invalid_grant"),
    ({"grant_type": "authorization_code", "code": "unknown", "redirect_uri": RP_REDIRECT,
      "code_verifier": VERIFIER}, "invalid_grant"),
    ({"grant_type": ["client_credentials", "refresh_token"]}, "invalid_request"),
])
async def test_token_endpoint_errors(front, data, error):
    r = await post_token(front, data)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == error
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["cache-control"] == "no-store"


async def test_public_client_may_not_use_client_credentials(front):
    r = await post_token(front, {"grant_type": "client_credentials", "client_id": "permits-spa"}, auth=None)
    assert r.json()["error"] in ("invalid_client", "unauthorized_client")


@pytest.mark.parametrize("method, path, kwargs", [
    ("GET", "/token", {}),
    ("POST", "/token", {"content": b"\xff\xfe garbage", "headers": {"content-type": "application/x-www-form-urlencoded"}}),
    ("POST", "/token", {"content": b"{}", "headers": {"content-type": "application/json"}}),
    ("POST", "/introspect", {}),
    ("POST", "/revoke", {}),
    ("GET", "/userinfo", {}),
    ("GET", "/userinfo", {"headers": {"authorization": "Bearer a.b.c"}}),
    ("GET", "/authorize", {}),
    ("GET", "/authorize/resume?interaction=forged.value", {}),
    ("GET", "/login?interaction=x", {}),
    ("GET", "/consent", {}),
    ("POST", "/login", {"data": {"email": "a@b.c", "password": "x"}}),
    ("GET", "/end-session?id_token_hint=a.b.c", {}),
    ("GET", "/end-session?post_logout_redirect_uri=https://evil.example/", {}),
    ("GET", "/nowhere", {}),
    ("POST", "/token", {"content": b"a=" + b"x" * 200_000, "headers": {"content-type": "application/x-www-form-urlencoded"}}),
    ("POST", "/login", {"content": b"a=" + b"x" * 200_000, "headers": {"content-type": "application/x-www-form-urlencoded"}}),
])
async def test_malformed_requests_never_get_a_500(front, method, path, kwargs):
    async with httpx.AsyncClient() as http:
        r = await http.request(method, front.base + path, **kwargs)
    assert r.status_code < 500, (r.status_code, r.text[:300])


async def test_random_junk_on_every_route_never_gets_a_500(front, browser):
    import random

    rng = random.Random(20261127)
    names = ["client_id", "redirect_uri", "response_type", "scope", "state", "code", "code_verifier", "grant_type",
             "refresh_token", "token", "token_type_hint", "interaction", "csrf_token", "email", "password",
             "decision", "id_token_hint", "post_logout_redirect_uri", "prompt", "max_age", "acr_values", "nonce",
             "code_challenge", "code_challenge_method", "resource", "ui_locales", "lang", "access_token"]
    values = ["", "x", "montreal-ca", RP_REDIRECT, "openid", "code", "S256", "none", "-1", "a.b.c", "\u00e9\u0000",
              "%00", "' OR 1=1 --", "x" * 3000, "authorization_code", "refresh_token", "client_credentials"]
    paths = ["/authorize", "/authorize/resume", "/token", "/userinfo", "/introspect", "/revoke", "/end-session",
             "/end-session/confirm", "/logout/everywhere", "/login", "/login/second-factor", "/consent", "/jwks"]
    for _ in range(120):
        params = {rng.choice(names): rng.choice(values) for _ in range(rng.randint(0, 6))}
        path, method = rng.choice(paths), rng.choice(["GET", "POST"])
        auth = rng.choice([None, ("montreal-ca", SECRET), ("montreal-ca", "x"), ("\u00e9", "y")])
        kwargs = {"params": params} if method == "GET" else {"data": params}
        response = await browser.http.request(method, path, auth=auth, **kwargs)
        assert response.status_code < 500, (method, path, params, response.status_code)
