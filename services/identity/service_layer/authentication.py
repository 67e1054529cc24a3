"""Residents' credentials: registration, email verification, password login, TOTP.

Handlers take a command and an ``IdentityUnitOfWork`` (cosmicpython shape); events go
through the outbox with ``uow.add_event``. Slow work (argon2id, ~20-50 ms) runs in a
thread and outside any open write transaction, so a burst of logins neither blocks the
event loop nor holds SQLite's write lock while hashing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field

from services.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from services.identity.adapters import crypto
from services.identity.domain import passwords, totp
from services.identity.service_layer import hashing, security_notices
from services.identity.domain.assurance import LevelOfAssurance
from services.identity.domain.citizen_number import CitizenNumber
from services.identity.domain.errors import Conflict
from services.identity.domain.events import (AccountExistsNoticeRequested, EmailVerificationRequested,
                                             EmailVerified, LoginFailed, PasswordResetRequested,
                                             LoginSucceeded, ResidentRegistered)
from services.identity.domain.residents import LANGUAGES, Resident, email_problem, normalize_email
from services.identity.domain.throttling import (ACCOUNT_POLICY, ADDRESS_POLICY, TOTP_POLICY, ThrottlePolicy,
                                                 account_key, address_key, totp_key)

EMAIL_CODE_LIFETIME = dt.timedelta(hours=1)
NEW_NUMBER_ATTEMPTS = 8


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


# -- commands and results ---------------------------------------------------------------

@dataclass(frozen=True)
class Authenticate:
    email: str
    password: str
    remote_addr: str
    session_id: str = ""          # put in login_succeeded when the caller already knows it


@dataclass(frozen=True)
class AuthenticatedResident:
    resident_id: str
    level: LevelOfAssurance
    has_totp: bool
    email_verified: bool
    preferred_language: str


class LoginRefused(Exception):
    """``reason``: invalid_credentials | throttled | email_not_verified | disabled | closed
    (at the resident's request: reopened at a counter) | password_change_required (after
    "this was not me": a new password through the mailed code first) | invalid_otp;
    ``retry_after`` in seconds when throttled. Never says whether an email exists
    (invalid_credentials covers both); closed and password_change_required only after the
    right password."""

    def __init__(self, reason: str, retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class VerifyTotp:
    resident_id: str
    code: str
    remote_addr: str
    session_id: str = ""


@dataclass(frozen=True)
class RegisterResident:
    email: str
    password: str
    preferred_language: str = "fr"
    remote_addr: str = ""


@dataclass(frozen=True)
class VerifyEmail:
    resident_id: str
    code: str


@dataclass(frozen=True)
class ResendEmailVerification:
    resident_id: str


@dataclass(frozen=True)
class BeginTotpEnrollment:
    resident_id: str


@dataclass(frozen=True)
class TotpEnrollment:
    secret_base32: str
    provisioning_uri: str


@dataclass(frozen=True)
class ConfirmTotpEnrollment:
    resident_id: str
    code: str
    current_password: str
    remote_addr: str = ""


@dataclass(frozen=True)
class ChangePassword:
    resident_id: str
    current_password: str
    new_password: str
    remote_addr: str = ""


@dataclass(frozen=True)
class ConfirmPassword:
    resident_id: str
    password: str
    remote_addr: str = ""


def _kek(uow, kek: bytes | None) -> bytes:
    key = kek or getattr(uow, "kek", None)
    if not key:
        raise RuntimeError("the key-encryption key is needed (pass kek= or build the uow with kek=)")
    return key


def _hash_code(resident_id: str, code: str) -> str:
    # Bound to the resident so a code hash is useless on another row.
    return hashlib.sha256(f"{resident_id}:{code}".encode()).hexdigest()


# -- login ------------------------------------------------------------------------------

async def authenticate(cmd: Authenticate, uow, then=None) -> AuthenticatedResident:
    """Password login (argon2id), throttled per account and per address.

    Emits ``login_failed`` on every refusal and ``login_succeeded`` (amr ``pwd``) when the
    password suffices; when the resident has TOTP, ``verify_totp`` emits it instead (amr
    ``pwd otp``) once the second factor is checked.

    ``then(uow, resident)``, when given, runs in the success's own transaction before it
    commits (the front opens the SSO session there: one transaction per login, not two,
    issue 24); it is not run on a refusal.
    """
    now = utcnow()
    acct_key, addr_key = account_key(_login_key(cmd.email or "")), address_key(cmd.remote_addr)
    async with uow:
        resident = await _resident_by_login(uow, cmd.email) if cmd.email else None
        account, address = await uow.throttles.get_both(acct_key, addr_key)
        wait = await _password_wait(uow, acct_key, addr_key, now, account, address)
        if wait:
            uow.add_event(LoginFailed(reason="throttled", resident_id=resident.resident_id if resident else None))
            await uow.commit()
            raise LoginRefused("throttled", wait)
        # End the read transaction before hashing: SQLite's write lock must not wait on argon2.
        await uow.rollback()
        password_hash = resident.password_hash if resident else None
        ok = await hashing.run(passwords.verify_password, password_hash, cmd.password or "")
        if not ok or resident is None:
            await _password_failed(uow, acct_key, addr_key, resident.resident_id if resident else None)
            raise LoginRefused("invalid_credentials")
        if account.failures:
            # only a counter that had failures starts again: a clean one stays untouched (no
            # write; a failure counted by another replica while this one hashed is kept)
            await _password_right(uow, acct_key)
        if resident.disabled or (not resident.email_verified and resident.registered_by == "self"):
            # Only now, after the right password: a closed account is told apart (the message
            # leads to the counter that reopens it) without telling a stranger anything.
            reason = ("closed" if resident.closed else "disabled") if resident.disabled else "email_not_verified"
            uow.add_event(LoginFailed(reason=reason, resident_id=resident.resident_id))
            await uow.commit()
            raise LoginRefused(reason)
        if resident.password_change_required:
            # After "this was not me" the password may be someone else's too: a new one, chosen
            # through the code mailed to the account's address, comes first.
            uow.add_event(LoginFailed(reason="password_change_required", resident_id=resident.resident_id))
            await uow.commit()
            raise LoginRefused("password_change_required")
        if passwords.needs_rehash(password_hash):
            resident.password_hash = await hashing.run(passwords.hash_password, cmd.password)
            await uow.residents.save(resident)
        if not resident.has_totp:
            uow.add_event(LoginSucceeded(resident_id=resident.resident_id, session_id=cmd.session_id,
                                         amr=("pwd",)))
        who = AuthenticatedResident(resident_id=resident.resident_id, level=resident.level,
                                    has_totp=resident.has_totp, email_verified=resident.email_verified,
                                    preferred_language=resident.preferred_language)
        if then is not None:
            await then(uow, who)
        await uow.commit()
    return who


def _login_key(login: str) -> str:
    """One throttling key per account whatever the form typed: a citizen number counts as its
    canonical form (``MTL 7K3F-…``, ``7k3f…`` are one account), an e-mail as itself."""
    if "@" in login:
        return login
    try:
        return "number:" + CitizenNumber.parse(login).canonical
    except ValueError:
        return login


async def _resident_by_login(uow, login: str) -> Resident | None:
    """The resident an identifier names: an e-mail address or — for a resident enrolled at a
    counter without e-mail (issue 17) — the citizen number, in its human or canonical form."""
    if "@" in login:
        return await uow.residents.by_email(login)
    try:
        number = CitizenNumber.parse(login)
    except ValueError:
        return None
    return await uow.residents.get(number.canonical)


async def verify_totp(cmd: VerifyTotp, uow, kek: bytes | None = None) -> bool:
    """RFC 6238 second factor: ±1 step, a used step never again, throttled per resident and
    per address (LoginRefused("throttled") while waiting). Emits login_succeeded (amr pwd,
    otp) or login_failed (invalid_otp)."""
    key = _kek(uow, kek)
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
        secret = crypto.decrypt(key, resident.totp_secret_encrypted, resident.resident_id.encode())
        last = await uow.residents.last_totp_step(resident.resident_id)
        step = totp.verify(secret, cmd.code, now.timestamp(), last_used_step=last)
        if step is not None and await uow.residents.mark_totp_step_used(resident.resident_id, step, now):
            counter.reset()
            await uow.throttles.save(counter)
            uow.add_event(LoginSucceeded(resident_id=resident.resident_id, session_id=cmd.session_id,
                                         amr=("pwd", "otp")))
            await uow.commit()
            return True
        counter.record_failure(TOTP_POLICY, now)
        addr.record_failure(ADDRESS_POLICY, now)
        await uow.throttles.save(counter)
        await uow.throttles.save(addr)
        uow.add_event(LoginFailed(reason="invalid_otp", resident_id=resident.resident_id))
        await uow.commit()
        return False


# -- registration and email verification -------------------------------------------------

def registration_problems(email: str, password: str | None, preferred_language: str) -> list[tuple[str, str]]:
    problems = []
    if (p := email_problem(email)) is not None:
        problems.append(("email", p))
    if password is not None and (p := passwords.password_problem(password)) is not None:
        problems.append(("password", p))
    if preferred_language not in LANGUAGES:
        problems.append(("preferred_language", "must be fr or en"))
    return problems


def new_mailed_code(resident_id: str) -> tuple[str, str]:
    """A fresh 6-digit code to mail, and the hash to keep of it (bound to the resident)."""
    code = f"{secrets.randbelow(10 ** 6):06d}"
    return code, _hash_code(resident_id, code)


def _new_email_code(resident: Resident, now: dt.datetime) -> str:
    code, resident.email_code_hash = new_mailed_code(resident.resident_id)
    resident.email_code_expires_at = now + EMAIL_CODE_LIFETIME
    return code


async def add_new_resident(uow, *, email: str | None, password_hash: str | None, preferred_language: str,
                           now: dt.datetime, email_verified: bool = False,
                           registered_by: str = "self") -> Resident:
    """Insert a resident under a fresh citizen number, inside the caller's transaction.

    The unique index on the number makes a collision (two replicas drawing the same number
    — ~10^-16) fail the insert; we then draw again. The unique index on lower(email) makes
    a concurrent registration of the same email fail with ALREADY_EXISTS.
    """
    if email is not None and await uow.residents.by_email(email) is not None:
        raise AlreadyExists("EMAIL_ALREADY_REGISTERED", "an account already uses this email")
    for _ in range(NEW_NUMBER_ATTEMPTS):
        resident = Resident(resident_id=CitizenNumber.new().canonical,
                            email=normalize_email(email) if email is not None else None,
                            password_hash=password_hash, email_verified=email_verified,
                            preferred_language=preferred_language, created_at=now,
                            registered_by=registered_by)
        try:
            await uow.residents.add(resident)
            return resident
        except Conflict:
            if email is not None and await uow.residents.by_email(email) is not None:
                raise AlreadyExists("EMAIL_ALREADY_REGISTERED", "an account already uses this email") from None
    raise RuntimeError("could not draw an unused citizen number")  # pragma: no cover


async def register_resident(cmd: RegisterResident, uow) -> str:
    """Self-registration: validates, hashes the password (argon2id), creates the resident
    (level SELF_ASSERTED, email unverified), emits ``resident_registered`` and
    ``email_verification_requested`` (the only event that carries the email and code).

    An address that already has an account gets the same answer, in content and in time
    (OWASP Authentication Cheat Sheet, "account enumeration"; the probe's finding 1): the same
    argon2id hash is spent, and the returned id is a fresh, never-used citizen number that the
    confirmation step treats like an unconfirmed account whose mail went elsewhere
    (``verify_email``, ``resend_email_verification``). The address's owner is mailed instead
    (``account_exists_notice_requested``, within the resident's mail budget)."""
    problems = registration_problems(cmd.email, cmd.password, cmd.preferred_language)
    if problems:
        raise InvalidArgument.many(problems)
    now = utcnow()
    async with uow:
        # Each sign-up costs an argon2id hash (~40 ms of a core): from one address, a few go
        # through at once, then they are spaced out (capped, like every throttle here), and the
        # budget is spent before the hash so that refused attempts cost nothing.
        # A call without a network address (scripts, tests) is not a sign-up from the web.
        address = address_key(cmd.remote_addr)
        spent = await uow.throttles.get(f"signup:{address}") if address != "addr:unknown" else None
        wait = spent.retry_after(SIGNUP_POLICY, now) if spent is not None else None
        if wait:
            raise FailedPrecondition("TOO_MANY_ATTEMPTS", f"too many sign-ups from this address; try again in {wait} s")
        if spent is not None:
            spent.record_failure(SIGNUP_POLICY, now)
            await uow.throttles.save(spent)
        password_hash = await hashing.run(passwords.hash_password, cmd.password)
        existing = await uow.residents.by_email(cmd.email)
        if existing is not None:
            if not existing.disabled and await _spend_mail_budget(uow, existing, now) is None:
                uow.add_event(AccountExistsNoticeRequested(resident_id=existing.resident_id, email=existing.email,
                                                           language=existing.preferred_language))
            await uow.commit()
            return CitizenNumber.new().canonical
        resident = await add_new_resident(uow, email=cmd.email, password_hash=password_hash,
                                          preferred_language=cmd.preferred_language, now=now)
        code = _new_email_code(resident, now)
        await uow.residents.save(resident)
        uow.add_event(ResidentRegistered(resident_id=resident.resident_id,
                                         preferred_language=resident.preferred_language))
        uow.add_event(EmailVerificationRequested(resident_id=resident.resident_id, email=resident.email,
                                                 code=code, expires_at=_rfc3339(resident.email_code_expires_at),
                                                 language=resident.preferred_language))
        await uow.commit()
    return resident.resident_id


def _rfc3339(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


RESEND_POLICY = ThrottlePolicy(free_failures=3, base_delay=60)
# Sign-ups per address: a family or a library's public computer may create several accounts.
SIGNUP_POLICY = ThrottlePolicy(free_failures=20, base_delay=10)


async def _spend_mail_budget(uow, resident: Resident | str, now: dt.datetime) -> int | None:
    """One more mail to the resident (confirmation, password reset, account-exists notice; one
    budget), or to the never-used id a sign-up with a taken address returned: None when the
    budget allows it, and it is spent; else the seconds to wait."""
    resident_id = resident if isinstance(resident, str) else resident.resident_id
    sent = await uow.throttles.get(f"email-resend:{resident_id}")
    wait = sent.retry_after(RESEND_POLICY, now)
    if wait:
        return wait
    sent.record_failure(RESEND_POLICY, now)  # counted like a failure: it is a spend of the budget
    await uow.throttles.save(sent)
    return None


async def resend_email_verification(cmd: ResendEmailVerification, uow) -> None:
    """A new code (the old one stops working); rate-limited so nobody can flood a mailbox:
    three at once, then 1, 2, 4… minutes apart (at most 15)."""
    now = utcnow()
    async with uow:
        resident = await uow.residents.get(cmd.resident_id)
        if resident is None:
            # residents are never deleted: this is the id a sign-up with a taken address
            # returned (the caller got it sealed from us), answered like any unconfirmed account
            wait = await _spend_mail_budget(uow, cmd.resident_id, now)
            if wait:
                raise FailedPrecondition("TOO_MANY_ATTEMPTS", f"a code was sent recently; try again in {wait} s")
            await uow.commit()
            return
        if resident.email_verified:
            return
        wait = await _spend_mail_budget(uow, resident, now)
        if wait:
            raise FailedPrecondition("TOO_MANY_ATTEMPTS", f"a code was sent recently; try again in {wait} s")
        code = _new_email_code(resident, now)
        await uow.residents.save(resident)
        uow.add_event(EmailVerificationRequested(resident_id=resident.resident_id, email=resident.email,
                                                 code=code, expires_at=_rfc3339(resident.email_code_expires_at),
                                                 language=resident.preferred_language))
        await uow.commit()


async def verify_email(cmd: VerifyEmail, uow) -> None:
    """Check the emailed 6-digit code; wrong codes are throttled like passwords (a 6-digit
    code would otherwise fall to a million guesses). Emits ``email_verified``."""
    now = utcnow()
    async with uow:
        resident = await uow.residents.get(cmd.resident_id)
        if resident is None:
            # the id a sign-up with a taken address returned: every code is wrong, throttled alike
            await _check_email_code(uow, _NoMailbox(cmd.resident_id), cmd.code, now)
        if resident.email_verified:
            return
        await _check_email_code(uow, resident, cmd.code, now)
        resident.verify_email()
        await uow.residents.save(resident)
        uow.add_event(EmailVerified(resident_id=resident.resident_id))
        await uow.commit()


@dataclass(frozen=True)
class _NoMailbox:
    """What ``_check_email_code`` sees for the id a sign-up with a taken address returned: an
    unconfirmed account whose code was never sent anywhere, so every code is wrong."""
    resident_id: str
    email_code_hash: str = field(default_factory=lambda: secrets.token_hex(32))  # matches no code
    email_code_expires_at: dt.datetime = dt.datetime.max.replace(tzinfo=dt.timezone.utc)


async def _check_email_code(uow, resident, code: str, now: dt.datetime) -> None:
    """The 6-digit code mailed to the resident (address confirmation, password reset), inside
    an open unit of work: wrong codes are throttled like passwords (a 6-digit code would
    otherwise fall to a million guesses); a wrong one is committed as such before refusing.
    Returns with the counter reset (the caller commits)."""
    await check_mailed_code(uow, resident.resident_id, resident.email_code_hash, resident.email_code_expires_at,
                            code, now)


async def check_mailed_code(uow, resident_id: str, expected: str | None, expires_at: dt.datetime | None,
                            code: str, now: dt.datetime) -> None:
    """A mailed 6-digit code against its stored hash and expiry (see ``_check_email_code``);
    every code mailed to a resident shares one counter of wrong guesses."""
    counter = await uow.throttles.get(f"email-code:{resident_id}")
    wait = counter.retry_after(TOTP_POLICY, now)
    if wait:
        raise FailedPrecondition("TOO_MANY_ATTEMPTS", f"too many wrong codes; try again in {wait} s")
    given = _hash_code(resident_id, (code or "").strip())
    if expected is None or expires_at is None or expires_at < now:
        raise FailedPrecondition("CODE_EXPIRED", "this code has expired; ask for a new one")
    if not hmac.compare_digest(expected, given):
        counter.record_failure(TOTP_POLICY, now)
        await uow.throttles.save(counter)
        await uow.commit()
        raise InvalidArgument("code", "does not match the code we sent")
    counter.reset()
    await uow.throttles.save(counter)


# -- forgotten password (and the first one of a resident enrolled at a counter) -------------

@dataclass(frozen=True)
class RequestPasswordReset:
    email: str
    remote_addr: str = ""


@dataclass(frozen=True)
class ResetPassword:
    email: str
    code: str
    new_password: str


# Requests per address: spent before the address is looked up, like sign-ups.
RESET_POLICY = ThrottlePolicy(free_failures=20, base_delay=10)


async def spend_reset_budget(cmd: RequestPasswordReset, uow) -> None:
    """A forgotten password, step 1 of 2 (OWASP Forgot Password Cheat Sheet): one request from
    this address, spent before anything is looked up — the only refusal there is
    (FailedPrecondition TOO_MANY_ATTEMPTS). Then ``send_password_reset``, which the web page
    runs after it has answered "if an account uses this address, a code is on its way": the
    answer, its status and its timing are the same whether an account uses the address."""
    async with uow:
        await _spend_reset_budget(uow, cmd, utcnow())
        await uow.commit()


async def send_password_reset(cmd: RequestPasswordReset, uow) -> None:
    """A forgotten password, step 2 of 2: the code, if an account uses the address
    (``_send_password_reset``)."""
    async with uow:
        await _send_password_reset(uow, cmd, utcnow())
        await uow.commit()


async def _spend_reset_budget(uow, cmd: RequestPasswordReset, now: dt.datetime) -> None:
    address = address_key(cmd.remote_addr)
    if address == "addr:unknown":
        return  # a script or a test, not a request from the web
    spent = await uow.throttles.get(f"reset:{address}")
    wait = spent.retry_after(RESET_POLICY, now)
    if wait:
        raise FailedPrecondition("TOO_MANY_ATTEMPTS", f"too many requests from this address; try again in {wait} s")
    spent.record_failure(RESET_POLICY, now)
    await uow.throttles.save(spent)


async def _send_password_reset(uow, cmd: RequestPasswordReset, now: dt.datetime) -> None:
    """The code, when an account that is not disabled uses the address and its own budget
    allows (three codes at once, then 1, 2, 4… minutes apart, shared with the confirmation
    code's resend); otherwise nothing, silently. Emits ``password_reset_requested`` (email and
    code, for the mail sender only)."""
    resident = await uow.residents.by_email(cmd.email) if cmd.email and not email_problem(cmd.email) else None
    if resident is None or resident.disabled:
        return
    if await _spend_mail_budget(uow, resident, now):
        return
    code = _new_email_code(resident, now)
    await uow.residents.save(resident)
    uow.add_event(PasswordResetRequested(resident_id=resident.resident_id, email=resident.email, code=code,
                                         expires_at=_rfc3339(resident.email_code_expires_at),
                                         language=resident.preferred_language))


async def reset_password(cmd: ResetPassword, uow) -> str:
    """A new password, with the code mailed by ``send_password_reset``: the code proves the
    mailbox, so the address counts as confirmed too, and every session of the resident ends
    (their refresh tokens with them): whoever held the old password is signed out. The unit of
    work must have the provider's sessions (``OAuthUnitOfWork``). An unknown address is
    answered like a wrong code. Returns the resident id."""
    from services.identity.oidc.sessions import sign_out_everywhere

    if (problem := passwords.password_problem(cmd.new_password)) is not None:
        raise InvalidArgument("new_password", problem)
    async with uow:
        resident = await uow.residents.by_email(cmd.email) if cmd.email else None
        if resident is None or resident.disabled:
            raise InvalidArgument("code", "does not match the code we sent")
        await _check_email_code(uow, resident, cmd.code, utcnow())
        await uow.commit()  # the counter's reset; no transaction open while hashing
        new_hash = await hashing.run(passwords.hash_password, cmd.new_password)
        resident = await uow.residents.get(resident.resident_id)
        resident.password_hash = new_hash
        resident.password_change_required = False
        if resident.email_verified:
            resident.email_code_hash, resident.email_code_expires_at = None, None  # the code is spent
        else:
            resident.verify_email()  # spends the code too
            uow.add_event(EmailVerified(resident_id=resident.resident_id))
        await uow.residents.save(resident)
        await sign_out_everywhere(uow, resident.resident_id)
        await uow.commit()
    return resident.resident_id


# -- second factor and password management ------------------------------------------------

async def begin_totp_enrollment(cmd: BeginTotpEnrollment, uow, kek: bytes | None = None) -> TotpEnrollment:
    """A new TOTP secret, pending until ``confirm_totp_enrollment`` sees a code from it."""
    key = _kek(uow, kek)
    async with uow:
        resident = await uow.residents.get(cmd.resident_id)
        if resident is None or resident.disabled:
            raise NotFound("resident")
        secret = totp.new_secret()
        resident.totp_pending_encrypted = crypto.encrypt(key, secret, resident.resident_id.encode())
        await uow.residents.save(resident)
        await uow.commit()
    return TotpEnrollment(secret_base32=totp.secret_to_base32(secret),
                          provisioning_uri=totp.provisioning_uri(
                              secret, resident.email or CitizenNumber(resident.resident_id).human))


async def confirm_totp_enrollment(cmd: ConfirmTotpEnrollment, uow, kek: bytes | None = None) -> bool:
    """The pending secret becomes the resident's second factor (replacing any earlier one)
    once a code from it checks and the resident re-entered their password (see
    ``_confirm_password``): a session alone cannot put someone else's authenticator on the
    account. False when the code is wrong; InvalidArgument / FailedPrecondition from the
    password check."""
    key = _kek(uow, kek)
    async with uow:
        resident = await uow.residents.get(cmd.resident_id)
        if resident is None or resident.totp_pending_encrypted is None:
            raise FailedPrecondition("NO_PENDING_ENROLLMENT", "start the second-factor enrollment first")
        await _confirm_password(uow, resident, cmd.current_password, cmd.remote_addr)
        resident = await uow.residents.get(cmd.resident_id)
        now = utcnow()
        secret = crypto.decrypt(key, resident.totp_pending_encrypted, resident.resident_id.encode())
        step = totp.verify(secret, cmd.code, now.timestamp())
        if step is None:
            return False
        await uow.residents.mark_totp_step_used(resident.resident_id, step, now)
        replaced = resident.totp_secret_encrypted is not None
        resident.totp_secret_encrypted = resident.totp_pending_encrypted
        resident.totp_pending_encrypted = None
        await uow.residents.save(resident)
        security_notices.second_factor_changed(uow, resident, "totp_replaced" if replaced else "totp_added", now)
        await uow.commit()
    return True


async def _password_wait(uow, acct_key: str, addr_key: str, now: dt.datetime, acct=None, addr=None) -> int | None:
    """Seconds before this account or address may try a password again, or None (``acct``,
    ``addr``: the counters when already read)."""
    acct = acct if acct is not None else await uow.throttles.get(acct_key)
    addr = addr if addr is not None else await uow.throttles.get(addr_key)
    waits = [w for w in (acct.retry_after(ACCOUNT_POLICY, now), addr.retry_after(ADDRESS_POLICY, now)) if w]
    return max(waits) if waits else None


async def _password_failed(uow, acct_key: str, addr_key: str, resident_id: str | None) -> None:
    """A wrong password: both counters grow, ``login_failed`` (``invalid_credentials``), committed."""
    now = utcnow()
    acct = await uow.throttles.get(acct_key)
    addr = await uow.throttles.get(addr_key)
    acct.record_failure(ACCOUNT_POLICY, now)
    addr.record_failure(ADDRESS_POLICY, now)
    await uow.throttles.save(acct)
    await uow.throttles.save(addr)
    uow.add_event(LoginFailed(reason="invalid_credentials", resident_id=resident_id))
    await uow.commit()


async def _password_right(uow, acct_key: str) -> None:
    """The right password: the account's counter starts again (the address's does not)."""
    acct = await uow.throttles.get(acct_key)
    acct.reset()
    await uow.throttles.save(acct)


async def _confirm_password(uow, resident, password: str, remote_addr: str) -> None:
    """Inside an open unit of work: the signed-in ``resident`` re-entered their password.

    Asked before what a session alone must not be enough for — a new password, a new second
    factor, the export of everything the city holds about the resident (OWASP ASVS 4.0
    V3.7.1: re-authentication before sensitive transactions) — because a session can be
    someone else's: a library computer left signed in, a stolen cookie. Throttled exactly
    like login, on the same counters (per account and per address, ``ACCOUNT_POLICY`` /
    ``ADDRESS_POLICY``), so a session cannot be used to guess the password either; a wrong
    password is a ``login_failed`` (``invalid_credentials``) like any other. Raises
    InvalidArgument("current_password") or FailedPrecondition("TOO_MANY_ATTEMPTS") after
    committing the failure; returns with no transaction open on success.
    """
    resident_id, password_hash = resident.resident_id, resident.password_hash
    acct_key, addr_key = account_key(resident.email or ""), address_key(remote_addr)
    wait = await _password_wait(uow, acct_key, addr_key, utcnow())
    if wait:
        uow.add_event(LoginFailed(reason="throttled", resident_id=resident_id))
        await uow.commit()
        raise FailedPrecondition("TOO_MANY_ATTEMPTS", f"too many wrong passwords; try again in {wait} s")
    await uow.rollback()  # no transaction open while hashing
    if not await hashing.run(passwords.verify_password, password_hash, password or ""):
        await _password_failed(uow, acct_key, addr_key, resident_id)
        raise InvalidArgument("current_password", "is not the current password")
    await _password_right(uow, acct_key)
    await uow.commit()


async def confirm_password(cmd: ConfirmPassword, uow) -> None:
    """The signed-in resident's password, re-entered before a sensitive read (the export of
    their file): see ``_confirm_password``."""
    async with uow:
        resident = await uow.residents.get(cmd.resident_id)
        if resident is None or resident.disabled:
            raise NotFound("resident")
        await _confirm_password(uow, resident, cmd.password, cmd.remote_addr)


async def change_password(cmd: ChangePassword, uow) -> None:
    if (p := passwords.password_problem(cmd.new_password)) is not None:
        raise InvalidArgument("new_password", p)
    async with uow:
        resident = await uow.residents.get(cmd.resident_id)
        if resident is None:
            raise NotFound("resident")
        await _confirm_password(uow, resident, cmd.current_password, cmd.remote_addr)
        new_hash = await hashing.run(passwords.hash_password, cmd.new_password)
        resident = await uow.residents.get(cmd.resident_id)
        resident.password_hash = new_hash
        resident.password_change_required = False
        await uow.residents.save(resident)
        await uow.commit()


@dataclass(frozen=True)
class DisableResident:
    citizen_number: str


async def disable_resident(cmd: DisableResident, uow) -> str:
    """Residents are never deleted — their number must never be reused — only disabled:
    a disabled resident cannot log in and is not resolved for anyone."""
    try:
        number = CitizenNumber.parse(cmd.citizen_number)
    except ValueError as error:
        raise InvalidArgument("citizen_number", str(error)) from None
    async with uow:
        resident = await uow.residents.get(number.canonical)
        if resident is None:
            raise NotFound("resident")
        resident.disable()
        await uow.residents.save(resident)
        # A disabled resident's cartes citoyennes are revoked in the same transaction (issue 23).
        from services.identity.card.issuance import revoke_all

        await revoke_all(uow, resident.resident_id, "resident_disabled", int(time.time()))
        await uow.commit()
    return resident.resident_id
