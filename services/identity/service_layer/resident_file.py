"""The resident's complete file (Access Act A-2.1 s. 83-84; Law 25: access and portability
in a structured, commonly used technological format).

``SECTIONS`` is the one list of what the file holds, in the order a resident reads it. A
section is a name (its key in the JSON), the i18n key of its heading and a builder taking the
``FileSources``; the printable page (``templates/account/file.html``) shows each section
through ``templates/account/file/<name>.html`` when that partial exists. To add a section:
write its builder, add one line to ``SECTIONS`` and, for the printable page, one partial and
its catalogue keys. The signature (``services/common/file_signature.py``) covers every
section without any change there, and ``mtlid export verify`` names a changed one.

Identity's sections are read here from identity's own store; the accounts and consent
sections are the services' own exports, which the web layer fetched over gRPC and passes in
``FileSources.remote`` as plain data. Nothing secret is exported: no password hash, session
secret, token or second-factor secret.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from services.common.file_signature import sign_file
from services.identity.domain.sign_ins import RETENTION_DAYS
from services.identity.service_layer import sign_ins as history
from services.identity.service_layer.account_life_file import account_life as account_life_of

FORMAT = "mtlid-resident-export/3"
#: the journal's detail keys a resident reads (the rest is the tool's internal bookkeeping)
AGENT_DETAILS = ("document_type", "document_last_digits", "level", "by", "channel", "reason", "service_id")


def _time(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z") if value else None


@dataclasses.dataclass(frozen=True)
class FileSources:
    """What the builders read: identity's store, and the other services' exports as plain data."""
    resident_id: str
    resident: dict
    uow_factory: Callable[[], Any]
    now: dt.datetime
    #: ``MTLID_COUNTER_AGENT_DISPLAY=name``: agents by name rather than by their AG reference
    show_agent_names: bool = False
    #: ``consent`` (the register's export), ``accounts`` (profile with provenance),
    #: ``linked_services``, ``consent_ledger_proof`` — fetched by the web layer
    remote: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Section:
    name: str
    heading: str | None
    build: Callable[[FileSources], Awaitable[Any]]


# --- identity's sections --------------------------------------------------------------------

async def about(src: FileSources) -> dict:
    return {"format": FORMAT, "law": "Québec A-2.1 s. 83-84; Law 25 (access, portability)",
            "generated_at": _time(src.now),
            "how_to_verify": "mtlid export verify FILE (or /account/ledger/how-to-check)"}


async def resident(src: FileSources) -> dict:
    return src.resident


async def sign_ins(src: FileSources) -> dict:
    """One section for signing in (issue 15's history and issue 18's sessions): every sign-in
    attempt still kept (when, which service, how, the level reached, refused and why) and every
    single sign-on session it opened (started, level, ended or expires)."""
    attempts = await history.history(src.resident_id, src.uow_factory(), limit=500)
    async with src.uow_factory() as uow:
        sessions = await uow.sessions.for_resident(src.resident_id)
    return {
        "kept_days": RETENTION_DAYS,
        "attempts": [{"time": _time(e.occurred_at), "client_id": e.client_id, "service": e.client_name,
                      "methods": list(e.methods), "acr": e.acr, "outcome": e.outcome, "reason": e.reason}
                     for e in attempts],
        "sessions": [{"signed_in_at": _time(dt.datetime.fromtimestamp(s.auth_time, dt.timezone.utc)),
                      "methods": list(s.amr), "level": s.acr, "started_at": _time(s.created_at),
                      "ended_at": _time(s.ended_at), "expires_at": _time(s.expires_at)} for s in sessions],
    }


async def relying_parties(src: FileSources) -> list[dict]:
    """The relying parties the resident signed in to, and what each grant allowed."""
    out = []
    async with src.uow_factory() as uow:
        for grant in await uow.grants.every_for_resident(src.resident_id):
            client = await uow.clients.get(grant.client_id)
            out.append({"client_id": grant.client_id, "name": client.name if client else grant.client_id,
                        "scopes": list(grant.scopes), "scopes_refused": list(grant.scopes_refused),
                        "purposes_accepted": list(grant.purposes_accepted),
                        "purposes_refused": list(grant.purposes_refused),
                        "granted_at": _time(grant.created_at), "withdrawn_at": _time(grant.withdrawn_at)})
    return out


async def agent_actions(src: FileSources) -> list[dict]:
    """One section for what agents did on the file (issue 17's counter journal and issue 18's
    raw journal): every action, oldest first, with the office, the agent (pseudonymous
    reference, or name by the city's policy), the tool (``client_id``) and the details a
    resident may check. Every action, lookups included: the journal is personal information
    about the resident (Law 25 s. 27), not only what the history page highlights."""
    async with src.uow_factory() as uow:
        actions = await uow.agent_actions.for_resident(src.resident_id)
        names = {}
        if src.show_agent_names:
            for agent_id in {a["agent_id"] for a in actions}:
                agent = await uow.agents.get(agent_id)
                names[agent_id] = agent.name if agent is not None else agent_id
    return [{"at": _time(a["created_at"]), "action": a["action"], "office": a.get("office") or "",
             "agent": names.get(a["agent_id"], a["agent_id"]), "client_id": a.get("client_id") or "",
             "details": {k: v for k, v in (a.get("details") or {}).items() if k in AGENT_DETAILS}}
            for a in actions]


async def account_life(src: FileSources) -> dict:
    """Each closure (receipt number, reopening at a counter) and each "this was not me" report."""
    async with src.uow_factory() as uow:
        return await account_life_of(uow, src.resident_id)


# --- the other services' sections (fetched by the web layer) -------------------------------

def _remote(name: str, default: Any) -> Callable[[FileSources], Awaitable[Any]]:
    async def build(src: FileSources) -> Any:
        return src.remote.get(name, default)
    build.__name__ = name
    return build


async def accounts(src: FileSources) -> dict:
    """accounts' export as it gave it; when the city's policy shows agents by name
    (``MTLID_COUNTER_AGENT_DISPLAY=name``), each line of its counter journal also gets
    ``agent``, the agent's name (a borough directory's ``client:sub`` stays as it is), as in
    ``agent_actions``. accounts' own ``agent_id`` is left untouched."""
    document = src.remote.get("accounts") or {}
    journal = document.get("counter_journal") or []
    if not (src.show_agent_names and journal):
        return document
    from services.identity.service_layer.counter_journal import agent_names

    names = await agent_names(src.uow_factory(), {str(j.get("agent_id", "")) for j in journal})
    return {**document, "counter_journal": [{**j, "agent": names.get(str(j.get("agent_id", "")), j.get("agent_id"))}
                                            for j in journal]}


