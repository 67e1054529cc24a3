"""Alarms of the consent register: what an operator must look at now.

- ``ledger_binding_mismatch``: a row a decision would have read does not match its hashed
  leaf (``domain/binding.py``): someone changed the tables behind the triggers. The decision
  failed closed; the operator runs ``mtlid ledger verify`` to see every mismatch.
- ``witness_disagreement``: a witness refused a tree head inconsistent with one it cosigned
  (split view or rewrite; ``mtlid ledger witness``).

Each distinct problem is logged once per process (at ERROR, with the ledger index and the
columns concerned, never a value), and counted every time: ``counts()`` is what a metrics
exporter reads (issue 19 exposes it).
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Iterable

from services.consent.domain.binding import Mismatch

logger = logging.getLogger("mtlid.consent.alarms")

BINDING_MISMATCH = "ledger_binding_mismatch"
WITNESS_DISAGREEMENT = "witness_disagreement"
_LOGGED_CAPACITY = 10_000


class Alarms:
    def __init__(self) -> None:
        self._counts: collections.Counter[str] = collections.Counter()
        self._logged: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def raise_(self, kind: str, key: str, message: str, **fields) -> None:
        with self._lock:
            self._counts[kind] += 1
            first = (kind, key) not in self._logged
            if first and len(self._logged) < _LOGGED_CAPACITY:
                self._logged.add((kind, key))
        if first:
            logger.error(message, extra={"alarm": kind, **fields})

    def binding(self, mismatches: Iterable[Mismatch]) -> None:
        for m in mismatches:
            self.raise_(BINDING_MISMATCH, f"{m.index}:{m.what}",
                        f"consent ledger: row does not match its leaf, decision refused ({m.describe()})",
                        ledger_index=m.index, problems=list(m.what))

    def witness_disagreement(self, witness: str, tree_size: int, detail: str = "") -> None:
        self.raise_(WITNESS_DISAGREEMENT, f"{witness}:{tree_size}",
                    f"consent ledger: witness {witness} disagrees with the head of size {tree_size} {detail}".strip(),
                    witness=witness, tree_size=tree_size)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {BINDING_MISMATCH: self._counts[BINDING_MISMATCH],
                    WITNESS_DISAGREEMENT: self._counts[WITNESS_DISAGREEMENT]}


# One per process: every unit of work and read path of the process reports here.
alarms = Alarms()
