"""Password hashing with argon2id at the OWASP Password Storage Cheat Sheet parameters.

OWASP's first recommended configuration: argon2id, m = 19 MiB (19,456 KiB), t = 2, p = 1
(RFC 9106 names argon2id the variant to use). Hashes carry their parameters, so raising
them later rehashes on the next login (``needs_rehash``).

Length rules follow NIST SP 800-63B s. 5.1.1.2: at least 12 characters, up to 128, every
character allowed, no composition rules.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 12
MAX_LENGTH = 128

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16)
# Verified when the account does not exist, so that the answer takes as long as for a real
# account and does not tell whether an email is registered.
_DUMMY_HASH = _hasher.hash("not a real password, only for timing")


def password_problem(password: str) -> str | None:
    if not isinstance(password, str) or not password:
        return "is required"
    if len(password) < MIN_LENGTH:
        return f"must have at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"must have at most {MAX_LENGTH} characters"
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; spends the same time when there is no hash."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
