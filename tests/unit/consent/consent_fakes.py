"""In-memory unit of work for the consent handlers' unit tests (cosmicpython's FakeUnitOfWork).

Changes are staged and applied only on commit, so "nothing written on error" is testable.
"""

from __future__ import annotations

import copy

from services.consent.domain.witness import WitnessPolicy
from services.consent.domain import merkle
from services.consent.domain.catalogue import DEFAULT_CATEGORIES, DEFAULT_PURPOSES, Catalogue
from services.consent.domain.ledger import EntryType
from services.consent.domain.signing import LogSigner


class FakeStore:
    def __init__(self) -> None:
        self.entries = []
        self.tree = merkle.MemoryTree()
        self.purposes = {(p.purpose_id, p.version): p for p in DEFAULT_PURPOSES}
        self.categories = {c.category_id: c for c in DEFAULT_CATEGORIES}
        self.recipients = {}
        self.signer = LogSigner.generate()
        self.events = []
        self.catalogue_version = 1
        self.witnesses = WitnessPolicy()
        self.controller = None
        self.cosignatures = []  # (tree size, root hash, Cosignature)


class FakeLedger:
    def __init__(self, store: FakeStore, staged: list) -> None:
        self.store, self.staged = store, staged

    def _all(self):
        return [*self.store.entries, *self.staged]

    async def lock(self) -> int:
        return len(self._all())

    async def append(self, entries):
        placed = []
        for e in entries:
            placed.append(e.at(len(self._all())))
            self.staged.append(placed[-1])
        return placed

    async def size(self):
        return len(self.store.entries)

    async def entry(self, index):
        return self.store.entries[index] if 0 <= index < len(self.store.entries) else None

    async def nodes(self, wanted):
        return {(lv, ix): self.store.tree.node(lv, ix) for lv, ix in wanted}

    async def consent_entries(self, resident_id):
        kinds = (EntryType.CONSENT_GIVEN, EntryType.CONSENT_WITHDRAWN, EntryType.CONSENT_EXPIRED)
        return [e for e in self._all() if e.resident_id == resident_id and e.entry_type in kinds]

    async def consent_entries_by_id(self, consent_id):
        return [e for e in self._all() if e.consent_id == consent_id]

    async def consent_entries_of(self, consent_ids):
        kinds = (EntryType.CONSENT_GIVEN, EntryType.CONSENT_WITHDRAWN, EntryType.CONSENT_EXPIRED)
        return [e for e in self._all() if e.consent_id in consent_ids and e.entry_type in kinds]

    async def access_entries(self, access_ids):
        return [e for e in self._all() if e.access_id in access_ids]

    async def resident_entries(self, resident_id, *, types=None, recipient_id=None, after=None,
                               before=None, limit=None, newest_first=False):
        rows = [e for e in self._all() if e.resident_id == resident_id
                and (types is None or e.entry_type in types)
                and (recipient_id is None or e.recipient_id == recipient_id)
                and (after is None or e.index > after) and (before is None or e.index < before)]
        if newest_first:
            rows.reverse()
        return rows[:limit] if limit else rows

    async def due_for_expiry(self, now, limit):
        from services.consent.domain.consents import reduce
        consents = reduce(self._all())
        return [e for e in self._all() if e.entry_type is EntryType.CONSENT_GIVEN
                and consents[e.consent_id].state.value == "given"
                and consents[e.consent_id].expires_at is not None
                and consents[e.consent_id].expires_at <= now][:limit]


