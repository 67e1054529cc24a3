"""Sessions: single sign-on, step-up to level 3 with the TOTP, prompt=login and max_age,
RP-initiated logout, sign out everywhere; the grant published as ``grant_given``."""

from __future__ import annotations

import json
import time

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from services.common.uow import OUTBOX
from services.identity.domain import totp
from tests.integration.identity_oidc.conftest import LIBRARY_REDIRECT, PURPOSES, SECRET
from tests.integration.identity_oidc.flows import code_for, introspect, post_token, rp_client, tokens_for


async def id_claims(front, id_token: str) -> dict:
    async with httpx.AsyncClient() as http:
        keys = KeySet.import_key_set((await http.get(front.base + "/jwks")).json())
    return jwt.decode(id_token, keys).claims


async def outbox(front, name: str) -> list[dict]:
    async with front.sessions() as session:
        rows = (await session.execute(select(OUTBOX.c.envelope).order_by(OUTBOX.c.seq))).all()
    envelopes = [json.loads(r.envelope) for r in rows]
    return [e["data"] for e in envelopes if e["type"] == f"montreal.identity.v1.{name}"]


async def test_step_up_asks_for_the_totp_when_level_3_is_requested(front, browser):
    client = rp_client(scope="openid")
    plain = await tokens_for(front, browser, client, email=front.verified.email)
    claims = await id_claims(front, plain["id_token"])
    assert claims["acr"] == "urn:mtlid:loa:2" and claims["amr"] == ["pwd"]   # no TOTP asked for level 2

    url, _ = client.create_authorization_url(front.base + "/authorize", code_verifier="v" * 50,
                                             acr_values="urn:mtlid:loa:3")
    page = await browser.follow(await browser.get(url))
    assert "/login/second-factor" in str(page.url)        # the session has level 2: step up
    assert 'autocomplete="one-time-code"' in page.text
    wrong = await browser.submit(page, "/login/second-factor", code="000000")
    assert wrong.status_code == 400 and 'aria-invalid="true"' in wrong.text
    code = totp.totp(front.verified.totp_secret, time.time())
    page = await browser.follow(await browser.submit(page, "/login/second-factor", code=code))
    assert page.status_code == 302
    token = await client.fetch_token(front.base + "/token", authorization_response=page.headers["location"],
                                     code_verifier="v" * 50)
    claims = await id_claims(front, token["id_token"])
    assert claims["acr"] == "urn:mtlid:loa:3" and "otp" in claims["amr"]
    await client.aclose()


async def test_level_3_unreachable_without_second_factor_gives_the_real_acr(front, browser):
    client = rp_client(scope="openid")
    tokens = await tokens_for(front, browser, client, acr_values="urn:mtlid:loa:3")
    assert (await id_claims(front, tokens["id_token"]))["acr"] == "urn:mtlid:loa:1"   # voluntary claim, honest value
    await client.aclose()


async def test_an_essential_acr_in_the_claims_parameter_steps_up_or_fails(front, browser):
    """OIDC Core s. 5.5.1.1: an essential acr is met (step-up, and the ID token's acr is one
    of the values asked) or the authentication fails (unmet_authentication_requirements)."""
    import json as _json

    essential = _json.dumps({"id_token": {"acr": {"essential": True, "values": ["urn:mtlid:loa:3"]}}})
    client = rp_client(scope="openid")
    await tokens_for(front, browser, client, email=front.verified.email)          # a level-2 session
    url, _ = client.create_authorization_url(front.base + "/authorize", code_verifier="v" * 50, claims=essential)
    page = await browser.follow(await browser.get(url))
    assert "/login/second-factor" in str(page.url)
    code = totp.totp(front.verified.totp_secret, time.time() + 30)               # the next step: no replay
    page = await browser.follow(await browser.submit(page, "/login/second-factor", code=code))
    token = await client.fetch_token(front.base + "/token", authorization_response=page.headers["location"],
                                     code_verifier="v" * 50)
    assert (await id_claims(front, token["id_token"]))["acr"] == "urn:mtlid:loa:3"
    # a resident who cannot reach level 3 (self-asserted, no second factor): a failed authentication
    from tests.integration.identity_oidc.conftest import Browser

    other = Browser(front.base)
    callback, _verifier = await code_for(front, other, client, claims=essential)
    params = httpx.URL(callback).params
    assert params["error"] == "unmet_authentication_requirements" and params["iss"] == front.base
    # essential and a level we satisfy: the ID token reports the value asked for
    lower = _json.dumps({"id_token": {"acr": {"essential": True, "values": ["urn:mtlid:loa:1"]}}})
    tokens = await tokens_for(front, browser, client, claims=lower)
    assert (await id_claims(front, tokens["id_token"]))["acr"] == "urn:mtlid:loa:1"
    bad = await browser.get(client.create_authorization_url(front.base + "/authorize", code_verifier="v" * 50,
                                                            claims="not json")[0])
    assert httpx.URL(bad.headers["location"]).params["error"] == "invalid_request"
    await other.close()
    await client.aclose()


