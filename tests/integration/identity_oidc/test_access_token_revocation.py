"""Issue 15, point 3, at identity: every way a resident's tokens are revoked stops the access
tokens already issued too — not only the refresh tokens —, at once at identity (userinfo,
introspection) and, through ``tokens_revoked`` in the same transaction (the outbox), at every
service. The event names grant families, never a token."""

from __future__ import annotations

import base64
import json

import httpx

from services.identity.oidc.consent import withdraw_grant
from services.identity.oidc.sessions import sign_out_everywhere
from tests.integration.identity_oidc.flows import introspect, post_token, rp_client, tokens_for
from tests.integration.identity_oidc.test_sessions import outbox


def _family(access_token: str) -> str:
    payload = access_token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims["jti"].split(":", 1)[0]


async def _userinfo(front, token: str) -> int:
    async with httpx.AsyncClient() as http:
        return (await http.get(front.base + "/userinfo", headers={"Authorization": f"Bearer {token}"})).status_code


async def _announced(front, family: str) -> list[dict]:
    return [e for e in await outbox(front, "tokens_revoked") if family in e["families"]]


async def test_withdrawing_the_grant_stops_the_access_token_already_issued(front, browser):
    tokens = await tokens_for(front, browser, rp_client(scope="openid email"), scopes=["email"])
    access = tokens["access_token"]
    assert await _userinfo(front, access) == 200
    async with front.uow() as uow:
        assert await withdraw_grant(uow, front.resident.resident_id, "montreal-ca")
        await uow.commit()
    assert await _userinfo(front, access) == 401
    assert (await introspect(front, access)).json() == {"active": False}
    [event] = await _announced(front, _family(access))
    assert event["expires_at"] and access not in json.dumps(event)


async def test_sign_out_everywhere_announces_every_live_family(front, browser):
    """Closure and "this was not me" sign out everywhere: the session-bound tokens die at
    identity with their session; the services learn them from the event."""
    tokens = await tokens_for(front, browser, rp_client(scope="openid"))
    access = tokens["access_token"]
    async with front.uow() as uow:
        await sign_out_everywhere(uow, front.resident.resident_id)
        await uow.commit()
    assert await _userinfo(front, access) == 401
    assert await _announced(front, _family(access))


async def test_a_replayed_code_announces_its_family(front, browser):
    client = rp_client(scope="openid")
    from tests.integration.identity_oidc.flows import code_for

    callback, verifier = await code_for(front, browser, client)
    tokens = await client.fetch_token(front.base + "/token", authorization_response=callback, code_verifier=verifier)
    code = httpx.URL(callback).params["code"]
    again = await post_token(front, {"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                                     "redirect_uri": client.redirect_uri})
    assert again.json()["error"] == "invalid_grant"
    assert await _announced(front, _family(tokens["access_token"]))


async def test_the_code_grant_takes_a_registered_resource_only(front, browser):
    """RFC 8707 s. 2.2 at the token request: a resource the client is not registered for is
    ``invalid_target``; without one the resident's token is for identity alone."""
    client = rp_client(scope="openid")
    from tests.integration.identity_oidc.flows import code_for

    callback, verifier = await code_for(front, browser, client)
    code = httpx.URL(callback).params["code"]
    refused = await post_token(front, {"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                                       "redirect_uri": client.redirect_uri, "resource": "urn:mtlid:accounts"})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_target"
    answer = await post_token(front, {"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                                      "redirect_uri": client.redirect_uri})
    assert answer.status_code == 200             # the refused request did not use the code up
    payload = answer.json()["access_token"].split(".")[1]
    assert json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["aud"] == "urn:mtlid:identity"
