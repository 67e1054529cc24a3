"""What counter agents did on a resident's file, as the resident (and the export) sees it
(issue 17, point 5), and as supervisors review it (point 6).

``actions_for_resident`` is the one readable function over identity's ``agent_actions`` for
the resident's side (the history page, the export; issue 18's complete export can call it).
The agent appears by their pseudonymous reference (``AG…``) and office, or by name when the
city's policy says so (``MTLID_COUNTER_AGENT_DISPLAY=name``). Nothing else about the agent.

``supervision`` summarises the journal per agent, per office and per day, and flags the
unusual: many searches by name (fishing for people), and actions outside office hours.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from zoneinfo import ZoneInfo

from services.common.errors import InvalidArgument, PermissionDenied
from services.identity.domain.staff import is_agent_id

MONTREAL = ZoneInfo("America/Montreal")
#: Accès Montréal offices open 8:30–17:00 on weekdays; 311 answers 7:00–22:00 (weekends too).
OFFICE_HOURS = (dt.time(7, 0), dt.time(22, 0))
MANY_NAME_SEARCHES = 20   # per agent per day
RESIDENT_VISIBLE = ("create_resident_in_person", "raise_level_of_assurance", "issue_activation_letter",
                    "find_resident", "record_consent", "withdraw_consent", "reset_second_factor")


async def actions_for_resident(uow, resident_id: str, *, show_names: bool = False) -> list[dict]:
    """Oldest first: ``{"action", "at", "office", "agent", "details"}`` (details: the document
    type and last characters, the level — what the resident may check)."""
    async with uow:
        actions = await uow.agent_actions.for_resident(resident_id)
        names = {}
        if show_names:
            for agent_id in {a["agent_id"] for a in actions}:
                agent = await uow.agents.get(agent_id)
                names[agent_id] = agent.name if agent is not None else agent_id
    return [{"action": a["action"], "at": a["created_at"], "office": a["office"] or "",
             "agent": names.get(a["agent_id"], a["agent_id"]),
             "details": {k: v for k, v in a["details"].items() if k in ("document_type", "document_last_digits",
                                                                          "level", "by", "channel")}}
            for a in actions if a["action"] in RESIDENT_VISIBLE]


def _unusual(actions: list[dict]) -> list[dict]:
    flags = []
    searches = Counter((a["agent_id"], a["created_at"].astimezone(MONTREAL).date()) for a in actions
                       if a["action"] == "find_by_name")
    for (agent_id, day), count in sorted(searches.items()):
        if count >= MANY_NAME_SEARCHES:
            flags.append({"kind": "many_name_searches", "agent_id": agent_id, "day": day.isoformat(), "count": count})
    for a in actions:
        local = a["created_at"].astimezone(MONTREAL)
        if not (OFFICE_HOURS[0] <= local.time() < OFFICE_HOURS[1]):
            flags.append({"kind": "outside_office_hours", "agent_id": a["agent_id"], "office": a["office"] or "",
                          "action": a["action"], "at": a["created_at"].isoformat()})
    return flags


async def supervision(uow, start: dt.date, end: dt.date, *, agent_id: str | None = None,
                      office: str | None = None) -> dict:
    """Agents' actions from ``start`` to ``end`` (inclusive, Montréal days): counts per agent,
    per office and per day, and the unusual ones. Residents appear by number only in flags'
    absence: the summary needs none."""
    begin = dt.datetime.combine(start, dt.time(0), MONTREAL)
    finish = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(0), MONTREAL)
    async with uow:
        actions = await uow.agent_actions.between(begin, finish, agent_id=agent_id or None, office=office or None)
    per_agent: dict[str, Counter] = defaultdict(Counter)
    per_office: dict[str, Counter] = defaultdict(Counter)
    per_day: dict[str, Counter] = defaultdict(Counter)
    for a in actions:
        per_agent[a["agent_id"]][a["action"]] += 1
        per_office[a["office"] or ""][a["action"]] += 1
        per_day[a["created_at"].astimezone(MONTREAL).date().isoformat()][a["action"]] += 1

    def rows(table: dict[str, Counter], key: str) -> list[dict]:
        return [{key: k, "total": sum(c.values()), "actions": dict(sorted(c.items()))}
                for k, c in sorted(table.items())]

    return {"from": start.isoformat(), "to": end.isoformat(), "total": len(actions),
            "per_agent": rows(per_agent, "agent_id"), "per_office": rows(per_office, "office"),
            "per_day": rows(per_day, "day"), "unusual": _unusual(actions)}


MAX_PERIOD_DAYS = 31


def parse_period(start: str, end: str, agent_id: str = "", office: str = "") -> tuple[dt.date, dt.date]:
    """The period and filters of a review, every problem named (INVALID_ARGUMENT)."""
    problems = []
    dates = {}
    for field, text in (("start_date", start), ("end_date", end)):
        try:
            dates[field] = dt.date.fromisoformat(text or "")
        except ValueError:
            problems.append((field, "is required: a day YYYY-MM-DD"))
    if len(dates) == 2 and not (0 <= (dates["end_date"] - dates["start_date"]).days < MAX_PERIOD_DAYS):
        problems.append(("end_date", f"must be on or after start_date, at most {MAX_PERIOD_DAYS} days later"))
    if agent_id and not is_agent_id(agent_id):
        problems.append(("agent_id", "an agent id looks like AG followed by 10 letters or digits"))
    if len(office or "") > 100:
        problems.append(("office", "at most 100 characters"))
    if problems:
        raise InvalidArgument.many(problems)
    return dates["start_date"], dates["end_date"]


async def require_supervisor(uow, agent_id: str | None) -> None:
    """Only a supervisor (an active one) reviews the agents' journal."""
    async with uow:
        agent = await uow.agents.get(agent_id) if agent_id else None
    if agent is None or agent.disabled or not agent.is_supervisor:
        raise PermissionDenied("SUPERVISOR_REQUIRED", "reviewing agents' actions needs a supervisor (act.sub)")
