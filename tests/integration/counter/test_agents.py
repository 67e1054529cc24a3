"""Agents are staff (issue 17, point 1): `mtlid agent create|list|disable` print JSON, agents
are kept apart from residents, sign in with a password and a TOTP second factor at the
console, and their session is short (8 h at most, 15 min idle)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select, update

from services.cli import main
from services.identity.adapters.orm import AgentSessionRow, ResidentRow
from tests.integration.counter.conftest import PASSWORD, AgentBrowser, new_agent


@pytest.fixture
def cli(front, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MTLID_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("MTLID_IDENTITY_DATABASE_URL", str(front.sessions.kw["bind"].url.render_as_string(
        hide_password=False)))

    def run(*argv):
        code = main(list(argv))
        captured = capsys.readouterr()
        return code, (json.loads(captured.out) if captured.out.strip() else None), captured.err
    return run


async def _residents(front) -> int:
    async with front.uow() as uow:
        return (await uow.session.execute(select(func.count()).select_from(ResidentRow))).scalar_one()


def test_agent_create_list_disable_print_json_and_secrets_once(cli):
    code, created, _ = cli("agent", "create", "--email", "Sam.Roy@ville.montreal.qc.ca", "--name", "Sam Roy",
                           "--office", "Accès Montréal — Plateau", "--role", "supervisor")
    assert code == 0, created
    assert created["agent_id"].startswith("AG") and created["role"] == "supervisor"
    assert created["email"] == "sam.roy@ville.montreal.qc.ca" and created["office"] == "Accès Montréal — Plateau"
    assert len(created["password"]) >= 16 and created["totp_uri"].startswith("otpauth://totp/")
    code, listing, _ = cli("agent", "list")
    shown = json.dumps(listing)
    assert code == 0 and created["agent_id"] in shown
    assert created["totp_secret"] not in shown and created["password"] not in shown and "hash" not in shown

    code, _, err = cli("agent", "create", "--email", "SAM.ROY@ville.montreal.qc.ca", "--name", "Autre",
                       "--office", "Verdun")
    assert code == 1 and json.loads(err)["reason"] == "AGENT_EMAIL_TAKEN"
    code, _, err = cli("agent", "create", "--email", "pas-un-courriel", "--name", " ", "--office", "<b>")
    assert code == 1
    assert {v["field"] for v in json.loads(err)["violations"]} == {"email", "name", "office"}

    code, disabled, _ = cli("agent", "disable", "--agent-id", created["agent_id"])
    assert code == 0 and disabled["disabled"] and disabled["disabled_at"]
    code, listing, _ = cli("agent", "list")
    assert [a["disabled"] for a in listing["agents"] if a["agent_id"] == created["agent_id"]] == [True]  # kept
    code, _, err = cli("agent", "disable", "--agent-id", "nobody")
    assert code == 1 and json.loads(err)["violations"][0]["field"] == "agent_id"


async def test_an_agent_is_not_a_resident(front, agent_browser):
    before = await _residents(front)
    agent = await new_agent(front)
    assert await _residents(front) == before
    # An agent's credentials do not open Mon compte, and a resident's session is not an agent's.
    page = await agent_browser.http.get("/account/login")
    from tests.integration.identity_oidc.conftest import hidden_fields

    answer = await agent_browser.http.post("/account/login", data={
        **hidden_fields(page.text), "email": agent.email, "password": PASSWORD})
    assert answer.status_code != 303 or "/account" not in answer.headers.get("location", "")
    assert (await agent_browser.http.get("/counter")).headers["location"] == "/counter/login"


async def test_sign_in_needs_the_password_and_the_second_factor(front, agent_browser):
    agent = await new_agent(front)
    wrong = await agent_browser.password(agent, "pas le bon mot de passe")
    assert wrong.status_code == 400 and "Courriel ou mot de passe incorrect" in wrong.text
    empty = await agent_browser.submit("/counter/login", email="", password="")
    assert empty.status_code == 400 and 'href="#email"' in empty.text and 'href="#password"' in empty.text

    assert (await agent_browser.password(agent)).headers["location"] == "/counter/second-factor"
    # Password only: the console is not open yet (level 3 needs the second factor).
    assert (await agent_browser.http.get("/counter")).headers["location"] == "/counter/second-factor"
    bad = await agent_browser.submit("/counter/second-factor", code="12ab")
    assert bad.status_code == 400 and "6 chiffres" in bad.text
    code = agent_browser.code(agent)
    wrong_code = f"{(int(code) + 1) % 1_000_000:06d}"
    assert (await agent_browser.submit("/counter/second-factor", code=wrong_code)).status_code == 400
    ok = await agent_browser.submit("/counter/second-factor", code=code)
    assert ok.headers["location"] == "/counter"
    console = await agent_browser.http.get("/counter")
    assert console.status_code == 200 and agent.agent_id in console.text and agent.office in console.text

    # The same code never opens a second session (RFC 6238 s. 5.2).
    other = AgentBrowser(front.base)
    try:
        await other.password(agent)
        replay = await other.submit("/counter/second-factor", code=code)
        assert replay.status_code == 400
    finally:
        await other.close()


async def test_a_session_lasts_8_hours_at_most_and_ends_after_15_minutes_idle(front, agent_browser):
    agent = await new_agent(front)
    await agent_browser.sign_in(agent)
    async with front.uow() as uow:
        created, expires = (await uow.session.execute(select(AgentSessionRow.created_at, AgentSessionRow.expires_at)
                                                      .where(AgentSessionRow.agent_id == agent.agent_id))).one()
    created, expires = (v.replace(tzinfo=dt.timezone.utc) if v.tzinfo is None else v for v in (created, expires))
    assert expires - created == dt.timedelta(hours=8)
    cookie = [c for c in agent_browser.http.cookies.jar if c.name == "mtlid_counter"][0]
    assert cookie.expires - int(created.timestamp()) <= 8 * 3600 + 5

    async with front.uow() as uow:  # the 8 hours are over (the clock moved in the database)
        await uow.session.execute(update(AgentSessionRow).where(AgentSessionRow.agent_id == agent.agent_id)
                                  .values(expires_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)))
        await uow.commit()
    assert (await agent_browser.http.get("/counter")).headers["location"] == "/counter/login"


async def test_residents_see_agents_by_reference_or_by_name(front):
    import datetime as dt

    from services.identity.service_layer.counter_journal import actions_for_resident

    agent = await new_agent(front)
    now = dt.datetime.now(dt.timezone.utc)
    async with front.uow() as uow:
        await uow.agent_actions.record(agent_id=agent.agent_id, client_id="counter-console",
                                       action="raise_level_of_assurance", resident_id="RESIDENT0001", now=now,
                                       office=agent.office, details={"document_type": "passport",
                                                                     "document_last_digits": "4821", "level": 2})
        await uow.agent_actions.record(agent_id=agent.agent_id, client_id="counter-console", action="find_by_name",
                                       resident_id="", now=now, office=agent.office, details={"matches": 2})
        await uow.commit()
    pseudonymous = await actions_for_resident(front.uow(), "RESIDENT0001")
    assert [(a["action"], a["agent"], a["office"]) for a in pseudonymous] == [
        ("raise_level_of_assurance", agent.agent_id, agent.office)]
    assert pseudonymous[0]["details"] == {"document_type": "passport", "document_last_digits": "4821", "level": 2}
    named = await actions_for_resident(front.uow(), "RESIDENT0001", show_names=True)
    assert named[0]["agent"] == "Dominique Tremblay"
    # the ledger's counter accesses keep the reference; "Qui a vu mes données" shows the name
    # when the city's policy says so, and leaves a borough directory's "client:sub" as it is
    from services.identity.service_layer.counter_journal import agent_names

    assert await agent_names(front.uow(), {agent.agent_id, "AG0000000000", "verdun-permits:jtremblay"}) == {
        agent.agent_id: "Dominique Tremblay", "AG0000000000": "AG0000000000",
        "verdun-permits:jtremblay": "verdun-permits:jtremblay"}


async def test_the_file_names_agents_in_accounts_journal_by_the_citys_policy(front):
    """Point 5 ("not the agent's name if the city's policy is pseudonymous agents"): the lines
    of accounts' counter journal in the resident's file carry the agent's name only when
    ``MTLID_COUNTER_AGENT_DISPLAY=name``; accounts' own ``agent_id`` is never rewritten, and a
    borough directory's ``client:sub`` stays as it is."""
    import datetime as dt

    from services.identity.service_layer.resident_file import FileSources, accounts

    agent = await new_agent(front)
    journal = [{"action_id": "act_1", "action": "view_profile", "agent_id": agent.agent_id, "office": agent.office},
               {"action_id": "act_2", "action": "link_account", "agent_id": "verdun-permits:jtremblay", "office": ""}]

    def sources(show: bool) -> FileSources:
        return FileSources(resident_id="RESIDENT0001", resident={}, uow_factory=front.uow,
                           now=dt.datetime.now(dt.timezone.utc), show_agent_names=show,
                           remote={"accounts": {"format": "mtlid.accounts.export/1", "counter_journal": journal}})

    pseudonymous = await accounts(sources(False))
    assert pseudonymous["counter_journal"] == journal and "agent" not in pseudonymous["counter_journal"][0]
    named = await accounts(sources(True))
    assert [(j["agent_id"], j["agent"]) for j in named["counter_journal"]] == [
        (agent.agent_id, "Dominique Tremblay"), ("verdun-permits:jtremblay", "verdun-permits:jtremblay")]