async def test_prompt_login_and_max_age_force_a_new_login(front, browser):
    client = rp_client(scope="openid")
    await code_for(front, browser, client)
    for extra in ({"prompt": "login"}, {"max_age": "0"}):
        url, _ = client.create_authorization_url(front.base + "/authorize", code_verifier="v" * 50, **extra)
        page = await browser.follow(await browser.get(url))
        assert "/login" in str(page.url), extra
        page = await browser.login(page, front.resident.email)
        assert page.status_code == 302 and "code=" in page.headers["location"], extra
    await client.aclose()


async def test_grant_given_event_lists_each_purpose_accepted_or_refused(front, browser):
    from services.identity.domain.assurance import LevelOfAssurance
    from tests.integration.identity_oidc.conftest import add_resident

    resident = await add_resident(front.uow, "maude@example.ca", LevelOfAssurance.SELF_ASSERTED, False)
    client = rp_client(scope="openid email profile")
    await tokens_for(front, browser, client, email=resident.email, scopes=["email"], purposes=["communication"])
    events = await outbox(front, "grant_given")
    mine = [e for e in events if e["resident_id"] == resident.resident_id and e["client_id"] == "montreal-ca"]
    latest = mine[-1]
    # every category of communication ticked: email and language, so both scopes
    assert latest["scopes"] == ["openid", "email", "profile"]
    assert latest["purposes_accepted"] == ["communication"]
    # the consent purpose left unticked is refused; service provision (public task) was never asked
    assert latest["purposes_refused"] == ["statistics"]
    assert resident.email not in json.dumps(latest)       # identifiers, never the address
    await client.aclose()


