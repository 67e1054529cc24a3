"""Closed-loop gRPC load: a few callers, each sending its next call when the last one answered.

The measures of whole operations (attribute release, ledger appends, sustained proofs) use
it: their throughput is what a fixed number of concurrent callers gets, and their latency is
each call's own (no schedule to fall behind, unlike ``grpc_load``'s open loop).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

MAX_FAILURES = 50  # past this many failed calls a caller stops: the run is broken, not slow


async def run(call: Callable[[], Awaitable[object]], *, seconds: float, callers: int
              ) -> tuple[float, list[float], dict[str, int]]:
    """Run ``callers`` loops of ``call()`` for ``seconds``: (answers/s, latencies in seconds,
    failures by gRPC status name)."""
    import grpc

    latencies: list[float] = []
    failures: dict[str, int] = {}
    deadline = time.monotonic() + seconds

    async def caller() -> None:
        while time.monotonic() < deadline and sum(failures.values()) <= MAX_FAILURES:
            began = time.perf_counter()
            try:
                await call()
                latencies.append(time.perf_counter() - began)
            except grpc.aio.AioRpcError as error:
                failures[error.code().name] = failures.get(error.code().name, 0) + 1

    started = time.monotonic()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return len(latencies) / (time.monotonic() - started), latencies, failures
