"""Failed-login throttling, per account and per address (OWASP Authentication Cheat Sheet,
"Account lockout"; NIST SP 800-63B s. 5.2.2 "Rate Limiting").

After ``free_failures`` failures, each new attempt must wait
``min(base_delay · 2^(failures − free_failures), max_delay)`` seconds after the last
failure. The cap (15 minutes) is what keeps an attacker who knows a resident's email from
locking them out forever: at worst the resident waits 15 minutes, never for an operator.
A successful login resets the account's counter (not the address's, so one good password
does not buy an address a fresh budget for guessing others). Failures older than
``forget_after`` are forgotten.

IPv6 addresses are counted per /64: one host usually owns a whole /64 and could otherwise
change address at every attempt.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from dataclasses import dataclass


@dataclass(frozen=True)
class ThrottlePolicy:
    free_failures: int
    base_delay: int                 # seconds
    max_delay: int = 15 * 60        # seconds; the cap that forbids a permanent lock-out
    forget_after: int = 24 * 3600   # seconds

    def delay_after(self, failures: int) -> int:
        if failures < self.free_failures:
            return 0
        exponent = min(failures - self.free_failures, 32)  # no huge ints from a long attack
        return min(self.base_delay * (2 ** exponent), self.max_delay)


ACCOUNT_POLICY = ThrottlePolicy(free_failures=5, base_delay=30)
ADDRESS_POLICY = ThrottlePolicy(free_failures=20, base_delay=10)
TOTP_POLICY = ThrottlePolicy(free_failures=5, base_delay=30)


@dataclass
class ThrottleState:
    key: str
    failures: int = 0
    last_failure_at: dt.datetime | None = None

    def _expired(self, policy: ThrottlePolicy, now: dt.datetime) -> bool:
        return (self.last_failure_at is None
                or (now - self.last_failure_at).total_seconds() >= policy.forget_after)

    def retry_after(self, policy: ThrottlePolicy, now: dt.datetime) -> int | None:
        """Seconds to wait before the next attempt is even examined; None when allowed."""
        if self.failures == 0 or self._expired(policy, now):
            return None
        delay = policy.delay_after(self.failures)
        remaining = delay - (now - self.last_failure_at).total_seconds()
        return int(remaining) + 1 if remaining > 0 else None

    def record_failure(self, policy: ThrottlePolicy, now: dt.datetime) -> None:
        if self._expired(policy, now):
            self.failures = 0
        self.failures += 1
        self.last_failure_at = now

    def reset(self) -> None:
        self.failures = 0
        self.last_failure_at = None


def address_key(remote_addr: str) -> str:
    """``addr:<ip>`` for IPv4, ``addr:<prefix>/64`` for IPv6, ``addr:unknown`` otherwise."""
    try:
        ip = ipaddress.ip_address((remote_addr or "").strip())
    except ValueError:
        return "addr:unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"addr:{ip.ipv4_mapped}"
        return f"addr:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"addr:{ip}"


def account_key(email: str) -> str:
    """Keyed by the normalised email's hash, so unknown emails are throttled exactly like
    known ones (the answer does not reveal whether an account exists) and no email is stored
    in the counters table."""
    return "acct:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()


def totp_key(resident_id: str) -> str:
    return f"totp:{resident_id}"
