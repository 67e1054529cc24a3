"""Every core of a pod (issue 24): ``mtlid serve <service> --workers 2`` against one worker,
same build, same run, alternating order: the token endpoint (HTTP, autocannon's 32
connections) and consent Check (gRPC, a closed loop over 8 connections, so that the kernel
spreads them among the workers). Goal: 2 workers ≥ 1.6× one worker's throughput.
On this 2-core machine the load generator and the other work share the same cores: the
server CPU per request (the whole process tree) is given beside the throughput, and two
figures that do not depend on where the generator runs:

- **CPU-normalised scaling** = 2 × (CPU per request, 1 worker) / (CPU per request, 2
  workers): what 2 workers on 2 cores of their own give over 1 worker on 1 core, if each
  worker had its core (a worker is one Python process: one core at most). It is 2.0 when a
  second worker costs nothing extra per request, and falls with whatever the workers pay
  for sharing (context switches, a port shared by SO_REUSEPORT, the database).
- **1 worker on a core of its own**: during the 1-worker side's runs its processes are
  pinned to one core and the generator (this process and its children: autocannon, or the
  in-process gRPC callers) to the other (``os.sched_setaffinity``), so its throughput is
  one core's, generator apart. A host with 4+ cores can pin 2 workers and the generator
  apart the same way; this one cannot, so the 2-worker side runs unpinned.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import sys

from harness import grpc_load, http_load
from harness.bench import Bench
from harness.measures_oauth import FORM, identity_bench_client, token_form
from harness.procs import cpu_seconds
from harness.report import Row, fmt, median
from harness.systems import MtlidService, basic_auth

GOAL = "2 workers ≥ 1.6× one"
SIDES = ("1 worker", "2 workers")
CHECK_CALLERS = 32
CHECK_CHANNELS = 8
SMOKE = "not measured in a smoke run (it starts two more processes of the service)"


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process and of its live descendants (a supervisor and its workers)."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            total += cpu_seconds(current)
            children = pathlib.Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        pending.extend(int(child) for child in children)
    return total


def _tree(pid: int) -> list[int]:
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            pending.extend(int(c) for c in pathlib.Path(f"/proc/{current}/task/{current}/children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


class pinned:
    """While inside: the server's processes (all their threads) on ``server_cpus``, this process (the
    generator and the children it starts) on ``generator_cpus``; everything as it was after."""

    def __init__(self, server_pid: int, server_cpus: set[int], generator_cpus: set[int]) -> None:
        self.server_pid, self.server_cpus, self.generator_cpus = server_pid, server_cpus, generator_cpus
        self._saved: dict[int, set[int]] = {}

    @staticmethod
    def available() -> bool:
        return hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2

    def _set(self, pid: int, cpus: set[int]) -> None:
        for tid in (int(t) for t in os.listdir(f"/proc/{pid}/task")):
            with contextlib.suppress(OSError):     # a thread that ended meanwhile
                saved = os.sched_getaffinity(tid)
                os.sched_setaffinity(tid, cpus)
                self._saved.setdefault(tid, saved)

    def __enter__(self) -> "pinned":
        for pid in _tree(self.server_pid):
            with contextlib.suppress(OSError):
                self._set(pid, self.server_cpus)
        self._set(os.getpid(), self.generator_cpus)
        return self

    def __exit__(self, *exc) -> None:
        for tid, cpus in self._saved.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, cpus)


def _pinning(side: str, service: MtlidService):
    """The 1-worker side on core 0, the generator on core 1; the 2-worker side as it is."""
    if side == SIDES[0] and pinned.available():
        cpus = sorted(os.sched_getaffinity(0))
        return pinned(service.process.pid, {cpus[0]}, {cpus[1]})
    return contextlib.nullcontext()


def _pair(bench: Bench, service: str, extra_env: dict | None = None) -> dict[str, MtlidService]:
    pair = {}
    for side in SIDES:
        env = {f"MTLID_{service.upper()}_METRICS_PORT": "off", "MTLID_WORKERS": side.split()[0], **(extra_env or {})}
        folder = bench.workdir / ("var-" + service + "-" + side.replace(" ", "-"))
        pair[side] = MtlidService(service, var_dir=folder, log_dir=bench.log_dir, nats_url=bench.nats().url, env=env)
    return pair


def _rows(label: str, rate: dict[str, list[float]], cpu: dict[str, list[float]], unit: str, note: str) -> Row:
    one, two = median(rate[SIDES[0]]), median(rate[SIDES[1]])
    ratios = [b / a for a, b in zip(rate[SIDES[0]], rate[SIDES[1]]) if a]
    spread = f" [{min(ratios):.2f}–{max(ratios):.2f}]" if ratios else ""
    cpu_one, cpu_two = median(cpu[SIDES[0]]), median(cpu[SIDES[1]])
    normalised = [2 * a / b for a, b in zip(cpu[SIDES[0]], cpu[SIDES[1]]) if b]
    scaled = (f"CPU-normalised {2 * cpu_one / cpu_two:.2f}× [{min(normalised):.2f}–{max(normalised):.2f}]; "
              if cpu_two and normalised else "")
    pinning = ("1 worker pinned to a core of its own, the generator to the other; "
               if pinned.available() else "")
    return Row(label, (scaled + f"wall {two / one:.2f}×{spread}") if one else "n/a", goal=GOAL,
               note=(f"{fmt(two, unit)} with 2 workers vs {fmt(one, unit)} with 1; server CPU "
                     f"{cpu_two:.3f} vs {cpu_one:.3f} ms/request (all its processes); " + pinning + note))


def token_endpoint(bench: Bench) -> list[Row]:
    if bench.options.smoke:
        return [Row("workers: token endpoint, 2 vs 1", SMOKE, goal=GOAL)]
    pair = _pair(bench, "identity")
    try:
        return _token_rounds(bench, pair)
    finally:  # a failed measure leaves no server behind
        for service in pair.values():
            service.process.stop()


def _token_rounds(bench: Bench, pair: dict[str, MtlidService]) -> list[Row]:
    clients = {side: identity_bench_client(service) for side, service in pair.items()}
    body = token_form()
    cpu: dict[str, list[float]] = {side: [] for side in SIDES}
    rate: dict[str, list[float]] = {side: [] for side in SIDES}
    for round_index in range(max(bench.options.rounds, 2)):
        for side in SIDES if round_index % 2 == 0 else reversed(SIDES):
            service = pair[side]
            headers = {"Authorization": basic_auth(*clients[side]), **FORM}
            url = f"{service.base}/token"
            if round_index == 0 and bench.options.warmup_seconds:
                http_load.run(url, body=body, headers=headers, duration=bench.options.warmup_seconds)
            before = tree_cpu_seconds(service.process.pid)
            with _pinning(side, service):
                result = http_load.run(url, body=body, headers=headers, duration=bench.options.http_seconds)
            if result.ok:
                cpu[side].append((tree_cpu_seconds(service.process.pid) - before) * 1000 / result.ok)
                rate[side].append(result.rps)
    return [_rows("workers: token endpoint, 2 vs 1 (identity on SQLite)", rate, cpu, "req/s",
                  "autocannon, 32 connections")]


async def _check_callers(target: str, request: bytes, token: str, seconds: float) -> tuple[float, list, dict]:
    """Closed loop: CHECK_CALLERS callers round-robin over CHECK_CHANNELS connections of their
    own (an open loop past one worker's capacity collapses into timeouts, which says nothing
    about a second worker)."""
    import asyncio
    import itertools

    import grpc

    from harness import closed_loop

    # Go's client when it is there: Python's spends several times the CPU per call, and on 2
    # cores shared with the two workers the generator, not the second worker, set the ceiling.
    go = await asyncio.to_thread(grpc_load.closed_loop_go, target, "/montreal.consent.v1.ConsentService/Check",
                                 request, callers=CHECK_CALLERS, connections=CHECK_CHANNELS, seconds=seconds,
                                 token=token)
    if go is not None:
        answered, latencies, failed, _cpu = go
        return answered, latencies, failed
    channels = [grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
                for _ in range(CHECK_CHANNELS)]
    try:
        calls = itertools.cycle([c.unary_unary("/montreal.consent.v1.ConsentService/Check", request_serializer=None,
                                               response_deserializer=None) for c in channels])
        metadata = (("authorization", f"Bearer {token}"),)
        return await closed_loop.run(lambda: next(calls)(request, metadata=metadata, timeout=5),
                                     seconds=seconds, callers=CHECK_CALLERS)
    finally:
        for channel in channels:
            await channel.close()


def consent_check(bench: Bench) -> list[Row]:
    if bench.options.smoke:
        return [Row("workers: consent Check, 2 vs 1", SMOKE, goal=GOAL)]
    pair = _pair(bench, "consent", {"MTLID_ISSUER": bench.jwks().issuer, "MTLID_JWKS_URL": bench.jwks().jwks_url})
    try:
        return _check_rounds(bench, pair)
    finally:  # a failed measure leaves no server behind
        for service in pair.values():
            service.process.stop()


def _check_rounds(bench: Bench, pair: dict[str, MtlidService]) -> list[Row]:
    import asyncio

    from harness.consent_setup import check_request, prepare_consent

    setups = {side: prepare_consent(bench, service) for side, service in pair.items()}
    cpu: dict[str, list[float]] = {side: [] for side in SIDES}
    rate: dict[str, list[float]] = {side: [] for side in SIDES}
    for round_index in range(max(bench.options.grpc_rounds, 2)):
        for side in SIDES if round_index % 2 == 0 else reversed(SIDES):
            service = pair[side]
            before = tree_cpu_seconds(service.process.pid)
            with _pinning(side, service):
                answered, latencies, failed = asyncio.run(_check_callers(
                    service.grpc_target, check_request(setups[side]), setups[side].check_token,
                    bench.options.grpc_seconds))
            if failed:
                print(f"bench: workers Check ({side}): failed calls {failed}", file=sys.stderr)
            if latencies:
                cpu[side].append((tree_cpu_seconds(service.process.pid) - before) * 1000 / len(latencies))
                rate[side].append(answered)
    return [_rows("workers: consent Check, 2 vs 1 (SQLite)", rate, cpu, "/s",
                  f"closed loop, {CHECK_CALLERS} callers over {CHECK_CHANNELS} connections, "
                  f"{'the Go client (grpc_load.go -callers)' if grpc_load.go_generator() else 'the Python client'} "
                  "on the same 2 cores")]
