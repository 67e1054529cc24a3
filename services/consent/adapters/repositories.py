"""SQL implementations of the consent service's ports (service_layer/ports.py)."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections import OrderedDict
from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import and_, exists, func, insert, or_, select, text, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from services.common.reads import PointReads
from services.consent.adapters.orm import (CatalogueVersionRow, CosignatureRow, DataCategoryRow, LedgerEntryRow,
                                           LedgerHeadRow, LogKeyRow, MerkleNodeRow, PurposeRow, RecipientRow)
from services.consent.adapters.reads import ConsentReads
from services.consent.domain import merkle
from services.consent.domain.binding import (INDEX_COLUMNS, LedgerMismatch, Mismatch, bind, columns_of,
                                            orphan_endings, orphan_mandate_entries)
from services.consent.domain.catalogue import Catalogue, DataCategory, LegalBasis, Purpose, Recipient
from services.consent.domain.ledger import EntryType, LedgerEntry
from services.consent.domain.mandates import MANDATE_TYPES
from services.consent.domain.signing import LogSigner
from services.consent.domain.witness import Cosignature, CosignatureRate, WitnessPolicy
from services.consent.service_layer.alarms import alarms
from services.consent.metrics import timed_append

_CONSENT_TYPES = (EntryType.CONSENT_GIVEN.value, EntryType.CONSENT_WITHDRAWN.value,
                  EntryType.CONSENT_EXPIRED.value)
_ENDINGS = (EntryType.CONSENT_WITHDRAWN.value, EntryType.CONSENT_EXPIRED.value)

# The tables' columns, for Core statements on the write and history paths: a statement that
# names a mapped class goes through the ORM's compile and result machinery, ~25 % more CPU
# per statement here (RecordAccess runs six under the head lock) for nothing these plain
# column reads use.
_ENTRY = LedgerEntryRow.__table__.c
_HEAD = LedgerHeadRow.__table__.c
_NODE = MerkleNodeRow.__table__.c
_VERSION = CatalogueVersionRow.__table__.c

# PostgreSQL: an append (its entries, their new nodes, the head) as one statement of fixed
# shape, rows as arrays. One round trip under the head lock instead of three, compiled once;
# ~0.3 ms of CPU against ~0.8 for three statements. PostgreSQL runs the data-modifying CTEs
# with the UPDATE, all or none ("Data-Modifying Statements in WITH"); no trigger reads across
# the three tables, so their sharing one snapshot changes nothing.
_ENTRY_COLUMNS = ("idx", "entry_id", "entry_type", "resident_id", "consent_id", "access_id", "recipient_id",
                  "purpose_id", "expires_at", "entry_time", "leaf_data", "leaf_hash", "mandate_id", "mandatary_id")
_ENTRY_TYPES = ("BIGINT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TIMESTAMPTZ", "TIMESTAMPTZ",
                "BYTEA", "BYTEA", "TEXT", "TEXT")
_APPEND_PG = text(
    "WITH entries AS (INSERT INTO ledger_entries (" + ", ".join(_ENTRY_COLUMNS) + ") SELECT * FROM unnest("
    + ", ".join(f"CAST(:{c} AS {t}[])" for c, t in zip(_ENTRY_COLUMNS, _ENTRY_TYPES)) + ")), "
    "nodes AS (INSERT INTO merkle_nodes (level, idx, hash) SELECT * FROM unnest("
    "CAST(:level AS SMALLINT[]), CAST(:node_idx AS BIGINT[]), CAST(:hash AS BYTEA[]))) "
    "UPDATE ledger_head SET tree_size = :tree_size WHERE id = 1")


# What a consent process keeps of its ledger in memory, within the service's memory budget
# (150 MB per process, issue 8; ~100 MB at rest): ~7.5 MB of nodes (~230 bytes each), ~2.7
# MB of proof leaves (~2.7 KB each) and ~7 MB of Check's parsed consent entries (~3.4 KB
# with their bytes; reads.PARSED_ENTRY_CAPACITY): ~19 MB once full, with the tables
# (tests/integration/consent/test_consent_memory.py). Sized by measure: with the earlier
# bounds (200,000 nodes, 10,000 leaves, 10,000 parsed entries: ~120 MB once full) a
# sustained load of proofs for random leaves took the process from 101 to 182 MB
# (bench/RESULTS.md). 32,768 nodes still hold the tree's upper levels, which every proof
# passes through (each level has half the nodes of the one below); the nodes near a
# random leaf are seldom asked for twice anyway.
NODE_CACHE_CAPACITY = 32_768
PROOF_LEAF_CAPACITY = 1_000


class NodeCache:
    """Complete-subtree hashes already read. Safe to keep forever: a complete subtree of an
    append-only log never changes (RFC 9162 s. 2.1.1), and only committed nodes enter."""

    def __init__(self, capacity: int = NODE_CACHE_CAPACITY) -> None:
        self._items: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._capacity = capacity

    def get(self, key: tuple[int, int]) -> bytes | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: tuple[int, int], value: bytes) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)


class LedgerStore:
    """Process-wide state shared by the units of work of one database: the node cache, the
    key-encryption key, the decrypted signing key, and the read-only queries of Check and the
    proofs with their catalogue copy (``reads``, adapters/reads.py)."""

    def __init__(self, session_factory: async_sessionmaker, key_encryption_key: bytes) -> None:
        if len(key_encryption_key) != 32:
            raise ValueError("the key-encryption key must be 32 bytes")
        self.session_factory = session_factory
        self.kek = key_encryption_key
        self.nodes = NodeCache()
        # Committed entries never change either; proofs for popular leaves skip the database.
        self.entries: OrderedDict[int, LedgerEntry] = OrderedDict()
        self.entry_capacity = PROOF_LEAF_CAPACITY
        # The largest tree size seen committed: a proof for an explicit size up to it needs no
        # round trip (the log only grows).
        self.known_size = 0
        self.signer: LogSigner | None = None
        # The witnesses whose cosignatures this log accepts and publishes (LEDGER.md "Witnesses").
        self.witnesses = WitnessPolicy()
        # Each witness's share of AddCosignature (LEDGER.md "Witnesses"), per process.
        self.cosignature_rate = CosignatureRate()
        # The controller receipts name (MTLID_CONTROLLER_EMAIL/_PHONE; None: the defaults).
        self.controller: dict[str, str] | None = None
        self.reads = ConsentReads(
            PointReads(session_factory.kw["bind"]), node_cache=self.nodes, entry_cache=self.entries.get,
            remember_entry=self.remember_entry, known_size=lambda: self.known_size, saw_size=self.saw_size,
            load_catalogue=self.load_catalogue, signer=lambda: ensure_log_key(self))

    async def aclose(self) -> None:
        """Close the read paths' own connections (the engine is its owner's to dispose)."""
        await self.reads.aclose()

    def saw_size(self, size: int) -> None:
        """``size`` was read committed: proofs up to it need not ask again (the log only grows)."""
        self.known_size = max(self.known_size, size)

    async def load_catalogue(self) -> Catalogue:
        async with self.session_factory() as session:
            return await SqlCatalogueRepository(session).snapshot()

    def remember_entry(self, entry: LedgerEntry) -> None:
        self.entries[entry.index] = entry
        self.entries.move_to_end(entry.index)
        while len(self.entries) > self.entry_capacity:
            self.entries.popitem(last=False)


class SqlLedgerRepository:
    def __init__(self, session: AsyncSession, store: LedgerStore) -> None:
        self.session = session
        self.store = store
        self._size: int | None = None
        self._new_nodes: dict[tuple[int, int], bytes] = {}

    async def lock(self) -> int:
        # FOR UPDATE on the single head row: appenders in every replica queue here until the
        # holder commits, then read the size it left (PostgreSQL READ COMMITTED re-reads the
        # locked row). SQLite ignores FOR UPDATE; its BEGIN IMMEDIATE already serializes writers.
        result = await self.session.execute(
            select(_HEAD.tree_size).where(_HEAD.id == 1).with_for_update())
        self._size = result.scalar_one()
        self._new_nodes = {}
        return self._size

    @timed_append
    async def append(self, entries: Sequence[LedgerEntry]) -> list[LedgerEntry]:
        if self._size is None:
            raise RuntimeError("append() without lock()")
        placed: list[LedgerEntry] = []
        entry_rows: list[dict] = []
        node_rows: list[dict] = []
        for entry in entries:
            index = self._size
            entry = entry.at(index)
            data = entry.leaf_data()
            leaf = merkle.leaf_hash(data)
            siblings, level, position = set(), 0, index
            while position & 1:
                siblings.add((level, position - 1))
                level += 1
                position >>= 1
            known = await self._fetch_nodes({s for s in siblings if s not in self._new_nodes})
            known.update(self._new_nodes)
            for lv, ix, value in merkle.closed_subtrees(index, leaf, lambda lv, ix: known[(lv, ix)]):
                self._new_nodes[(lv, ix)] = value
                node_rows.append({"level": lv, "idx": ix, "hash": value})
            # The index columns are derived from the leaf by the one definition every read
            # checks them against (domain/binding.py).
            entry_rows.append({"idx": index, **columns_of(entry), "leaf_data": data, "leaf_hash": leaf})
            placed.append(entry)
            self._size += 1
        if not entry_rows:
            return placed
        if self.session.bind.dialect.name == "postgresql":
            await self.session.execute(_APPEND_PG, {
                **{column: [row[column] for row in entry_rows] for column in _ENTRY_COLUMNS},
                "level": [row["level"] for row in node_rows], "node_idx": [row["idx"] for row in node_rows],
                "hash": [row["hash"] for row in node_rows], "tree_size": self._size})
        else:
            # Core statements on the tables: plain executemany, without the ORM's bulk machinery.
            await self.session.execute(insert(LedgerEntryRow.__table__), entry_rows)
            await self.session.execute(insert(MerkleNodeRow.__table__), node_rows)
            await self.session.execute(update(LedgerHeadRow.__table__).where(_HEAD.id == 1)
                                       .values(tree_size=self._size))
        return placed

    def committed(self) -> None:
        """The transaction that appended committed: its nodes are final (RFC 9162 s. 2.1.1), so
        the next append in this process finds its left siblings without a round trip, under
        the head lock, where every millisecond is every writer's."""
        for key, value in self._new_nodes.items():
            self.store.nodes.put(key, value)
        if self._size is not None:
            self.store.saw_size(self._size)
        self._new_nodes = {}

    async def _fetch_nodes(self, wanted: set[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        found: dict[tuple[int, int], bytes] = {}
        missing = []
        for key in wanted:
            value = self.store.nodes.get(key)
            if value is None:
                missing.append(key)
            else:
                found[key] = value
        for start in range(0, len(missing), 400):
            chunk = missing[start:start + 400]
            result = await self.session.execute(
                select(_NODE.level, _NODE.idx, _NODE.hash)
                .where(tuple_(_NODE.level, _NODE.idx).in_(chunk)))
            for level, idx, value in result:
                found[(level, idx)] = value
                self.store.nodes.put((level, idx), value)
        return found

    async def nodes(self, wanted: set[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        return await self._fetch_nodes(wanted)

    async def node_range(self, level: int, start: int, stop: int) -> dict[int, bytes]:
        # One range scan on the (level, idx) primary key: verification reads every stored node,
        # and ~400-key IN lists cost ~50x more per node than a range (bench/RESULTS.md).
        result = await self.session.execute(
            select(_NODE.idx, _NODE.hash)
            .where(_NODE.level == level, _NODE.idx >= start, _NODE.idx < stop))
        return {idx: value for idx, value in result}

    async def size(self) -> int:
        size = await self.session.scalar(select(_HEAD.tree_size).where(_HEAD.id == 1))
        if self._size is None:  # only sizes read outside an append are known committed
            self.store.saw_size(size)
        return size

    async def entry(self, index: int) -> LedgerEntry | None:
        cached = self.store.entries.get(index)
        if cached is not None and self._size is None:
            return cached
        result = await self.session.execute(select(_ENTRY.leaf_data).where(_ENTRY.idx == index))
        data = result.scalar_one_or_none()
        if data is None:
            return None
        entry = LedgerEntry.from_leaf_data(data, index)
        if self._size is None:
            self.store.remember_entry(entry)
        return entry

    async def _entries(self, *conditions, order_desc: bool = False, limit: int | None = None,
                       where=None) -> list[LedgerEntry]:
        """The entries of the rows matching ``conditions`` (or the clause ``where``), each
        bound to its leaf (``domain/binding.py``): the leaf bytes are the entry, the other
        columns are indexes over them, checked against it with the leaf hash and the tree's
        level-0 node. A row that does not match refuses the whole read (``LedgerMismatch``,
        and the alarm), so no listing or write proceeds from a rewritten history."""
        node = MerkleNodeRow.__table__.alias("leaf_node")
        query = (select(_ENTRY.idx, *[_ENTRY[c] for c in INDEX_COLUMNS], _ENTRY.leaf_data, _ENTRY.leaf_hash,
                        node.c.hash)
                 .select_from(LedgerEntryRow.__table__.outerjoin(
                     node, and_(node.c.level == 0, node.c.idx == _ENTRY.idx))))
        query = query.where(where if where is not None else and_(*conditions))
        query = query.order_by(_ENTRY.idx.desc() if order_desc else _ENTRY.idx)
        if limit:
            query = query.limit(limit)
        entries: list[LedgerEntry] = []
        mismatches: list[Mismatch] = []
        for row in await self.session.execute(query):
            entry, mismatch = bind(row[0], dict(zip(INDEX_COLUMNS, row[1:-3])), row[-3], row[-2], row[-1])
            if mismatch is not None:
                mismatches.append(mismatch)
            else:
                entries.append(entry)
        if mismatches:
            alarms.binding(mismatches)
            raise LedgerMismatch(mismatches)
        return entries

    async def _consent_rows(self, where) -> list[LedgerEntry]:
        """Consent entries found by ``where``, which must not depend on the entry type
        alone; a row of another type (its columns matched its leaf) is refused too."""
        entries = await self._entries(where=where)
        stray = [Mismatch(e.index, ("a row naming a consent is not a consent entry",))
                 for e in entries if e.entry_type.value not in _CONSENT_TYPES]
        stray += orphan_endings(entries)
        if stray:
            alarms.binding(stray)
            raise LedgerMismatch(stray)
        return entries

    async def consent_entries(self, resident_id: str) -> list[LedgerEntry]:
        # Two predicates over different columns (as Check's read, adapters/reads.py), so that
        # no single changed column hides a withdrawal: the resident's rows of a consent type
        # or naming a consent, and every row naming a consent given to the resident.
        given = select(_ENTRY.consent_id).where(_ENTRY.resident_id == resident_id,
                                                _ENTRY.entry_type == EntryType.CONSENT_GIVEN.value)
        return await self._consent_rows(or_(
            and_(_ENTRY.resident_id == resident_id,
                 or_(_ENTRY.entry_type.in_(_CONSENT_TYPES), _ENTRY.consent_id.is_not(None))),
            _ENTRY.consent_id.in_(given.scalar_subquery())))

    async def consent_entries_by_id(self, consent_id: str) -> list[LedgerEntry]:
        return await self._consent_rows(_ENTRY.consent_id == consent_id)

    async def consent_entries_of(self, consent_ids: Sequence[str]) -> list[LedgerEntry]:
        return await self._consent_rows(_ENTRY.consent_id.in_(list(consent_ids)))

    async def mandate_entries(self) -> list[LedgerEntry]:
        """Every mandate entry (issue 22), bound to its leaf: the daily expiry round only."""
        return await self._entries(_ENTRY.entry_type.in_([t.value for t in MANDATE_TYPES]))

    async def mandate_entries_of(self, residents: Sequence[str]) -> list[LedgerEntry]:
        """Every entry of the mandates for these represented residents (issue 22), found by
        index and bound as Check binds consents: two predicates over different columns, so no
        single changed column hides a revocation — the residents' rows of a mandate type or
        naming a mandate, and every row naming a mandate granted for them. A row of another
        type, or a step whose grant is missing, refuses the read (``LEDGER_MISMATCH``)."""
        residents = sorted(set(residents))
        if not residents:
            return []
        types = [t.value for t in MANDATE_TYPES]
        granted = select(_ENTRY.mandate_id).where(_ENTRY.resident_id.in_(residents),
                                                  _ENTRY.entry_type == EntryType.MANDATE_GRANTED.value)
        entries = await self._entries(where=or_(
            and_(_ENTRY.resident_id.in_(residents), or_(_ENTRY.entry_type.in_(types), _ENTRY.mandate_id.is_not(None))),
            _ENTRY.mandate_id.in_(granted.scalar_subquery())))
        stray = orphan_mandate_entries(entries)
        if stray:
            alarms.binding(stray)
            raise LedgerMismatch(stray)
        return entries

    async def represented_by(self, mandatary_id: str) -> list[str]:
        """The residents a mandatary was ever granted a mandate for (index ``mandatary_id``)."""
        result = await self.session.execute(
            select(_ENTRY.resident_id).distinct().where(_ENTRY.mandatary_id == mandatary_id,
                                                        _ENTRY.entry_type == EntryType.MANDATE_GRANTED.value))
        return [r[0] for r in result]

    async def mandate_resident(self, mandate_id: str) -> str | None:
        """The represented resident of a mandate (index ``mandate_id``); the caller reads their
        whole mandate chain with ``mandate_entries_of``, which binds it."""
        result = await self.session.execute(
            select(_ENTRY.resident_id).where(_ENTRY.mandate_id == mandate_id,
                                             _ENTRY.entry_type == EntryType.MANDATE_GRANTED.value).limit(1))
        return result.scalar_one_or_none()

    async def access_entries(self, access_ids: Sequence[str]) -> list[LedgerEntry]:
        return await self._entries(_ENTRY.access_id.in_(list(access_ids)))

    async def resident_entries(self, resident_id: str, *, types=None, recipient_id=None, after=None,
                               before=None, limit=None, newest_first=False) -> list[LedgerEntry]:
        conditions = [_ENTRY.resident_id == resident_id]
        if types:
            conditions.append(_ENTRY.entry_type.in_([t.value for t in types]))
        if recipient_id:
            conditions.append(_ENTRY.recipient_id == recipient_id)
        if after is not None:
            conditions.append(_ENTRY.idx > after)
        if before is not None:
            conditions.append(_ENTRY.idx < before)
        return await self._entries(*conditions, order_desc=newest_first, limit=limit)

    async def due_for_expiry(self, now: dt.datetime, limit: int) -> list[LedgerEntry]:
        ending = aliased(LedgerEntryRow)
        return await self._entries(
            LedgerEntryRow.entry_type == EntryType.CONSENT_GIVEN.value,
            LedgerEntryRow.expires_at <= now,
            ~exists().where(and_(ending.consent_id == LedgerEntryRow.consent_id,
                                 ending.entry_type.in_(_ENDINGS))),
            limit=limit)

    async def scan(self, start: int, stop: int) -> list[tuple[int, bytes, bytes, dict]]:
        """(index, leaf_data, leaf_hash, index columns) of a range, for `ledger verify`."""
        result = await self.session.execute(
            select(_ENTRY.idx, _ENTRY.leaf_data, _ENTRY.leaf_hash, *[_ENTRY[c] for c in INDEX_COLUMNS])
            .where(_ENTRY.idx >= start, _ENTRY.idx < stop).order_by(_ENTRY.idx))
        return [(r[0], r[1], r[2], dict(zip(INDEX_COLUMNS, r[3:]))) for r in result]

    async def node_count(self) -> int:
        return await self.session.scalar(select(func.count()).select_from(MerkleNodeRow))


def _purpose(row: PurposeRow) -> Purpose:
    return Purpose(row.purpose_id, row.version, row.dpv_iri, LegalBasis(row.legal_basis), row.title_fr,
                   row.title_en, row.description_fr, row.description_en, tuple(row.data_categories),
                   row.biometric, row.max_validity_days, row.non_biometric_alternative_id,
                   row.non_biometric_alternative_fr, row.non_biometric_alternative_en, row.retention_fr,
                   row.retention_en, row.created_at)


def _recipient(row: RecipientRow) -> Recipient:
    return Recipient(row.recipient_id, row.client_id, row.name_fr, row.name_en, row.kind, row.owner,
                     tuple(row.purposes), tuple(row.data_categories))


class SqlCatalogueRepository:
    def __init__(self, session: AsyncSession, reads: ConsentReads | None = None) -> None:
        self.session = session
        self._reads = reads
        # Set by a write: the unit of work drops the process's catalogue copy on commit (the
        # catalogue_version trigger tells the other replicas).
        self.changed = False

    async def version(self) -> int:
        return await self.session.scalar(select(_VERSION.version).where(_VERSION.id == 1))

    async def current(self) -> Catalogue:
        """The catalogue as this transaction sees it: the process's copy when it is at the
        version read here (one small read instead of a query per lookup), else the tables,
        read here — and then offered to the copy if this transaction changed nothing in the
        catalogue (what it read is committed state)."""
        version = await self.version()
        cached = self._reads.cached_catalogue(at_least=version) if self._reads is not None else None
        if cached is not None:
            return cached
        snapshot = await self.snapshot()
        if self._reads is not None and not self.changed:
            self._reads.offer_catalogue(snapshot)
        return snapshot

    async def snapshot(self) -> Catalogue:
        """The whole catalogue at one version. Every change bumps the version in its own
        transaction (migration 0003), so tables read between two equal readings of the
        version are exactly that version, whatever the isolation level."""
        while True:
            before = await self.version()
            purposes = await self.purposes(all_versions=True)
            categories = await self.categories()
            recipients = await self.recipients()
            if await self.version() == before:
                return Catalogue.of(before, purposes, categories.values(), recipients)

    async def purpose(self, purpose_id: str, version: int = 0) -> Purpose | None:
        query = select(PurposeRow).where(PurposeRow.purpose_id == purpose_id)
        query = query.where(PurposeRow.version == version) if version else \
            query.order_by(PurposeRow.version.desc()).limit(1)
        row = (await self.session.scalars(query)).first()
        return _purpose(row) if row else None

    async def purposes(self, all_versions: bool = False) -> list[Purpose]:
        rows = (await self.session.scalars(select(PurposeRow).order_by(PurposeRow.purpose_id,
                                                                       PurposeRow.version))).all()
        purposes = [_purpose(r) for r in rows]
        if all_versions:
            return purposes
        latest: dict[str, Purpose] = {}
        for p in purposes:
            latest[p.purpose_id] = p
        return list(latest.values())

    async def add_purpose(self, purpose: Purpose) -> None:
        self.changed = True
        self.session.add(PurposeRow(
            purpose_id=purpose.purpose_id, version=purpose.version, dpv_iri=purpose.dpv_iri,
            legal_basis=purpose.legal_basis.value, biometric=purpose.biometric, title_fr=purpose.title_fr,
            title_en=purpose.title_en, description_fr=purpose.description_fr,
            description_en=purpose.description_en, data_categories=list(purpose.data_categories),
            max_validity_days=purpose.max_validity_days,
            non_biometric_alternative_id=purpose.non_biometric_alternative_id,
            non_biometric_alternative_fr=purpose.non_biometric_alternative_fr,
            non_biometric_alternative_en=purpose.non_biometric_alternative_en,
            retention_fr=purpose.retention_fr, retention_en=purpose.retention_en,
            created_at=purpose.created_at or dt.datetime.now(dt.timezone.utc)))

    async def categories(self) -> dict[str, DataCategory]:
        rows = (await self.session.scalars(select(DataCategoryRow))).all()
        return {r.category_id: DataCategory(r.category_id, r.label_fr, r.label_en, r.biometric) for r in rows}

    async def recipient(self, recipient_id: str) -> Recipient | None:
        row = await self.session.get(RecipientRow, recipient_id)
        return _recipient(row) if row else None

    async def recipient_by_client(self, client_id: str) -> Recipient | None:
        row = (await self.session.scalars(select(RecipientRow).where(RecipientRow.client_id == client_id))).first()
        return _recipient(row) if row else None

    async def recipients(self) -> list[Recipient]:
        rows = (await self.session.scalars(select(RecipientRow).order_by(RecipientRow.recipient_id))).all()
        return [_recipient(r) for r in rows]

    async def save_recipient(self, recipient: Recipient) -> None:
        self.changed = True
        row = await self.session.get(RecipientRow, recipient.recipient_id)
        values = dict(client_id=recipient.client_id, name_fr=recipient.name_fr, name_en=recipient.name_en,
                      kind=recipient.kind, owner=recipient.owner, purposes=list(recipient.purposes),
                      data_categories=list(recipient.data_categories),
                      updated_at=dt.datetime.now(dt.timezone.utc))
        if row is None:
            self.session.add(RecipientRow(recipient_id=recipient.recipient_id, **values))
        else:
            for key, value in values.items():
                setattr(row, key, value)
        await self.session.flush()


def _seal(kek: bytes, kid: str, data: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(kek).encrypt(nonce, data, kid.encode())


def _open(kek: bytes, kid: str, sealed: bytes) -> bytes:
    return AESGCM(kek).decrypt(sealed[:12], sealed[12:], kid.encode())


def _signing_row():
    """The key that signs: the newest announced one (LEDGER.md "Key rotation"); before any
    rotation, the oldest key — two replicas creating the first key at once both use it."""
    return (select(LogKeyRow).order_by(LogKeyRow.announcement.is_(None), LogKeyRow.created_at.desc(),
                                       LogKeyRow.kid).limit(1))


async def _first_key(session) -> LogKeyRow | None:
    announced = (await session.scalars(_signing_row())).first()
    if announced is not None and announced.announcement is not None:
        return announced
    return (await session.scalars(select(LogKeyRow).order_by(LogKeyRow.created_at, LogKeyRow.kid)
                                  .limit(1))).first()


async def ensure_log_key(store: LedgerStore) -> LogSigner:
    """The ledger's signing key (``_first_key``), created (in its own transaction) on first
    use. Read once per process: after ``rotate_log_key`` the replicas are restarted."""
    if store.signer is not None:
        return store.signer
    async with store.session_factory() as session:
        row = await _first_key(session)
        if row is None:
            signer = LogSigner.generate()
            try:
                session.add(LogKeyRow(
                    kid=signer.key_id, public_jwk=signer.public_jwk(),
                    private_jwk=_seal(store.kek, signer.key_id, json.dumps(signer.private_jwk()).encode()),
                    created_at=dt.datetime.now(dt.timezone.utc)))
                await session.commit()
            except IntegrityError:
                await session.rollback()
            row = await _first_key(session)
        store.signer = LogSigner(json.loads(_open(store.kek, row.kid, row.private_jwk)))
    return store.signer


async def rotate_log_key(store: LedgerStore, tree_size: int, now: dt.datetime) -> dict:
    """A new signing key, announced by the current one (``LogSigner.announce``) from
    ``tree_size`` on. The old key stays published: every head, receipt and proof it signed
    still verifies."""
    current = await ensure_log_key(store)
    successor = LogSigner.generate()
    announcement = current.announce(successor.public_jwk(), tree_size, now)
    async with store.session_factory() as session:
        session.add(LogKeyRow(
            kid=successor.key_id, public_jwk=successor.public_jwk(),
            private_jwk=_seal(store.kek, successor.key_id, json.dumps(successor.private_jwk()).encode()),
            created_at=now, announcement=announcement))
        await session.commit()
    store.signer = successor
    return {"previous_kid": current.key_id, "kid": successor.key_id, "from_tree_size": tree_size,
            "announcement": announcement}


class SqlCosignatureRepository:
    """Witnesses' cosignatures (revision 0007), each verified before it is added."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, tree_size: int, root_hash: bytes, cosignature: Cosignature, now: dt.datetime) -> bool:
        """Keep a witness's first cosignature of this size; False if it had one already."""
        exists_ = await self.session.scalar(select(func.count()).select_from(CosignatureRow).where(
            CosignatureRow.tree_size == tree_size, CosignatureRow.witness == cosignature.witness))
        if exists_:
            return False
        self.session.add(CosignatureRow(tree_size=tree_size, witness=cosignature.witness, key_id=cosignature.key_id,
                                        root_hash=root_hash, cosigned_at=cosignature.timestamp,
                                        signature=cosignature.signature, received_at=now))
        await self.session.flush()
        return True

    async def count(self, tree_size: int) -> int:
        return await self.session.scalar(select(func.count()).select_from(CosignatureRow)
                                         .where(CosignatureRow.tree_size == tree_size))


class SqlKeyRepository:
    def __init__(self, session: AsyncSession, store: LedgerStore) -> None:
        self.session = session
        self.store = store

    async def signer(self) -> LogSigner:
        return await ensure_log_key(self.store)

    async def jwks(self) -> dict:
        """Every key the log ever signed with (RFC 7517 JWK Set) and, as the extra member
        ``rotations`` (RFC 7517 s. 5 lets a set carry others), each rotation announcement in
        order: a verifier that pinned an older key follows them (``signing.follow_rotations``)."""
        rows = (await self.session.scalars(select(LogKeyRow).order_by(LogKeyRow.created_at))).all()
        rotations = [r.announcement for r in rows if r.announcement]
        return {"keys": [{**r.public_jwk} for r in rows], **({"rotations": rotations} if rotations else {})}
