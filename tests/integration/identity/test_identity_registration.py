"""Registration, email verification, login with throttling, TOTP, on a real database."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest

from services.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from services.identity.adapters import crypto
from services.identity.domain import totp
from services.identity.domain.citizen_number import CitizenNumber
from services.identity.service_layer import authentication as auth
from tests.integration.identity.conftest import KEK, outbox_events

PASSWORD = "une phrase de passe solide"


def _email() -> str:
    return f"resident-{uuid.uuid4().hex[:10]}@example.ca"


async def _register_verified(uow_factory, sessions, email=None) -> tuple[str, str]:
    email = email or _email()
    rid = await auth.register_resident(auth.RegisterResident(email, PASSWORD, "fr", "192.0.2.1"), uow_factory())
    code = next(e["data"]["code"] for e in await outbox_events(sessions, "email_verification_requested")
                if e["data"]["resident_id"] == rid)
    await auth.verify_email(auth.VerifyEmail(rid, code), uow_factory())
    return rid, email


async def test_registration_emits_events_without_secrets(uow_factory, sessions):
    email = _email()
    rid = await auth.register_resident(auth.RegisterResident(email, PASSWORD, "en", "192.0.2.1"), uow_factory())
    assert CitizenNumber.parse(rid).canonical == rid
    registered = [e for e in await outbox_events(sessions, "resident_registered") if e["subject"] == rid]
    assert registered[0]["data"] == {"resident_id": rid, "preferred_language": "en", "registered_by": "self",
                                     "email_verified": False, "agent_id": None}
    requested = [e for e in await outbox_events(sessions, "email_verification_requested")
                 if e["data"]["resident_id"] == rid]
    assert requested[0]["data"]["email"] == email and len(requested[0]["data"]["code"]) == 6
    for envelope in await outbox_events(sessions):
        assert PASSWORD not in str(envelope)
        if envelope["type"].endswith("resident_registered"):
            assert email not in str(envelope)
    async with uow_factory() as uow:
        resident = await uow.residents.get(rid)
    assert resident.password_hash.startswith("$argon2id$") and not resident.email_verified


async def test_email_verification(uow_factory, sessions):
    rid, email = await _register_verified(uow_factory, sessions)
    async with uow_factory() as uow:
        assert (await uow.residents.by_email(email.upper())).email_verified
    assert [e for e in await outbox_events(sessions, "email_verified") if e["data"] == {"resident_id": rid}]


async def test_wrong_email_code_is_refused_and_throttled(uow_factory, sessions):
    rid = await auth.register_resident(auth.RegisterResident(_email(), PASSWORD, "fr", ""), uow_factory())
    for _ in range(5):
        with pytest.raises(InvalidArgument) as error:
            await auth.verify_email(auth.VerifyEmail(rid, "000000x"), uow_factory())
        assert error.value.violations[0][0] == "code"
    with pytest.raises(FailedPrecondition) as error:
        await auth.verify_email(auth.VerifyEmail(rid, "000000"), uow_factory())
    assert error.value.reason == "TOO_MANY_ATTEMPTS"


async def test_bad_registration_names_fields_and_writes_nothing(uow_factory, sessions):
    before = len(await outbox_events(sessions))
    with pytest.raises(InvalidArgument) as error:
        await auth.register_resident(auth.RegisterResident("not-an-email", "short", "de", ""), uow_factory())
    assert [f for f, _ in error.value.violations] == ["email", "password", "preferred_language"]
    assert len(await outbox_events(sessions)) == before


async def test_one_account_per_email_whatever_its_case(uow_factory, sessions):
    email = _email()
    owner = await auth.register_resident(auth.RegisterResident(email, PASSWORD, "fr", ""), uow_factory())
    again = await auth.register_resident(auth.RegisterResident(email.upper(), PASSWORD, "fr", ""), uow_factory())
    assert again != owner
    async with uow_factory() as uow:
        assert (await uow.residents.by_email(email)).resident_id == owner
        assert await uow.residents.get(again) is None      # nothing was created
    with pytest.raises(AlreadyExists):                       # the store itself refuses a second one
        async with uow_factory() as uow:
            await auth.add_new_resident(uow, email=email.upper(), password_hash=None, preferred_language="fr",
                                        now=dt.datetime.now(dt.timezone.utc))


async def test_sign_up_with_a_taken_address_answers_as_for_a_new_one_and_mails_the_owner(uow_factory, sessions):
    """Probe finding 1: the same answer (a citizen-number-shaped id, then a confirmation step
    where codes are wrong and resends spaced out the same way), the same argon2id cost, and
    the owner is mailed instead (account_exists_notice_requested)."""
    taken = _email()
    owner = await auth.register_resident(auth.RegisterResident(taken, PASSWORD, "fr", "192.0.2.9"), uow_factory())
    before = {e["id"] for e in await outbox_events(sessions)}
    decoy = await auth.register_resident(auth.RegisterResident(taken, "another passphrase here", "en", "192.0.2.9"),
                                         uow_factory())
    assert CitizenNumber.parse(decoy).canonical == decoy and decoy != owner
    new = [e for e in await outbox_events(sessions) if e["id"] not in before]
    assert [e["type"].rsplit(".", 1)[-1] for e in new] == ["account_exists_notice_requested"]
    # the owner's language (French), not the one the stranger chose (English)
    assert new[0]["data"] == {"resident_id": owner, "email": taken, "language": "fr"}
    # the confirmation step for the returned id: a wrong code, throttled like a real one
    with pytest.raises(InvalidArgument):
        await auth.verify_email(auth.VerifyEmail(decoy, "123456"), uow_factory())
    for _ in range(10):
        try:
            await auth.verify_email(auth.VerifyEmail(decoy, "123456"), uow_factory())
        except FailedPrecondition as refused:
            assert refused.reason == "TOO_MANY_ATTEMPTS"
            break
        except InvalidArgument:
            continue
    else:
        raise AssertionError("wrong codes for the returned id were never throttled")
    # resends: spaced out like a real account's, and nothing is mailed
    resent = 0
    for _ in range(6):
        try:
            await auth.resend_email_verification(auth.ResendEmailVerification(decoy), uow_factory())
            resent += 1
        except FailedPrecondition:
            break
    assert resent == auth.RESEND_POLICY.free_failures
    assert not [e for e in await outbox_events(sessions, "email_verification_requested")
                if e["data"]["resident_id"] == decoy]
    # the owner's mailbox is not flooded: the notices share the owner's mail budget
    for _ in range(6):
        await auth.register_resident(auth.RegisterResident(taken, PASSWORD, "fr", "192.0.2.10"), uow_factory())
    notices = [e for e in await outbox_events(sessions, "account_exists_notice_requested")
               if e["data"]["resident_id"] == owner]
    assert len(notices) == auth.RESEND_POLICY.free_failures


async def test_sign_up_costs_the_same_time_whether_or_not_the_address_is_taken(uow_factory, sessions):
    """Probe finding 1, timing: both answers spend one argon2id hash. Interleaved samples,
    medians compared loosely (the machine is shared): the old answer for a taken address took
    a few milliseconds against tens for a new one."""
    import statistics
    import time

    taken = _email()
    await auth.register_resident(auth.RegisterResident(taken, PASSWORD, "fr"), uow_factory())
    new_times, taken_times = [], []
    for _ in range(5):
        for email, times in ((_email(), new_times), (taken, taken_times)):
            started = time.perf_counter()
            await auth.register_resident(auth.RegisterResident(email, PASSWORD, "fr"), uow_factory())
            times.append(time.perf_counter() - started)
    new_median, taken_median = statistics.median(new_times), statistics.median(taken_times)
    assert 0.5 < taken_median / new_median < 2.0, (new_median, taken_median)


async def test_concurrent_registrations_never_share_an_identifier(uow_factory, monkeypatch):
    # Force every replica to draw the same first number: the unique index and the retry
    # must still give each resident its own.
    real_new = CitizenNumber.new
    fixed = real_new()
    draws = {"n": 0}

    def colliding_new():
        draws["n"] += 1
        return fixed if draws["n"] <= 4 else real_new()

    monkeypatch.setattr(CitizenNumber, "new", staticmethod(colliding_new))
    ids = await asyncio.gather(*(
        auth.register_resident(auth.RegisterResident(_email(), PASSWORD, "fr", ""), uow_factory())
        for _ in range(4)))
    assert len(set(ids)) == 4
    assert fixed.canonical in ids


async def test_login_success_and_failure_events(uow_factory, sessions):
    rid, email = await _register_verified(uow_factory, sessions)
    result = await auth.authenticate(auth.Authenticate(email.upper(), PASSWORD, "198.51.100.1"), uow_factory())
    assert result.resident_id == rid and result.email_verified and not result.has_totp
    with pytest.raises(auth.LoginRefused) as refused:
        await auth.authenticate(auth.Authenticate(email, PASSWORD + "x", "198.51.100.1"), uow_factory())
    assert refused.value.reason == "invalid_credentials"
    with pytest.raises(auth.LoginRefused) as unknown:
        await auth.authenticate(auth.Authenticate(_email(), PASSWORD, "198.51.100.1"), uow_factory())
    assert unknown.value.reason == "invalid_credentials"  # same answer: no account enumeration
    succeeded = [e["data"] for e in await outbox_events(sessions, "login_succeeded") if e["subject"] == rid]
    assert succeeded == [{"resident_id": rid, "session_id": "", "amr": ["pwd"]}]
    failed = [e["data"] for e in await outbox_events(sessions, "login_failed")]
    assert {"reason": "invalid_credentials", "resident_id": rid} in failed
    assert {"reason": "invalid_credentials", "resident_id": None} in failed


async def test_unverified_email_cannot_log_in(uow_factory, sessions):
    email = _email()
    await auth.register_resident(auth.RegisterResident(email, PASSWORD, "fr", ""), uow_factory())
    with pytest.raises(auth.LoginRefused) as refused:
        await auth.authenticate(auth.Authenticate(email, PASSWORD, "198.51.100.2"), uow_factory())
    assert refused.value.reason == "email_not_verified"


async def test_throttling_per_account_is_capped_and_reset_by_success(uow_factory, sessions):
    rid, email = await _register_verified(uow_factory, sessions)
    for n in range(5):
        with pytest.raises(auth.LoginRefused) as refused:
            await auth.authenticate(auth.Authenticate(email, f"wrong password {n}", f"203.0.113.{n}"), uow_factory())
        assert refused.value.reason == "invalid_credentials"
    # The sixth attempt, from yet another address and with the right password, waits.
    with pytest.raises(auth.LoginRefused) as refused:
        await auth.authenticate(auth.Authenticate(email, PASSWORD, "203.0.113.99"), uow_factory())
    assert refused.value.reason == "throttled" and 0 < refused.value.retry_after <= 31
    # Never more than 15 minutes, however long the attack: move the clock past the cap.
    async with uow_factory() as uow:
        state = await uow.throttles.get(auth.account_key(email))
        state.failures = 500
        state.last_failure_at = auth.utcnow() - dt.timedelta(minutes=15, seconds=1)
        await uow.throttles.save(state)
        await uow.commit()
    result = await auth.authenticate(auth.Authenticate(email, PASSWORD, "203.0.113.99"), uow_factory())
    assert result.resident_id == rid
    async with uow_factory() as uow:
        assert (await uow.throttles.get(auth.account_key(email))).failures == 0


async def test_throttling_per_address(uow_factory, sessions):
    address = "2001:db8:1234:5678::1"
    for n in range(20):
        with pytest.raises(auth.LoginRefused):
            await auth.authenticate(auth.Authenticate(_email(), "whatever password", address), uow_factory())
    # Same /64, different host and a real account: still throttled.
    _, email = await _register_verified(uow_factory, sessions)
    with pytest.raises(auth.LoginRefused) as refused:
        await auth.authenticate(auth.Authenticate(email, PASSWORD, "2001:db8:1234:5678::2"), uow_factory())
    assert refused.value.reason == "throttled"


async def test_totp_enrollment_login_and_no_replay(uow_factory, sessions):
    rid, email = await _register_verified(uow_factory, sessions)
    enrollment = await auth.begin_totp_enrollment(auth.BeginTotpEnrollment(rid), uow_factory())
    import base64
    secret = base64.b32decode(enrollment.secret_base32 + "=" * (-len(enrollment.secret_base32) % 8))
    now = auth.utcnow().timestamp()
    # The right code is not enough: the resident re-enters their password (a session alone may
    # be someone else's).
    with pytest.raises(InvalidArgument) as wrong:
        await auth.confirm_totp_enrollment(auth.ConfirmTotpEnrollment(rid, totp.totp(secret, now), "not it"),
                                           uow_factory())
    assert wrong.value.violations[0][0] == "current_password"
    async with uow_factory() as uow:
        assert not (await uow.residents.get(rid)).has_totp
    assert await auth.confirm_totp_enrollment(auth.ConfirmTotpEnrollment(rid, totp.totp(secret, now), PASSWORD),
                                              uow_factory())
    async with uow_factory() as uow:
        resident = await uow.residents.get(rid)
    assert crypto.decrypt(KEK, resident.totp_secret_encrypted, rid.encode()) == secret
    logged = await auth.authenticate(auth.Authenticate(email, PASSWORD, "198.51.100.7"), uow_factory())
    assert logged.has_totp
    # The code used at enrollment cannot be replayed; the next step's code works once.
    assert not await auth.verify_totp(auth.VerifyTotp(rid, totp.totp(secret, now), "198.51.100.7"), uow_factory())
    next_code = totp.totp(secret, now + 30)
    assert await auth.verify_totp(auth.VerifyTotp(rid, next_code, "198.51.100.7"), uow_factory())
    assert not await auth.verify_totp(auth.VerifyTotp(rid, next_code, "198.51.100.7"), uow_factory())
    succeeded = [e["data"] for e in await outbox_events(sessions, "login_succeeded") if e["subject"] == rid]
    assert succeeded == [{"resident_id": rid, "session_id": "", "amr": ["pwd", "otp"]}]


async def test_change_password(uow_factory, sessions):
    rid, email = await _register_verified(uow_factory, sessions)
    with pytest.raises(InvalidArgument) as error:
        await auth.change_password(auth.ChangePassword(rid, "not the password", "a new long passphrase"), uow_factory())
    assert error.value.violations[0][0] == "current_password"
    await auth.change_password(auth.ChangePassword(rid, PASSWORD, "a new long passphrase"), uow_factory())
    assert (await auth.authenticate(auth.Authenticate(email, "a new long passphrase", "198.51.100.9"),
                                    uow_factory())).resident_id == rid


async def test_a_session_cannot_guess_the_password_faster_than_login(uow_factory, sessions):
    """Re-entering the password (new password, second factor, export) is throttled on login's
    own counters: after the account's free failures, even the right password waits, and the
    failures are ``login_failed`` events like any other."""
    rid, email = await _register_verified(uow_factory, sessions)
    for _ in range(auth.ACCOUNT_POLICY.free_failures):
        with pytest.raises(InvalidArgument):
            await auth.confirm_password(auth.ConfirmPassword(rid, "a guess", "198.51.100.31"), uow_factory())
    with pytest.raises(FailedPrecondition) as waiting:
        await auth.change_password(auth.ChangePassword(rid, PASSWORD, "a new long passphrase", "198.51.100.32"),
                                   uow_factory())
    assert waiting.value.reason == "TOO_MANY_ATTEMPTS"
    # Login from anywhere waits too: it is the same account counter.
    with pytest.raises(auth.LoginRefused) as refused:
        await auth.authenticate(auth.Authenticate(email, PASSWORD, "198.51.100.33"), uow_factory())
    assert refused.value.reason == "throttled"
    failed = [e["data"] for e in await outbox_events(sessions, "login_failed") if e.get("subject") == rid]
    assert [f["reason"] for f in failed].count("invalid_credentials") == auth.ACCOUNT_POLICY.free_failures
    assert all("a guess" not in str(f) and PASSWORD not in str(f) for f in failed)


async def test_resend_gives_a_new_code_and_is_rate_limited(uow_factory, sessions):
    rid = await auth.register_resident(auth.RegisterResident(_email(), PASSWORD, "fr", ""), uow_factory())
    for _ in range(3):
        await auth.resend_email_verification(auth.ResendEmailVerification(rid), uow_factory())
    with pytest.raises(FailedPrecondition) as refused:
        await auth.resend_email_verification(auth.ResendEmailVerification(rid), uow_factory())
    assert refused.value.reason == "TOO_MANY_ATTEMPTS"
    codes = [e["data"]["code"] for e in await outbox_events(sessions, "email_verification_requested")
             if e["data"]["resident_id"] == rid]
    assert len(codes) == 4
    if codes[0] != codes[-1]:  # the first code no longer works once a new one is sent
        with pytest.raises(InvalidArgument):
            await auth.verify_email(auth.VerifyEmail(rid, codes[0]), uow_factory())
    await auth.verify_email(auth.VerifyEmail(rid, codes[-1]), uow_factory())


async def test_maintenance_forgets_old_counters(uow_factory):
    from services.identity.service_layer.maintenance import prune

    async with uow_factory() as uow:
        old = await uow.throttles.get("addr:198.18.0.1")
        old.record_failure(auth.ADDRESS_POLICY, auth.utcnow() - dt.timedelta(days=2))
        await uow.throttles.save(old)
        recent = await uow.throttles.get("addr:198.18.0.2")
        recent.record_failure(auth.ADDRESS_POLICY, auth.utcnow())
        await uow.throttles.save(recent)
        await uow.commit()
    assert (await prune(uow_factory()))["throttles"] >= 1
    async with uow_factory() as uow:
        assert (await uow.throttles.get("addr:198.18.0.1")).failures == 0
        assert (await uow.throttles.get("addr:198.18.0.2")).failures == 1


async def test_sign_ups_from_one_address_are_spaced_out_before_any_hash_is_spent(uow_factory, sessions, monkeypatch):
    """Each sign-up costs an argon2id hash: past a budget per address, refused before hashing."""
    from services.common.errors import FailedPrecondition
    from services.identity.domain import passwords

    hashes = []
    real_hash = passwords.hash_password
    monkeypatch.setattr(passwords, "hash_password", lambda pw: hashes.append(1) or real_hash(pw))
    address = "198.51.100.77"
    for _ in range(auth.SIGNUP_POLICY.free_failures):
        await auth.register_resident(auth.RegisterResident(_email(), PASSWORD, "fr", address), uow_factory())
    spent = len(hashes)
    with pytest.raises(FailedPrecondition) as refused:
        await auth.register_resident(auth.RegisterResident(_email(), PASSWORD, "fr", address), uow_factory())
    assert refused.value.reason == "TOO_MANY_ATTEMPTS"
    assert len(hashes) == spent                      # the refused attempt cost no hash
    # another address is not affected
    await auth.register_resident(auth.RegisterResident(_email(), PASSWORD, "fr", "198.51.100.78"), uow_factory())


async def test_asking_whether_addresses_are_registered_spends_the_sign_up_budget(uow_factory, sessions):
    """Sign-ups with a taken address spend the same budget per network address as new ones."""
    from services.common.errors import FailedPrecondition

    taken = _email()
    await auth.register_resident(auth.RegisterResident(taken, PASSWORD, "fr"), uow_factory())
    address = "198.51.100.91"
    for _ in range(auth.SIGNUP_POLICY.free_failures):
        await auth.register_resident(auth.RegisterResident(taken, PASSWORD, "fr", address), uow_factory())
    with pytest.raises(FailedPrecondition) as refused:
        await auth.register_resident(auth.RegisterResident(taken, PASSWORD, "fr", address), uow_factory())
    assert refused.value.reason == "TOO_MANY_ATTEMPTS"


async def test_a_login_hashes_once_off_the_event_loop_and_then_runs_in_its_transaction(uow_factory, sessions,
                                                                                      monkeypatch):
    """Issue 24: one argon2id verification per login (no rehash at today's parameters), on the
    hashing thread while the event loop goes on; ``then`` commits with the login or not at all."""
    import threading

    from services.identity.domain import passwords
    from services.identity.service_layer import hashing

    rid, email = await _register_verified(uow_factory, sessions)
    calls, loop_thread = [], threading.get_ident()
    real_run = hashing.run

    async def counting_run(function, *args):
        calls.append(function.__name__)
        return await real_run(lambda *a: (calls.append(threading.get_ident() != loop_thread), function(*a))[1], *args)
    monkeypatch.setattr(hashing, "run", counting_run)
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1
    beat = asyncio.create_task(ticker())
    seen = []

    async def then(uow, who):
        seen.append((who.resident_id, uow.session is not None and not uow.committed))
    try:
        await auth.authenticate(auth.Authenticate(email, PASSWORD, "198.51.100.7"), uow_factory(), then)
    finally:
        beat.cancel()
    assert calls == [passwords.verify_password.__name__, True]   # once, and not on the loop's thread
    assert ticks >= 3                                            # the loop ran while it hashed (≥ 20 ms)
    assert seen == [(rid, True)]                                 # inside the open unit of work
    calls.clear()
    with pytest.raises(auth.LoginRefused):
        await auth.authenticate(auth.Authenticate(email, PASSWORD + "x", "198.51.100.7"), uow_factory(), then)
    assert calls == [passwords.verify_password.__name__, True] and len(seen) == 1   # a refusal runs no then
