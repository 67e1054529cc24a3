"""Refresh rotation and reuse detection, pairwise subjects, client credentials (RFC 9068 +
RFC 8707), introspection (RFC 7662) and revocation (RFC 7009), over the real HTTP server."""

from __future__ import annotations

import time

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.integration.identity_oidc.conftest import LIBRARY_REDIRECT, SECRET
from tests.integration.identity_oidc.flows import introspect, post_token, rp_client, tokens_for


async def jwks(front) -> KeySet:
    async with httpx.AsyncClient() as http:
        return KeySet.import_key_set((await http.get(front.base + "/jwks")).json())


async def test_refresh_rotates_and_reuse_revokes_the_whole_family(front, browser):
    client = rp_client(scope="openid email offline_access")
    first = await tokens_for(front, browser, client, scopes=["email", "offline_access"])
    second = await post_token(front, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"] and rotated["access_token"]
    assert second.headers["cache-control"] == "no-store"
    # the old link presented again: refused, and the new link dies with it
    reuse = await post_token(front, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    after = await post_token(front, {"grant_type": "refresh_token", "refresh_token": rotated["refresh_token"]})
    assert after.status_code == 400 and after.json()["error"] == "invalid_grant"
    assert (await introspect(front, rotated["refresh_token"])).json() == {"active": False}
    await client.aclose()


async def test_refresh_token_of_another_client_is_invalid_grant(front, browser):
    client = rp_client(scope="openid offline_access")
    tokens = await tokens_for(front, browser, client, scopes=["offline_access"])
    other = await post_token(front, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                             auth=("library", SECRET))
    assert other.status_code == 400 and other.json()["error"] == "invalid_grant"
    # and the legitimate client still refreshes (no family revoked by someone else's attempt)
    ok = await post_token(front, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert ok.status_code == 200
    await client.aclose()


async def test_refresh_cannot_widen_scope(front, browser):
    client = rp_client(scope="openid offline_access")
    tokens = await tokens_for(front, browser, client, scopes=["offline_access"])
    wider = await post_token(front, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                                     "scope": "openid email"})
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    await client.aclose()


async def test_pairwise_subjects_stable_per_sector_distinct_across(front, browser):
    keys = await jwks(front)

    async def sub(client_id: str, redirect: str) -> str:
        client = rp_client(client_id=client_id, scope="openid", redirect_uri=redirect)
        tokens = await tokens_for(front, browser, client)
        await client.aclose()
        return jwt.decode(tokens["id_token"], keys).claims["sub"]

    montreal_1 = await sub("montreal-ca", "http://127.0.0.1:9/callback")
    montreal_2 = await sub("montreal-ca", "http://127.0.0.1:9/callback")
    library = await sub("library", LIBRARY_REDIRECT)
    assert montreal_1 == montreal_2                          # stable
    assert montreal_1 != library                             # distinct across sectors
    assert front.resident.resident_id not in (montreal_1, library)


async def test_client_credentials_jwt_with_audience_and_scope(front):
    keys = await jwks(front)
    response = await post_token(front, {"grant_type": "client_credentials", "scope": "consent:check",
                                        "resource": "urn:mtlid:consent"}, auth=("borough-system", SECRET))
    assert response.status_code == 200, response.text
    body = response.json()
    assert "refresh_token" not in body and body["token_type"] == "Bearer"
    decoded = jwt.decode(body["access_token"], keys)
    assert decoded.header["typ"] == "at+jwt"                 # RFC 9068 s. 2.1
    claims = decoded.claims
    assert claims["aud"] == "urn:mtlid:consent" and claims["scope"] == "consent:check"
    assert claims["sub"] == claims["client_id"] == "borough-system"
    assert claims["iss"] == front.base and claims["exp"] > time.time() and claims["jti"]
    # the single audience is the default; no scope asked means all of the client's
    single = await post_token(front, {"grant_type": "client_credentials"}, auth=("single-aud", SECRET))
    claims = jwt.decode(single.json()["access_token"], keys).claims
    assert claims["aud"] == "urn:mtlid:identity" and claims["scope"] == "identity:validate"


async def test_client_credentials_refusals(front):
    wrong_scope = await post_token(front, {"grant_type": "client_credentials", "scope": "identity:admin",
                                           "resource": "urn:mtlid:consent"}, auth=("borough-system", SECRET))
    assert wrong_scope.status_code == 400 and wrong_scope.json()["error"] == "invalid_scope"
    wrong_target = await post_token(front, {"grant_type": "client_credentials", "resource": "urn:mtlid:identity"},
                                    auth=("borough-system", SECRET))
    assert wrong_target.status_code == 400 and wrong_target.json()["error"] == "invalid_target"
    no_target = await post_token(front, {"grant_type": "client_credentials"}, auth=("borough-system", SECRET))
    assert no_target.status_code == 400 and no_target.json()["error"] == "invalid_target"
    not_allowed = await post_token(front, {"grant_type": "client_credentials"}, auth=("montreal-ca", SECRET))
    assert not_allowed.status_code == 400 and not_allowed.json()["error"] == "unauthorized_client"


async def test_client_credentials_refuses_resident_scopes(front):
    """Probe finding 5: a system's token has no resident behind it, so it never carries a
    resident scope, even for a client row registered before the registry refused them."""
    from services.identity.domain.clients import OAuthClient, hash_client_secret

    async with front.uow() as uow:
        if await uow.clients.get("legacy-system") is None:
            await uow.clients.add(OAuthClient(
                client_id="legacy-system", name="Ancien système", secret_hash=hash_client_secret(SECRET),
                grant_types=("client_credentials",), scopes=("openid", "email", "identity:validate"),
                audiences=("urn:mtlid:identity",)))
            await uow.commit()
    for scope in ("openid email", "openid", "profile", "offline_access", "identity:validate email"):
        refused = await post_token(front, {"grant_type": "client_credentials", "scope": scope},
                                   auth=("legacy-system", SECRET))
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_scope", (scope, refused.text)
    # asking for nothing gives the client's system scopes only
    default = await post_token(front, {"grant_type": "client_credentials"}, auth=("legacy-system", SECRET))
    assert default.status_code == 200, default.text
    assert default.json()["scope"] == "identity:validate"
    claims = jwt.decode(default.json()["access_token"], await jwks(front)).claims
    assert claims["scope"] == "identity:validate" and claims["sub"] == "legacy-system"


async def test_introspection_and_revocation_of_access_tokens(front):
    issued = await post_token(front, {"grant_type": "client_credentials", "resource": "urn:mtlid:accounts"},
                              auth=("borough-system", SECRET))
    access_token = issued.json()["access_token"]
    active = await introspect(front, access_token)
    assert active.status_code == 200
    body = active.json()
    assert body["active"] is True and body["client_id"] == "borough-system" and body["aud"] == "urn:mtlid:accounts"
    # only authenticated clients may introspect
    anonymous = await introspect(front, access_token, auth=None)
    assert anonymous.status_code in (400, 401) and anonymous.json()["error"] == "invalid_client"
    wrong_secret = await introspect(front, access_token, auth=("montreal-ca", "nope"))
    assert wrong_secret.status_code == 401 and "WWW-Authenticate" in wrong_secret.headers
    # revoked by its own client → inactive for introspection and for identity's ValidateToken
    async with httpx.AsyncClient() as http:
        foreign = await http.post(front.base + "/revoke", data={"token": access_token}, auth=("montreal-ca", SECRET))
        assert foreign.status_code == 200
        assert (await introspect(front, access_token)).json()["active"] is True   # not its token: no effect
        revoked = await http.post(front.base + "/revoke", data={"token": access_token},
                                  auth=("borough-system", SECRET))
        assert revoked.status_code == 200
    assert (await introspect(front, access_token)).json() == {"active": False}
    async with front.uow() as uow:
        jti = jwt.decode(access_token, await jwks(front)).claims["jti"]
        assert await uow.revoked_tokens.is_revoked(jti)
    assert (await introspect(front, "not-a-token")).json() == {"active": False}


async def test_revoking_a_refresh_token_revokes_its_family(front, browser):
    client = rp_client(scope="openid offline_access")
    tokens = await tokens_for(front, browser, client, scopes=["offline_access"])
    assert (await introspect(front, tokens["refresh_token"])).json()["active"] is True
    async with httpx.AsyncClient() as http:
        r = await http.post(front.base + "/revoke", data={"token": tokens["refresh_token"],
                                                          "token_type_hint": "refresh_token"}, auth=("montreal-ca", SECRET))
    assert r.status_code == 200
    assert (await introspect(front, tokens["refresh_token"])).json() == {"active": False}
    # RFC 7009 s. 2.1: the access tokens of the same grant are invalidated too
    assert (await introspect(front, tokens["access_token"])).json() == {"active": False}
    again = await post_token(front, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert again.json()["error"] == "invalid_grant"
    await client.aclose()


async def test_concurrent_use_of_one_refresh_token_is_treated_as_reuse(front, browser):
    import asyncio

    client = rp_client(scope="openid offline_access")
    tokens = await tokens_for(front, browser, client, scopes=["offline_access"])
    results = await asyncio.gather(*(post_token(front, {"grant_type": "refresh_token",
                                                        "refresh_token": tokens["refresh_token"]})
                                     for _ in range(2)))
    assert sorted(r.status_code for r in results) == [200, 400]
    winner = next(r for r in results if r.status_code == 200).json()
    # the loser's attempt revoked the family: the winner's new link is dead too
    after = await post_token(front, {"grant_type": "refresh_token", "refresh_token": winner["refresh_token"]})
    assert after.json()["error"] == "invalid_grant"
    await client.aclose()


async def test_housekeeping_purges_only_what_can_no_longer_be_used(front, browser):
    import datetime as dt

    client = rp_client(scope="openid offline_access")
    tokens = await tokens_for(front, browser, client, scopes=["offline_access"])
    async with front.uow() as uow:
        await uow.housekeeping.purge(dt.datetime.now(dt.timezone.utc))
        await uow.commit()
    assert (await introspect(front, tokens["refresh_token"])).json()["active"] is True   # still valid: kept
    async with front.uow() as uow:
        removed = await uow.housekeeping.purge(dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=400))
        await uow.commit()
    assert removed > 0
    assert (await introspect(front, tokens["refresh_token"])).json() == {"active": False}
    await client.aclose()



async def test_after_a_key_rotation_new_tokens_use_the_new_key_and_old_ones_stay_valid(front):
    from services.identity.service_layer.keys import rotate_keys
    from tests.integration.identity_oidc.conftest import KEK

    before = (await post_token(front, {"grant_type": "client_credentials"}, auth=("single-aud", SECRET))).json()
    old_kid = jwt.decode(before["access_token"], await jwks(front)).header["kid"]
    await rotate_keys(front.uow(), KEK, force=True)
    await front.provider.keys.reload(front.uow())      # what the 60-second reload does
    after = (await post_token(front, {"grant_type": "client_credentials"}, auth=("single-aud", SECRET))).json()
    new_kid = jwt.decode(after["access_token"], await jwks(front)).header["kid"]
    assert new_kid != old_kid
    assert (await introspect(front, before["access_token"])).json()["active"] is True   # retired, still published
    assert (await introspect(front, after["access_token"])).json()["active"] is True
