"""The client credentials grant's one pass (``client_credentials.issue_at_once``) answers
exactly what authlib's grant answers, for every shape of request a partner's system may send:
the same status, headers, error code and token claims. Each request goes to the real front
twice, once as deployed and once with the one pass turned off."""

from __future__ import annotations

import base64

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from services.identity.domain.clients import OAuthClient, hash_client_secret
from services.identity.oidc import client_credentials
from tests.integration.identity_oidc.conftest import SECRET

FORM = {"content-type": "application/x-www-form-urlencoded"}


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


#: (name, headers, form): the successes a partner sends every second, then every refusal
REQUESTS = [
    ("basic, scope and resource", basic("borough-system", SECRET),
     "grant_type=client_credentials&scope=accounts:release&resource=urn:mtlid:accounts"),
    ("basic, two scopes, two resources", basic("borough-system", SECRET),
     "grant_type=client_credentials&scope=accounts:release+consent:check"
     "&resource=urn:mtlid:accounts&resource=urn:mtlid:consent"),
    ("basic, no scope: all registered", basic("borough-system", SECRET),
     "grant_type=client_credentials&resource=urn:mtlid:consent"),
    ("single audience, no resource", basic("single-aud", SECRET), "grant_type=client_credentials"),
    ("secret in the form of a Basic client", {},
     f"grant_type=client_credentials&client_id=borough-system&client_secret={SECRET}&resource=urn:mtlid:accounts"),
    ("wrong secret", basic("borough-system", "not-the-secret"),
     "grant_type=client_credentials&resource=urn:mtlid:accounts"),
    ("unknown client", basic("nobody", SECRET), "grant_type=client_credentials"),
    ("no authentication", {}, "grant_type=client_credentials&client_id=borough-system"),
    ("two resources, none named", basic("borough-system", SECRET), "grant_type=client_credentials"),
    ("resource not registered", basic("borough-system", SECRET),
     "grant_type=client_credentials&resource=urn:mtlid:identity"),
    ("scope not registered", basic("borough-system", SECRET),
     "grant_type=client_credentials&scope=identity:admin&resource=urn:mtlid:accounts"),
    ("a resident scope", basic("borough-system", SECRET),
     "grant_type=client_credentials&scope=openid+email&resource=urn:mtlid:accounts"),
    ("grant not registered (a resident client)", basic("montreal-ca", SECRET), "grant_type=client_credentials"),
    ("grant not registered, secret in the form", {},
     f"grant_type=client_credentials&client_id=rs256-app&client_secret={SECRET}"),
    ("a public client", {}, "grant_type=client_credentials&client_id=permits-spa"),
    ("grant not registered, all else right", basic("code-only", SECRET),
     "grant_type=client_credentials&scope=accounts:release&resource=urn:mtlid:accounts"),
]

#: claims that differ between any two tokens, by design
FRESH = {"iat", "nbf", "exp", "jti"}


async def _answer(front, headers: dict[str, str], form: str) -> tuple:
    async with httpx.AsyncClient() as http:
        response = await http.post(front.base + "/token", content=form, headers={**FORM, **headers})
    body = response.json()
    kept = {k: v for k, v in response.headers.items() if k not in ("date", "content-length")}
    claims = None
    if "access_token" in body:
        token = jwt.decode(body.pop("access_token"), KeySet.import_key_set(front.provider.keys.jwks()))
        claims = {k: v for k, v in token.claims.items() if k not in FRESH}
        assert FRESH <= set(token.claims)
        assert token.header["typ"] == "at+jwt"
    return response.status_code, kept, body, claims


@pytest.fixture(autouse=True)
async def code_only(front):
    """A client that holds a scope and an audience a system's token could carry, but not the grant."""
    async with front.uow() as uow:
        if await uow.clients.get("code-only") is None:
            await uow.clients.add(OAuthClient(
                client_id="code-only", name="Code only", secret_hash=hash_client_secret(SECRET),
                redirect_uris=("http://127.0.0.1:9/cb",), grant_types=("authorization_code",),
                scopes=("openid", "accounts:release"), audiences=("urn:mtlid:accounts",)))
            await uow.commit()


@pytest.mark.parametrize("name, headers, form", REQUESTS, ids=[r[0] for r in REQUESTS])
async def test_the_one_pass_answers_what_the_grant_answers(front, monkeypatch, name, headers, form):
    taken = []
    one_pass = client_credentials.issue_at_once

    def watched(provider, request, state):
        answer = one_pass(provider, request, state)
        taken.append(answer is not None)
        return answer

    monkeypatch.setattr(client_credentials, "issue_at_once", watched)
    fast = await _answer(front, headers, form)
    monkeypatch.setattr(client_credentials, "issue_at_once", lambda *args: None)
    general = await _answer(front, headers, form)
    assert fast == general
    # the successes take the one pass; it never answers an error
    assert taken == [fast[0] == 200]


async def test_the_errors_are_the_rfc_codes(front):
    """What the table above compares is also right on its own (RFC 6749 s. 5.2, RFC 8707)."""
    codes = {}
    for name, headers, form in REQUESTS:
        status, response_headers, body, _ = await _answer(front, headers, form)
        codes[name] = (status, body.get("error"))
        if status == 401:
            assert response_headers["www-authenticate"].startswith("Basic ")
    assert codes["basic, scope and resource"] == (200, None)
    assert codes["secret in the form of a Basic client"] == (401, "invalid_client")
    assert codes["wrong secret"] == (401, "invalid_client")
    assert codes["unknown client"] == (401, "invalid_client")
    assert codes["two resources, none named"] == (400, "invalid_target")
    assert codes["resource not registered"] == (400, "invalid_target")
    assert codes["scope not registered"] == (400, "invalid_scope")
    assert codes["a resident scope"] == (400, "invalid_scope")
    assert codes["grant not registered (a resident client)"] == (400, "unauthorized_client")
    assert codes["grant not registered, secret in the form"] == (400, "unauthorized_client")
    assert codes["a public client"][1] == "invalid_client"
    assert codes["grant not registered, all else right"] == (400, "unauthorized_client")
