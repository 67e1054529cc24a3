"""`mtlid ledger verify`: re-check the whole log from its stored bytes.

Checks, each reported by name:
- ``contiguous``: leaf indices are 0..n-1 with no gap, and the head row says n;
- ``leaf_hashes``: every stored leaf hash is SHA-256(0x00 || leaf bytes) (RFC 9162 s. 2.1.1)
  and every leaf is in canonical form;
- ``index_columns``: every column a query selects rows by (``entry_type``, ``resident_id``,
  ``consent_id``, ``access_id``, ``recipient_id``, ``purpose_id``, ``expires_at``,
  ``entry_time``, ``entry_id``) equals what its leaf says (``domain/binding.py``), each
  difference named (leaf index, column, and both values except a resident's identifier);
- ``derived_state``: the state the service decides from — every consent (resident,
  recipient, purpose, categories, expiry, state, ending) and every access record — derived
  once from the leaves alone (``consents.reduce``) and once from the tables' columns as the
  queries see them, compared consent by consent and access by access;
- ``stored_nodes``: every stored complete-subtree hash equals the one recomputed from the
  leaves (what proofs are served from);
- ``purpose_wording``: every ``consent_given`` leaf's ``purpose_text_sha256`` equals the hash
  of the purpose version's wording now in the catalogue, so the wording a receipt shows is
  the one consented to;
- ``signed_tree_head`` (when given one, e.g. saved by an auditor earlier): its signature
  verifies against the log keys and its root equals MTH of the first ``tree_size`` leaves
  recomputed now, so the log has not been rewritten since.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.consent.domain import binding, merkle
from services.consent.domain.canonical import parse_canonical
from services.consent.domain.consents import ConsentState, reduce
from services.consent.domain.ledger import EntryType, LedgerEntry
from services.consent.domain.signing import SignatureInvalid, b64url, verify_tree_head

_CONSENT_TYPES = (EntryType.CONSENT_GIVEN, EntryType.CONSENT_WITHDRAWN, EntryType.CONSENT_EXPIRED)
BATCH = 5000
# Named problems kept in the report; the counts stay exact beyond it.
MAX_NAMED = 1000
_PRIVATE_COLUMNS = ("resident_id",)  # named, never printed


class _StateFromColumns:
    """The consent state as a query over the index columns sees it (what the tables would
    tell a reader that trusted them), accumulated in log order."""

    def __init__(self) -> None:
        self.consents: dict[str, dict] = {}
        self.accesses: dict[str, tuple] = {}

    def add(self, index: int, columns: dict) -> None:
        kind, consent_id = columns.get("entry_type"), columns.get("consent_id")
        if kind == "consent_given" and consent_id:
            self.consents[consent_id] = {
                "resident_id": columns["resident_id"], "recipient_id": columns["recipient_id"],
                "purpose_id": columns["purpose_id"], "expires_at": binding.as_time(columns["expires_at"]),
                "given_index": index, "end_index": None}
        elif kind in ("consent_withdrawn", "consent_expired") and consent_id in self.consents:
            if self.consents[consent_id]["end_index"] is None:
                self.consents[consent_id]["end_index"] = index
        elif kind == "data_accessed" and columns.get("access_id"):
            self.accesses[columns["access_id"]] = (index, columns["resident_id"], columns["recipient_id"],
                                                   columns["purpose_id"])


def _compare_state(from_leaves: dict, accesses: dict, seen: _StateFromColumns) -> list[str]:
    problems = []
    for consent_id in sorted(set(from_leaves) | set(seen.consents)):
        leaf, column = from_leaves.get(consent_id), seen.consents.get(consent_id)
        if leaf is None:
            problems.append(f"consent {consent_id}: the tables show it given (leaf {column['given_index']}), "
                            "the leaves do not")
            continue
        if column is None:
            problems.append(f"consent {consent_id}: given at leaf {leaf.ledger_index}, the tables do not show it")
            continue
        differs = [name for name, want in (("resident_id", leaf.resident_id), ("recipient_id", leaf.recipient_id),
                                           ("purpose_id", leaf.purpose_id), ("expires_at", leaf.expires_at),
                                           ("given_index", leaf.ledger_index), ("end_index", leaf.end_index))
                   if column[name] != want]
        if differs:
            leaf_state = leaf.state.value + (f" at leaf {leaf.end_index}" if leaf.end_index is not None else "")
            table_state = "ended at leaf %s" % column["end_index"] if column["end_index"] is not None else "given"
            problems.append(f"consent {consent_id}: the tables differ from the leaves in {', '.join(differs)} "
                            f"(leaves: {leaf_state}; tables: {table_state})")
    for access_id in sorted(set(accesses) | set(seen.accesses)):
        if accesses.get(access_id) != seen.accesses.get(access_id):
            problems.append(f"access {access_id}: the tables' record differs from the leaves'")
    return problems


def _describe_columns(index: int, entry, columns: dict) -> list[str]:
    expected = binding.columns_of(entry)
    out = []
    for name in binding.differing_columns(entry, columns):
        if name in _PRIVATE_COLUMNS:
            out.append(f"leaf {index}: column {name} differs from its leaf")
        else:
            out.append(f"leaf {index}: column {name} is {_show(columns[name])}, its leaf says {_show(expected[name])}")
    return out


def _show(value) -> str:
    return repr(value.isoformat() if hasattr(value, "isoformat") else value)


async def verify_log(uow_factory, *, tree_head_jws: str | None = None,
                     progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Re-check the whole log; ``progress(stage, done, total)`` is called as it goes (the
    CLI draws it on a terminal, and stays quiet in scripts)."""
    problems: list[str] = []
    named: dict[str, list[str]] = {"index_columns": [], "derived_state": []}
    tree = merkle.MemoryTree()
    wording_mismatches = 0
    from_leaves: list[LedgerEntry] = []  # consent entries only, for the derived state
    accesses: dict[str, tuple] = {}
    seen = _StateFromColumns()
    column_mismatches = 0
    report_progress = progress or (lambda stage, done, total: None)
    async with uow_factory() as uow:
        size = await uow.ledger.size()
        jwks = await uow.keys.jwks()
        wording = {(p.purpose_id, p.version): p.text_sha256
                   for p in await uow.catalogue.purposes(all_versions=True)}
        position = 0
        while True:
            rows = await uow.ledger.scan(position, position + BATCH)
            for index, data, stored, columns in rows:
                if index != tree.size:
                    problems.append(f"gap: expected leaf {tree.size}, found {index}")
                    break
                computed = merkle.leaf_hash(data)
                if computed != stored:
                    problems.append(f"leaf {index}: stored hash differs from its bytes")
                try:
                    document = parse_canonical(data)
                    entry = LedgerEntry.from_leaf_data(data, index)
                except (ValueError, KeyError, TypeError):
                    problems.append(f"leaf {index}: bytes are not a canonical ledger entry")
                    document, entry = {}, None
                if document.get("type") == "consent_given" and wording.get(
                        (document.get("purpose_id"), document.get("purpose_version"))) != \
                        document.get("purpose_text_sha256"):
                    wording_mismatches += 1
                if entry is not None:
                    differing = _describe_columns(index, entry, columns)
                    column_mismatches += len(differing)
                    named["index_columns"].extend(differing[:MAX_NAMED - len(named["index_columns"])])
                    if entry.entry_type in _CONSENT_TYPES:
                        from_leaves.append(entry)
                    elif entry.entry_type is EntryType.DATA_ACCESSED:
                        accesses[entry.access_id] = (index, entry.resident_id, entry.recipient_id, entry.purpose_id)
                seen.add(index, columns)
                tree.append(computed)
            report_progress("leaves", tree.size, size)
            if len(rows) < BATCH or problems:
                break
            position += BATCH
        if tree.size != size:
            problems.append(f"head says {size} entries, found {tree.size}")
        # Stored nodes, level by level in index ranges, straight from storage (never a cache):
        # every complete subtree of the recomputed tree.
        mismatched = 0
        nodes_total, nodes_done = sum(tree.size >> level for level in range(tree.size.bit_length())), 0
        for level in range(tree.size.bit_length()):
            count = tree.size >> level
            for start in range(0, count, BATCH):
                stop = min(start + BATCH, count)
                stored_nodes = await uow.ledger.node_range(level, start, stop)
                for index in range(start, stop):
                    if stored_nodes.get(index) != tree.node(level, index):
                        mismatched += 1
                nodes_done += stop - start
                report_progress("tree nodes", nodes_done, nodes_total)
        if mismatched:
            problems.append(f"{mismatched} stored tree nodes differ from the recomputed ones")
        if wording_mismatches:
            problems.append(f"{wording_mismatches} consents point at a purpose wording the catalogue no longer has")
    consents = reduce(from_leaves)
    state_problems = _compare_state(consents, accesses, seen)
    named["derived_state"] = state_problems[:MAX_NAMED]
    if column_mismatches:
        problems.append(f"{column_mismatches} index columns differ from their leaves")
    if state_problems:
        problems.append(f"{len(state_problems)} consents or accesses read from the tables differ "
                        "from the state the leaves give")
    states = {state.value: 0 for state in ConsentState}
    for consent in consents.values():
        states[consent.state.value] += 1
    report: dict[str, Any] = {
        "tree_size": tree.size,
        "root_hash": b64url(tree.root()),
        "checks": {"contiguous": not any(p.startswith(("gap", "head")) for p in problems),
                   "leaf_hashes": not any(p.startswith("leaf") for p in problems),
                   "stored_nodes": not mismatched,
                   "index_columns": not column_mismatches,
                   "derived_state": not state_problems,
                   "purpose_wording": not wording_mismatches},
        "state": {"consents": states, "accesses": len(accesses)},
        "mismatches": named,
    }
    if tree_head_jws is not None:
        try:
            head = verify_tree_head(tree_head_jws, jwks)
        except SignatureInvalid as error:
            problems.append(f"signed tree head: {error}")
            report["checks"]["signed_tree_head"] = False
        else:
            ok = head.tree_size <= tree.size and tree.root(head.tree_size) == head.root_hash
            if not ok:
                problems.append(f"signed tree head of size {head.tree_size} does not match the log")
            report["checks"]["signed_tree_head"] = ok
            report["signed_tree_head"] = {"tree_size": head.tree_size, "root_hash": b64url(head.root_hash),
                                          "timestamp": head.timestamp.isoformat(), "key_id": head.key_id}
    report["ok"] = not problems
    report["problems"] = problems
    return report