async def test_rp_initiated_logout_ends_the_session_and_returns_state(front, browser):
    client = rp_client(scope="openid")
    tokens = await tokens_for(front, browser, client)
    assert tokens["refresh_token"]                               # session-bound (no offline_access)
    assert (await introspect(front, tokens["access_token"])).json()["active"] is True
    url = httpx.URL(front.base + "/end-session", params={
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "http://127.0.0.1:9/bye", "state": "s1"})
    response = await browser.get(str(url))
    assert response.status_code == 302
    assert response.headers["location"] == "http://127.0.0.1:9/bye?state=s1"
    assert "mtlid_session=" in response.headers.get("set-cookie", "")
    # the session is over: prompt=none now says login_required; its refresh tokens are revoked
    check_url, _ = client.create_authorization_url(front.base + "/authorize", code_verifier="v" * 50, prompt="none")
    redirect = httpx.URL((await browser.get(check_url)).headers["location"])
    assert redirect.params["error"] == "login_required"
    assert (await introspect(front, tokens["refresh_token"])).json() == {"active": False}
    assert (await introspect(front, tokens["access_token"])).json() == {"active": False}
    async with httpx.AsyncClient() as http:
        info = await http.get(front.base + "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 401 and info.headers["www-authenticate"].startswith("Bearer")
    ended = await outbox(front, "session_ended")
    assert ended and ended[-1]["scope"] == "one"
    await client.aclose()


async def test_offline_access_outlives_the_session_and_nothing_else_does(front, browser):
    """Probe finding 3 (OIDC Core s. 11): only a refresh token granted offline_access, with the
    resident's consent, survives the end of the SSO session; sign out everywhere ends it too."""
    from tests.integration.identity_oidc.conftest import Browser

    client = rp_client(scope="openid email offline_access")
    # the resident refuses offline_access on the consent page: no offline token
    refused = await tokens_for(front, browser, client, scopes=["email"])
    assert "offline_access" not in refused["scope"].split()
    async with front.uow() as uow:           # withdraw, so the consent page asks again
        from services.identity.oidc.consent import withdraw_grant
        await withdraw_grant(uow, front.resident.resident_id, "montreal-ca")
        await uow.commit()
    # the email rests on the consent to communication (issue 15's consent screen)
    offline = await tokens_for(front, browser, client, scopes=["email", "offline_access"], purposes=["communication"])
    assert "offline_access" in offline["scope"].split()
    session_bound = await tokens_for(front, browser, rp_client(client_id="library", scope="openid",
                                                               redirect_uri=LIBRARY_REDIRECT))
    logout = await browser.get(str(httpx.URL(front.base + "/end-session", params={
        "id_token_hint": offline["id_token"], "post_logout_redirect_uri": "http://127.0.0.1:9/bye"})))
    assert logout.status_code == 302
    # the session-bound family is over; the offline one refreshes and reads userinfo while signed out
    dead = await post_token(front, {"grant_type": "refresh_token", "refresh_token": session_bound["refresh_token"]},
                            auth=("library", SECRET))
    assert dead.json()["error"] == "invalid_grant"
    alive = await post_token(front, {"grant_type": "refresh_token", "refresh_token": offline["refresh_token"]})
    assert alive.status_code == 200, alive.text
    async with httpx.AsyncClient() as http:
        info = await http.get(front.base + "/userinfo", headers={"Authorization": f"Bearer {alive.json()['access_token']}"})
    assert info.status_code == 200, info.text
    assert info.json()["email"] == front.resident.email
    # sign out everywhere (from a new login) is the panic button: the offline family ends too
    other = Browser(front.base)
    await code_for(front, other, rp_client(scope="openid"))
    page = await other.get(front.base + "/end-session")
    assert (await other.submit(page, "/logout/everywhere")).status_code == 200
    after = await post_token(front, {"grant_type": "refresh_token", "refresh_token": alive.json()["refresh_token"]})
    assert after.json()["error"] == "invalid_grant"
    await other.close()
    await client.aclose()


async def test_a_session_bound_refresh_token_ends_when_the_session_expires(front, browser):
    import datetime as dt

    from sqlalchemy import update

    from services.identity.adapters.oauth_orm import SsoSessionRow

    client = rp_client(scope="openid")
    tokens = await tokens_for(front, browser, client)
    claims = await id_claims(front, tokens["id_token"])
    async with front.sessions() as session:
        await session.execute(update(SsoSessionRow).where(SsoSessionRow.session_id == claims["sid"])
                              .values(expires_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)))
        await session.commit()
    refused = await post_token(front, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    await client.aclose()


async def test_logout_with_unregistered_redirect_is_an_error_page(front, browser):
    client = rp_client(scope="openid")
    tokens = await tokens_for(front, browser, client)
    url = httpx.URL(front.base + "/end-session", params={
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://evil.example/"})
    response = await browser.get(str(url))
    assert response.status_code == 400 and "location" not in response.headers
    await client.aclose()


async def test_logout_without_hint_asks_for_confirmation(front, browser):
    client = rp_client(scope="openid")
    await code_for(front, browser, client)
    page = await browser.get(front.base + "/end-session")
    assert page.status_code == 200 and 'action="/end-session/confirm"' in page.text
    forged = await browser.http.post("/end-session/confirm", data={"csrf_token": "forged"})
    assert forged.status_code == 403
    done = await browser.submit(page, "/end-session/confirm")
    assert done.status_code == 200
    await client.aclose()


async def test_sign_out_everywhere_ends_every_session_of_the_resident(front, browser):
    from tests.integration.identity_oidc.conftest import Browser

    other_device = Browser(front.base)
    client = rp_client(scope="openid offline_access")
    on_phone = await tokens_for(front, other_device, client, scopes=["offline_access"])
    await code_for(front, browser, client)                     # same resident, this browser
    page = await browser.get(front.base + "/end-session")     # any page gives the CSRF cookie + token
    response = await browser.submit(page, "/logout/everywhere")
    assert response.status_code == 200
    url, _ = client.create_authorization_url(front.base + "/authorize", code_verifier="v" * 50, prompt="none")
    redirect = httpx.URL((await other_device.get(url)).headers["location"])
    assert redirect.params["error"] == "login_required"       # the phone's session ended too
    refreshed = await post_token(front, {"grant_type": "refresh_token", "refresh_token": on_phone["refresh_token"]},
                                 auth=("montreal-ca", SECRET))
    assert refreshed.json()["error"] == "invalid_grant"
    ended = [e for e in await outbox(front, "session_ended") if e["scope"] == "all"]
    assert len({e["session_id"] for e in ended}) >= 2
    # The phone's access token dies with its session for borough systems too (gRPC ValidateToken).
    from services.identity.service_layer.tokens import validate_access_token

    check = front.provider.reads.token_revoked  # what `mtlid serve identity` gives ValidateToken
    info = await validate_access_token(on_phone["access_token"], front.provider.keys, front.base, is_revoked=check)
    assert info.active is False
    fresh = await tokens_for(front, other_device, client, scopes=["offline_access"])
    assert (await validate_access_token(fresh["access_token"], front.provider.keys, front.base,
                                        is_revoked=check)).active is True
    await other_device.close()
    await client.aclose()


async def test_withdrawing_a_grant_revokes_the_clients_refresh_tokens_and_asks_again(front, browser):
    from services.identity.oidc.consent import withdraw_grant

    client = rp_client(scope="openid offline_access")
    tokens = await tokens_for(front, browser, client, scopes=["offline_access"])
    async with front.uow() as uow:
        grant_id = await withdraw_grant(uow, front.resident.resident_id, "montreal-ca")
        await uow.commit()
    assert grant_id is not None
    assert (await introspect(front, tokens["refresh_token"])).json() == {"active": False}
    url, _ = client.create_authorization_url(front.base + "/authorize", code_verifier="v" * 50, prompt="none")
    redirect = httpx.URL((await browser.get(url)).headers["location"])
    assert redirect.params["error"] == "consent_required"
    withdrawn = await outbox(front, "grant_withdrawn")
    assert withdrawn[-1] == {"grant_id": grant_id, "resident_id": front.resident.resident_id,
                             "client_id": "montreal-ca"}
    await client.aclose()


async def test_a_level_raised_at_the_counter_shows_in_the_next_sso_login(front, browser):
    from services.identity.domain.assurance import LevelOfAssurance
    from tests.integration.identity_oidc.conftest import add_resident

    resident = await add_resident(front.uow, "sam@example.ca", LevelOfAssurance.SELF_ASSERTED, False)
    client = rp_client(scope="openid")
    first = await tokens_for(front, browser, client, email=resident.email)
    assert (await id_claims(front, first["id_token"]))["acr"] == "urn:mtlid:loa:1"
    async with front.uow() as uow:
        row = await uow.residents.get(resident.resident_id)
        row.level = LevelOfAssurance.VERIFIED
        await uow.residents.save(row)
        await uow.commit()
    again = await tokens_for(front, browser, client)              # same session, no new login
    assert (await id_claims(front, again["id_token"]))["acr"] == "urn:mtlid:loa:2"
    await client.aclose()


async def test_second_factor_form_without_an_enrolled_factor_is_not_an_error(front, browser):
    client = rp_client(scope="openid")
    await code_for(front, browser, client)                          # camille: no TOTP
    url, _ = client.create_authorization_url(front.base + "/authorize", code_verifier="v" * 50, prompt="login")
    login = await browser.follow(await browser.get(url))
    token = login.url.params["interaction"]
    page = await browser.get(front.base + "/login/second-factor?interaction=" + token)
    response = await browser.submit(page, "/login/second-factor", code="123456")
    assert response.status_code == 302 and response.headers["location"].startswith("/authorize/resume")
    await client.aclose()


async def test_logout_hint_of_another_resident_or_an_access_token_asks_for_confirmation(front, browser):
    from tests.integration.identity_oidc.conftest import Browser

    client = rp_client(scope="openid")
    other = Browser(front.base)
    others_tokens = await tokens_for(front, other, client, email=front.verified.email)
    await code_for(front, browser, client)                          # this browser: camille
    for hint in (others_tokens["id_token"], others_tokens["access_token"]):
        response = await browser.get(str(httpx.URL(front.base + "/end-session", params={"id_token_hint": hint})))
        assert response.status_code in (200, 400) and "location" not in response.headers
        if response.status_code == 200:
            assert 'action="/end-session/confirm"' in response.text
    url, _ = client.create_authorization_url(front.base + "/authorize", code_verifier="v" * 50, prompt="none")
    assert "code" in httpx.URL((await browser.get(url)).headers["location"]).params   # still signed in
    await other.close()
    await client.aclose()
