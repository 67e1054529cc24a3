"""Binding: what a decision reads from a ledger row is what the row's hashed leaf says.

A ``ledger_entries`` row holds the leaf bytes (the source of truth, RFC 9162 s. 2.1.1) and
index columns over them (``entry_type``, ``resident_id``, ``consent_id``…) that queries
select rows by. Someone able to bypass the append-only triggers (a database administrator)
could change a column without touching the leaf: the root and the signed tree heads would
not move, yet a query selecting by that column would see another history (a withdrawal
turned into a ``data_accessed`` row no longer ends its consent).

So every row a decision reads is *bound* before use (``bind``):

- its leaf hash column equals SHA-256(0x00 || leaf bytes) and the level-0 node of the
  Merkle tree at its index (the node every proof and tree head is computed from);
- every index column equals the value the leaf implies (``columns_of``, also what the
  store writes on append, so both derive from one definition).

A row that fails is not used: the caller fails closed (Check denies, a listing or a write
refuses with ``LEDGER_MISMATCH``) and raises the alarm. ``mtlid ledger verify`` applies the
same comparison to every row.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from services.common.errors import FailedPrecondition
from services.consent.domain.ledger import EntryType, LedgerEntry, parse_time, utc_ms
from services.consent.domain.merkle import leaf_hash

# The index columns of ``ledger_entries``, each derived from the leaf by ``columns_of``.
INDEX_COLUMNS = ("entry_id", "entry_type", "resident_id", "consent_id", "access_id", "recipient_id",
                 "purpose_id", "expires_at", "entry_time", "mandate_id", "mandatary_id")
_TIMES = ("expires_at", "entry_time")

#: The entry types of a mandate's life (issue 22): only their rows carry ``mandate_id`` and
#: ``mandatary_id`` columns (a consent given by a mandatary names its mandate in its leaf, but
#: is a consent entry, found by ``consent_id``).
MANDATE_ENTRY_TYPES = frozenset({EntryType.MANDATE_GRANTED, EntryType.MANDATE_ACCEPTED, EntryType.MANDATE_SUSPENDED,
                                 EntryType.MANDATE_REVOKED, EntryType.MANDATE_EXPIRED, EntryType.MANDATE_USED,
                                 EntryType.MANDATE_NARROWED})


def columns_of(entry: LedgerEntry) -> dict[str, Any]:
    """The index columns a row for ``entry`` must hold (what the store writes on append)."""
    body = entry.body
    mandate = entry.entry_type in MANDATE_ENTRY_TYPES
    return {"entry_id": entry.entry_id, "entry_type": entry.entry_type.value,
            "resident_id": entry.resident_id, "consent_id": body.get("consent_id"),
            "access_id": body.get("access_id"), "recipient_id": body.get("recipient_id"),
            "purpose_id": body.get("purpose_id"),
            "expires_at": parse_time(body["expires_at"]) if body.get("expires_at") else None,
            "entry_time": entry.time,
            "mandate_id": body.get("mandate_id") if mandate else None,
            "mandatary_id": body.get("mandatary_id") if mandate else None}


def differing_columns(entry: LedgerEntry, columns: Mapping[str, Any]) -> list[str]:
    """The names of the index columns in ``columns`` that differ from what ``entry`` implies."""
    expected = columns_of(entry)
    return [name for name, value in columns.items()
            if (as_time(value) if name in _TIMES else value) != expected[name]]


def as_time(value: Any) -> dt.datetime | None:
    """A timestamp as a driver returns it (PostgreSQL: aware; SQLite: naive, or the stored
    text through the raw read connection), in UTC at the leaf's precision."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return utc_ms(value)


@dataclasses.dataclass(frozen=True)
class Mismatch:
    """A row that does not match its leaf: its index and what differs (column names only —
    never values, which may name a resident)."""

    index: int
    what: tuple[str, ...]

    def describe(self) -> str:
        return f"leaf {self.index}: " + ", ".join(self.what)


class LedgerMismatch(FailedPrecondition):
    """A decision would have read rows that do not match their leaves: refused."""

    def __init__(self, mismatches: list[Mismatch]) -> None:
        super().__init__("LEDGER_MISMATCH", "the ledger's tables do not match its leaves; "
                         "the operator has been alerted (`mtlid ledger verify`)")
        self.mismatches = mismatches


def bind(index: int, columns: Mapping[str, Any], leaf_data: bytes, stored_hash: bytes | None,
         node_hash: bytes | None, *, known: tuple[bytes, bytes, LedgerEntry, dict] | None = None
         ) -> tuple[LedgerEntry | None, Mismatch | None]:
    """The entry of one row, checked against its leaf; (None, mismatch) when it does not match.

    ``columns``: the index columns the query read (any subset of ``INDEX_COLUMNS``).
    ``known``: (leaf bytes, leaf hash, entry, ``columns_of(entry)``) of this index bound
    earlier by this process — committed leaves never change, so identical bytes and hashes
    need no re-hash, re-parse nor re-derivation of the columns.
    """
    leaf_data = bytes(leaf_data)
    stored_hash = bytes(stored_hash) if stored_hash is not None else None
    node_hash = bytes(node_hash) if node_hash is not None else None
    what: list[str] = []
    if known is not None and known[0] == leaf_data and known[1] == stored_hash:
        entry, digest = known[2], known[1]
        if node_hash == digest and all(
                (as_time(value) if name in _TIMES else value) == known[3][name] for name, value in columns.items()):
            return entry, None  # the common case, without re-deriving the columns
    else:
        digest = leaf_hash(leaf_data)
        if stored_hash != digest:
            what.append("leaf_hash differs from the leaf bytes")
        try:
            entry = LedgerEntry.from_leaf_data(leaf_data, index)
        except (ValueError, KeyError, TypeError):
            return None, Mismatch(index, (*what, "leaf bytes are not a ledger entry"))
    if node_hash != digest:
        what.append("the tree's leaf node differs from the leaf")
    what.extend(f"column {name} differs from the leaf" for name in differing_columns(entry, columns))
    if what:
        return None, Mismatch(index, tuple(what))
    return entry.at(index), None


def orphan_endings(entries: list[LedgerEntry]) -> list[Mismatch]:
    """Endings of consents whose ``consent_given`` is not among ``entries`` (read together
    with it by construction): its row was hidden by a changed column."""
    given = {e.consent_id for e in entries if e.entry_type is EntryType.CONSENT_GIVEN}
    return [Mismatch(e.index, ("its consent_given row is missing",)) for e in entries
            if e.entry_type in (EntryType.CONSENT_WITHDRAWN, EntryType.CONSENT_EXPIRED)
            and e.consent_id not in given]


def orphan_mandate_entries(entries: list[LedgerEntry]) -> list[Mismatch]:
    """Rows read as a resident's mandates (issue 22) that cannot be: a row of another type,
    or a step of a mandate whose ``mandate_granted`` is not among ``entries`` (read together
    with it by construction: its row was hidden by a changed column)."""
    granted = {e.body.get("mandate_id") for e in entries if e.entry_type is EntryType.MANDATE_GRANTED}
    return [Mismatch(e.index, ("a row naming a mandate is not a mandate entry",)
                     if e.entry_type not in MANDATE_ENTRY_TYPES else ("its mandate_granted row is missing",))
            for e in entries
            if e.entry_type not in MANDATE_ENTRY_TYPES or e.body.get("mandate_id") not in granted]
