"""Residents enrolled at a counter without going online: the activation letter's one-time
code, and activation at ``<issuer>/activate`` (issue 17, point 4).

The code is 12 characters of the citizen number's alphabet (Crockford base 32: no I, L, O, U,
so it reads aloud on the phone), 60 bits of randomness, printed as ``XXXX-XXXX-XXXX``. Identity
keeps only its hash, bound to the resident; it expires after 30 days, is single use, and a
new letter replaces the previous code. Wrong tries are throttled per citizen number (as a
TOTP code is), so the code cannot be guessed.

Activating sets a password (and, if the resident wishes, an e-mail address, to confirm with
the usual mailed code); the resident then signs in with the citizen number (or that e-mail).
A resident who never activates keeps their identifier, their linked services and the
consents recorded at the counter.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.identity.domain import passwords
from services.identity.domain.citizen_number import CitizenNumber, InvalidCitizenNumber
from services.identity.domain.events import EmailVerificationRequested
from services.identity.domain.residents import email_problem, normalize_email
from services.identity.domain.throttling import TOTP_POLICY
from services.identity.service_layer import hashing
from services.identity.service_layer.agents import Agent
from services.identity.service_layer.authentication import (LoginRefused, _new_email_code, _rfc3339,
                                                            utcnow)
from services.identity.service_layer.subjects import parse_citizen_number

ACTIVATION_CODE_LIFETIME = dt.timedelta(days=30)
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _code_hash(resident_id: str, code: str) -> str:
    return hashlib.sha256(f"activation:{resident_id}:{code}".encode()).hexdigest()


def _compact(code: str) -> str:
    return "".join(c for c in (code or "").upper() if c not in " -\t")


@dataclass(frozen=True)
class IssuedActivationCode:
    citizen_number: CitizenNumber
    code: str                      # XXXX-XXXX-XXXX, shown once
    expires_at: dt.datetime
    preferred_language: str
    action_id: str


async def issue_activation_code(agent: Agent, citizen_number: str, uow) -> IssuedActivationCode:
    """A counter agent prints a letter: a new code (the previous one stops working), journaled."""
    number = parse_citizen_number(citizen_number)
    now = utcnow()
    async with uow:
        resident = await uow.residents.get(number.canonical)
        if resident is None:
            raise NotFound("resident", "no resident has this citizen number")
        if resident.disabled:
            raise FailedPrecondition("RESIDENT_DISABLED", "this account is disabled")
        if resident.password_hash is not None:
            raise FailedPrecondition("ALREADY_ACTIVATED",
                                     "this resident already has a password: no activation letter is needed")
        compact = "".join(secrets.choice(_ALPHABET) for _ in range(12))
        resident.activation_code_hash = _code_hash(resident.resident_id, compact)
        resident.activation_code_expires_at = now + ACTIVATION_CODE_LIFETIME
        await uow.residents.save(resident)
        action_id = await uow.agent_actions.record(
            agent_id=agent.agent_id, client_id=agent.client_id, action="issue_activation_letter",
            resident_id=resident.resident_id, now=now, office=agent.office,
            details={"expires_at": _rfc3339(resident.activation_code_expires_at)})
        await uow.commit()
    return IssuedActivationCode(citizen_number=number, code=f"{compact[:4]}-{compact[4:8]}-{compact[8:]}",
                                expires_at=resident.activation_code_expires_at,
                                preferred_language=resident.preferred_language, action_id=action_id)


@dataclass(frozen=True)
class ActivateResident:
    citizen_number: str
    code: str
    password: str
    email: str = ""
    remote_addr: str = ""


async def activate_resident(cmd: ActivateResident, uow) -> CitizenNumber:
    """Set the password with the letter's code (single use); optionally an e-mail address,
    confirmed later with the mailed code. Every field's problem at once (InvalidArgument);
    a wrong or expired code: ``LoginRefused("activation_code_wrong")`` (throttled)."""
    problems = []
    number = None
    try:
        number = CitizenNumber.parse(cmd.citizen_number or "")
    except InvalidCitizenNumber as error:
        problems.append(("citizen_number", str(error)))
    if len(_compact(cmd.code)) != 12:
        problems.append(("code", "the activation code has 12 letters or digits"))
    if (p := passwords.password_problem(cmd.password)) is not None:
        problems.append(("password", p))
    email = (cmd.email or "").strip()
    if email and (p := email_problem(email)) is not None:
        problems.append(("email", p))
    if problems:
        raise InvalidArgument.many(problems)
    password_hash = await hashing.run(passwords.hash_password, cmd.password)
    now = utcnow()
    key = f"activate:{number.canonical}"
    async with uow:
        counter = await uow.throttles.get(key)
        wait = counter.retry_after(TOTP_POLICY, now)
        if wait:
            raise LoginRefused("throttled", wait)
        resident = await uow.residents.get(number.canonical)
        expected = resident.activation_code_hash if resident is not None else None
        given = _code_hash(number.canonical, _compact(cmd.code))
        valid = (expected is not None and hmac.compare_digest(expected, given)
                 and resident.activation_code_expires_at is not None and now < resident.activation_code_expires_at
                 and not resident.disabled and resident.password_hash is None)
        if not valid:
            counter.record_failure(TOTP_POLICY, now)
            await uow.throttles.save(counter)
            await uow.commit()
            raise LoginRefused("activation_code_wrong")
        if email:
            if await uow.residents.by_email(email) is not None:
                raise InvalidArgument("email", "another account already uses this e-mail address")
            resident.email, resident.email_verified = normalize_email(email), False
            code = _new_email_code(resident, now)
            uow.add_event(EmailVerificationRequested(resident_id=resident.resident_id, email=resident.email,
                                                     code=code, expires_at=_rfc3339(resident.email_code_expires_at)))
        resident.password_hash = password_hash
        resident.activation_code_hash = resident.activation_code_expires_at = None
        counter.reset()
        await uow.throttles.save(counter)
        await uow.residents.save(resident)
        await uow.commit()
    return number
