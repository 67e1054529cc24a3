"""Read-only hot paths of the consent service, outside any unit of work: Check's inputs and
the material of RFC 9162 proofs (s. 2.1.3 inclusion, s. 2.1.4 consistency, s. 4.10 tree heads).

Neither writes anything, so neither opens an ORM session: each is one statement (proofs for
the current size: two) through ``services.common.reads.PointReads`` — on PostgreSQL a few
read-only asyncpg connections of its own, in autocommit (no BEGIN/COMMIT round trips, no
identity map, no ping on checkout); on SQLite a ``query_only`` connection that never queues
behind the engine's ``BEGIN IMMEDIATE`` — selecting only the columns used.

What is kept in memory, and what never is (services/consent/README.md, "Caches"):

- the resident's consent entries: never. Check reads them on every call, so a withdrawal
  committed through any replica denies the very next Check of every replica
  (A-2.1 s. 53.1; DESIGN.md "Scaling out").
- the catalogue (purposes, data categories, recipients): one in-memory copy per process,
  tagged with the ``catalogue_version`` row that database triggers bump on every change to
  those tables (migration 0003). Check reads that row *in the same statement* as the
  consent entries and reloads the copy before deciding when it is older, so the staleness
  bound is zero: a recipient disabled (accounts' ``service_updated`` with a state other than
  active clears its purposes, so Check denies) or a purpose re-worded through any replica,
  a migration or an operator's SQL is seen by the next Check of every replica. This
  process's own catalogue writes also drop its copy when they commit.
- parsed leaves: a committed entry's leaf bytes never change (append-only triggers), so
  their parse is memoized by index and used only when the bytes just read are identical.
- proof nodes and proof leaves: complete-subtree hashes and committed leaves never change
  once written (RFC 9162 s. 2.1.1; append-only triggers): the process-wide caches of
  ``LedgerStore`` hold them.

Why a proof may read the tree size and the nodes in separate statements without a
transaction: the nodes a proof for size N reads are complete subtrees inside the first N
leaves; each is inserted in the same transaction that moves the head past its last leaf
(``SqlLedgerRepository.append``) and is never updated or deleted afterwards (the
``merkle_nodes`` triggers of migration 0001). A later statement sees every transaction an
earlier one saw, so once a committed size >= N has been read, every node a proof for N
needs is there, with its final value.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable

from services.common.reads import PointReads
from services.consent.domain.binding import Mismatch, bind, columns_of, orphan_endings
from services.consent.domain.catalogue import Catalogue
from services.consent.domain.ledger import EntryType, LedgerEntry
from services.consent.domain.signing import LogSigner
from services.consent.domain.witness import Cosignature

_CONSENT_ENTRY_TYPES = (EntryType.CONSENT_GIVEN, EntryType.CONSENT_WITHDRAWN, EntryType.CONSENT_EXPIRED)

# Check's memo of parsed consent entries (~3.4 KB each with their bytes): part of the
# consent process's memory budget, with the node and leaf caches (adapters/repositories.py).
PARSED_ENTRY_CAPACITY = 2_000

# The catalogue version, and every row that can matter to the resident's consents, with
# what binds each to its leaf (domain/binding.py): the leaf hash and the tree's level-0 node.
# The rows are found by two predicates over different columns, so that no single changed
# column hides a row: the resident's rows of a consent type or naming a consent, and every
# row naming a consent the resident was given. A row found whose columns disagree with its
# leaf fails the Check closed. The LEFT JOINs return the version even when the resident
# has no entry at all.
_CONSENT_STATE = """
SELECT v.version, e.idx, e.entry_type, e.resident_id, e.consent_id, e.recipient_id, e.purpose_id,
       e.expires_at, e.leaf_data, e.leaf_hash, n.hash
