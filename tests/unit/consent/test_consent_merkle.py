"""RFC 9162 s. 2.1 Merkle tree: the RFC's example-tree vectors and random trees."""

from __future__ import annotations

import hashlib
import random

import pytest

from services.consent.domain import merkle
from services.consent.domain.merkle import (
    EMPTY_ROOT, MemoryTree, leaf_hash, node_hash, verify_consistency, verify_inclusion)


def _reference_mth(data: list[bytes]) -> bytes:
    """MTH written straight from s. 2.1.1, over leaf *data*, for cross-checking."""
    n = len(data)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + _reference_mth(data[:k]) + _reference_mth(data[k:])).digest()


@pytest.fixture
def example():
    """The 7-leaf example tree of RFC 9162 s. 2.1.5 with its node labels."""
    d = [f"d{i}".encode() for i in range(7)]
    a, b, c, dd, e, f, j = (leaf_hash(x) for x in d)
    g, h, i = node_hash(a, b), node_hash(c, dd), node_hash(e, f)
    k, l = node_hash(g, h), node_hash(i, j)
    labels = dict(a=a, b=b, c=c, d=dd, e=e, f=f, j=j, g=g, h=h, i=i, k=k, l=l)
    return d, labels, MemoryTree([leaf_hash(x) for x in d])


def test_hashing_primitives_follow_the_rfc():
    assert EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert node_hash(b"L", b"R") == hashlib.sha256(b"\x01LR").digest()
    assert MemoryTree().root() == EMPTY_ROOT


def test_example_tree_root(example):
    d, L, tree = example
    assert tree.root() == node_hash(L["k"], L["l"]) == _reference_mth(d)


def test_inclusion_vectors(example):
    _, L, tree = example
    assert tree.inclusion_path(0) == [L["b"], L["h"], L["l"]]
    assert tree.inclusion_path(6) == [L["i"], L["k"]]
    assert verify_inclusion(L["a"], 0, 7, [L["b"], L["h"], L["l"]], tree.root())
    assert verify_inclusion(L["j"], 6, 7, [L["i"], L["k"]], tree.root())
    assert not verify_inclusion(L["a"], 1, 7, [L["b"], L["h"], L["l"]], tree.root())
    assert not verify_inclusion(L["a"], 7, 7, [L["b"], L["h"], L["l"]], tree.root())


def test_consistency_vectors(example):
    _, L, tree = example
    assert tree.consistency_proof(3) == [L["c"], L["d"], L["g"], L["l"]]
    assert tree.consistency_proof(4) == [L["l"]]
    assert tree.consistency_proof(6) == [L["i"], L["j"], L["k"]]
    for m, proof in [(3, [L["c"], L["d"], L["g"], L["l"]]), (4, [L["l"]]),
                     (6, [L["i"], L["j"], L["k"]])]:
        assert verify_consistency(m, 7, tree.root(m), tree.root(), proof)


def test_consistency_when_old_size_is_a_power_of_two(example):
    """s. 2.1.4.2 step 2: first_hash is prepended; skipping it breaks PROOF(4) = [l]."""
    _, L, tree = example
    assert tree.root(4) == L["k"]
    assert verify_consistency(4, 7, L["k"], tree.root(), [L["l"]])
    # A wrong old root must not verify, nor a proof that skips the prepend.
    assert not verify_consistency(4, 7, L["g"], tree.root(), [L["l"]])
    assert not verify_consistency(4, 7, L["k"], tree.root(), [L["k"], L["l"]])
    for m in (1, 2):
        assert verify_consistency(m, 7, tree.root(m), tree.root(), tree.consistency_proof(m))


def test_consistency_edge_cases(example):
    _, L, tree = example
    assert verify_consistency(7, 7, tree.root(), tree.root(), [])
    assert not verify_consistency(7, 7, tree.root(), L["k"], [])
    assert not verify_consistency(7, 7, tree.root(), tree.root(), [L["k"]])
    assert verify_consistency(0, 7, EMPTY_ROOT, tree.root(), [])
    assert not verify_consistency(3, 7, tree.root(3), tree.root(), [])
    assert not verify_consistency(8, 7, tree.root(), tree.root(), [L["l"]])
    with pytest.raises(ValueError):
        tree.consistency_proof(0)
    with pytest.raises(ValueError):
        tree.inclusion_path(7)


def test_random_trees_against_reference():
    rng = random.Random(9162)
    for _ in range(40):
        n = rng.randint(1, 70)
        data = [rng.randbytes(rng.randint(0, 12)) for _ in range(n)]
        tree = MemoryTree([leaf_hash(x) for x in data])
        for size in range(1, n + 1):
            assert tree.root(size) == _reference_mth(data[:size])
        size = rng.randint(1, n)
        m = rng.randrange(size)
        path = tree.inclusion_path(m, size)
        assert verify_inclusion(leaf_hash(data[m]), m, size, path, tree.root(size))
        assert not verify_inclusion(leaf_hash(data[m] + b"!"), m, size, path, tree.root(size))
        if path:
            bad = list(path)
            bad[rng.randrange(len(bad))] = bytes(32)
            assert not verify_inclusion(leaf_hash(data[m]), m, size, bad, tree.root(size))
            assert not verify_inclusion(leaf_hash(data[m]), m, size, path[:-1], tree.root(size))
        first = rng.randint(1, size)
        proof = tree.consistency_proof(first, size)
        assert verify_consistency(first, size, tree.root(first), tree.root(size), proof)
        if proof:
            bad = list(proof)
            bad[rng.randrange(len(bad))] = bytes(32)
            assert not verify_consistency(first, size, tree.root(first), tree.root(size), bad)
        if first < size:
            assert not verify_consistency(first, size, bytes(32), tree.root(size), proof)


def test_required_nodes_and_closed_subtrees_match_memory_tree():
    rng = random.Random(27560)
    leaves = [rng.randbytes(32) for _ in range(37)]
    tree = MemoryTree()
    stored: dict[tuple[int, int], bytes] = {}
    for i, h in enumerate(leaves):
        closed = merkle.closed_subtrees(i, h, lambda lv, ix: stored[(lv, ix)])
        assert closed == tree.append(h)
        stored.update({(lv, ix): v for lv, ix, v in closed})
    wanted = merkle.required_nodes(lambda src: merkle.inclusion_path(src, 5, 37))
    assert len(wanted) <= 2 * 6
    subset = {key: stored[key] for key in wanted}
    assert merkle.inclusion_path(lambda lv, ix: subset[(lv, ix)], 5, 37) == tree.inclusion_path(5)
