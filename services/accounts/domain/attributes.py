"""Resident attributes: the data categories of docs/contracts.md, their canonical text forms
and where each value comes from (its provenance).

The canonical forms are the ones the gRPC API documents (protos/montreal/accounts/v1): a value
is normalized once, when it enters the profile, so every service receives the same text.
``biometric_face`` is a category the consent ledger tracks, but the platform never stores a
biometric template (city commitment 6; Act to establish a legal framework for information
technology, CQLR c. C-1.1, s. 44), so it can never be set on a profile.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass, replace

GIVEN_NAME = "given_name"
FAMILY_NAME = "family_name"
EMAIL = "email"
PHONE = "phone"
POSTAL_ADDRESS = "postal_address"
DATE_OF_BIRTH = "date_of_birth"
PREFERRED_LANGUAGE = "preferred_language"
PREFERRED_CHANNELS = "preferred_channels"
ACCESSIBILITY_NEEDS = "accessibility_needs"
BIOMETRIC_FACE = "biometric_face"

#: Categories a profile may hold a value for, in display order.
PROFILE_ATTRIBUTES: tuple[str, ...] = (
    GIVEN_NAME, FAMILY_NAME, EMAIL, PHONE, POSTAL_ADDRESS, DATE_OF_BIRTH,
    PREFERRED_LANGUAGE, PREFERRED_CHANNELS, ACCESSIBILITY_NEEDS,
)
#: Every data category a service may request (the profile's plus the consent-only biometric one).
DATA_CATEGORIES: frozenset[str] = frozenset(PROFILE_ATTRIBUTES) | {BIOMETRIC_FACE}
#: Categories that are consent-tracked only: never stored, so never released.
NEVER_STORED: frozenset[str] = frozenset({BIOMETRIC_FACE})

LANGUAGES = ("fr", "en")
#: Every channel stays open whatever the preference (the city serves residents online and
#: offline alike); the preference only orders how the city reaches out first.
CHANNELS = ("digital", "counter", "post", "phone")


class Provenance(str, enum.Enum):
    """Where a value comes from; the three verified kinds carry ``verified_at``."""

    SELF_DECLARED = "self_declared"
    VERIFIED_AT_COUNTER = "verified_at_counter"
    VERIFIED_FROM_DOCUMENT = "verified_from_document"
    RECEIVED_FROM_SERVICE = "received_from_service"

    @property
    def is_verification(self) -> bool:
        return self is not Provenance.SELF_DECLARED


class AttributeRejected(ValueError):
    """A value that cannot enter a profile; the message says why without echoing the value."""


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def _text(value: str, *, maximum: int) -> str:
    value = " ".join(value.split())
    if not value:
        raise AttributeRejected("must not be empty")
    if len(value) > maximum:
        raise AttributeRejected(f"at most {maximum} characters")
    if _CONTROL.search(value):
        raise AttributeRejected("control characters are not allowed")
    return value


def _email(value: str) -> str:
    value = value.strip()
    if len(value) > 254 or not _EMAIL.match(value):
        raise AttributeRejected("not an e-mail address (RFC 5322 addr-spec)")
    local, domain = value.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


def _phone(value: str) -> str:
    # Residents type numbers the way they say them; a 10-digit number is North American (+1).
    digits = re.sub(r"[\s().-]", "", value)
    if re.fullmatch(r"[0-9]{10}", digits):
        digits = "+1" + digits
    elif re.fullmatch(r"1[0-9]{10}", digits):
        digits = "+" + digits
    if not _E164.match(digits):
        raise AttributeRejected("not a phone number (E.164, e.g. +15145551234)")
    return digits


def _date_of_birth(value: str, today: dt.date) -> str:
    try:
        born = dt.date.fromisoformat(value.strip())
    except ValueError:
        raise AttributeRejected("not an ISO 8601 date (YYYY-MM-DD)") from None
    if born > today:
        raise AttributeRejected("is in the future")
    if born.year < 1880:
        raise AttributeRejected("is before 1880")
    return born.isoformat()


def _language(value: str) -> str:
    value = value.strip().lower()
    if value not in LANGUAGES:
        raise AttributeRejected("must be fr or en")
    return value


def _channels(value: str) -> str:
    chosen = [c.strip().lower() for c in value.split(",") if c.strip()]
    if not chosen:
        raise AttributeRejected("name at least one of digital, counter, post, phone")
    unknown = [c for c in chosen if c not in CHANNELS]
    if unknown:
        raise AttributeRejected("only digital, counter, post, phone are channels")
    return ",".join(c for c in CHANNELS if c in chosen)


def normalize(name: str, value: str, *, today: dt.date) -> str:
    """The canonical form of ``value`` for attribute ``name``, or :class:`AttributeRejected`."""
    if name in NEVER_STORED:
        raise AttributeRejected("biometric data is never stored by the platform")
    if name not in PROFILE_ATTRIBUTES:
        raise AttributeRejected("not a known attribute")
    if not isinstance(value, str):
        raise AttributeRejected("must be text")
    if name in (GIVEN_NAME, FAMILY_NAME):
        return _text(value, maximum=200)
    if name == EMAIL:
        return _email(value)
    if name == PHONE:
        return _phone(value)
    if name == POSTAL_ADDRESS:
        return _text(value, maximum=300)
    if name == DATE_OF_BIRTH:
        return _date_of_birth(value, today)
    if name == PREFERRED_LANGUAGE:
        return _language(value)
    if name == PREFERRED_CHANNELS:
        return _channels(value)
    return _text(value, maximum=500)  # accessibility_needs


@dataclass(frozen=True)
class Attribute:
    """One value of a profile with its provenance; verified kinds say when and by whom."""

    name: str
    value: str
    provenance: Provenance
    updated_at: dt.datetime
    verified_at: dt.datetime | None = None
    #: The agent who verified it (counter provenance kinds).
    verified_by: str | None = None
    #: The document check relied on (VERIFIED_FROM_DOCUMENT).
    document_check_id: str | None = None
    #: The service the value came from (RECEIVED_FROM_SERVICE).
    source_service_id: str | None = None

    @classmethod
    def self_declared(cls, name: str, value: str, at: dt.datetime) -> "Attribute":
        return cls(name=name, value=value, provenance=Provenance.SELF_DECLARED, updated_at=at)

    @property
    def is_verified(self) -> bool:
        return self.provenance.is_verification and self.verified_at is not None

    def verified(self, provenance: Provenance, at: dt.datetime, *, agent_id: str | None,
                 document_check_id: str | None = None, source_service_id: str | None = None,
                 value: str | None = None) -> "Attribute":
        return replace(self, value=self.value if value is None else value, provenance=provenance,
                       verified_at=at, verified_by=agent_id, document_check_id=document_check_id,
                       source_service_id=source_service_id, updated_at=at)
