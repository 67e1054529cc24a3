"""Counter agents are staff, not residents (issue 17; DESIGN "Agents are staff").

An agent works at an office (an Accès Montréal office, a borough counter, the 311 line) with
a role: ``agent`` (acts on residents' files) or ``supervisor`` (also reviews the agents'
journal). Agents are never deleted — their id is in the journal of every resident they
served — only disabled:

    active ──disable──▶ disabled

An agent's session at the identity front is short (the city's staff policy, in the spirit of
NIST SP 800-63B s. 4.3.3 for AAL3-like use): 8 hours at most from sign-in, and it ends after
15 minutes without activity. Only a session with the second factor is at level 3, the level
every agent action needs:

    signed in (pwd, level 2) ──second factor──▶ level 3 ──15 min idle / 8 h / sign-out──▶ ended

The agent's id is random (``AG`` + 10 characters), never derived from the person: it is the
pseudonymous reference residents see when the city chooses not to show agents' names.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass, field

from services.identity.domain.assurance import LevelOfAssurance

ROLES = ("agent", "supervisor")
SESSION_MAX = dt.timedelta(hours=8)
SESSION_IDLE = dt.timedelta(minutes=15)
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base 32: no I, L, O, U
_OFFICE = re.compile(r"^[\w .,'’()/—–-]{2,100}$")
_AGENT_ID = re.compile(r"^AG[0-9A-HJKMNP-TV-Z]{10}$")


def new_agent_id() -> str:
    return "AG" + "".join(secrets.choice(_ALPHABET) for _ in range(10))


def is_agent_id(value: str) -> bool:
    return isinstance(value, str) and bool(_AGENT_ID.match(value))


#: A borough's staff member, as token exchange names them (``oidc/staff_directory.py``):
#: ``<client_id>:<sub>``, 128 characters at most, visible ASCII, no space.
_EXTERNAL_AGENT = re.compile(r"^[\x21-\x39\x3b-\x7e]{1,64}:[\x21-\x7e]{1,100}$")


def is_external_agent_ref(value: str) -> bool:
    return isinstance(value, str) and len(value) <= 128 and bool(_EXTERNAL_AGENT.match(value))


def office_problem(office: str) -> str | None:
    if not isinstance(office, str) or not office.strip():
        return "is required: the office the agent works at"
    if not _OFFICE.match(office.strip()):
        return "2 to 100 letters, digits, spaces or . , ' ( ) / — -"
    return None


def name_problem(name: str) -> str | None:
    if not isinstance(name, str) or not name.strip():
        return "is required"
    if len(name.strip()) > 200 or any(ord(c) < 32 for c in name):
        return "at most 200 printable characters"
    return None


@dataclass
class StaffAgent:
    agent_id: str
    email: str
    name: str
    office: str
    role: str
    password_hash: str
    totp_secret_encrypted: bytes
    created_at: dt.datetime
    disabled: bool = False
    disabled_at: dt.datetime | None = None

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"

    def disable(self, now: dt.datetime) -> bool:
        """active → disabled; returns whether it changed (disabling twice is harmless)."""
        if self.disabled:
            return False
        self.disabled, self.disabled_at = True, now
        return True

    def public_dict(self) -> dict:
        return {"agent_id": self.agent_id, "email": self.email, "name": self.name, "office": self.office,
                "role": self.role, "disabled": self.disabled, "created_at": self.created_at.isoformat(),
                "disabled_at": self.disabled_at.isoformat() if self.disabled_at else None}


@dataclass
class AgentSession:
    session_id: str
    secret_hash: str
    agent_id: str
    amr: tuple[str, ...]
    auth_time: int
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime
    ended_at: dt.datetime | None = None
    # not stored: filled in when read with the agent
    agent: StaffAgent | None = field(default=None, compare=False)

    @property
    def level(self) -> LevelOfAssurance:
        """Staff identities are verified by the city when hired (level 2); the second factor
        makes the session level 3."""
        # a TOTP code, or a passkey (``mfa``: domain.passkeys.amr_for) after the password
        return (LevelOfAssurance.VERIFIED_MFA if "otp" in self.amr or "mfa" in self.amr
                else LevelOfAssurance.VERIFIED)

    def idle_deadline(self) -> dt.datetime:
        return min(self.last_seen_at + SESSION_IDLE, self.expires_at)

    def problem(self, now: dt.datetime) -> str | None:
        """Why this session cannot act now (a stable reason), or None."""
        if self.ended_at is not None:
            return "session_ended"
        if now >= self.expires_at:
            return "session_expired"
        if now >= self.last_seen_at + SESSION_IDLE:
            return "session_idle"
        if self.agent is not None and self.agent.disabled:
            return "agent_disabled"
        return None
