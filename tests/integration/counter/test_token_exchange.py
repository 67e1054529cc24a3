"""RFC 8693 token exchange at the token endpoint, as a counter system uses it: the agent signs
in at the console (password + TOTP), the system exchanges the agent's session token for an
access token carrying ``act.sub`` — verified here with joserfc, not with our verifier — and
every refusal is the RFC's error code."""

from __future__ import annotations

import datetime as dt

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import update

from services.identity.adapters.orm import AgentSessionRow
from services.identity.domain.clients import TOKEN_EXCHANGE
from services.identity.service_layer.staff import disable_agent
from tests.integration.counter.conftest import AgentBrowser, new_agent
from tests.integration.identity_oidc.conftest import SECRET

JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"


async def exchange(front, subject_token: str | None, *, client: str = "borough-counter",
                   **extra: str) -> httpx.Response:
    data = {"grant_type": TOKEN_EXCHANGE, "subject_token_type": JWT_TYPE, **extra}
    if subject_token is not None:
        data["subject_token"] = subject_token
    async with httpx.AsyncClient() as http:
        return await http.post(front.base + "/token", data=data, auth=(client, SECRET))


async def test_an_agent_at_level_3_gets_a_token_that_names_them_verified_with_joserfc(front, agent_browser):
    agent = await new_agent(front)
    await agent_browser.sign_in(agent)
    subject_token = await agent_browser.subject_token()

    async with AsyncOAuth2Client(client_id="borough-counter", client_secret=SECRET) as client:
        token = await client.fetch_token(front.base + "/token", grant_type=TOKEN_EXCHANGE,
                                         subject_token=subject_token, subject_token_type=JWT_TYPE,
                                         resource="urn:mtlid:accounts")
    assert token["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert token["token_type"] == "Bearer" and "refresh_token" not in token

    async with httpx.AsyncClient() as http:
        keys = KeySet.import_key_set((await http.get(front.base + "/jwks")).json())
        metadata = (await http.get(front.base + "/.well-known/openid-configuration")).json()
    decoded = jwt.decode(token["access_token"], keys, algorithms=["ES256"])
    claims = jwt.JWTClaimsRegistry(iss={"essential": True, "value": front.base},
                                   aud={"essential": True, "value": "urn:mtlid:accounts"},
                                   exp={"essential": True})
    claims.validate(decoded.claims)
    assert decoded.header["typ"] == "at+jwt"
    assert decoded.claims["act"] == {"sub": agent.agent_id}          # RFC 8693 s. 4.1
    assert decoded.claims["sub"] == "borough-counter" and decoded.claims["client_id"] == "borough-counter"
    assert decoded.claims["office"] == agent.office
    assert decoded.claims["acr"] == "urn:mtlid:loa:3"
    assert set(decoded.claims["scope"].split()) == {"identity:agent", "accounts:agent"}
    assert TOKEN_EXCHANGE in metadata["grant_types_supported"]


async def test_missing_or_wrong_subject_token_is_invalid_request(front, agent_browser):
    agent = await new_agent(front)
    await agent_browser.sign_in(agent)
    good = await agent_browser.subject_token()

    missing = await exchange(front, None)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    assert "subject_token" in missing.json()["error_description"]
    for wrong in ("not-a-jwt", good[:-6] + "AAAAAA", good.replace(".", "x", 1)):
        answer = await exchange(front, wrong)
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_request", answer.text
    wrong_type = await exchange(front, good, subject_token_type="urn:ietf:params:oauth:token-type:access_token")
    assert wrong_type.json()["error"] == "invalid_request"
    # An access token of ours is not an agent's session token (explicit typing, RFC 8725 s. 3.11).
    issued = (await exchange(front, good, resource="urn:mtlid:identity")).json()["access_token"]
    assert (await exchange(front, issued)).json()["error"] == "invalid_request"


async def test_a_session_below_level_3_is_refused(front, agent_browser):
    agent = await new_agent(front)
    assert (await agent_browser.password(agent)).status_code == 303  # no second factor yet
    answer = await exchange(front, await agent_browser.subject_token())
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"
    assert "level 3" in answer.json()["error_description"]


async def test_a_client_without_the_agent_scope_or_the_grant_is_unauthorized(front, agent_browser):
    agent = await new_agent(front)
    await agent_browser.sign_in(agent)
    subject_token = await agent_browser.subject_token()
    for client in ("permits-backoffice", "no-exchange"):
        answer = await exchange(front, subject_token, client=client)
        assert answer.status_code == 400 and answer.json()["error"] == "unauthorized_client", answer.text
    assert (await exchange(front, subject_token, scope="identity:admin")).json()["error"] == "invalid_scope"
    assert (await exchange(front, subject_token, resource="urn:mtlid:consent")).json()["error"] == "invalid_target"
    async with httpx.AsyncClient() as http:
        bad_secret = await http.post(front.base + "/token", auth=("borough-counter", "wrong"), data={
            "grant_type": TOKEN_EXCHANGE, "subject_token": subject_token, "subject_token_type": JWT_TYPE})
    assert bad_secret.status_code == 401 and bad_secret.json()["error"] == "invalid_client"


async def test_an_ended_idle_or_disabled_session_is_refused(front):
    # Signed out: the token the session gave is worth nothing any more.
    agent, browser = await new_agent(front), AgentBrowser(front.base)
    try:
        await browser.sign_in(agent)
        subject_token = await browser.subject_token()
        assert (await exchange(front, subject_token, resource="urn:mtlid:identity")).status_code == 200
        assert (await browser.sign_out()).status_code == 200
        answer = await exchange(front, subject_token)
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"
        assert "ended" in answer.json()["error_description"]
    finally:
        await browser.close()

    # Idle for more than 15 minutes (the clock moved back in the database, not waited for).
    agent, browser = await new_agent(front), AgentBrowser(front.base)
    try:
        await browser.sign_in(agent)
        subject_token = await browser.subject_token()
        async with front.uow() as uow:
            await uow.session.execute(update(AgentSessionRow).where(AgentSessionRow.agent_id == agent.agent_id)
                                      .values(last_seen_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=16)))
            await uow.commit()
        answer = await exchange(front, subject_token)
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"
        assert "idle" in answer.json()["error_description"]
        assert (await browser.http.get("/counter")).headers["location"] == "/counter/login"
    finally:
        await browser.close()

    # Older than 8 hours, however active (the clock moved back in the database, not waited for).
    agent, browser = await new_agent(front), AgentBrowser(front.base)
    try:
        await browser.sign_in(agent)
        subject_token = await browser.subject_token()
        async with front.uow() as uow:
            await uow.session.execute(update(AgentSessionRow).where(AgentSessionRow.agent_id == agent.agent_id)
                                      .values(expires_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)))
            await uow.commit()
        answer = await exchange(front, subject_token)
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"
        assert "8 hours" in answer.json()["error_description"], answer.text
    finally:
        await browser.close()

    # Disabled by an operator: every session ends at once.
    agent, browser = await new_agent(front), AgentBrowser(front.base)
    try:
        await browser.sign_in(agent)
        subject_token = await browser.subject_token()
        await disable_agent(agent.agent_id, front.uow())
        answer = await exchange(front, subject_token)
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"
        relogin = await browser.password(agent)
        assert relogin.status_code == 400 and "désactivé" in relogin.text
    finally:
        await browser.close()
