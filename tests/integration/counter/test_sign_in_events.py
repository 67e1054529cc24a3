"""Agents' sign-ins as events (issue 17, point 4), through the running identity service: every
sign-in and every refusal at the console is an ``agent_signed_in`` / ``agent_sign_in_refused``
event in the outbox (the relay publishes it), with the reason and the office and no secret,
and the supervisors' view counts them per agent per day."""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import json
import re

from google.protobuf import json_format
from montreal.events.v1 import identity_events_pb2 as events_pb
from sqlalchemy import select

from services.common.uow import OUTBOX
from services.identity.service_layer.counter_journal import MONTREAL
from tests.integration.counter.conftest import PASSWORD, AgentBrowser, agent_of

WRONG_PASSWORD = "pas le bon mot de passe du tout"


async def _envelopes(sessions, name: str) -> list[dict]:
    async with sessions() as session:
        rows = (await session.execute(select(OUTBOX.c.envelope, OUTBOX.c.published_at)
                                      .order_by(OUTBOX.c.seq))).all()
    return [json.loads(r.envelope) | {"published": r.published_at is not None} for r in rows
            if json.loads(r.envelope)["type"] == f"montreal.identity.v1.{name}"]


async def _published(sessions, name: str, count: int, timeout: float = 15.0) -> list[dict]:
    """The outbox rows of this event once the relay has published them."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await _envelopes(sessions, name)
        if len(found) >= count and all(e["published"] for e in found):
            return found
        assert asyncio.get_running_loop().time() < deadline, f"{name}: {found}"
        await asyncio.sleep(0.2)


async def test_sign_ins_and_refusals_are_events_and_supervisors_count_them_per_agent_per_day(running_identity):
    runtime, base, uow = running_identity
    sessions = runtime.session_factory
    agent = await agent_of(uow, office="Accès Montréal — Lachine")
    supervisor = await agent_of(uow, role="supervisor", office="Accès Montréal — Lachine")
    browser, boss, stranger = AgentBrowser(base), AgentBrowser(base), AgentBrowser(base)
    try:
        wrong = await browser.password(agent, WRONG_PASSWORD)
        assert wrong.status_code == 400
        assert (await browser.password(agent)).headers["location"] == "/counter/second-factor"
        code = browser.code(agent)
        wrong_code = f"{(int(code) + 1) % 1_000_000:06d}"
        assert (await browser.submit("/counter/second-factor", code=wrong_code)).status_code == 400
        assert (await browser.submit("/counter/second-factor", code=code)).headers["location"] == "/counter"
        unknown = await stranger.submit("/counter/login", email="personne@ville.montreal.qc.ca", password=PASSWORD)
        assert unknown.status_code == 400

        signed = [e for e in await _published(sessions, "agent_signed_in", 1)
                  if e["data"]["agent_id"] == agent.agent_id]
        assert len(signed) == 1
        assert signed[0]["data"]["office"] == "Accès Montréal — Lachine"
        assert set(signed[0]["data"]["amr"]) >= {"pwd", "otp"} and signed[0]["data"]["session_id"]
        refused = await _published(sessions, "agent_sign_in_refused", 3)
        mine = sorted((e["data"]["step"], e["data"]["reason"]) for e in refused
                      if e["data"].get("agent_id") == agent.agent_id)
        assert mine == [("password", "invalid_credentials"), ("second_factor", "invalid_otp")]
        assert all(e["data"]["office"] == "Accès Montréal — Lachine" for e in refused
                   if e["data"].get("agent_id") == agent.agent_id)
        nobody = [e["data"] for e in refused if not e["data"].get("agent_id")]
        assert nobody and (nobody[-1]["reason"], nobody[-1]["step"], nobody[-1]["office"]) == (
            "invalid_credentials", "password", None)
        # The published schemas read them; no address, password or code travels.
        for envelope in signed + refused:
            message = events_pb.AgentSignedIn() if envelope["type"].endswith("agent_signed_in") else \
                events_pb.AgentSignInRefused()
            json_format.ParseDict(envelope["data"], message)
            text = json.dumps(envelope)
            for secret in (PASSWORD, WRONG_PASSWORD, code, wrong_code, agent.email, "personne@"):
                assert secret not in text

        await boss.sign_in(supervisor)
        page = await boss.http.get("/counter/supervision", params={"office": "Accès Montréal — Lachine"})
        assert page.status_code == 200
        body = html.unescape(page.text)
        today = dt.datetime.now(MONTREAL).date().isoformat()
        section = body.split("Connexions des agents", 1)[1].split("</table>", 1)[0]
        row = re.search(rf"<tr><td>{agent.agent_id}</td><td>{today}</td><td>Accès Montréal — Lachine</td>"
                        r"<td>(\d+)</td><td>(\d+)</td>\s*<td>([^<]*)</td></tr>", section)
        assert row is not None, section
        assert row.groups()[:2] == ("1", "2")
        assert "code du second facteur incorrect : 1" in row.group(3) and "mot de passe incorrect : 1" in row.group(3)
        assert re.search(rf"<tr><td>{supervisor.agent_id}</td><td>{today}</td>", section)
    finally:
        for b in (browser, boss, stranger):
            await b.close()


async def test_supervisors_filter_on_a_boroughs_own_staff_member(running_identity):
    """A borough system's staff member (their own directory, ``act.sub`` ``client:sub``) is an
    agent the supervision reviews like ours: the page's filter (through identity's
    ``SummarizeAgentActions``) takes ``verdun-permits:jtremblay`` and shows their exchange; a
    reference that is neither form is named in the error summary."""
    from types import SimpleNamespace

    from services.identity.domain.clients import TOKEN_EXCHANGE, OAuthClient, hash_client_secret
    from tests.integration.counter.test_staff_directory import DIRECTORY, DIRECTORY_KEY, exchange, staff_token
    from tests.integration.identity_oidc.conftest import SECRET

    runtime, base, uow = running_identity
    async with uow() as u:
        await u.clients.add(OAuthClient(
            client_id="verdun-permits", name="Permis de Verdun", secret_hash=hash_client_secret(SECRET),
            grant_types=(TOKEN_EXCHANGE,), scopes=("identity:agent",), audiences=("urn:mtlid:identity",),
            staff_directory_issuer=DIRECTORY, staff_directory_jwks={"keys": [DIRECTORY_KEY.as_dict(private=False)]}))
        await u.commit()
    here = SimpleNamespace(base=base)
    answer = await exchange(here, staff_token(here), resource="urn:mtlid:identity")
    assert answer.status_code == 200, answer.text
    supervisor = await agent_of(uow, role="supervisor", office="Accès Montréal — Verdun")
    boss = AgentBrowser(base)
    try:
        await boss.sign_in(supervisor)
        page = await boss.http.get("/counter/supervision", params={"agent_id": "verdun-permits:jtremblay"})
        assert page.status_code == 200, page.text[:2000]
        results = html.unescape(page.text.split("<main", 1)[1].split("</form>", 1)[1])   # after the filter form
        assert "verdun-permits:jtremblay" in results and "agent_token_exchanged" in results
        assert supervisor.agent_id not in results
        bad = await boss.http.get("/counter/supervision", params={"agent_id": "verdun permits"})
        assert bad.status_code == 400 and 'href="#agent_id"' in bad.text
    finally:
        await boss.close()