async def access_log(src: FileSources) -> list[dict]:
    """The ledger's ``data_accessed`` entries: who received what, when, for which purpose."""
    consent = src.remote.get("consent") or {}
    return [e for e in consent.get("ledger_entries", []) if e["entry"].get("type") == "data_accessed"]


SECTIONS: tuple[Section, ...] = (
    Section("about", None, about),
    Section("resident", "account.file.identity", resident),
    Section("sign_ins", "account.file.sign_ins", sign_ins),
    Section("relying_parties", "account.file.relying_parties", relying_parties),
    Section("agent_actions", "account.file.agent_actions", agent_actions),
    Section("account_life", "account.file.account_life", account_life),
    Section("accounts", "account.file.profile", accounts),
    Section("linked_services", "account.file.services", _remote("linked_services", [])),
    Section("consent", "account.file.consents", _remote("consent", {})),
    Section("access_log", "account.file.access_log", access_log),
    # Issue 22: the mandates that concern the resident (given, received) and the acts under them.
    Section("mandates", "account.file.mandates", _remote("mandates", [])),
    Section("consent_ledger_proof", "account.file.ledger", _remote("consent_ledger_proof", {})),
)


async def resident_file(src: FileSources, *, issuer: str, keys) -> dict:
    """Every section, then identity's signature over all of them (``keys``: the signing key
    ring, ``current("ES256")`` and ``jwks()``)."""
    document: dict[str, Any] = {}
    for section in SECTIONS:
        value = await section.build(src)
        if section.name == "about":
            document.update(value)  # the file's own header stays at the top level
        else:
            document[section.name] = value
    kid, key = keys.current("ES256")
    document["signature"] = sign_file(document, issuer=issuer, kid=kid, private_key=key.private_key,
                                      jwks=keys.jwks(), now=int(src.now.timestamp()))
    return document
