"""argon2id runs on a bounded pool of its own (``service_layer/hashing.py``): a burst of
logins never hashes more passwords at once than ``HASH_THREADS`` (19 MiB each)."""

from __future__ import annotations

import asyncio
import threading
import time

from services.identity.domain import passwords
from services.identity.service_layer import hashing


async def test_a_burst_never_hashes_more_than_hash_threads_at_once():
    lock = threading.Lock()
    running, peak = 0, 0

    def slow_hash(n: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return n

    results = await asyncio.gather(*(hashing.run(slow_hash, n) for n in range(12)))
    assert results == list(range(12))
    assert peak == hashing.HASH_THREADS
    assert 1 <= hashing.HASH_THREADS <= 2


async def test_real_hashes_and_verifications_go_through_it():
    hashed = await hashing.run(passwords.hash_password, "a long enough passphrase")
    assert await hashing.run(passwords.verify_password, hashed, "a long enough passphrase")
    assert not await hashing.run(passwords.verify_password, hashed, "another long passphrase")
