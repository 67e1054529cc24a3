"""The Merkle tree of the consent ledger: RFC 9162 (Certificate Transparency 2.0), s. 2.1.

Hashing (s. 2.1.1): ``MTH({}) = SHA-256()``, leaf ``SHA-256(0x00 || d)``, node
``SHA-256(0x01 || left || right)``, splitting ``D[n]`` at ``k``, the largest power of two
smaller than ``n``.

The proof generators (PATH, s. 2.1.3.1; PROOF/SUBPROOF, s. 2.1.4.1) are written over a
``NodeSource``: a function ``(level, index) -> hash`` giving the root of the *complete*
subtree of ``2**level`` leaves starting at leaf ``index * 2**level``. Every range the RFC's
recursion asks for decomposes into such complete subtrees, which never change once written
(the log is append-only). So a store can keep them and answer a proof with O(log n) reads,
and ``required_nodes`` says which ones a proof needs before reading them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

NodeSource = Callable[[int, int], bytes]

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 s. 2.1.1: ``SHA-256(0x00 || d)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 s. 2.1.1: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _is_complete(start: int, size: int) -> bool:
    return size & (size - 1) == 0 and start % size == 0


def subtree_root(source: NodeSource, start: int, end: int) -> bytes:
    """``MTH(D[start:end])`` from complete subtrees (s. 2.1.1's recursion)."""
    size = end - start
    if size == 0:
        return EMPTY_ROOT
    if _is_complete(start, size):
        return source(size.bit_length() - 1, start // size)
    k = split_point(size)
    return node_hash(subtree_root(source, start, start + k), subtree_root(source, start + k, end))


def root(source: NodeSource, tree_size: int) -> bytes:
    """``MTH(D[0:tree_size])``."""
    return subtree_root(source, 0, tree_size)


def inclusion_path(source: NodeSource, leaf_index: int, tree_size: int) -> list[bytes]:
    """``PATH(m, D[n])``, RFC 9162 s. 2.1.3.1, leaf to root."""
    if not 0 <= leaf_index < tree_size:
        raise ValueError("leaf_index must be in [0, tree_size)")
    path: list[bytes] = []

    def walk(m: int, start: int, end: int) -> None:
        n = end - start
        if n == 1:
            return
        k = split_point(n)
        if m < k:
            walk(m, start, start + k)
            path.append(subtree_root(source, start + k, end))
        else:
            walk(m - k, start + k, end)
            path.append(subtree_root(source, start, start + k))

    walk(leaf_index, 0, tree_size)
    return path


def consistency_proof(source: NodeSource, first: int, second: int) -> list[bytes]:
    """``PROOF(m, D[n]) = SUBPROOF(m, D[n], true)``, RFC 9162 s. 2.1.4.1 (0 < m <= n)."""
    if not 0 < first <= second:
        raise ValueError("need 0 < first <= second")
    proof: list[bytes] = []

    def subproof(m: int, start: int, end: int, whole: bool) -> None:
        n = end - start
        if m == n:
            if not whole:
                proof.append(subtree_root(source, start, end))
            return
        k = split_point(n)
        if m <= k:
            subproof(m, start, start + k, whole)
            proof.append(subtree_root(source, start + k, end))
        else:
            subproof(m - k, start + k, end, False)
            proof.append(subtree_root(source, start, start + k))

    subproof(first, 0, second, True)
    return proof


def required_nodes(compute: Callable[[NodeSource], object]) -> set[tuple[int, int]]:
    """The complete subtrees ``compute`` reads (run it once against a recording source)."""
    wanted: set[tuple[int, int]] = set()

    def record(level: int, index: int) -> bytes:
        wanted.add((level, index))
        return bytes(32)

    compute(record)
    return wanted


def verify_inclusion(leaf: bytes, leaf_index: int, tree_size: int, path: Sequence[bytes],
                     root_hash: bytes) -> bool:
    """RFC 9162 s. 2.1.3.2: does ``path`` prove leaf hash ``leaf`` at ``leaf_index``?"""
    if leaf_index >= tree_size or leaf_index < 0:
        return False
    fn, sn = leaf_index, tree_size - 1
    r = leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root_hash


def verify_consistency(first: int, second: int, first_hash: bytes, second_hash: bytes,
                       proof: Sequence[bytes]) -> bool:
    """RFC 9162 s. 2.1.4.2: is the tree of size ``second`` an extension of ``first``?

    Equal sizes need an empty proof and equal roots; the empty tree is a prefix of any tree.
    Step 2 (a power-of-two ``first`` is its own first node) is the step other
    implementations have been known to skip.
    """
    if first < 0 or second < first:
        return False
    if first == second:
        return not proof and first_hash == second_hash
    if first == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_hash)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_hash and sr == second_hash and sn == 0


class MemoryTree:
    """A Merkle tree over leaf hashes held in memory (tests, `ledger verify`).

    Complete subtrees are cached as they are computed; they never change as leaves are
    appended, so the cache needs no invalidation.
    """

    def __init__(self, leaf_hashes: Sequence[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]
        for h in leaf_hashes:
            self.append(h)

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Append one leaf hash; returns the complete subtrees it closed ``(level, index, hash)``."""
        closed = [(0, len(self._levels[0]), leaf)]
        self._levels[0].append(leaf)
        level = 0
        while len(self._levels[level]) % 2 == 0:
            nodes = self._levels[level]
            parent = node_hash(nodes[-2], nodes[-1])
            if len(self._levels) == level + 1:
                self._levels.append([])
            self._levels[level + 1].append(parent)
            level += 1
            closed.append((level, len(self._levels[level]) - 1, parent))
        return closed

    def node(self, level: int, index: int) -> bytes:
        return self._levels[level][index]

    def root(self, tree_size: int | None = None) -> bytes:
        return root(self.node, self.size if tree_size is None else tree_size)

    def inclusion_path(self, leaf_index: int, tree_size: int | None = None) -> list[bytes]:
        return inclusion_path(self.node, leaf_index, self.size if tree_size is None else tree_size)

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        return consistency_proof(self.node, first, self.size if second is None else second)


def closed_subtrees(leaf_index: int, leaf: bytes, source: NodeSource) -> list[tuple[int, int, bytes]]:
    """The complete subtrees closed by appending leaf number ``leaf_index`` (0-based).

    ``source`` gives the earlier complete subtrees; used by stores that persist nodes.
    """
    closed = [(0, leaf_index, leaf)]
    current, level, index = leaf, 0, leaf_index
    while index & 1:
        current = node_hash(source(level, index - 1), current)
        level += 1
        index >>= 1
        closed.append((level, index, current))
    return closed
