"""The authorization code + PKCE flow through the real HTTP server and the real login and
consent forms, driven by authlib's OAuth 2.0 client (httpx integration); the ID token is
verified against the published JWKS."""

from __future__ import annotations

import httpx
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from tests.integration.identity_oidc.conftest import PURPOSES, RP_REDIRECT, SECRET


def rp_client(front, client_id: str = "montreal-ca", scope: str = "openid email profile",
              redirect_uri: str = RP_REDIRECT, secret: str | None = SECRET, **kwargs) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(client_id=client_id, client_secret=secret, scope=scope, redirect_uri=redirect_uri,
                             code_challenge_method="S256",
                             token_endpoint_auth_method="client_secret_basic" if secret else "none", **kwargs)


async def discovery(front) -> dict:
    async with httpx.AsyncClient() as http:
        return (await http.get(front.base + "/.well-known/openid-configuration")).json()


async def verify_id_token(front, id_token: str, client_id: str, nonce: str | None, access_token: str) -> dict:
    meta = await discovery(front)
    async with httpx.AsyncClient() as http:
        jwks = (await http.get(meta["jwks_uri"])).json()
    decoded = jwt.decode(id_token, KeySet.import_key_set(jwks),
                         registry=JWSRegistry(algorithms=meta["id_token_signing_alg_values_supported"]))
    claims = CodeIDToken(decoded.claims, decoded.header, {"iss": {"values": [meta["issuer"]]}},
                         {"nonce": nonce, "client_id": client_id, "access_token": access_token})
    claims.validate(leeway=5)
    return {"header": decoded.header, "claims": dict(claims)}


async def authorize_and_login(front, browser, client: AsyncOAuth2Client, *, email: str, scopes: list[str],
                              purposes: list[str], **params) -> tuple[str, str, str, str]:
    """Run the browser part; returns (callback URL, state, verifier, nonce)."""
    meta = await discovery(front)
    verifier, nonce = generate_token(48), generate_token(20)
    url, state = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier,
                                                 nonce=nonce, **params)
    page = await browser.follow(await browser.get(url))
    if "/login" in str(page.url):
        page = await browser.login(page, email)
    if "/consent" in str(page.url):
        page = await browser.consent(page, scopes, purposes)
    assert page.status_code == 302, page.text[:500]
    return page.headers["location"], state, verifier, nonce


async def test_code_flow_with_pkce_issues_verified_id_token(front, browser):
    client = rp_client(front)
    callback, state, verifier, nonce = await authorize_and_login(
        front, browser, client, email=front.resident.email, scopes=["email", "profile"], purposes=list(PURPOSES))
    assert callback.startswith(RP_REDIRECT + "?")
    params = httpx.URL(callback).params
    assert params["iss"] == front.base                     # RFC 9207
    assert params["state"] == state
    meta = await discovery(front)
    token = await client.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    assert token["token_type"].lower() == "bearer" and token["refresh_token"]
    assert set(token["scope"].split()) == {"openid", "email", "profile"}
    checked = await verify_id_token(front, token["id_token"], "montreal-ca", nonce, token["access_token"])
    claims = checked["claims"]
    assert checked["header"]["alg"] == "ES256"
    assert claims["acr"] == "urn:mtlid:loa:1" and claims["amr"] == ["pwd"] and claims["auth_time"] > 0
    assert claims["email"] == front.resident.email
    assert claims["sub"] != front.resident.resident_id    # pairwise by default
    # userinfo with the access token: same subject, claims per scope
    async with httpx.AsyncClient() as http:
        info = (await http.get(meta["userinfo_endpoint"],
                               headers={"Authorization": f"Bearer {token['access_token']}"})).json()
    assert info == {"sub": claims["sub"], "email": front.resident.email, "email_verified": True, "locale": "fr-CA"}
    await client.aclose()


async def test_second_client_logs_in_silently_with_the_sso_session(front, browser):
    first = rp_client(front)
    await authorize_and_login(front, browser, first, email=front.resident.email, scopes=["email"], purposes=[])
    second = rp_client(front, client_id="permits-spa", secret=None, scope="openid")
    meta = await discovery(front)
    verifier = generate_token(48)
    url, state = second.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)
    page = await browser.follow(await browser.get(url))
    assert "/consent" in str(page.url)                      # no login page: single sign-on
    page = await browser.consent(page, [], [])
    token = await second.fetch_token(meta["token_endpoint"], authorization_response=page.headers["location"],
                                     code_verifier=verifier)
    assert "id_token" in token
    await first.aclose()
    await second.aclose()


async def test_rs256_client_gets_rs256_id_token(front, browser):
    client = AsyncOAuth2Client(client_id="rs256-app", client_secret=SECRET, scope="openid",
                               redirect_uri="http://127.0.0.1:9/rs256", code_challenge_method="S256",
                               token_endpoint_auth_method="client_secret_post")
    callback, _state, verifier, nonce = await authorize_and_login(front, browser, client, email=front.resident.email,
                                                                  scopes=[], purposes=[])
    meta = await discovery(front)
    token = await client.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    checked = await verify_id_token(front, token["id_token"], "rs256-app", nonce, token["access_token"])
    assert checked["header"]["alg"] == "RS256"
    await client.aclose()


async def test_discovery_metadata(front):
    meta = await discovery(front)
    assert meta["issuer"] == front.base
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert set(meta["subject_types_supported"]) == {"public", "pairwise"}
    assert meta["id_token_signing_alg_values_supported"] == ["ES256", "RS256"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert "implicit" not in meta["grant_types_supported"] and "password" not in meta["grant_types_supported"]
    for name in ("end_session_endpoint", "introspection_endpoint", "revocation_endpoint", "jwks_uri"):
        assert meta[name].startswith(front.base)
    async with httpx.AsyncClient() as http:
        jwks = (await http.get(meta["jwks_uri"])).json()
    assert {k["alg"] for k in jwks["keys"]} == {"ES256", "RS256"}
    assert all("d" not in k for k in jwks["keys"])          # public keys only


async def test_discovery_advertises_partner_scope_and_resource_indicators(front):
    """Probe finding 6: what works is advertised (RFC 8414 s. 2)."""
    meta = await discovery(front)
    assert "accounts:release" in meta["scopes_supported"] and "openid" in meta["scopes_supported"]
    assert not [s for s in meta["scopes_supported"] if s.endswith((":admin", ":broker", ":resolve"))]
    assert meta["resource_indicators_supported"] is True


async def test_unknown_acr_values_are_voluntary(front, browser):
    """Probe finding 6: an unknown acr_values value does not refuse the request (OIDC Core
    s. 3.1.2.1, a voluntary claim); the ID token's acr says what the login reached."""
    client = rp_client(front, scope="openid")
    callback, state, verifier, nonce = await authorize_and_login(
        front, browser, client, email=front.resident.email, scopes=[], purposes=list(PURPOSES),
        acr_values="urn:example:gold")
    assert "error" not in httpx.URL(callback).params and httpx.URL(callback).params["state"] == state
    token = await client.fetch_token(front.base + "/token", authorization_response=callback, code_verifier=verifier)
    checked = await verify_id_token(front, token["id_token"], "montreal-ca", nonce, token["access_token"])
    assert checked["claims"]["acr"] == "urn:mtlid:loa:1"
    await client.aclose()
