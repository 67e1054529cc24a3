"""`mtlid ledger verify`: re-check the whole log from its stored bytes.

Checks, each reported by name:
- ``contiguous``: leaf indices are 0..n-1 with no gap, and the head row says n;
- ``leaf_hashes``: every stored leaf hash is SHA-256(0x00 || leaf bytes) (RFC 9162 s. 2.1.1)
  and every leaf is in canonical form;
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

from services.consent.domain import merkle
from services.consent.domain.canonical import parse_canonical
from services.consent.domain.signing import SignatureInvalid, b64url, verify_tree_head

BATCH = 5000


# ``progress(stage, done, total)``: told as the check advances (``services.common.progress``).
ProgressReport = Callable[[str, int, int | None], None]


def _no_progress(_stage: str, _done: int, _total: int | None = None) -> None:
    return None


async def verify_log(uow_factory, *, tree_head_jws: str | None = None,
                     progress: ProgressReport = _no_progress) -> dict[str, Any]:
    problems: list[str] = []
    tree = merkle.MemoryTree()
    wording_mismatches = 0
    async with uow_factory() as uow:
        size = await uow.ledger.size()
        jwks = await uow.keys.jwks()
        wording = {(p.purpose_id, p.version): p.text_sha256
                   for p in await uow.catalogue.purposes(all_versions=True)}
        position = 0
        while True:
            rows = await uow.ledger.scan(position, position + BATCH)
            for index, data, stored in rows:
                if index != tree.size:
                    problems.append(f"gap: expected leaf {tree.size}, found {index}")
                    break
                computed = merkle.leaf_hash(data)
                if computed != stored:
                    problems.append(f"leaf {index}: stored hash differs from its bytes")
                try:
                    document = parse_canonical(data)
                except ValueError:
                    problems.append(f"leaf {index}: bytes are not canonical JSON")
                    document = {}
                if document.get("type") == "consent_given" and wording.get(
                        (document.get("purpose_id"), document.get("purpose_version"))) != \
                        document.get("purpose_text_sha256"):
                    wording_mismatches += 1
                tree.append(computed)
            progress("leaves", tree.size, size)
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
                progress("tree nodes", nodes_done, nodes_total)
        if mismatched:
            problems.append(f"{mismatched} stored tree nodes differ from the recomputed ones")
        if wording_mismatches:
            problems.append(f"{wording_mismatches} consents point at a purpose wording the catalogue no longer has")
    report: dict[str, Any] = {
        "tree_size": tree.size,
        "root_hash": b64url(tree.root()),
        "checks": {"contiguous": not any(p.startswith(("gap", "head")) for p in problems),
                   "leaf_hashes": not any(p.startswith("leaf") for p in problems),
                   "stored_nodes": not mismatched,
                   "purpose_wording": not wording_mismatches},
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
