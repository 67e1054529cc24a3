"""Ledger entries: the append-only facts of the consent register.

Each entry is one leaf of the RFC 9162 Merkle tree; its leaf bytes are the canonical JSON
(``canonical.py``) of ``{"v": 1, "type", "entry_id", "resident_id", "time", ...body}``.
The bytes are the source of truth: stores keep them verbatim and rebuild entries from them,
so what is proven is exactly what is read. No entry is ever updated or deleted; state is a
reduction of entries (``consents.reduce``).

Entry types (DPV statuses where one exists): ``consent_given`` (dpv:ConsentGiven),
``consent_withdrawn`` (dpv:ConsentWithdrawn), ``consent_expired`` (dpv:ConsentExpired),
``data_accessed``, ``export_requested`` (A-2.1 s. 84), ``rectification_requested``
(A-2.1 s. 89), ``service_informed`` (a linked service told of the resident's account
closing or reopening, issue 21), and the mandate entries ``mandate_granted``, ``mandate_accepted``,
``mandate_suspended``, ``mandate_revoked``, ``mandate_expired``, ``mandate_used`` (issue 22, docs/mandates.md),
and the carte citoyenne's ``card_revoked`` and ``card_renewed`` (issue 23).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import uuid
from collections.abc import Mapping
from typing import Any

from services.consent.domain.canonical import canonical_json, parse_canonical
from services.consent.domain.merkle import leaf_hash

LEAF_FORMAT_VERSION = 1


class EntryType(str, enum.Enum):
    CONSENT_GIVEN = "consent_given"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    CONSENT_EXPIRED = "consent_expired"
    DATA_ACCESSED = "data_accessed"
    EXPORT_REQUESTED = "export_requested"
    RECTIFICATION_REQUESTED = "rectification_requested"
    SERVICE_INFORMED = "service_informed"
    # Mandates (issue 22; domain/mandates.py): entries of the represented resident's log.
    MANDATE_GRANTED = "mandate_granted"
    MANDATE_ACCEPTED = "mandate_accepted"
    MANDATE_SUSPENDED = "mandate_suspended"
    MANDATE_REVOKED = "mandate_revoked"
    MANDATE_EXPIRED = "mandate_expired"
    MANDATE_USED = "mandate_used"
    MANDATE_NARROWED = "mandate_narrowed"
    # The carte citoyenne (issue 23): its revocation and silent renewals (its first issuance
    # is a data_accessed entry, the resident's wallet as recipient).
    CARD_REVOKED = "card_revoked"
    CARD_RENEWED = "card_renewed"


def utc_ms(value: dt.datetime) -> dt.datetime:
    """UTC, truncated to the millisecond: the precision written into leaves."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    value = value.astimezone(dt.timezone.utc)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def format_time(value: dt.datetime) -> str:
    return utc_ms(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(dt.timezone.utc)


_HEADER = ("v", "type", "entry_id", "resident_id", "time")


@dataclasses.dataclass(frozen=True)
class LedgerEntry:
    """One fact about one resident. ``index`` is set once the log has placed it."""

    entry_type: EntryType
    entry_id: str
    resident_id: str
    time: dt.datetime
    body: Mapping[str, Any]
    index: int | None = None

    def leaf_data(self) -> bytes:
        document = {"v": LEAF_FORMAT_VERSION, "type": self.entry_type.value,
                    "entry_id": self.entry_id, "resident_id": self.resident_id,
                    "time": format_time(self.time)}
        clash = set(document) & set(self.body)
        if clash:
            raise ValueError(f"body may not redefine {sorted(clash)}")
        document.update(self.body)
        return canonical_json(document)

    def leaf_hash(self) -> bytes:
        return leaf_hash(self.leaf_data())

    def at(self, index: int) -> "LedgerEntry":
        return dataclasses.replace(self, index=index)

    @classmethod
    def from_leaf_data(cls, data: bytes, index: int | None = None) -> "LedgerEntry":
        document = parse_canonical(data)
        if document.get("v") != LEAF_FORMAT_VERSION:
            raise ValueError("unknown leaf format version")
        body = {k: v for k, v in document.items() if k not in _HEADER}
        return cls(EntryType(document["type"]), document["entry_id"], document["resident_id"],
                   parse_time(document["time"]), body, index)

    # Convenience accessors used by stores for their secondary columns.
    @property
    def consent_id(self) -> str | None:
        return self.body.get("consent_id")

    @property
    def access_id(self) -> str | None:
        return self.body.get("access_id")

    @property
    def recipient_id(self) -> str | None:
        return self.body.get("recipient_id")

    @property
    def purpose_id(self) -> str | None:
        return self.body.get("purpose_id")

    @property
    def data_categories(self) -> list[str]:
        return list(self.body.get("data_categories", []))


def new_id() -> str:
    return str(uuid.uuid4())


def _entry(entry_type: EntryType, resident_id: str, time: dt.datetime, body: dict) -> LedgerEntry:
    return LedgerEntry(entry_type, new_id(), resident_id, utc_ms(time), body)


def consent_given(*, consent_id: str, resident_id: str, recipient_id: str, purpose_id: str,
                  purpose_version: int, purpose_text_sha256: str, data_categories: list[str],
                  time: dt.datetime, expires_at: dt.datetime | None, biometric: bool,
                  non_biometric_alternative_id: str, collection_method: str,
                  explicit_act: bool, language: str, actor: str,
                  reauthentication: tuple[dt.datetime, str] | None = None, mandate_id: str = "") -> LedgerEntry:
    """``reauthentication``: (when, how) the resident proved who they are again just before
    a biometric consent (``reauthenticated_at``, ``reauthentication_method`` in the leaf).
    ``mandate_id``: given by a mandatary under that mandate (issue 22; ``actor`` is then
    ``mandatary:<id>``); only such leaves have the member."""
    extra = {} if reauthentication is None else {
        "reauthenticated_at": format_time(reauthentication[0]), "reauthentication_method": reauthentication[1]}
    if mandate_id:
        extra["mandate_id"] = mandate_id
    return _entry(EntryType.CONSENT_GIVEN, resident_id, time, {
        **extra,
        "consent_id": consent_id, "recipient_id": recipient_id, "purpose_id": purpose_id,
        "purpose_version": purpose_version, "purpose_text_sha256": purpose_text_sha256,
        "legal_basis": "consent", "data_categories": sorted(set(data_categories)),
        "expires_at": format_time(expires_at) if expires_at else None,
        "biometric": biometric, "non_biometric_alternative_id": non_biometric_alternative_id,
        "collection_method": collection_method, "explicit_act": explicit_act,
        "language": language, "actor": actor,
    })


def consent_withdrawn(*, consent_id: str, resident_id: str, time: dt.datetime, reason: str,
                      actor: str, superseded_by: str | None = None) -> LedgerEntry:
    body = {"consent_id": consent_id, "reason": reason, "actor": actor}
    if superseded_by:
        body["superseded_by"] = superseded_by
    return _entry(EntryType.CONSENT_WITHDRAWN, resident_id, time, body)


def consent_expired(*, consent_id: str, resident_id: str, time: dt.datetime,
                    expired_at: dt.datetime) -> LedgerEntry:
    return _entry(EntryType.CONSENT_EXPIRED, resident_id, time,
                  {"consent_id": consent_id, "expired_at": format_time(expired_at)})


def data_accessed(*, access_id: str, resident_id: str, recipient_id: str, purpose_id: str,
                  data_categories: list[str], withheld_categories: list[str],
                  bases: Mapping[str, str], consent_ids: list[str], accessed_at: dt.datetime,
                  time: dt.datetime, source: str, unsupported_categories: list[str] = (),
                  agent: str = "", mandatary_id: str = "", mandate_id: str = "") -> LedgerEntry:
    """``unsupported_categories``: released on a consent basis although no consent named was
    active at ``accessed_at`` — recorded as it happened, for the privacy officer to see.
    ``agent``: the counter agent who saw the file (their pseudonymous ``AG…`` reference, never
    a name; issue 17), only on a counter's accesses: other entries keep the leaf content they
    always had."""
    body = {
        "unsupported_categories": sorted(set(unsupported_categories)),
        "access_id": access_id, "recipient_id": recipient_id, "purpose_id": purpose_id,
        "data_categories": sorted(set(data_categories)),
        "withheld_categories": sorted(set(withheld_categories)),
        "bases": dict(sorted(bases.items())), "consent_ids": sorted(set(consent_ids)),
        "accessed_at": format_time(accessed_at), "source": source,
    }
    if agent:
        body["agent"] = agent
    if mandate_id:
        # Issue 22: released to a mandatary acting for the resident ("by X under mandate M").
        body["mandatary_id"], body["mandate_id"] = mandatary_id, mandate_id
    return _entry(EntryType.DATA_ACCESSED, resident_id, time, body)


def export_requested(*, resident_id: str, time: dt.datetime, actor: str) -> LedgerEntry:
    return _entry(EntryType.EXPORT_REQUESTED, resident_id, time,
                  {"export_id": new_id(), "actor": actor})


def rectification_requested(*, resident_id: str, time: dt.datetime, data_categories: list[str],
                            recipient_id: str | None, actor: str) -> LedgerEntry:
    # The resident's own description of the correction is personal data: it is not logged.
    return _entry(EntryType.RECTIFICATION_REQUESTED, resident_id, time, {
        "request_id": new_id(), "data_categories": sorted(set(data_categories)),
        "recipient_id": recipient_id, "actor": actor,
    })


#: What a ``service_informed`` entry says the service was told (accounts' event ``reason``).
INFORMED_OF = ("resident_closed", "resident_reopened")


def service_informed(*, notice_id: str, resident_id: str, recipient_id: str, account_id: str,
                     informed_of: str, time: dt.datetime, source: str) -> LedgerEntry:
    """A linked service was told that the resident closed (or reopened) their Montréal
    account: its link was suspended (or reactivated) by accounts (issue 21, "what linked
    services are told"). ``notice_id`` is the accounts event's id, so a redelivered event
    finds its entry. Identifiers only: nothing the service held is named."""
    if informed_of not in INFORMED_OF:
        raise ValueError(f"informed_of must be one of {INFORMED_OF}")
    return _entry(EntryType.SERVICE_INFORMED, resident_id, time, {
        "notice_id": notice_id, "recipient_id": recipient_id, "account_id": account_id,
        "informed_of": informed_of, "source": source,
    })


#: Why a card was revoked (identity's ``card_revoked`` ``reason``).
CARD_REVOCATION_REASONS = ("lost_device", "resident_disabled", "account_closed")


def card_revoked(*, resident_id: str, card_id: str, reason: str, time: dt.datetime, source: str) -> LedgerEntry:
    """A carte citoyenne revoked in the published status list (issue 23): verifiers refuse
    it from their next refresh. Identifiers only: no claim of the card."""
    if reason not in CARD_REVOCATION_REASONS:
        raise ValueError(f"reason must be one of {CARD_REVOCATION_REASONS}")
    return _entry(EntryType.CARD_REVOKED, resident_id, time, {
        "card_id": card_id, "reason": reason, "source": source,
    })


def card_renewed(*, resident_id: str, card_id: str, expires_at: str, time: dt.datetime, source: str) -> LedgerEntry:
    """A carte citoyenne renewed by the resident's wallet without them (issue 23: the refresh
    token, the same wallet key, the values of the first card): a new card, a new expiry."""
    return _entry(EntryType.CARD_RENEWED, resident_id, time, {
        "card_id": card_id, "expires_at": expires_at, "source": source,
    })


# --- mandates (issue 22) ------------------------------------------------------------------
def mandate_granted(*, mandate_id: str, represented_id: str, mandatary_id: str, grantor_id: str,
                    basis: str, scope: list[dict], valid_from: dt.datetime,
                    valid_until: dt.datetime | None, time: dt.datetime, actor: str,
                    under_mandate_id: str | None = None, document: dict | None = None) -> LedgerEntry:
    """A mandate given (by the represented resident, a mandatary within their own mandate, or
    recorded by an agent on a legal document). Only identifiers: no name, no document number
    (``document.reference_sha256`` is a hash of it)."""
    return _entry(EntryType.MANDATE_GRANTED, represented_id, time, {
        "mandate_id": mandate_id, "mandatary_id": mandatary_id, "grantor_id": grantor_id,
        "basis": basis, "scope": scope, "valid_from": format_time(valid_from),
        "valid_until": format_time(valid_until) if valid_until else None,
        "under_mandate_id": under_mandate_id, "document": document, "actor": actor,
    })


def mandate_accepted(*, mandate_id: str, represented_id: str, mandatary_id: str, time: dt.datetime,
                     actor: str) -> LedgerEntry:
    return _entry(EntryType.MANDATE_ACCEPTED, represented_id, time,
                  {"mandate_id": mandate_id, "mandatary_id": mandatary_id, "actor": actor})


def mandate_suspended(*, mandate_id: str, represented_id: str, time: dt.datetime, actor: str) -> LedgerEntry:
    return _entry(EntryType.MANDATE_SUSPENDED, represented_id, time, {"mandate_id": mandate_id, "actor": actor})


def mandate_revoked(*, mandate_id: str, represented_id: str, time: dt.datetime, reason: str,
                    actor: str) -> LedgerEntry:
    return _entry(EntryType.MANDATE_REVOKED, represented_id, time,
                  {"mandate_id": mandate_id, "reason": reason, "actor": actor})


def mandate_expired(*, mandate_id: str, represented_id: str, time: dt.datetime,
                    expired_at: dt.datetime) -> LedgerEntry:
    return _entry(EntryType.MANDATE_EXPIRED, represented_id, time,
                  {"mandate_id": mandate_id, "expired_at": format_time(expired_at)})


def mandate_used(*, mandate_id: str, represented_id: str, mandatary_id: str, act_id: str, service: str,
                 action: str, time: dt.datetime, actor: str) -> LedgerEntry:
    """An act done under a mandate, recorded by the service it was done with (issue 22): in the
    represented resident's log, naming the mandatary, so both sides see it."""
    return _entry(EntryType.MANDATE_USED, represented_id, time, {
        "mandate_id": mandate_id, "mandatary_id": mandatary_id, "act_id": act_id, "service": service,
        "action": action, "actor": actor})


def mandate_narrowed(*, mandate_id: str, represented_id: str, mandatary_id: str, removed_actions: list[str],
                     reason: str, effective_at: dt.datetime, time: dt.datetime) -> LedgerEntry:
    """A mandate covers less from ``effective_at`` (issue 22): e.g. on a minor's 14th
    birthday the parental authority stops covering ``consent`` (Law 25). In the represented
    resident's log, naming the mandatary, so both sides see it. ``removed_actions`` may be
    empty: the fact that the minor turned 14 is recorded for every mandate that concerns them."""
    return _entry(EntryType.MANDATE_NARROWED, represented_id, time, {
        "mandate_id": mandate_id, "mandatary_id": mandatary_id, "removed_actions": sorted(set(removed_actions)),
        "reason": reason, "effective_at": format_time(effective_at)})
