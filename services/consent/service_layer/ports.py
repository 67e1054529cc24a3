"""What the handlers need from storage (implemented in adapters/, faked in unit tests)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

from services.common.events import Event
from services.consent.domain.catalogue import DataCategory, Purpose, Recipient
from services.consent.domain.ledger import EntryType, LedgerEntry
from services.consent.domain.signing import LogSigner


class LedgerRepository(Protocol):
    async def lock(self) -> int:
        """Serialize appends (held until the transaction ends); returns the tree size."""

    async def append(self, entries: Sequence[LedgerEntry]) -> list[LedgerEntry]:
        """Append after ``lock()``; returns the entries with their indices."""

    async def size(self) -> int: ...

    async def committed_size(self, at_least: int = 0) -> int:
        """A committed size >= ``at_least`` known without a round trip, else the current one."""

    async def entry(self, index: int) -> LedgerEntry | None: ...

    async def node_range(self, level: int, start: int, stop: int) -> dict[int, bytes]:
        """Stored nodes of one level with start <= index < stop, read from storage (no cache)."""
        ...

    async def nodes(self, wanted: set[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """Complete-subtree hashes ``(level, index) -> hash`` (RFC 9162 s. 2.1.1)."""

    async def consent_entries(self, resident_id: str) -> list[LedgerEntry]:
        """The resident's consent_given/withdrawn/expired entries, in log order."""

    async def consent_entries_by_id(self, consent_id: str) -> list[LedgerEntry]: ...

    async def access_entry(self, access_id: str) -> LedgerEntry | None: ...

    async def resident_entries(self, resident_id: str, *, types: Sequence[EntryType] | None = None,
                               recipient_id: str | None = None, after: int | None = None,
                               before: int | None = None, limit: int | None = None,
                               newest_first: bool = False) -> list[LedgerEntry]: ...

    async def due_for_expiry(self, now: dt.datetime, limit: int) -> list[LedgerEntry]:
        """consent_given entries whose expiry has passed and that have no ending entry."""


class CatalogueRepository(Protocol):
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


class ConsentUnitOfWorkPort(Protocol):
    ledger: LedgerRepository
    catalogue: CatalogueRepository
    keys: KeyRepository

    async def __aenter__(self): ...

    async def __aexit__(self, *exc) -> None: ...

    def add_event(self, event: Event) -> None: ...

    async def commit(self) -> None: ...
