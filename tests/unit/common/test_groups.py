"""services.common.reads.Groups: concurrent requests answered a group at a time."""

from __future__ import annotations

import asyncio

from services.common.logging import request_id_var
from services.common.reads import Groups


async def test_requests_made_together_share_a_group_and_each_gets_its_own_answer():
    groups_seen = []

    async def answer(items):
        groups_seen.append(list(items))
        await asyncio.sleep(0.01)
        return [item * 2 for item in items]

    groups = Groups(answer)
    results = await asyncio.gather(*(groups.submit(n) for n in range(10)))
    assert results == [n * 2 for n in range(10)]
    assert sum(len(g) for g in groups_seen) == 10 and len(groups_seen) < 10


async def test_a_group_does_not_run_in_the_context_of_the_request_that_started_it():
    """One request's id must not label the work done for the others of its group (logs)."""
    seen = []

    async def answer(items):
        seen.append(request_id_var.get())
        return items

    groups = Groups(answer)

    async def request(request_id: str, item: int) -> int:
        request_id_var.set(request_id)
        return await groups.submit(item)

    assert await asyncio.gather(request("req-1", 1), request("req-2", 2)) == [1, 2]
    assert seen and all(value is None for value in seen)


async def test_a_failing_group_fails_each_of_its_requests_and_the_next_group_works():
    calls = 0

    async def answer(items):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database away")
        return items

    groups = Groups(answer)
    results = await asyncio.gather(groups.submit("a"), groups.submit("b"), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    assert await groups.submit("c") == "c"


async def test_stopping_fails_the_waiting_requests_with_the_stop_error():
    release = asyncio.Event()

    async def answer(items):
        await release.wait()
        return items

    groups = Groups(answer, stopped=lambda: RuntimeError("stopping"))
    waiting = asyncio.gather(groups.submit(1), groups.submit(2), return_exceptions=True)
    await asyncio.sleep(0.01)          # the group is being answered
    groups._runner.cancel()            # what the event loop's shutdown does to it
    results = await asyncio.wait_for(waiting, 5)
    assert [str(r) for r in results] == ["stopping", "stopping"]


async def test_stopped_before_its_first_group_the_requests_are_told_rather_than_left_waiting():
    async def answer(items):
        return items

    groups = Groups(answer, stopped=lambda: RuntimeError("stopping"))
    waiting = asyncio.ensure_future(groups.submit(1))
    await asyncio.sleep(0)             # the request is in, the runner not started yet
    groups._runner.cancel()
    with_error = await asyncio.wait_for(asyncio.gather(waiting, return_exceptions=True), 5)
    assert [str(r) for r in with_error] == ["stopping"]