FROM catalogue_version AS v
LEFT JOIN (
  SELECT idx FROM ledger_entries
  WHERE resident_id = :resident_id
    AND (entry_type IN ('consent_given', 'consent_withdrawn', 'consent_expired') OR consent_id IS NOT NULL)
  UNION
  SELECT idx FROM ledger_entries
  WHERE consent_id IN (SELECT consent_id FROM ledger_entries
                       WHERE resident_id = :resident_id AND entry_type = 'consent_given')
) AS m ON 1 = 1
LEFT JOIN ledger_entries AS e ON e.idx = m.idx
LEFT JOIN merkle_nodes AS n ON n.level = 0 AND n.idx = e.idx
WHERE v.id = 1
ORDER BY e.idx
"""
_BOUND_COLUMNS = ("entry_type", "resident_id", "consent_id", "recipient_id", "purpose_id", "expires_at")

# CheckMany (issue 24): the same rows as _CONSENT_STATE for many residents in one statement,
# each row tagged with the resident it was read for (``asker``). Each branch is the single
# statement's predicate with the resident taken from the list, so every resident gets exactly
# the rows their own Check would read (a row may come twice, for two residents: it then
# counts for both, and fails both closed if it names another resident). {asked}: a one-column
# relation of the residents asked about, spelled per database.
_CONSENT_STATES = """
SELECT v.version, m.asker, e.idx, e.entry_type, e.resident_id, e.consent_id, e.recipient_id, e.purpose_id,
       e.expires_at, e.leaf_data, e.leaf_hash, n.hash
FROM catalogue_version AS v
LEFT JOIN (
  SELECT l.resident_id AS asker, l.idx FROM ledger_entries AS l
  WHERE l.resident_id IN ({asked})
    AND (l.entry_type IN ('consent_given', 'consent_withdrawn', 'consent_expired') OR l.consent_id IS NOT NULL)
  UNION
  SELECT g.resident_id AS asker, l.idx FROM ledger_entries AS g
  JOIN ledger_entries AS l ON l.consent_id = g.consent_id
  WHERE g.resident_id IN ({asked}) AND g.entry_type = 'consent_given'
) AS m ON 1 = 1
LEFT JOIN ledger_entries AS e ON e.idx = m.idx
LEFT JOIN merkle_nodes AS n ON n.level = 0 AND n.idx = e.idx
WHERE v.id = 1
ORDER BY m.asker, e.idx
"""
_CONSENT_STATES_SQLITE = _CONSENT_STATES.format(asked="SELECT value FROM json_each(:residents)")
# PostgreSQL: the same rows, but planned per resident. Over a list, the planner estimates
# hundreds of rows per resident and hash-joins whole tables (measured 17 ms for 50
# residents on a 20,000-entry ledger, growing with the ledger); here each resident's part is
# _CONSENT_STATE's own body in a LATERAL subquery, kept apart by OFFSET 0, so each uses the
# indexes as a single Check does (5 ms for 50, mostly independent of the ledger's size).
_CONSENT_STATES_PG = """
SELECT v.version, s.asker, s.idx, s.entry_type, s.resident_id, s.consent_id, s.recipient_id, s.purpose_id,
       s.expires_at, s.leaf_data, s.leaf_hash, s.hash
