"""Every release to a relying party is written as ``data_released`` in identity's outbox, in
the transaction that makes it possible (docs/contracts.md, "Every release is a ledger fact"):
the token endpoint (code and refresh), userinfo, introspection about a resident's token.
Categories only, never the values; repeated identical reads within the window are one record.
The consent side (the ledger entry, its proof, a crash in between) is in
tests/integration/test_release_ledger.py."""

from __future__ import annotations

import json

import httpx

from tests.integration.identity_oidc.conftest import LIBRARY_REDIRECT, SECRET
from tests.integration.identity_oidc.flows import introspect, post_token, rp_client, tokens_for
from tests.integration.identity_oidc.test_sessions import outbox


async def _releases(front, client_id: str) -> list[dict]:
    return [e for e in await outbox(front, "data_released")
            if e["resident_id"] == front.resident.resident_id and e["client_id"] == client_id]


async def _userinfo(front, access_token: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.get(front.base + "/userinfo", headers={"Authorization": f"Bearer {access_token}"})


async def test_token_userinfo_refresh_and_introspection_each_leave_a_record(front, browser):
    client = rp_client("library", scope="openid email profile offline_access", redirect_uri=LIBRARY_REDIRECT)
    before = len(await _releases(front, "library"))
    tokens = await tokens_for(front, browser, client, scopes=["email", "offline_access"])
    [issued] = (await _releases(front, "library"))[before:]
    assert issued["channel"] == "token" and issued["client_name"] == "Bibliothèques de Montréal"
    # the ID token carried sub and email (profile was refused): exactly those categories
    assert issued["categories"] == ["email", "sign_in_identifier"]
    assert front.resident.email not in json.dumps(issued)          # categories, never values

    # userinfo: the same categories; a second identical call within the window is that record
    for _ in range(2):
        answer = await _userinfo(front, tokens["access_token"])
        assert answer.status_code == 200 and answer.json()["email"] == front.resident.email
    userinfo = [e for e in (await _releases(front, "library"))[before:] if e["channel"] == "userinfo"]
    assert len(userinfo) == 1
    assert userinfo[0]["categories"] == ["email", "sign_in_identifier"]
    assert userinfo[0]["repeat_window_seconds"] == 300

    # refresh: a new access token, which carries the sub
    refreshed = await post_token(front, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                                 auth=("library", SECRET))
    assert refreshed.status_code == 200
    again = await post_token(front, {"grant_type": "refresh_token", "refresh_token": refreshed.json()["refresh_token"]},
                             auth=("library", SECRET))
    assert again.status_code == 200
    # the second refresh within the window re-releases the same identifier: that one record
    [refresh] = [e for e in (await _releases(front, "library"))[before:] if e["channel"] == "refresh"]
    assert refresh["categories"] == ["sign_in_identifier"] and refresh["repeat_window_seconds"] == 300

    # introspection by another client: that client learned who the resident is
    assert (await introspect(front, tokens["access_token"])).json()["active"] is True
    asked = [e for e in await _releases(front, "montreal-ca") if e["channel"] == "introspection"]
    assert asked and asked[-1]["categories"] == ["sign_in_identifier"]
    await client.aclose()


async def test_a_refused_token_request_releases_nothing_and_records_nothing(front, browser):
    client = rp_client("library", scope="openid email", redirect_uri=LIBRARY_REDIRECT)
    before = len(await _releases(front, "library"))
    from tests.integration.identity_oidc.flows import code_for

    callback, _verifier = await code_for(front, browser, client, scopes=["email"])
    code = httpx.URL(callback).params["code"]
    refused = await post_token(front, {"grant_type": "authorization_code", "code": code,
                                       "redirect_uri": client.redirect_uri, "code_verifier": "w" * 50},
                               auth=("library", SECRET))
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert len(await _releases(front, "library")) == before
    await client.aclose()
