"""Changing the sign-in address (GOV.UK One Login's "Change your email address"), in two
steps: the current password first, then the 6-digit code mailed to the new address.

1. ``request_email_change``: the resident re-enters their password (``_confirm_password``:
   OWASP ASVS 4.0 V3.7.1, throttled like login) and types the new address; a code goes to it
   (``email_change_requested``, for the mail sender only). Each request spends the resident's
   mail budget (shared with the confirmation and reset codes) *before* the address is looked
   up, so a session cannot test a list of addresses for accounts.
2. ``confirm_email_change``: the right code makes the new address the sign-in address,
   verified (the code reached it). The old address gets a notice (``email_changed_notice``),
   so a resident whose session was someone else's learns of it; ``email_verified`` tells
   accounts to take the new address into the profile (it asks ``GetResidentContact``).

Until step 2 nothing changes: the old address still signs in, and a wrong or expired code
leaves the account as it was.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from services.identity.domain.events import EmailChangedNotice, EmailChangeRequested, EmailVerified
from services.identity.domain.residents import email_problem, normalize_email
from services.identity.service_layer.authentication import (
    _confirm_password, _rfc3339, _spend_mail_budget, check_mailed_code, new_mailed_code, utcnow,
)

# Shorter than a sign-up's hour: the resident is at the screen, waiting for it.
EMAIL_CHANGE_CODE_LIFETIME = dt.timedelta(minutes=15)


@dataclass(frozen=True)
class RequestEmailChange:
    resident_id: str
    new_email: str
    current_password: str
    remote_addr: str = ""


@dataclass(frozen=True)
class ConfirmEmailChange:
    resident_id: str
    code: str


async def request_email_change(cmd: RequestEmailChange, uow) -> str:
    """Step 1: returns the new address (normalized) the code went to.

    Raises, in this order: InvalidArgument("new_email") for an address that is not one or is
    already the sign-in address; InvalidArgument("current_password") /
    FailedPrecondition("TOO_MANY_ATTEMPTS") from the password check;
    FailedPrecondition("TOO_MANY_CODES") when codes were mailed moments ago;
    AlreadyExists("EMAIL_ALREADY_REGISTERED") when another account uses the address."""
    if (problem := email_problem(cmd.new_email)) is not None:
        raise InvalidArgument("new_email", problem)
    new_email = normalize_email(cmd.new_email)
    async with uow:
        resident = await uow.residents.get(cmd.resident_id)
        if resident is None or resident.disabled:
            raise NotFound("resident")
        if new_email == normalize_email(resident.email):
            raise InvalidArgument("new_email", "is already your sign-in address")
        await _confirm_password(uow, resident, cmd.current_password, cmd.remote_addr)
        resident = await uow.residents.get(cmd.resident_id)
        now = utcnow()
        if wait := await _spend_mail_budget(uow, resident, now):
            raise FailedPrecondition("TOO_MANY_CODES", f"a code was sent recently; try again in {wait} s")
        if await uow.residents.by_email(new_email) is not None:
            await uow.commit()  # the budget is spent: asking about an address costs like a code
            raise AlreadyExists("EMAIL_ALREADY_REGISTERED", "another account uses this address")
        code, code_hash = new_mailed_code(resident.resident_id)
        resident.request_email_change(new_email, code_hash, now + EMAIL_CHANGE_CODE_LIFETIME)
        await uow.residents.save(resident)
        uow.add_event(EmailChangeRequested(resident_id=resident.resident_id, email=new_email, code=code,
                                           expires_at=_rfc3339(resident.pending_email_expires_at),
                                           language=resident.preferred_language))
        await uow.commit()
    return new_email


async def confirm_email_change(cmd: ConfirmEmailChange, uow) -> str:
    """Step 2: returns the new sign-in address. FailedPrecondition("NO_PENDING_CHANGE") when
    no new address waits; the code's refusals are ``check_mailed_code``'s (shared counter of
    wrong guesses, CODE_EXPIRED); AlreadyExists when another account took the address since."""
    now = utcnow()
    async with uow:
        resident = await uow.residents.get(cmd.resident_id)
        if resident is None or resident.disabled:
            raise NotFound("resident")
        if resident.pending_email is None:
            raise FailedPrecondition("NO_PENDING_CHANGE", "no new address is waiting for its code")
        await check_mailed_code(uow, resident.resident_id, resident.pending_email_code_hash,
                                resident.pending_email_expires_at, cmd.code, now)
        if await uow.residents.by_email(resident.pending_email) is not None:
            resident.pending_email = resident.pending_email_code_hash = resident.pending_email_expires_at = None
            await uow.residents.save(resident)
            await uow.commit()
            raise AlreadyExists("EMAIL_ALREADY_REGISTERED", "another account uses this address now")
        old_email = resident.change_email()
        await uow.residents.save(resident)
        uow.add_event(EmailVerified(resident_id=resident.resident_id))
        uow.add_event(EmailChangedNotice(resident_id=resident.resident_id, email=old_email,
                                         changed_at=_rfc3339(now), language=resident.preferred_language))
        await uow.commit()
    return resident.email


async def pending_email_change(uow, resident_id: str) -> str | None:
    """The new address waiting for its code (still valid), or None."""
    async with uow:
        resident = await uow.residents.get(resident_id)
    if resident is None or resident.pending_email is None or resident.pending_email_expires_at is None:
        return None
    return resident.pending_email if resident.pending_email_expires_at >= utcnow() else None