FROM catalogue_version AS v
LEFT JOIN (
  SELECT r.asker, x.*
  FROM unnest(:residents::text[]) AS r(asker)
  CROSS JOIN LATERAL (
    SELECT e.idx, e.entry_type, e.resident_id, e.consent_id, e.recipient_id, e.purpose_id, e.expires_at,
           e.leaf_data, e.leaf_hash, n.hash
    FROM (
      SELECT idx FROM ledger_entries
      WHERE resident_id = r.asker
        AND (entry_type IN ('consent_given', 'consent_withdrawn', 'consent_expired') OR consent_id IS NOT NULL)
      UNION
      SELECT idx FROM ledger_entries
      WHERE consent_id IN (SELECT consent_id FROM ledger_entries
                           WHERE resident_id = r.asker AND entry_type = 'consent_given')
    ) AS m
    JOIN ledger_entries AS e ON e.idx = m.idx
    LEFT JOIN merkle_nodes AS n ON n.level = 0 AND n.idx = e.idx
    OFFSET 0
  ) AS x
) AS s ON 1 = 1
WHERE v.id = 1
ORDER BY s.asker, s.idx
"""

_TREE_SIZE = "SELECT tree_size FROM ledger_head WHERE id = 1"

# Witnesses' cosignatures of the latest few cosigned sizes (witnesses polling at different
# moments cosign different sizes; the published head is the largest with a quorum).
_COSIGNATURES = """
SELECT tree_size, witness, key_id, root_hash, cosigned_at, signature FROM ledger_cosignatures
WHERE tree_size IN (SELECT DISTINCT tree_size FROM ledger_cosignatures ORDER BY tree_size DESC LIMIT 16)
ORDER BY tree_size DESC, witness
"""

_ACCESS = "SELECT idx, resident_id, recipient_id FROM ledger_entries WHERE access_id = :access_id"

# One statement for a proof: the committed tree size, the leaf (index -1: none wanted) and
# the nodes, each looked up by its primary key (PostgreSQL: the LATERAL keeps the planner on
# the index whatever the length of the list). Rows: (part, value, bytes); a node's value is
# its position in the list asked for.
_PROOF_PG = """
SELECT 0 AS part, tree_size AS a, NULL::bytea AS data FROM ledger_head WHERE id = 1
UNION ALL
SELECT 1, idx, leaf_data FROM ledger_entries WHERE idx = :leaf
UNION ALL
SELECT 2, w.ord - 1, n.hash
FROM unnest(:levels::int[], :indices::bigint[]) WITH ORDINALITY AS w(level, idx, ord)
CROSS JOIN LATERAL (SELECT m.hash FROM merkle_nodes AS m WHERE m.level = w.level AND m.idx = w.idx) AS n
"""
_PROOF_SQLITE = """
SELECT 0, tree_size, NULL FROM ledger_head WHERE id = 1
UNION ALL
SELECT 1, idx, leaf_data FROM ledger_entries WHERE idx = :leaf
UNION ALL
SELECT 2, w.key, m.hash
FROM json_each(:keys) AS w
JOIN merkle_nodes AS m ON m.level = json_extract(w.value, '$[0]') AND m.idx = json_extract(w.value, '$[1]')
"""


@dataclasses.dataclass(frozen=True)
class ProofMaterial:
    """What a proof reads: a committed tree size (at least the one asked for when the log
    has it), the leaf asked for, and the complete subtrees found among those asked for."""

    tree_size: int
    entry: LedgerEntry | None
    nodes: dict[tuple[int, int], bytes]


class ConsentReads:
    """The read-only queries of Check and of the proofs (``service_layer.ports.ConsentReads``).

    ``nodes``/``entries``/``known_size`` are the process-wide caches of ``LedgerStore``;
    ``load_catalogue`` reads a consistent ``Catalogue``; ``signer`` gives the log key.
    """

    def __init__(self, point_reads: PointReads, *, node_cache, entry_cache: Callable[[int], LedgerEntry | None],
                 remember_entry: Callable[[LedgerEntry], None], known_size: Callable[[], int],
                 saw_size: Callable[[int], None], load_catalogue: Callable[[], Awaitable[Catalogue]],
                 signer: Callable[[], Awaitable[LogSigner]], parsed_capacity: int = PARSED_ENTRY_CAPACITY) -> None:
        self._db = point_reads
        self._postgres = point_reads.backend == "postgresql"
        self._nodes = node_cache
        self._entry_cache = entry_cache
        self._remember_entry = remember_entry
        self._known_size = known_size
        self._saw_size = saw_size
        self._load_catalogue = load_catalogue
        self._signer = signer
        self._catalogue: Catalogue | None = None
        self._catalogue_lock = asyncio.Lock()
        self.catalogue_loads = 0  # how often the catalogue was (re)read: for tests and operators
        self._parsed: OrderedDict[int, tuple[bytes, bytes, LedgerEntry, dict]] = OrderedDict()
        self._parsed_capacity = parsed_capacity

    async def aclose(self) -> None:
        await self._db.aclose()

    # --- the catalogue ---------------------------------------------------------------------
    def invalidate_catalogue(self) -> None:
        """This process changed the catalogue: the next Check reloads it."""
        self._catalogue = None

    def cached_catalogue(self, at_least: int) -> Catalogue | None:
        """The in-memory catalogue if it is at version ``at_least`` or later, else None (a
        unit of work then reads the tables in its own transaction)."""
        current = self._catalogue
        return current if current is not None and current.version >= at_least else None

    def offer_catalogue(self, catalogue: Catalogue) -> None:
        """A catalogue read from committed state (never one a transaction has changed):
        kept if newer than the copy. Every user still compares the copy's version with one
        read from the database, so an offer that loses a race costs a reload, not a stale answer."""
        current = self._catalogue
        if current is None or catalogue.version > current.version:
            self._catalogue = catalogue

    async def catalogue(self, at_least: int = 0) -> Catalogue:
        """The in-memory catalogue if it is at version ``at_least`` or later, else a fresh one."""
        current = self._catalogue
        if current is not None and current.version >= at_least:
            return current
        async with self._catalogue_lock:  # one reload, however many Checks noticed the change
            current = self._catalogue
            if current is None or current.version < at_least:
                current = await self._load_catalogue()
                self.catalogue_loads += 1
                self._catalogue = current
        return current

    # --- Check ---------------------------------------------------------------------------
    async def consent_state(self, resident_id: str, recipient_id: str, purpose_id: str
                            ) -> tuple[Catalogue, list[LedgerEntry], list[Mismatch]]:
        """The catalogue, current as of the statement that read the resident's consent
        entries (given, withdrawn, expired), in log order, each bound to its leaf; and the
        rows that did not match their leaves (``domain/binding.py``: the caller fails closed).

        Every consent of the resident is read, not only those to this recipient and purpose:
        which consent a row belongs to is then decided from its leaf, never from a column.
        """
        rows = await self._db.all(_CONSENT_STATE, {"resident_id": resident_id})
        catalogue = await self.catalogue(at_least=rows[0][0])
        entries, mismatches = self._consent_entries(resident_id, (row[1:] for row in rows))
        return catalogue, entries, mismatches

    async def consent_states(self, resident_ids: Iterable[str], *,
                             in_transaction: Callable[[], Awaitable[Catalogue]] | None = None
                             ) -> tuple[Catalogue, dict[str, tuple[list[LedgerEntry], list[Mismatch]]]]:
        """``consent_state`` for many residents in one statement (CheckMany): the catalogue,
        current as of that statement, and per resident asked the same entries and mismatches
        their own ``consent_state`` would return. Read on every call, never cached.

        ``in_transaction``: reads the catalogue in the caller's transaction (CheckAndRecord,
        under the head lock), used when this process's copy is older than the version this
        statement read: reloading it in a transaction of its own would wait, on SQLite, for
        the caller's own write lock."""
        asked = sorted(set(resident_ids))
        if self._postgres:
            rows = await self._db.all(_CONSENT_STATES_PG, {"residents": asked})
        else:
            rows = await self._db.all(_CONSENT_STATES_SQLITE, {"residents": json.dumps(asked)})
        catalogue = self.cached_catalogue(at_least=rows[0][0])
        if catalogue is None and in_transaction is not None:
            catalogue = await in_transaction()
            if catalogue.version < rows[0][0]:  # changed since (PostgreSQL): reload on its own
                catalogue = None
        if catalogue is None:
            catalogue = await self.catalogue(at_least=rows[0][0])
        by_resident: dict[str, list] = {resident: [] for resident in asked}
        for row in rows:
            if row[1] is not None:
                by_resident[row[1]].append(row[2:])
        return catalogue, {resident: self._consent_entries(resident, found) for resident, found in by_resident.items()}

    def _consent_entries(self, resident_id: str, rows: Iterable[tuple]) -> tuple[list[LedgerEntry], list[Mismatch]]:
        """The resident's consent entries among ``rows`` (idx, the bound columns, leaf data,
        leaf hash, level-0 node; in log order), each bound to its leaf, and the mismatches."""
        entries: list[LedgerEntry] = []
        mismatches: list[Mismatch] = []
        for row in rows:
            if row[0] is None:
                continue
            entry, mismatch = self._bind(row[0], dict(zip(_BOUND_COLUMNS, row[1:7])), row[7], row[8], row[9])
            if mismatch is not None:
                mismatches.append(mismatch)
            elif entry.resident_id != resident_id:  # found by its consent: names another resident
                mismatches.append(Mismatch(entry.index, ("the consent's entries name two residents",)))
            elif entry.entry_type in _CONSENT_ENTRY_TYPES:
                entries.append(entry)
            else:
                mismatches.append(Mismatch(entry.index, ("a row naming a consent is not a consent entry",)))
        mismatches.extend(orphan_endings(entries))
        return entries, mismatches

    def _bind(self, index: int, columns: dict, data: bytes, stored_hash: bytes | None,
              node_hash: bytes | None) -> tuple[LedgerEntry | None, Mismatch | None]:
        """``binding.bind`` with this process's memo of leaves already bound (committed
        leaves never change: identical bytes and hash need no re-hash nor re-parse)."""
        entry, mismatch = bind(index, columns, data, stored_hash, node_hash, known=self._parsed.get(index))
        if entry is not None:
            known = self._parsed.get(index)
            if known is None or known[2] is not entry:
                self._parsed[index] = (bytes(data), bytes(stored_hash), entry, columns_of(entry))
            self._parsed.move_to_end(index)
            if len(self._parsed) > self._parsed_capacity:
                self._parsed.popitem(last=False)
        return entry, mismatch

    # --- accesses --------------------------------------------------------------------------
    async def access_recorded(self, access_id: str) -> tuple[int, str, str] | None:
        """(index, resident, recipient) of the committed ``data_accessed`` entry with this
        access id, or None. Entries are append-only and ``access_id`` is unique: once seen, final."""
        row = await self._db.one(_ACCESS, {"access_id": access_id})
        return (row[0], row[1], row[2]) if row is not None else None

    # --- witnesses -------------------------------------------------------------------------
    async def recent_cosignatures(self) -> list[tuple[int, bytes, Cosignature]]:
        """(tree size, root hash, cosignature) of the latest cosigned sizes, largest first."""
        rows = await self._db.all(_COSIGNATURES)
        return [(size, bytes(root), Cosignature(witness, bytes(kid), at, bytes(sig)))
                for size, witness, kid, root, at, sig in rows]

    # --- proofs ----------------------------------------------------------------------------
    async def signer(self) -> LogSigner:
        return await self._signer()

    async def tree_size(self) -> int:
        """The committed size of the log now."""
        size = (await self._db.one(_TREE_SIZE))[0]
        self._saw_size(size)
        return size

    async def proof_material(self, wanted: Iterable[tuple[int, int]], *, leaf_index: int | None = None,
                             at_least: int = 0) -> ProofMaterial:
        """Nodes, leaf and a committed size >= ``at_least`` if the log has one; at most one
        statement, none when the caches answer and such a size is already known."""
        found: dict[tuple[int, int], bytes] = {}
        missing: list[tuple[int, int]] = []
        for key in wanted:
            value = self._nodes.get(key)
            if value is None:
                missing.append(key)
            else:
                found[key] = value
        entry = self._entry_cache(leaf_index) if leaf_index is not None else None
        need_leaf = leaf_index is not None and entry is None
        known = self._known_size()
        if not missing and not need_leaf and 0 < at_least <= known:
            return ProofMaterial(known, entry, found)
        leaf = leaf_index if need_leaf else -1
        if self._postgres:
            rows = await self._db.all(_PROOF_PG, {"leaf": leaf, "levels": [lv for lv, _ in missing],
                                                  "indices": [ix for _, ix in missing]})
        else:
            rows = await self._db.all(_PROOF_SQLITE, {"leaf": leaf, "keys": json.dumps(missing)})
        size = 0
        for part, value, data in rows:
            if part == 0:
                size = value
            elif part == 1:
                entry = LedgerEntry.from_leaf_data(bytes(data), value)
            else:
                found[missing[value]] = bytes(data)
        self._saw_size(size)
        if need_leaf and entry is not None and leaf_index < size:
            self._remember_entry(entry)
        for key in missing:
            if key in found:
                self._nodes.put(key, found[key])
        return ProofMaterial(size, entry, found)
