"""Identity's part of the resident's complete file (Access Act A-2.1 s. 83-84, Law 25: access
and portability in a structured, commonly used technological format).

One function per section, each taking a unit of work and the resident id and returning plain
JSON-ready data, so that a section another part of the platform builds slots in by adding
one function to ``SECTIONS``: today the sign-in history is the resident's SSO sessions
(issue 15 brings a fuller sign-in history), the agent actions are identity's
``agent_actions`` (issue 17 adds the counter's). Nothing secret is exported: no password
hash, session secret, token or second-factor secret.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

from services.identity.service_layer.account_life_file import account_life


def _time(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z") if value else None


async def sign_in_history(uow, resident_id: str) -> list[dict]:
    return [{"signed_in_at": _time(dt.datetime.fromtimestamp(s.auth_time, dt.timezone.utc)),
             "methods": list(s.amr), "level": s.acr, "session_started_at": _time(s.created_at),
             "ended_at": _time(s.ended_at), "expires_at": _time(s.expires_at)}
            for s in await uow.sessions.for_resident(resident_id)]


async def relying_parties(uow, resident_id: str) -> list[dict]:
    """The relying parties the resident signed in to, and what each grant allowed."""
    out = []
    for grant in await uow.grants.for_resident(resident_id):
        client = await uow.clients.get(grant.client_id)
        out.append({"client_id": grant.client_id, "name": client.name if client else grant.client_id,
                    "scopes": list(grant.scopes), "scopes_refused": list(grant.scopes_refused),
                    "purposes_accepted": list(grant.purposes_accepted),
                    "purposes_refused": list(grant.purposes_refused),
                    "granted_at": _time(grant.created_at), "withdrawn_at": _time(grant.withdrawn_at)})
    return out


async def agent_actions(uow, resident_id: str) -> list[dict]:
    """What agents did on the resident's file, with who did it."""
    return [{**a, "created_at": _time(a["created_at"])} for a in await uow.agent_actions.for_resident(resident_id)]


Section = Callable[[object, str], Awaitable[object]]
SECTIONS: tuple[tuple[str, Section], ...] = (
    ("sign_in_history", sign_in_history),
    ("relying_parties", relying_parties),
    ("agent_actions", agent_actions),
    ("account_life", account_life),
)


async def identity_file(uow_factory, resident_id: str) -> dict:
    """Every identity section of the resident's file, read in one unit of work."""
    async with uow_factory() as uow:
        return {name: await section(uow, resident_id) for name, section in SECTIONS}
