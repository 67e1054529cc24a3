"""What the handlers need from storage (implemented in adapters/, faked in unit tests)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

from services.common.events import Event
from services.consent.domain.catalogue import Catalogue, DataCategory, Purpose, Recipient
from services.consent.domain.ledger import EntryType, LedgerEntry
from services.consent.domain.signing import LogSigner


class LedgerRepository(Protocol):
    async def lock(self) -> int:
        """Serialize appends (held until the transaction ends); returns the tree size."""

    async def append(self, entries: Sequence[LedgerEntry]) -> list[LedgerEntry]:
        """Append after ``lock()``; returns the entries with their indices."""

    async def size(self) -> int: ...

    async def entry(self, index: int) -> LedgerEntry | None: ...

    async def node_range(self, level: int, start: int, stop: int) -> dict[int, bytes]:
        """Stored nodes of one level with start <= index < stop, read from storage (no cache)."""
        ...

    async def nodes(self, wanted: set[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """Complete-subtree hashes ``(level, index) -> hash`` (RFC 9162 s. 2.1.1)."""

    async def consent_entries(self, resident_id: str) -> list[LedgerEntry]:
        """The resident's consent_given/withdrawn/expired entries, in log order."""

    async def consent_entries_by_id(self, consent_id: str) -> list[LedgerEntry]: ...

    async def consent_entries_of(self, consent_ids: Sequence[str]) -> list[LedgerEntry]:
        """The consent_given/withdrawn/expired entries of these consents, in log order."""

    async def access_entries(self, access_ids: Sequence[str]) -> list[LedgerEntry]:
        """The data_accessed entries recorded with these access ids (one each at most)."""

    async def resident_entries(self, resident_id: str, *, types: Sequence[EntryType] | None = None,
                               recipient_id: str | None = None, after: int | None = None,
                               before: int | None = None, limit: int | None = None,
                               newest_first: bool = False) -> list[LedgerEntry]: ...

    async def due_for_expiry(self, now: dt.datetime, limit: int) -> list[LedgerEntry]:
        """consent_given entries whose expiry has passed and that have no ending entry."""


class CatalogueRepository(Protocol):
    async def version(self) -> int:
        """The catalogue's version: bumped by every change to it."""

    async def snapshot(self) -> Catalogue:
        """The whole catalogue at one version."""

    async def current(self) -> Catalogue:
        """The catalogue as this transaction sees it (from the process's copy when that is
        at this transaction's version)."""

    async def purpose(self, purpose_id: str, version: int = 0) -> Purpose | None: ...

    async def purposes(self, all_versions: bool = False) -> list[Purpose]: ...

    async def add_purpose(self, purpose: Purpose) -> None: ...

    async def categories(self) -> dict[str, DataCategory]: ...

    async def recipient(self, recipient_id: str) -> Recipient | None: ...

    async def recipient_by_client(self, client_id: str) -> Recipient | None: ...

    async def recipients(self) -> list[Recipient]: ...

    async def save_recipient(self, recipient: Recipient) -> None: ...


class KeyRepository(Protocol):
    async def signer(self) -> LogSigner:
        """The active signing key (created on first use)."""

    async def jwks(self) -> dict: ...


class ProofMaterialPort(Protocol):
    tree_size: int
    entry: LedgerEntry | None
    nodes: dict[tuple[int, int], bytes]


class ConsentReads(Protocol):
    """Read-only queries outside any transaction (Check, proofs); usable without entering
    the unit of work. The resident's consent entries are read on every call, never cached."""

    async def consent_state(self, resident_id: str, recipient_id: str, purpose_id: str
                            ) -> tuple[Catalogue, list[LedgerEntry], list]:
        """The catalogue (current as of the statement that read the entries), the
        resident's consent entries (given, withdrawn, expired) bound to their leaves, and the
        rows that did not match their leaves (``domain.binding.Mismatch``; Check fails closed)."""

    async def consent_states(self, resident_ids, *, in_transaction=None
                             ) -> tuple[Catalogue, dict[str, tuple[list[LedgerEntry], list]]]:
        """``consent_state`` for many residents in one read (CheckMany): the catalogue, and
        per resident the entries and mismatches their own ``consent_state`` would return."""

    async def tree_size(self) -> int:
        """The committed size of the log now."""

    async def access_recorded(self, access_id: str) -> tuple[int, str, str] | None:
        """(index, resident, recipient) of the committed ``data_accessed`` entry with this
        access id, or None."""

    async def proof_material(self, wanted, *, leaf_index: int | None = None,
                             at_least: int = 0) -> ProofMaterialPort:
        """A committed tree size (>= ``at_least`` when the log has one), the leaf at
        ``leaf_index`` if asked and committed, and those of the ``wanted`` complete subtrees
        that exist (RFC 9162 s. 2.1.1)."""

    async def signer(self) -> LogSigner: ...



class ConsentUnitOfWorkPort(Protocol):
    ledger: LedgerRepository
    catalogue: CatalogueRepository
    keys: KeyRepository
    reads: ConsentReads

    async def __aenter__(self): ...

    async def __aexit__(self, *exc) -> None: ...

    def add_event(self, event: Event) -> None: ...

    async def commit(self) -> None: ...