def test_agent_actions_cli_prints_the_review_as_json(cli):
    import datetime as dt

    assert cli("agent", "create", "--email", "rev@ville.montreal.qc.ca", "--name", "Rév Iseur",
               "--office", "Verdun")[0] == 0
    today = dt.date.today().isoformat()
    code, review, _ = cli("agent", "actions", "--from", today)
    assert code == 0 and {"total", "per_agent", "per_office", "per_day", "unusual"} <= set(review)
    code, _, err = cli("agent", "actions", "--from", "demain", "--agent-id", "x")
    assert code == 1 and {"start_date", "agent_id"} <= {v["field"] for v in json.loads(err)["violations"]}


async def test_an_evening_action_counts_on_its_montreal_day_whatever_the_hour_in_utc(front):
    """A supervisor's period is Montréal days: an action at 21:30 in Montréal (02:30 UTC the
    next day) is in that day's review, and one at 23:30 the day before is not (CI caught the
    evening's actions missing on SQLite, which keeps a timestamp's digits without its offset)."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from services.identity.service_layer.counter_journal import supervision

    montreal = ZoneInfo("America/Montreal")
    agent = await new_agent(front)
    day = dt.date(2026, 11, 17)
    at = {"morning": dt.datetime(2026, 11, 17, 0, 30, tzinfo=montreal),
          "evening": dt.datetime(2026, 11, 17, 21, 30, tzinfo=montreal),
          "eve": dt.datetime(2026, 11, 16, 23, 30, tzinfo=montreal)}
    async with front.uow() as uow:
        for label, when in at.items():
            await uow.agent_actions.record(agent_id=agent.agent_id, client_id="counter-console", action="find_by_name",
                                           resident_id="", now=when.astimezone(dt.timezone.utc),
                                           office=agent.office, details={"label": label})
        await uow.commit()
    review = await supervision(front.uow(), day, day, agent_id=agent.agent_id)
    assert review["total"] == 2 and [d["day"] for d in review["per_day"]] == ["2026-11-17"]
    previous = await supervision(front.uow(), day - dt.timedelta(days=1), day - dt.timedelta(days=1),
                                 agent_id=agent.agent_id)
    assert previous["total"] == 1
