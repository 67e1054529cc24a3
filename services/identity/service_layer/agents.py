"""Counter agents (Accès Montréal offices, phone line): in-person registration and raising
a resident's level of assurance after checking a document.

Every action is recorded (``agent_actions``) with the agent's own identity — the ``act.sub``
of the access token (RFC 8693 s. 4.1) — and the client the agent used. What is recorded
about the document is its type and at most its last 4 characters: never an image, never a
biometric template (commitment 6 of the city's strategy).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.common.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from services.identity.domain.assurance import LevelOfAssurance
from services.identity.domain.citizen_number import CitizenNumber
from services.identity.domain.events import (EmailVerificationRequested, LevelOfAssuranceRaised,
                                             ResidentRegistered)
from services.identity.service_layer.authentication import (_new_email_code, _rfc3339, add_new_resident,
                                                            registration_problems, utcnow)
from services.identity.service_layer.subjects import parse_citizen_number

# The Québec health insurance card is deliberately absent: nobody may require or accept it as a
# proof of identity for anything but insured health services (Health Insurance Act, CQLR
# c. A-29, s. 9.0.0.1) — the same rule accounts applies (services/accounts/domain/counter.py).
DOCUMENT_TYPES = ("drivers_licence", "passport", "permanent_resident_card",
                  "citizenship_certificate", "birth_certificate", "other_government_id")
HEALTH_CARD_REFUSED = ("the health insurance card cannot be used as a proof of identity outside insured "
                       "health services (Health Insurance Act, CQLR c. A-29, s. 9.0.0.1): ask for another document")
_LAST_DIGITS = re.compile(r"^[A-Za-z0-9]{0,4}$")


@dataclass(frozen=True)
class Agent:
    agent_id: str       # act.sub of the token
    client_id: str      # the counter application's client
    office: str | None = None   # the token's ``office`` (token exchange, issue 17)


@dataclass(frozen=True)
class CreateResidentInPerson:
    agent: Agent
    email: str | None
    preferred_language: str
    document_type: str
    document_last_digits: str = ""


@dataclass(frozen=True)
class CreatedInPerson:
    citizen_number: CitizenNumber
    level: LevelOfAssurance
    action_id: str


@dataclass(frozen=True)
class RaiseLevelOfAssurance:
    agent: Agent
    citizen_number: str
    level: LevelOfAssurance
    document_type: str
    document_last_digits: str = ""


@dataclass(frozen=True)
class LevelRaised:
    level: LevelOfAssurance
    changed: bool
    action_id: str


def require_agent(agent_id: str | None, client_id: str, office: str | None = None) -> Agent:
    if not agent_id:
        raise PermissionDenied("AGENT_NOT_IDENTIFIED",
                               "agent actions need a token that names the agent (act.sub)")
    return Agent(agent_id=agent_id, client_id=client_id, office=office)


def _document_problems(document_type: str, last_digits: str) -> list[tuple[str, str]]:
    problems = []
    if document_type == "health_insurance_card":
        problems.append(("document_type", HEALTH_CARD_REFUSED))
    elif document_type not in DOCUMENT_TYPES:
        problems.append(("document_type", "is required: the type of the document the agent checked"))
    if not _LAST_DIGITS.match(last_digits or ""):
        problems.append(("document_last_digits", "at most the last 4 letters or digits of the document number"))
    return problems


async def create_resident_in_person(cmd: CreateResidentInPerson, uow) -> CreatedInPerson:
    """The resident is VERIFIED at once (the agent saw a document). With an e-mail address, a
    verification code is mailed so they can confirm it and set a password online; without one
    (issue 17: e-mail is optional), the agent prints an activation letter
    (``activation.issue_activation_code``). All or nothing: a refused enrolment writes no
    resident, and a citizen number is drawn at random, so none is consumed."""
    email = (cmd.email or "").strip() or None
    problems = registration_problems(email, None, cmd.preferred_language or "fr") if email else (
        [] if (cmd.preferred_language or "fr") in ("fr", "en") else [("preferred_language", "must be fr or en")])
    problems += _document_problems(cmd.document_type, cmd.document_last_digits)
    if problems:
        raise InvalidArgument.many(problems)
    now = utcnow()
    async with uow:
        resident = await add_new_resident(uow, email=email, password_hash=None,
                                          preferred_language=cmd.preferred_language or "fr", now=now,
                                          registered_by="agent")
        resident.raise_level(LevelOfAssurance.VERIFIED)
        code = _new_email_code(resident, now) if email else None
        await uow.residents.save(resident)
        action_id = await uow.agent_actions.record(
            agent_id=cmd.agent.agent_id, client_id=cmd.agent.client_id, action="create_resident_in_person",
            resident_id=resident.resident_id, now=now, office=cmd.agent.office,
            details={"document_type": cmd.document_type, "document_last_digits": cmd.document_last_digits or "",
                     "level": int(resident.level)})
        uow.add_event(ResidentRegistered(resident_id=resident.resident_id,
                                         preferred_language=resident.preferred_language,
                                         registered_by="agent", agent_id=cmd.agent.agent_id))
        uow.add_event(LevelOfAssuranceRaised(resident_id=resident.resident_id, level=int(resident.level),
                                             agent_id=cmd.agent.agent_id, document_type=cmd.document_type))
        if code is not None:
            uow.add_event(EmailVerificationRequested(resident_id=resident.resident_id, email=resident.email,
                                                     code=code, expires_at=_rfc3339(resident.email_code_expires_at),
                                                     language=resident.preferred_language))
        await uow.commit()
    return CreatedInPerson(citizen_number=CitizenNumber(resident.resident_id), level=resident.level,
                           action_id=action_id)


async def raise_level_of_assurance(cmd: RaiseLevelOfAssurance, uow) -> LevelRaised:
    problems = _document_problems(cmd.document_type, cmd.document_last_digits)
    if cmd.level != LevelOfAssurance.VERIFIED:
        problems.append(("level", "an agent raises a resident to VERIFIED; level 3 needs a second factor "
                                  "in the session, and levels are never lowered here"))
    try:
        number = parse_citizen_number(cmd.citizen_number)
    except InvalidArgument as error:
        problems = error.violations + problems
        number = None
    if problems:
        raise InvalidArgument.many(problems)
    now = utcnow()
    async with uow:
        resident = await uow.residents.get(number.canonical)
        if resident is None:
            raise NotFound("resident", "no resident has this citizen number")
        if resident.disabled:
            raise FailedPrecondition("RESIDENT_DISABLED", "this account is disabled")
        changed = resident.raise_level(cmd.level)
        if changed:
            await uow.residents.save(resident)
            uow.add_event(LevelOfAssuranceRaised(resident_id=resident.resident_id, level=int(resident.level),
                                                 agent_id=cmd.agent.agent_id, document_type=cmd.document_type))
        action_id = await uow.agent_actions.record(
            agent_id=cmd.agent.agent_id, client_id=cmd.agent.client_id, action="raise_level_of_assurance",
            resident_id=resident.resident_id, now=now, office=cmd.agent.office,
            details={"document_type": cmd.document_type, "document_last_digits": cmd.document_last_digits or "",
                     "level": int(resident.level), "changed": changed})
        await uow.commit()
    return LevelRaised(level=resident.level, changed=changed, action_id=action_id)
