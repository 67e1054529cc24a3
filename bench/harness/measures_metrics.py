"""What metrics cost on the hot paths (issue 19): the token endpoint and consent Check, each
served by two processes of the same build in the same run, one exporting metrics (its
Prometheus port on, scraped once per round as Prometheus would) and one with
``MTLID_<SERVICE>_METRICS_PORT=off``, in alternating order. The figure that decides is the
server's CPU per request (less noisy than throughput on a shared machine); goal: within 5 %.

On a shared machine the paired runs can still differ by tens of percent either way; the
profile (``token_endpoint_profile``) answers the same question without a second process:
identity with metrics on, under cProfile, serving the token load; the share of the event
loop's CPU spent in metrics code (prometheus_client, the OpenTelemetry SDK's metrics, our
recording helpers). The profiler's overhead is per call, so this share is about the same
with and without it.
"""

from __future__ import annotations

import urllib.request

from harness import grpc_load, http_load
from harness.bench import Bench
from harness.measures_oauth import FORM, identity_bench_client, token_form
from harness.procs import free_port
from harness.report import Row, fmt, median
from harness.systems import MtlidService, basic_auth

# Where metrics code lives: what the profile counts as the cost of metrics.
METRICS_CODE = ("prometheus_client/", "opentelemetry/sdk/metrics/", "opentelemetry/metrics/",
                "opentelemetry/exporter/prometheus/", "services/common/metrics.py",
                "services/common/http_metrics.py", "services/common/runtime_metrics.py",
                "services/identity/metrics.py", "services/consent/metrics.py")

GOAL = "CPU/request within 5 %"


def _pair(bench: Bench, service: str, extra_env: dict | None = None) -> dict[str, tuple[MtlidService, int | None]]:
    pair = {}
    for side in ("metrics on", "metrics off"):
        port = free_port() if side == "metrics on" else None
        env = {f"MTLID_{service.upper()}_METRICS_PORT": str(port) if port else "off", **(extra_env or {})}
        folder = bench.workdir / ("var-" + side.replace(" ", "-"))
        pair[side] = (MtlidService(service, var_dir=folder, log_dir=bench.log_dir, nats_url=bench.nats().url,
                                   env=env), port)
        bench.memory.watch(f"{service} ({side})", pair[side][0].process)
    return pair


def _scrape(port: int | None) -> None:
    if port:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            answer.read()


