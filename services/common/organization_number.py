"""The city's number for an organization (issue 22; docs/mandates.md, "Organizations").

A business, non-profit or condo association registered with the city gets an identifier of
the **same shape** as a universal citizen number (12 symbols of the same 29-symbol alphabet,
check character last), so every place that stores or carries a ``resident_id`` — the consent
ledger's logs, service accounts, pairwise subjects, tokens — carries an organization as the
represented party without a second format. It is in a **series of its own**: the weighted
sum of its 12 symbols is ≡ 1 (mod 29), where a citizen number's is ≡ 0
(``services.identity.domain.citizen_number``). So:

* one string is never both a citizen number and an organization number (the two series are
  disjoint), and a system can tell which one it holds from the number alone;
* the error detection is the citizen number's, unchanged: a single substitution changes the
  sum by ``w_i·(b−a)`` ≢ 0 and an adjacent swap by ``−(b−a)`` ≢ 0 (29 is prime), so a
  mistyped organization number never lands on another organization **nor on a resident**.

Random (:mod:`secrets`), never derived from the name or the Québec enterprise number (NEQ),
which is kept beside it as an external reference only. Human form: ``ORG 4K7Q-9QXB-2BCX``
(``O`` is never a symbol of the alphabet, so a leading ``ORG`` can only be the prefix).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

#: The citizen number's alphabet (identity/domain/citizen_number.py; a unit test keeps them equal).
ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXY"
MODULUS = len(ALPHABET)
PAYLOAD_LENGTH = 11
LENGTH = PAYLOAD_LENGTH + 1
PREFIX = "ORG"
#: The series: Σ w_i·v_i ≡ SERIES (mod 29); citizen numbers are series 0.
SERIES = 1
_VALUE = {symbol: index for index, symbol in enumerate(ALPHABET)}


class InvalidOrganizationNumber(ValueError):
    """The text is not a valid organization number; the message says why, in plain words."""


def _weighted_sum(symbols: str) -> int:
    return sum((position + 1) * _VALUE[symbol] for position, symbol in enumerate(symbols))


def _check_character(payload: str) -> str:
    # w_12 · c ≡ SERIES − S (mod 29); 12 is invertible mod the prime 29.
    return ALPHABET[((SERIES - _weighted_sum(payload)) * pow(LENGTH, -1, MODULUS)) % MODULUS]


@dataclass(frozen=True)
class OrganizationNumber:
    """An organization's number; ``canonical`` is what the ledger and tokens carry."""

    canonical: str

    def __post_init__(self) -> None:
        _validate(self.canonical)

    @classmethod
    def new(cls) -> "OrganizationNumber":
        payload = "".join(secrets.choice(ALPHABET) for _ in range(PAYLOAD_LENGTH))
        return cls(payload + _check_character(payload))

    @classmethod
    def parse(cls, text: str) -> "OrganizationNumber":
        """The human or canonical form, any case, with or without spaces and dashes."""
        if not isinstance(text, str):
            raise InvalidOrganizationNumber("an organization number is text")
        compact = "".join(ch for ch in text.upper() if ch not in " -\t")
        if compact.startswith(PREFIX):
            compact = compact[len(PREFIX):]
        return cls(compact)

    @classmethod
    def is_valid(cls, text: str) -> bool:
        try:
            cls.parse(text)
        except InvalidOrganizationNumber:
            return False
        return True

    @property
    def human(self) -> str:
        c = self.canonical
        return f"{PREFIX} {c[0:4]}-{c[4:8]}-{c[8:12]}"

    def __str__(self) -> str:
        return self.canonical


def is_organization_id(party_id: str) -> bool:
    """Is this canonical id (a ``resident_id`` field) an organization's number?"""
    return isinstance(party_id, str) and len(party_id) == LENGTH and all(s in _VALUE for s in party_id) \
        and _weighted_sum(party_id) % MODULUS == SERIES


def _validate(canonical: str) -> None:
    if not isinstance(canonical, str) or not canonical:
        raise InvalidOrganizationNumber("the organization number is empty")
    bad = next((s for s in canonical if s not in _VALUE), None)
    if bad is not None:
        raise InvalidOrganizationNumber(f"'{bad}' is never used in organization numbers; check the number again")
    if len(canonical) != LENGTH:
        raise InvalidOrganizationNumber(f"an organization number has {LENGTH} characters after ORG")
    if _weighted_sum(canonical) % MODULUS != SERIES:
        raise InvalidOrganizationNumber("the check character does not match: a character is mistyped "
                                        "(or this is a citizen number, not an organization's)")
