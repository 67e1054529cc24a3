"""Counter-assisted enrollment (Accès Montréal offices, the 311 phone line).

An agent acts through the counter application's client (scope ``accounts:agent``) *for a
named agent*: the token's ``act.sub`` claim (RFC 8693, s. 4.1). Every action is recorded with
that agent's identity, so a resident can later learn who verified what.

A document check records what the agent looked at — its type and its last two to four
characters — never an image and never the full number: enough to say "checked against the
driver's licence ending in 4821", and useless to anyone who steals it (data minimisation,
Access Act, CQLR c. A-2.1, s. 64).
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass

from services.common.errors import InvalidArgument, PermissionDenied


class DocumentType(str, enum.Enum):
    # The Québec health insurance card is deliberately absent: nobody may require it except
    # for health services (Health Insurance Act, CQLR c. A-29, s. 9.0.0.1).
    DRIVER_LICENCE = "driver_licence"
    PASSPORT = "passport"
    PERMANENT_RESIDENT_CARD = "permanent_resident_card"
    CITIZENSHIP_CERTIFICATE = "citizenship_certificate"
    BIRTH_CERTIFICATE = "birth_certificate"
    PROOF_OF_ADDRESS = "proof_of_address"


_LAST_DIGITS = re.compile(r"^[A-Za-z0-9]{2,4}$")


def check_last_digits(text: str) -> str:
    text = (text or "").strip()
    if not _LAST_DIGITS.match(text):
        raise InvalidArgument("last_digits", "2 to 4 letters or digits: the end of the number only, never all of it")
    return text.upper()


def require_agent(agent_id: str | None) -> str:
    """The named agent of a counter action, or PERMISSION_DENIED: nobody acts anonymously."""
    if not agent_id:
        raise PermissionDenied("AGENT_IDENTITY_REQUIRED",
                               "a counter action needs the acting agent in the token (act.sub)")
    return agent_id


@dataclass(frozen=True)
class DocumentCheck:
    check_id: str
    resident_id: str
    document_type: DocumentType
    last_digits: str
    agent_id: str
    checked_at: dt.datetime


@dataclass(frozen=True)
class AgentAction:
    """One line of the counter journal: who did what, for whom, through which client."""

    action_id: str
    agent_id: str
    client_id: str
    action: str
    resident_id: str
    at: dt.datetime
    #: What the action touched (attribute name, account id, check id): never a value.
    target: str | None = None
    #: The office the agent acted from (the token's ``office`` claim), "" when none was given.
    office: str = ""