def _quartiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 4], ordered[(3 * n) // 4] if n > 1 else ordered[0]


def _row(label: str, cpu: dict[str, list[float]], rate: dict[str, list[float]], unit: str) -> Row:
    """The cost is the median of the per-round ratios (on/off of the same round, the two runs
    next to each other in time, in alternating order): a paired measure, so a round the
    shared machine slowed for both sides cancels out, and one disturbed run moves the median
    little. The spread is the ratios' interquartile range and their extremes."""
    on, off = median(cpu["metrics on"]), median(cpu["metrics off"])
    ratios = [a / b for a, b in zip(cpu["metrics on"], cpu["metrics off"]) if b]
    if not ratios:
        return Row(label, "n/a", goal=GOAL)
    low, high = _quartiles(ratios)
    cost = (f"{100 * (median(ratios) - 1):+.1f} % CPU/request (IQR {100 * (low - 1):+.1f}…{100 * (high - 1):+.1f} %, "
            f"range {100 * (min(ratios) - 1):+.1f}…{100 * (max(ratios) - 1):+.1f} %, {len(ratios)} pairs)")
    return Row(label, cost, goal=GOAL,
               note=(f"server CPU {on:.3f} vs {off:.3f} ms/req with/without (medians); "
                     f"{fmt(median(rate['metrics on']), unit)} vs {fmt(median(rate['metrics off']), unit)}"))


SMOKE = "not measured in a smoke run (it starts two more processes of the service)"


def token_endpoint(bench: Bench) -> list[Row]:
    if bench.options.smoke:
        return [Row("metrics cost: token endpoint", SMOKE, goal=GOAL)]
    pair = _pair(bench, "identity")
    try:
        return _token_rounds(bench, pair)
    finally:  # the two processes of this measure, stopped even when it fails
        for service, _port in pair.values():
            service.process.stop()


def _token_rounds(bench: Bench, pair) -> list[Row]:
    clients = {side: identity_bench_client(service) for side, (service, _) in pair.items()}
    body = token_form()
    cpu: dict[str, list[float]] = {side: [] for side in pair}
    rate: dict[str, list[float]] = {side: [] for side in pair}
    sides = list(pair)
    for round_index in range(max(bench.options.rounds, 2)):
        for side in sides if round_index % 2 == 0 else reversed(sides):
            service, port = pair[side]
            headers = {"Authorization": basic_auth(*clients[side]), **FORM}
            url = f"{service.base}/token"
            if round_index == 0 and bench.options.warmup_seconds:
                http_load.run(url, body=body, headers=headers, duration=bench.options.warmup_seconds)
            before = service.process.cpu_seconds()
            result = http_load.run(url, body=body, headers=headers, duration=bench.options.http_seconds)
            _scrape(port)
            if result.ok:
                cpu[side].append((service.process.cpu_seconds() - before) * 1000 / result.ok)
                rate[side].append(result.rps)
    return [_row("metrics cost: token endpoint (identity on SQLite)", cpu, rate, "req/s")]


def consent_check(bench: Bench) -> list[Row]:
    if bench.options.smoke:
        return [Row("metrics cost: consent Check", SMOKE, goal=GOAL)]
    pair = _pair(bench, "consent", {"MTLID_ISSUER": bench.jwks().issuer, "MTLID_JWKS_URL": bench.jwks().jwks_url})
    try:
        return _check_rounds(bench, pair)
    finally:  # the two processes of this measure, stopped even when it fails
        for service, _port in pair.values():
            service.process.stop()


def _check_rounds(bench: Bench, pair) -> list[Row]:
    from harness.consent_setup import check_request, prepare_consent

    setups = {side: prepare_consent(bench, service) for side, (service, _) in pair.items()}
    method = "/montreal.consent.v1.ConsentService/Check"
    offered = 1000
    cpu: dict[str, list[float]] = {side: [] for side in pair}
    rate: dict[str, list[float]] = {side: [] for side in pair}
    sides = list(pair)
    for round_index in range(max(bench.options.rounds, 2)):
        for side in sides if round_index % 2 == 0 else reversed(sides):
            service, port = pair[side]
            request, token = check_request(setups[side]), setups[side].check_token
            before = service.process.cpu_seconds()
            result = grpc_load.run(service.grpc_target, method, request, rate=offered,
                                   duration=bench.options.grpc_seconds, token=token)
            _scrape(port)
            if result.ok:
                cpu[side].append((service.process.cpu_seconds() - before) * 1000 / result.ok)
                rate[side].append(result.achieved_rps)
    return [_row(f"metrics cost: consent Check @ {offered:,}/s (SQLite)", cpu, rate, "/s")]


def metrics_share(profile_path) -> tuple[float, float]:
    """(seconds in metrics code, seconds in all code) of a cProfile dump: self time only, so
    nothing is counted twice."""
    import pstats

    stats = pstats.Stats(str(profile_path)).stats
    total = sum(entry[2] for entry in stats.values())
    spent = sum(entry[2] for (filename, _, _), entry in stats.items()
                if any(part in filename for part in METRICS_CODE))
    return spent, total


def token_endpoint_profile(bench: Bench) -> list[Row]:
    label = "metrics share of the token endpoint's CPU (profile)"
    if bench.options.smoke:
        return [Row(label, SMOKE, goal=GOAL)]
    port = free_port()
    profile = bench.workdir / "identity-metrics-on.prof"
    service = MtlidService("identity", var_dir=bench.workdir / "var-profile", log_dir=bench.log_dir,
                           nats_url=bench.nats().url, env={"MTLID_IDENTITY_METRICS_PORT": str(port)},
                           profile_to=profile)
    try:
        client = identity_bench_client(service)
        headers = {"Authorization": basic_auth(*client), **FORM}
        result = http_load.run(f"{service.base}/token", body=token_form(), headers=headers,
                               duration=bench.options.http_seconds)
        _scrape(port)
    finally:
        service.process.stop()
    spent, total = metrics_share(profile)
    share = 100 * spent / total if total else 0.0
    return [Row(label, f"{share:.2f} % of the event loop's CPU", goal=GOAL,
                note=(f"{result.ok:,} token requests under cProfile; {spent:.3f} s in metrics code of {total:.1f} s "
                      "(self time, process start included)"))]


def consent_check_profile(bench: Bench) -> list[Row]:
    from harness.consent_setup import check_request, prepare_consent

    label = "metrics share of consent Check's CPU (profile)"
    if bench.options.smoke:
        return [Row(label, SMOKE, goal=GOAL)]
    port = free_port()
    profile = bench.workdir / "consent-metrics-on.prof"
    service = MtlidService("consent", var_dir=bench.workdir / "var-profile", log_dir=bench.log_dir,
                           nats_url=bench.nats().url, profile_to=profile,
                           env={"MTLID_CONSENT_METRICS_PORT": str(port), "MTLID_ISSUER": bench.jwks().issuer,
                                "MTLID_JWKS_URL": bench.jwks().jwks_url})
    try:
        setup = prepare_consent(bench, service)
        result = grpc_load.run(service.grpc_target, "/montreal.consent.v1.ConsentService/Check", check_request(setup),
                               rate=1000, duration=bench.options.http_seconds, token=setup.check_token)
        _scrape(port)
    finally:
        service.process.stop()
    spent, total = metrics_share(profile)
    share = 100 * spent / total if total else 0.0
    return [Row(label, f"{share:.2f} % of the event loop's CPU", goal=GOAL,
                note=(f"{result.ok:,} Check calls at up to 1,000/s under cProfile; {spent:.3f} s in metrics code of "
                      f"{total:.1f} s (self time, process start included)"))]
