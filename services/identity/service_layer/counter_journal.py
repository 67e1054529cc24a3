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
from services.identity.domain.events import CounterFileAccessed
from services.identity.domain.staff import StaffAgent, is_agent_id, is_external_agent_ref

MONTREAL = ZoneInfo("America/Montreal")
#: Accès Montréal offices open 8:30–17:00 on weekdays; 311 answers 7:00–22:00 (weekends too).
OFFICE_HOURS = (dt.time(7, 0), dt.time(22, 0))
MANY_NAME_SEARCHES = 20   # per agent per day
RESIDENT_VISIBLE = ("create_resident_in_person", "raise_level_of_assurance", "issue_activation_letter",
                    "find_resident", "record_consent", "withdraw_consent", "shown_in_name_search",
                    "print_resident_file", "reset_second_factor",
                    # Issue 22: mandates recorded, revoked or suspended on the resident's file.
                    "record_mandate", "revoke_mandate", "suspend_mandate")
#: What an agent sees, as the ledger's categories (never the values): the opened file shows the
#: names, the year of birth and the language; a search by name shows names and year of birth.
FILE_CATEGORIES = ("given_name", "family_name", "date_of_birth", "preferred_language")
SEARCH_CATEGORIES = ("given_name", "family_name", "date_of_birth")


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


async def record_look_up(uow, agent: StaffAgent, *, client_id: str, action: str, resident_ids: list[str],
                         details: dict, now: dt.datetime) -> None:
    """An agent found or opened residents' files (issue 17, point 3), in the caller's open
    transaction: for each resident, a line of the journal and a ``counter_file_accessed``
    event (outbox), which the consent ledger records as a data access by the office's counter
    (Access Act s. 83; DESIGN "every release is a ledger fact"). ``action``:
    ``find_resident`` (by number: the file opened) or ``shown_in_name_search`` (each resident a
    search by name showed). The ledger is append-only and permanent, so it keeps the agent's
    pseudonymous reference (``AG…``), never a name; the resident's pages show the name instead
    when the city's policy says so (``MTLID_COUNTER_AGENT_DISPLAY=name``, ``agent_names``)."""
    categories = FILE_CATEGORIES if action == "find_resident" else SEARCH_CATEGORIES
    reference = agent.agent_id
    for resident_id in dict.fromkeys(resident_ids):
        action_id = await uow.agent_actions.record(agent_id=agent.agent_id, client_id=client_id, action=action,
                                                   resident_id=resident_id, details=details, now=now,
                                                   office=agent.office)
        uow.add_event(CounterFileAccessed(access_id=f"counter.{action_id}", resident_id=resident_id,
                                          office=agent.office, agent_reference=reference, action=action,
                                          categories=categories))


async def agent_names(uow, references: set[str]) -> dict[str, str]:
    """Agents' names by reference (``AG…``), for the pages when the city's policy shows names;
    a reference that is no agent's stays as it is."""
    names = {}
    async with uow:
        for reference in references:
            agent = await uow.agents.get(reference) if is_agent_id(reference) else None
            names[reference] = agent.name if agent is not None else reference
    return names


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
    # Montréal midnights, as UTC instants: SQLite keeps a timestamp's wall-clock digits without
    # its offset, so a Montréal-zoned bound would compare as if it were UTC (and miss the
    # evening's actions, 19:00–24:00 in Montréal, for five hours each day).
    begin = dt.datetime.combine(start, dt.time(0), MONTREAL).astimezone(dt.timezone.utc)
    finish = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(0), MONTREAL).astimezone(dt.timezone.utc)
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
            "per_day": rows(per_day, "day"), "sign_ins": sign_ins(actions), "unusual": _unusual(actions)}


def sign_ins(actions: list[dict]) -> list[dict]:
    """Sign-ins and refusals per agent per Montréal day (issue 17, point 4), with the reasons
    of the refusals: a supervisor sees an agent locked out, or someone trying an agent's
    address. Refusals for an address that is no agent's are under ``agent_id`` "" (the
    address is never kept)."""
    table: dict[tuple[str, str], dict] = {}
    for a in actions:
        if a["action"] not in ("sign_in", "sign_in_refused"):
            continue
        key = (a["agent_id"], a["created_at"].astimezone(MONTREAL).date().isoformat())
        row = table.setdefault(key, {"agent_id": key[0], "day": key[1], "office": a["office"] or "",
                                     "signed_in": 0, "refused": 0, "reasons": Counter()})
        if a["action"] == "sign_in":
            row["signed_in"] += 1
        else:
            row["refused"] += 1
            row["reasons"][str(a["details"].get("reason", ""))] += 1
    return [{**row, "reasons": dict(sorted(row["reasons"].items()))} for _, row in sorted(table.items())]


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
    if agent_id and not (is_agent_id(agent_id) or is_external_agent_ref(agent_id)):
        # our agents (AG…) and a borough's own staff members (client:sub, from their directory)
        problems.append(("agent_id", "an agent id looks like AG followed by 10 letters or digits, "
                                     "or client:staff-member for a borough's own staff directory"))
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
