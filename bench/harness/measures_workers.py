"""Every core of a pod (issue 24): ``mtlid serve <service> --workers 2`` against one worker,
same build, same run, alternating order: the token endpoint (HTTP, autocannon's 32
connections) and consent Check (gRPC, a closed loop over 8 connections, so that the kernel
spreads them among the workers). Goal: 2 workers ≥ 1.6× one worker's throughput.
On this 2-core machine the load generator and the other work share the same cores: the
server CPU per request (the whole process tree) is given beside the throughput.
"""

from __future__ import annotations

import pathlib

from harness import http_load
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
    return Row(label, f"{two / one:.2f}×{spread}" if one else "n/a", goal=GOAL,
               note=(f"{fmt(two, unit)} with 2 workers vs {fmt(one, unit)} with 1; server CPU "
                     f"{median(cpu[SIDES[1]]):.3f} vs {median(cpu[SIDES[0]]):.3f} ms/request (all its processes); "
                     + note))


def token_endpoint(bench: Bench) -> list[Row]:
    if bench.options.smoke:
        return [Row("workers: token endpoint, 2 vs 1", SMOKE, goal=GOAL)]
    pair = _pair(bench, "identity")
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
            result = http_load.run(url, body=body, headers=headers, duration=bench.options.http_seconds)
            if result.ok:
                cpu[side].append((tree_cpu_seconds(service.process.pid) - before) * 1000 / result.ok)
                rate[side].append(result.rps)
    for service in pair.values():
        service.process.stop()
    return [_rows("workers: token endpoint, 2 vs 1 (identity on SQLite)", rate, cpu, "req/s",
                  "autocannon, 32 connections")]


async def _check_callers(target: str, request: bytes, token: str, seconds: float) -> tuple[float, list, dict]:
    """Closed loop: CHECK_CALLERS callers round-robin over CHECK_CHANNELS connections of their
    own (an open loop past one worker's capacity collapses into timeouts, which says nothing
    about a second worker)."""
    import itertools

    import grpc

    from harness import closed_loop

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
    import asyncio

    from harness.consent_setup import check_request, prepare_consent

    if bench.options.smoke:
        return [Row("workers: consent Check, 2 vs 1", SMOKE, goal=GOAL)]
    pair = _pair(bench, "consent", {"MTLID_ISSUER": bench.jwks().issuer, "MTLID_JWKS_URL": bench.jwks().jwks_url})
    setups = {side: prepare_consent(bench, service) for side, service in pair.items()}
    cpu: dict[str, list[float]] = {side: [] for side in SIDES}
    rate: dict[str, list[float]] = {side: [] for side in SIDES}
    for round_index in range(max(bench.options.grpc_rounds, 2)):
        for side in SIDES if round_index % 2 == 0 else reversed(SIDES):
            service = pair[side]
            before = tree_cpu_seconds(service.process.pid)
            answered, latencies, _failed = asyncio.run(_check_callers(
                service.grpc_target, check_request(setups[side]), setups[side].check_token,
                bench.options.grpc_seconds))
            if latencies:
                cpu[side].append((tree_cpu_seconds(service.process.pid) - before) * 1000 / len(latencies))
                rate[side].append(answered)
    for service in pair.values():
        service.process.stop()
    return [_rows("workers: consent Check, 2 vs 1 (SQLite)", rate, cpu, "/s",
                  f"closed loop, {CHECK_CALLERS} callers over {CHECK_CHANNELS} connections, "
                  "the Python client in the harness on the same 2 cores")]
