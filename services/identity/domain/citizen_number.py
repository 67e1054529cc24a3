"""The universal citizen number (commitment 25 of the city's digital strategy).

One number per resident, for every municipal, borough and partner service, online and at
the counter. Rules it follows:

* **Random.** Eleven symbols drawn with :mod:`secrets`; nothing in it comes from a name,
  a birth date or an address, so the number itself reveals nothing about the resident.
* **Large enough.** 29**11 ≈ 1.2 × 10**16 values (53 bits): two replicas registering at
  the same instant collide with probability ~10**-16; the database's unique index plus a
  retry (service layer) makes uniqueness certain, and residents are never deleted (only
  disabled), so a number is never reused.
* **Unambiguous alphabet of 29 symbols** (a prime): digits 2–9 and the letters without
  I, L, O, U (read as 1, 1, 0, V) nor Z (read as 2). Reading one aloud on the phone or
  copying it from a card cannot produce a symbol that looks like another one.
* **A check character** — a weighted sum modulo the prime 29 (the ISO/IEC 7064 idea with
  a pure-system prime modulus): with weights 1..12 (all distinct and non-zero mod 29),

  - a single substitution at position *i* changes the sum by ``w_i·(b−a)``, never 0
    mod 29 because 29 is prime and neither factor is 0 mod 29;
  - swapping neighbours *i, i+1* changes it by ``(w_i − w_{i+1})·(b − a) = −(b − a)``,
    never 0 mod 29 when the two symbols differ.

  So every single mistyped character and every adjacent swap is caught (tested
  exhaustively in ``tests/unit/identity/test_citizen_number.py``).

Forms: the *canonical* form (what every table and wire stores, ``docs/contracts.md``) is
the 12 symbols, upper-case, no separators, check character last: ``4K7Q9QXB2BCW``. The
*human* form, for people only, is ``MTL 4K7Q-9QXB-2BCW``. ``parse`` accepts both, in any
case, with or without spaces and dashes.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXY"
MODULUS = len(ALPHABET)  # 29, a prime: the whole error-detection argument rests on it
PAYLOAD_LENGTH = 11
LENGTH = PAYLOAD_LENGTH + 1
PREFIX = "MTL"
_VALUE = {symbol: index for index, symbol in enumerate(ALPHABET)}
# Symbols people type for an ambiguous one; named in the error message.
_NEVER_USED = {"0": "0 (zero)", "1": "1 (one)", "I": "I", "L": "L", "O": "O", "U": "U", "Z": "Z"}

assert MODULUS == 29 and LENGTH < MODULUS  # weights 1..LENGTH stay distinct and non-zero


class InvalidCitizenNumber(ValueError):
    """The text is not a valid citizen number; the message says why, in plain words."""


def _weighted_sum(symbols: str) -> int:
    return sum((position + 1) * _VALUE[symbol] for position, symbol in enumerate(symbols))


def check_character(payload: str) -> str:
    """The symbol ``c`` that makes ``Σ w_i·v_i + w_12·c ≡ 0 (mod 29)`` over the 12 positions."""
    if len(payload) != PAYLOAD_LENGTH or any(s not in _VALUE for s in payload):
        raise InvalidCitizenNumber(f"the payload must be {PAYLOAD_LENGTH} symbols of {ALPHABET}")
    # w_12 · c ≡ −S (mod 29)  ⇒  c ≡ −S · w_12⁻¹ (mod 29); the inverse exists because 29 is prime.
    inverse = pow(LENGTH, -1, MODULUS)
    return ALPHABET[(-_weighted_sum(payload) * inverse) % MODULUS]


@dataclass(frozen=True)
class CitizenNumber:
    """A resident's universal citizen number; ``canonical`` is the ``resident_id`` everywhere."""

    canonical: str

    def __post_init__(self) -> None:
        # A CitizenNumber can only exist valid: constructing one from a bad string fails.
        _validate(self.canonical)

    @classmethod
    def new(cls) -> "CitizenNumber":
        """A fresh random number (``secrets``); never derived from personal data."""
        payload = "".join(secrets.choice(ALPHABET) for _ in range(PAYLOAD_LENGTH))
        return cls(payload + check_character(payload))

    @classmethod
    def parse(cls, text: str) -> "CitizenNumber":
        """Accept the human or canonical form, in any case, with spaces or dashes.

        Raises :class:`InvalidCitizenNumber` with a plain explanation (wrong length, a
        symbol that is never used, or a check character that does not match — a mistyped
        or swapped character).
        """
        if not isinstance(text, str):
            raise InvalidCitizenNumber("a citizen number is text")
        compact = "".join(ch for ch in text.upper() if ch not in " -\t")
        # "L" is not in the alphabet, so a leading "MTL" can only be the prefix.
        if compact.startswith(PREFIX):
            compact = compact[len(PREFIX):]
        return cls(compact)

    @classmethod
    def is_valid(cls, text: str) -> bool:
        try:
            cls.parse(text)
        except InvalidCitizenNumber:
            return False
        return True

    @property
    def human(self) -> str:
        """Grouped form for counters, cards and phone calls: ``MTL 4K7Q-9QXB-2BCW``."""
        c = self.canonical
        return f"{PREFIX} {c[0:4]}-{c[4:8]}-{c[8:12]}"

    def __str__(self) -> str:
        return self.canonical


def _validate(canonical: str) -> None:
    if not isinstance(canonical, str):
        raise InvalidCitizenNumber("a citizen number is text")
    if not canonical:
        raise InvalidCitizenNumber("the citizen number is empty")
    for position, symbol in enumerate(canonical, start=1):
        if symbol in _VALUE:
            continue
        if symbol in _NEVER_USED:
            raise InvalidCitizenNumber(
                f"character {position} is {_NEVER_USED[symbol]}, which citizen numbers never use "
                "(they contain no 0, 1, I, L, O, U or Z); check the number again")
        raise InvalidCitizenNumber(
            f"character {position} ({symbol!r}) is not a digit 2-9 or a letter used in citizen numbers")
    if len(canonical) != LENGTH:
        raise InvalidCitizenNumber(
            f"a citizen number has {LENGTH} characters after MTL; this one has {len(canonical)}")
    if _weighted_sum(canonical) % MODULUS != 0:
        raise InvalidCitizenNumber(
            "the check character does not match: a character was mistyped or two were swapped")
