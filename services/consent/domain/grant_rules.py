"""What a request to give consent must satisfy before anything is written.

- Access Act A-2.1 s. 53.1: consent is given for each specific purpose separately, to a
  recipient that pursues that purpose; it is valid only as long as the purpose needs
  (``max_validity_days``).
- Biometric purposes (city commitment 6; Act to establish a legal framework for
  information technology, s. 44): never bundled with any other purpose in one request
  (``BIOMETRIC_PURPOSE_BUNDLED``), an explicit act of the resident
  (``BIOMETRIC_EXPLICIT_ACT_REQUIRED``), an expiry (``BIOMETRIC_EXPIRY_REQUIRED``) and the
  non-biometric alternative that was offered (``BIOMETRIC_ALTERNATIVE_REQUIRED``); only in
  the resident's account pages (``BIOMETRIC_ACCOUNT_PAGE_ONLY``: never at a relying party's
  consent screen, a counter or by phone), only by the resident (``BIOMETRIC_RESIDENT_ONLY``:
  never an agent nor a service), within 5 minutes of the resident proving who they are again
  (``BIOMETRIC_REAUTHENTICATION_REQUIRED``), for at most 365 days. Nothing in the platform
  ever grants them by default.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence

from services.common.errors import FailedPrecondition, InvalidArgument
from services.consent.domain.catalogue import LegalBasis, Purpose, Recipient


@dataclasses.dataclass(frozen=True)
class RequestedConsent:
    purpose_id: str
    purpose_version: int = 0               # 0: the current version
    data_categories: tuple[str, ...] = ()  # empty: all the purpose covers for this recipient
    expires_at: dt.datetime | None = None
    non_biometric_alternative_id: str = ""


@dataclasses.dataclass(frozen=True)
class ConsentToGive:
    purpose: Purpose
    data_categories: tuple[str, ...]
    expires_at: dt.datetime | None


PurposeLookup = Callable[[str, int], Purpose | None]


REAUTHENTICATION_WINDOW = dt.timedelta(minutes=5)
BIOMETRIC_MAX_DAYS = 365


@dataclasses.dataclass(frozen=True)
class HowGiven:
    """Who gave the consent, where, and how recently they proved who they are."""

    collection_method: str = "account_page"
    actor: str = "resident"
    reauthenticated_at: dt.datetime | None = None


def _check_biometric_giver(how: HowGiven, now: dt.datetime) -> None:
    if how.collection_method != "account_page":
        raise FailedPrecondition(
            "BIOMETRIC_ACCOUNT_PAGE_ONLY",
            "A biometric consent is given only in the resident's account pages / "
            "Un consentement biométrique se donne seulement dans Mon compte")
    if how.actor != "resident":
        raise FailedPrecondition("BIOMETRIC_RESIDENT_ONLY",
                                 "Only the resident may give a biometric consent, never an agent or a service")
    fresh = how.reauthenticated_at
    if fresh is None or not (now - REAUTHENTICATION_WINDOW <= fresh <= now + dt.timedelta(seconds=30)):
        raise FailedPrecondition(
            "BIOMETRIC_REAUTHENTICATION_REQUIRED",
            "A biometric consent needs the resident's password or second factor within the last 5 minutes")


def validate_grant(items: Sequence[RequestedConsent], *, recipient: Recipient | None,
                   purpose_lookup: PurposeLookup, explicit_act: bool,
                   now: dt.datetime, how: HowGiven | None = None) -> list[ConsentToGive]:
    """Check a whole request; raise on the first class of problem, write nothing."""
    if not items:
        raise InvalidArgument("items", "at least one purpose")
    if recipient is None:
        raise InvalidArgument("recipient_id", "unknown recipient")
    violations: list[tuple[str, str]] = []
    seen: set[str] = set()
    resolved: list[tuple[int, RequestedConsent, Purpose]] = []
    for i, item in enumerate(items):
        purpose = purpose_lookup(item.purpose_id, item.purpose_version)
        if purpose is None:
            what = "unknown purpose" if item.purpose_version == 0 else "unknown purpose version"
            violations.append((f"items[{i}].purpose_id", what))
            continue
        if item.purpose_id in seen:
            violations.append((f"items[{i}].purpose_id", "the same purpose twice in one request"))
        seen.add(item.purpose_id)
        unknown = [c for c in item.data_categories if c not in purpose.data_categories]
        if unknown:
            violations.append((f"items[{i}].data_categories",
                               f"not covered by purpose {purpose.purpose_id}: {', '.join(sorted(unknown))}"))
        if item.expires_at is not None and item.expires_at <= now:
            violations.append((f"items[{i}].expire_time", "must be in the future"))
        resolved.append((i, item, purpose))
    if violations:
        raise InvalidArgument.many(violations)

    if len(items) > 1 and any(p.biometric for _, _, p in resolved):
        raise FailedPrecondition(
            "BIOMETRIC_PURPOSE_BUNDLED",
            "A biometric purpose must be consented to on its own, in a separate request / "
            "Une finalité biométrique se consent seule, dans une demande distincte")

    out: list[ConsentToGive] = []
    for i, item, purpose in resolved:
        if purpose.legal_basis is not LegalBasis.CONSENT:
            raise FailedPrecondition(
                "PURPOSE_NOT_CONSENT_BASED",
                f"purpose {purpose.purpose_id} rests on {purpose.legal_basis.value}, not on consent")
        if purpose.purpose_id not in recipient.purposes:
            raise FailedPrecondition(
                "PURPOSE_NOT_DECLARED",
                f"recipient {recipient.recipient_id} does not pursue purpose {purpose.purpose_id}")
        expires_at = item.expires_at
        if purpose.biometric:
            if not explicit_act:
                raise FailedPrecondition(
                    "BIOMETRIC_EXPLICIT_ACT_REQUIRED",
                    "A biometric consent needs an explicit act of the resident (explicit_act)")
            if expires_at is None:
                raise FailedPrecondition(
                    "BIOMETRIC_EXPIRY_REQUIRED", "A biometric consent must carry an expiry (expire_time)")
            if expires_at > now + dt.timedelta(days=BIOMETRIC_MAX_DAYS):
                raise InvalidArgument(f"items[{i}].expire_time", f"at most {BIOMETRIC_MAX_DAYS} days from now")
            if item.non_biometric_alternative_id != purpose.non_biometric_alternative_id:
                raise FailedPrecondition(
                    "BIOMETRIC_ALTERNATIVE_REQUIRED",
                    "The non-biometric alternative offered must be named: "
                    f"{purpose.non_biometric_alternative_id}")
            _check_biometric_giver(how or HowGiven(), now)
        if purpose.max_validity_days > 0:
            limit = now + dt.timedelta(days=purpose.max_validity_days)
            if expires_at is None:
                expires_at = limit
            elif expires_at > limit:
                raise InvalidArgument(f"items[{i}].expire_time",
                                      f"at most {purpose.max_validity_days} days from now")
        wanted = item.data_categories or tuple(
            c for c in purpose.data_categories if c in recipient.data_categories)
        undeclared = [c for c in wanted if c not in recipient.data_categories]
        if undeclared:
            raise FailedPrecondition(
                "CATEGORY_NOT_DECLARED",
                f"recipient {recipient.recipient_id} did not declare: {', '.join(sorted(undeclared))}")
        if not wanted:
            raise FailedPrecondition(
                "CATEGORY_NOT_DECLARED",
                f"recipient {recipient.recipient_id} declared no category of purpose {purpose.purpose_id}")
        out.append(ConsentToGive(purpose, tuple(sorted(set(wanted))), expires_at))
    return out