class FakeCatalogue:
    def __init__(self, store: FakeStore, staged: dict) -> None:
        self.store, self.staged = store, staged

    async def purpose(self, purpose_id, version=0):
        all_ = {**self.store.purposes, **self.staged.get("purposes", {})}
        versions = [p for (pid, _), p in all_.items() if pid == purpose_id]
        if version:
            return next((p for p in versions if p.version == version), None)
        return max(versions, key=lambda p: p.version, default=None)

    async def purposes(self, all_versions=False):
        all_ = list({**self.store.purposes, **self.staged.get("purposes", {})}.values())
        if all_versions:
            return all_
        latest = {}
        for p in all_:
            if p.purpose_id not in latest or p.version > latest[p.purpose_id].version:
                latest[p.purpose_id] = p
        return list(latest.values())

    async def add_purpose(self, purpose):
        self.staged.setdefault("purposes", {})[(purpose.purpose_id, purpose.version)] = purpose

    async def categories(self):
        return dict(self.store.categories)

    async def version(self):
        return self.store.catalogue_version

    async def current(self):
        return await self.snapshot()

    async def snapshot(self):
        return Catalogue.of(self.store.catalogue_version, await self.purposes(all_versions=True),
                            self.store.categories.values(), await self.recipients())

    async def recipient(self, recipient_id):
        return {**self.store.recipients, **self.staged.get("recipients", {})}.get(recipient_id)

    async def recipient_by_client(self, client_id):
        return next((r for r in {**self.store.recipients, **self.staged.get("recipients", {})}.values()
                     if r.client_id == client_id), None)

    async def recipients(self):
        return list({**self.store.recipients, **self.staged.get("recipients", {})}.values())

    async def save_recipient(self, recipient):
        self.staged.setdefault("recipients", {})[recipient.recipient_id] = recipient


class FakeKeys:
    def __init__(self, store):
        self.store = store

    async def signer(self):
        return self.store.signer

    async def jwks(self):
        return self.store.signer.jwks()


class FakeProofMaterial:
    def __init__(self, tree_size, entry, nodes):
        self.tree_size, self.entry, self.nodes = tree_size, entry, nodes


class FakeReads:
    """``ConsentReads`` over the committed state only, as the SQL one reads it."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store

    async def consent_state(self, resident_id, recipient_id, purpose_id):
        catalogue = Catalogue.of(0, self.store.purposes.values(), self.store.categories.values(),
                                 self.store.recipients.values())
        kinds = (EntryType.CONSENT_GIVEN, EntryType.CONSENT_WITHDRAWN, EntryType.CONSENT_EXPIRED)
        # A fake store has no tables beside its entries: nothing can disagree with a leaf.
        return catalogue, [e for e in self.store.entries if e.resident_id == resident_id and e.entry_type in kinds], []

    async def consent_states(self, resident_ids, *, in_transaction=None):
        states = {}
        for resident_id in set(resident_ids):
            catalogue, entries, mismatches = await self.consent_state(resident_id, "", "")
            states[resident_id] = (entries, mismatches)
        return catalogue, states

    async def tree_size(self):
        return len(self.store.entries)

    async def recent_cosignatures(self):
        return sorted(self.store.cosignatures, key=lambda c: c[0], reverse=True)

    async def access_recorded(self, access_id):
        entry = next((e for e in self.store.entries if e.access_id == access_id), None)
        return (entry.index, entry.resident_id, entry.recipient_id) if entry is not None else None

    async def proof_material(self, wanted, *, leaf_index=None, at_least=0):
        size = len(self.store.entries)
        nodes = {}
        for lv, ix in wanted:
            try:
                nodes[(lv, ix)] = self.store.tree.node(lv, ix)
            except IndexError:
                pass
        entry = self.store.entries[leaf_index] if leaf_index is not None and 0 <= leaf_index < size else None
        return FakeProofMaterial(size, entry, nodes)

    async def signer(self):
        return self.store.signer


class FakeUnitOfWork:
    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.committed = False
        self.reads = FakeReads(store)

    async def __aenter__(self):
        self._staged_entries, self._staged_catalogue, self._events = [], {}, []
        self.ledger = FakeLedger(self.store, self._staged_entries)
        self.catalogue = FakeCatalogue(self.store, self._staged_catalogue)
        self.keys = FakeKeys(self.store)
        return self

    async def __aexit__(self, *exc):
        self._staged_entries.clear()

    def add_event(self, event):
        self._events.append(event)

    async def commit(self):
        for e in self._staged_entries:
            assert e.index == len(self.store.entries)
            self.store.entries.append(e)
            self.store.tree.append(e.leaf_hash())
        self._staged_entries.clear()
        if self._staged_catalogue:
            self.store.catalogue_version += 1
        self.store.purposes.update(self._staged_catalogue.get("purposes", {}))
        self.store.recipients.update(self._staged_catalogue.get("recipients", {}))
        self.store.events.extend(self._events)
        self.committed = True


def snapshot(store: FakeStore):
    return (len(store.entries), len(store.events), copy.copy(store.recipients), len(store.purposes))
