"""What a consent process keeps of its ledger in memory stays within the service's memory
budget (issue 8: under 150 MB per process, about 100 MB of it at rest): the node cache, the
proof leaves and Check's parsed consent entries, each filled past its bound through the
code that fills it in service."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tracemalloc
import uuid

from services.common.db import session_factory
from services.consent.adapters import reads, repositories
from services.consent.adapters.repositories import LedgerStore
from services.consent.domain import binding, ledger, merkle

BUDGET_MB = 24  # what the caches may add, full, to a process at rest (~19 MB measured)


def _consent_given_leaf() -> bytes:
    now = dt.datetime(2026, 12, 3, tzinfo=dt.timezone.utc)
    entry = ledger.consent_given(
        consent_id=str(uuid.uuid4()), resident_id="3456789ABCDE", recipient_id="montreal-library",
        purpose_id="service-provision", purpose_version=3, purpose_text_sha256=hashlib.sha256(b"p").hexdigest(),
        data_categories=["email", "given_name", "postal_address"], time=now, expires_at=now + dt.timedelta(days=365),
        biometric=False, non_biometric_alternative_id="", collection_method="account_page", explicit_act=True,
        language="fr", actor="resident")
    return entry.at(0).leaf_data()


async def test_the_caches_of_a_consent_process_full_fit_in_their_budget(engine):
    store = LedgerStore(session_factory(engine), os.urandom(32))
    leaves = [_consent_given_leaf() for _ in range(64)]
    try:
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(2 * repositories.NODE_CACHE_CAPACITY):
            store.nodes.put((i % 21, i), os.urandom(32))
        for i in range(2 * repositories.PROOF_LEAF_CAPACITY):
            store.remember_entry(ledger.LedgerEntry.from_leaf_data(leaves[i % 64], i))
        columns = [binding.columns_of(ledger.LedgerEntry.from_leaf_data(leaf)) for leaf in leaves]
        hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
        for i in range(2 * reads.PARSED_ENTRY_CAPACITY):
            # as Check binds a resident's entries, from bytes the driver has just made
            store.reads._bind(i, columns[i % 64], bytes(bytearray(leaves[i % 64])), hashes[i % 64],
                              hashes[i % 64])
        added_mb = (tracemalloc.get_traced_memory()[0] - before) / 1e6
    finally:
        tracemalloc.stop()
        await store.aclose()
    assert len(store.nodes._items) == repositories.NODE_CACHE_CAPACITY
    assert len(store.entries) == repositories.PROOF_LEAF_CAPACITY
    assert len(store.reads._parsed) == reads.PARSED_ENTRY_CAPACITY
    assert 5 < added_mb < BUDGET_MB, f"{added_mb:.1f} MB"
