"""A second factor the resident can recover from (issue 20): recovery codes, removing the
TOTP factor. Handlers take a command and an ``IdentityUnitOfWork``.

What a session alone must not be enough for asks for the current password first
(``authentication._confirm_password``, OWASP ASVS 4.0 V3.7.1, throttled like login): new
recovery codes (whoever holds them can pass the second step) and removing the factor.

A recovery code used at the second step counts as ``otp`` (RFC 8176 s. 2: a one-time
password; NIST SP 800-63B s. 5.1.2 look-up secret, AAL2 with the password), like the code of
the application; it is checked on the same throttle as TOTP codes (``TOTP_POLICY`` per
resident, ``ADDRESS_POLICY`` per address), so the two cannot be guessed in turn.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

from services.common.errors import FailedPrecondition, NotFound
from services.identity.domain import recovery_codes
from services.identity.domain.events import LoginFailed, LoginSucceeded
from services.identity.domain.throttling import ADDRESS_POLICY, TOTP_POLICY, address_key, totp_key
from services.identity.service_layer import security_notices
from services.identity.service_layer.authentication import LoginRefused, _confirm_password, _kek


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _recovery_key(kek: bytes) -> bytes:
    # A key of its own, derived from the KEK like the provider's keys (oidc.provider.derive_key).
    return hmac.new(kek, b"mtlid/recovery-codes", hashlib.sha256).digest()


@dataclass(frozen=True)
class GenerateRecoveryCodes:
    resident_id: str
    current_password: str
    remote_addr: str = ""


@dataclass(frozen=True)
class UseRecoveryCode:
    resident_id: str
    code: str
    remote_addr: str
    session_id: str = ""


@dataclass(frozen=True)
class RemoveTotp:
    resident_id: str
    current_password: str
    remote_addr: str = ""


async def generate_recovery_codes(cmd: GenerateRecoveryCodes, uow, kek: bytes | None = None) -> list[str]:
    """Ten new codes, replacing any earlier ones (all of them, used or not), after the password.

    Returned once, to be shown once: only their keyed hashes are kept. Needs a second factor
    (FailedPrecondition NO_SECOND_FACTOR): the codes stand in for it. InvalidArgument
    ("current_password") / FailedPrecondition(TOO_MANY_ATTEMPTS) from the password check."""
    key = _recovery_key(_kek(uow, kek))
    async with uow:
        resident = await uow.residents.get(cmd.resident_id)
        if resident is None or resident.disabled:
            raise NotFound("resident")
        if not resident.has_totp:
            raise FailedPrecondition("NO_SECOND_FACTOR", "set up a second factor before its recovery codes")
        await _confirm_password(uow, resident, cmd.current_password, cmd.remote_addr)
        codes = recovery_codes.new_codes()
        await uow.recovery_codes.replace(
            cmd.resident_id, [recovery_codes.code_hash(key, cmd.resident_id, recovery_codes.normalized(c))
                              for c in codes], utcnow())
        security_notices.second_factor_changed(uow, resident, "recovery_codes_renewed", utcnow())
        await uow.commit()
    return codes


async def recovery_codes_left(resident_id: str, uow) -> int:
    async with uow:
        return await uow.recovery_codes.remaining(resident_id)


async def use_recovery_code(cmd: UseRecoveryCode, uow, kek: bytes | None = None) -> bool:
    """A recovery code in place of the second factor: True once per code (it is spent in the
    same transaction as ``login_succeeded``, amr ``pwd otp``); False for a wrong, malformed or
    spent code (``login_failed`` ``invalid_otp``); LoginRefused("throttled") while waiting."""
    key = _recovery_key(_kek(uow, kek))
    now = utcnow()
    async with uow:
        resident = await uow.residents.get(cmd.resident_id)
        if resident is None or not resident.has_totp or resident.disabled:
            raise FailedPrecondition("TOTP_NOT_ENROLLED", "this resident has no second factor")
        counter = await uow.throttles.get(totp_key(resident.resident_id))
        addr = await uow.throttles.get(address_key(cmd.remote_addr))
        waits = [w for w in (counter.retry_after(TOTP_POLICY, now), addr.retry_after(ADDRESS_POLICY, now)) if w]
        if waits:
            uow.add_event(LoginFailed(reason="throttled", resident_id=resident.resident_id))
            await uow.commit()
            raise LoginRefused("throttled", max(waits))
        code = recovery_codes.normalized(cmd.code)
        if code is not None and await uow.recovery_codes.use(
                resident.resident_id, recovery_codes.code_hash(key, resident.resident_id, code), now):
            counter.reset()
            await uow.throttles.save(counter)
            uow.add_event(LoginSucceeded(resident_id=resident.resident_id, session_id=cmd.session_id,
                                         amr=("pwd", "otp")))
            # one fewer way back in: the resident learns a code was used (and whether it was them)
            security_notices.second_factor_changed(uow, resident, "recovery_code_used", now)
            await uow.commit()
            return True
        counter.record_failure(TOTP_POLICY, now)
        addr.record_failure(ADDRESS_POLICY, now)
        await uow.throttles.save(counter)
        await uow.throttles.save(addr)
        uow.add_event(LoginFailed(reason="invalid_otp", resident_id=resident.resident_id))
        await uow.commit()
        return False


async def remove_totp(cmd: RemoveTotp, uow) -> None:
    """The resident turns the application's codes off, after the password: the factor, any
    pending enrolment and the recovery codes (they stood in for it) are gone. The password
    stays, so this is never the last way in. FailedPrecondition NO_SECOND_FACTOR when off."""
    async with uow:
        resident = await uow.residents.get(cmd.resident_id)
        if resident is None or resident.disabled:
            raise NotFound("resident")
        if not resident.has_totp:
            raise FailedPrecondition("NO_SECOND_FACTOR", "there is no second factor to remove")
        await _confirm_password(uow, resident, cmd.current_password, cmd.remote_addr)
        resident = await uow.residents.get(cmd.resident_id)
        resident.totp_secret_encrypted = None
        resident.totp_pending_encrypted = None
        await uow.residents.save(resident)
        await uow.recovery_codes.remove_all(resident.resident_id)
        security_notices.second_factor_changed(uow, resident, "totp_removed", utcnow())
        await uow.commit()


@dataclass(frozen=True)
class ResetAtCounter:
    """"I lost my phone" and no recovery code left: the counter re-verifies identity."""
    agent: object                 # agents.Agent: who, through which client, at which office
    citizen_number: str
    document_type: str
    document_last_digits: str


async def reset_at_counter(cmd: ResetAtCounter, uow) -> str:
    """An agent who checked an identity document turns the resident's second factor off (the
    application's key, a pending enrolment, the recovery codes, and the passkeys — one may live
    on the lost phone) and ends every session (the lost phone may hold one, with its refresh
    tokens): the resident signs in with the password and sets up the new phone. The unit of
    work must have the provider's sessions (``OAuthUnitOfWork``). Journaled as an agent action
    (``reset_second_factor``, with the document type and its last characters; the resident
    sees it in their history); the health insurance card is refused like everywhere at the
    counter (Health Insurance Act, s. 9.0.0.1). Returns the action id.
    InvalidArgument naming the field; NotFound; FailedPrecondition NO_SECOND_FACTOR."""
    from services.common.errors import InvalidArgument
    from services.identity.domain.passkeys import RESIDENT
    from services.identity.oidc.sessions import sign_out_everywhere
    from services.identity.service_layer.agents import _document_problems
    from services.identity.service_layer.subjects import parse_citizen_number

    problems = _document_problems(cmd.document_type, cmd.document_last_digits)
    try:
        number = parse_citizen_number(cmd.citizen_number)
    except InvalidArgument as error:
        problems = error.violations + problems
    if problems:
        raise InvalidArgument.many(problems)
    now = utcnow()
    async with uow:
        resident = await uow.residents.get(number.canonical)
        if resident is None:
            raise NotFound("resident", "no resident has this citizen number")
        keys = await uow.passkeys.of(RESIDENT, resident.resident_id)
        if not resident.has_totp and not keys:
            raise FailedPrecondition("NO_SECOND_FACTOR", "this resident has no second factor to reset")
        if keys and resident.password_hash is None:
            # never the last way in: without a password, the passkeys are how the resident signs in
            raise FailedPrecondition("LAST_WAY_IN", "this resident has no password: activate the account first")
        resident.totp_secret_encrypted = None
        resident.totp_pending_encrypted = None
        await uow.residents.save(resident)
        await uow.recovery_codes.remove_all(resident.resident_id)
        removed = await uow.passkeys.remove_all(RESIDENT, resident.resident_id)
        ended = await sign_out_everywhere(uow, resident.resident_id)
        action_id = await uow.agent_actions.record(
            agent_id=cmd.agent.agent_id, client_id=cmd.agent.client_id, action="reset_second_factor",
            resident_id=resident.resident_id, now=now, office=cmd.agent.office,
            details={"document_type": cmd.document_type, "document_last_digits": cmd.document_last_digits,
                     "passkeys_removed": removed, "sessions_ended": ended})
        security_notices.second_factor_changed(uow, resident, "counter_reset", now)
        await uow.commit()
    return action_id
