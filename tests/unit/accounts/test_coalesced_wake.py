"""``CoalescedWake`` (adapters/release_outbox.py): a burst of releases wakes the outbox relay
once, shortly after the first of them, and a later burst wakes it again."""

from __future__ import annotations

import asyncio

from services.accounts.adapters.release_outbox import CoalescedWake


async def test_a_burst_wakes_the_relay_once_after_the_delay():
    woken: list[float] = []
    loop = asyncio.get_running_loop()
    wake = CoalescedWake(lambda: woken.append(loop.time()), delay=0.05)
    first = loop.time()
    for _ in range(100):
        wake()
    assert woken == []                       # not at once: the burst is still coming
    await asyncio.sleep(0.2)
    assert len(woken) == 1 and 0.04 <= woken[0] - first < 0.2
    wake()                                   # a later commit is never left without a wake
    await asyncio.sleep(0.2)
    assert len(woken) == 2
