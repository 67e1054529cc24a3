"""Recovery codes: the second factor a resident keeps on paper (NIST SP 800-63B s. 5.1.2,
"look-up secrets"), for the day the phone is lost.

Ten codes at a time, each of 10 characters from a 31-symbol alphabet without the look-alikes
0/O and 1/I/L (49 random bits each: 800-63B s. 5.1.2.1 asks for at least 20 from an approved
generator), shown once in two groups of five (``K7QX4-MZP2D``). What is kept is a keyed hash
(HMAC-SHA-256 under a key the database does not hold, bound to the resident): a copy of the
table alone does not let anyone test guesses offline, and a hash is useless on another row.
Typing is forgiving: case, spaces and dashes do not count.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

COUNT = 10
LENGTH = 10
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read from paper, typed by hand


def new_codes(count: int = COUNT) -> list[str]:
    """``count`` fresh codes, as shown to the resident (``XXXXX-XXXXX``)."""
    codes = set()
    while len(codes) < count:
        codes.add("".join(secrets.choice(ALPHABET) for _ in range(LENGTH)))
    return [f"{c[:5]}-{c[5:]}" for c in codes]


def normalized(code: str) -> str | None:
    """The code as typed, without case, spaces or dashes; None when it cannot be a code."""
    text = "".join((code or "").split()).replace("-", "").upper()
    if len(text) != LENGTH or any(ch not in ALPHABET for ch in text):
        return None
    return text


def code_hash(key: bytes, resident_id: str, code: str) -> str:
    """The keyed hash kept of a (normalized) code, bound to the resident."""
    return hmac.new(key, f"{resident_id}:{code}".encode(), hashlib.sha256).hexdigest()
