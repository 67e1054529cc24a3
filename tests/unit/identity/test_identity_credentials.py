"""argon2id parameters, TOTP against RFC 6238 Appendix B, throttling rules."""

import datetime as dt

import pytest

from services.identity.domain import passwords, totp
from services.identity.domain.throttling import (
    ACCOUNT_POLICY, ThrottlePolicy, ThrottleState, account_key, address_key)

# RFC 6238 Appendix B: T, then the 8-digit TOTP for SHA1, SHA256, SHA512.
RFC6238_VECTORS = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]
SEEDS = {"SHA1": b"12345678901234567890",
         "SHA256": b"12345678901234567890123456789012",
         "SHA512": b"1234567890123456789012345678901234567890123456789012345678901234"}


def test_argon2id_at_owasp_parameters():
    hashed = passwords.hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert passwords.verify_password(hashed, "correct horse battery")
    assert not passwords.verify_password(hashed, "correct horse batterY")
    assert not passwords.verify_password(None, "correct horse battery")
    assert not passwords.verify_password("garbage", "x")


def test_password_length_rules():
    assert passwords.password_problem("short") == "must have at least 12 characters"
    assert passwords.password_problem("x" * 129) == "must have at most 128 characters"
    assert passwords.password_problem("une phrase de passe") is None


@pytest.mark.parametrize("t, sha1, sha256, sha512", RFC6238_VECTORS)
def test_rfc6238_appendix_b(t, sha1, sha256, sha512):
    assert totp.totp(SEEDS["SHA1"], t, digits=8) == sha1
    assert totp.totp(SEEDS["SHA256"], t, digits=8, algorithm="SHA256") == sha256
    assert totp.totp(SEEDS["SHA512"], t, digits=8, algorithm="SHA512") == sha512
    # Six digits are the same value modulo 10^6.
    assert totp.totp(SEEDS["SHA1"], t) == sha1[-6:]


def test_verify_accepts_one_step_either_side_and_no_more():
    seed, t = SEEDS["SHA1"], 1111111111
    now_step = t // 30
    for offset, accepted in [(-2, False), (-1, True), (0, True), (1, True), (2, False)]:
        code = totp.hotp(seed, now_step + offset)
        assert (totp.verify(seed, code, t) == now_step + offset) is accepted, offset


def test_verify_refuses_replay_of_a_used_step():
    seed, t = SEEDS["SHA1"], 1234567890
    code = totp.totp(seed, t)
    step = totp.verify(seed, code, t)
    assert step == t // 30
    assert totp.verify(seed, code, t, last_used_step=step) is None
    assert totp.verify(seed, code, t + 29, last_used_step=step) is None


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", None])
def test_verify_refuses_malformed_codes(code):
    assert totp.verify(SEEDS["SHA1"], code, 59) is None


def test_provisioning_uri():
    uri = totp.provisioning_uri(b"\x00" * 20, "marie@example.ca")
    assert uri.startswith("otpauth://totp/Montr%C3%A9al%3Amarie%40example.ca?secret=AAAA")
    assert "digits=6" in uri and "period=30" in uri


NOW = dt.datetime(2026, 11, 27, 23, 0, tzinfo=dt.timezone.utc)


def test_free_failures_then_exponential_backoff_capped_at_15_minutes():
    policy = ThrottlePolicy(free_failures=5, base_delay=30)
    delays = [policy.delay_after(n) for n in range(0, 12)]
    assert delays[:5] == [0, 0, 0, 0, 0]
    assert delays[5:] == [30, 60, 120, 240, 480, 900, 900]
    assert policy.delay_after(10_000) == 900  # never more than the cap: no permanent lock-out


def test_state_retry_after_and_reset():
    state = ThrottleState(key="acct:x")
    for i in range(5):
        assert state.retry_after(ACCOUNT_POLICY, NOW) is None
        state.record_failure(ACCOUNT_POLICY, NOW)
    assert state.retry_after(ACCOUNT_POLICY, NOW) == 31
    assert state.retry_after(ACCOUNT_POLICY, NOW + dt.timedelta(seconds=30)) is None
    for _ in range(100):
        state.record_failure(ACCOUNT_POLICY, NOW)
    assert state.retry_after(ACCOUNT_POLICY, NOW) <= 901
    assert state.retry_after(ACCOUNT_POLICY, NOW + dt.timedelta(minutes=15)) is None
    state.reset()
    assert state.failures == 0 and state.retry_after(ACCOUNT_POLICY, NOW) is None


def test_old_failures_are_forgotten():
    state = ThrottleState(key="acct:x", failures=50, last_failure_at=NOW - dt.timedelta(days=2))
    assert state.retry_after(ACCOUNT_POLICY, NOW) is None
    state.record_failure(ACCOUNT_POLICY, NOW)
    assert state.failures == 1


def test_keys():
    assert address_key("203.0.113.7") == "addr:203.0.113.7"
    assert address_key("2001:db8::1") == address_key("2001:db8::ffff") == "addr:2001:db8::/64"
    assert address_key("::ffff:203.0.113.7") == "addr:203.0.113.7"
    assert address_key("not an ip") == "addr:unknown"
    assert account_key("Marie@Example.ca ") == account_key("marie@example.ca")
    assert "marie" not in account_key("marie@example.ca")
