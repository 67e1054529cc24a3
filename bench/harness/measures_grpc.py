"""gRPC measures at fixed offered rates: identity ValidateToken, consent Check (issue 8, point 2).

The goal is 5,000 calls/s with p99 under 5 ms on this machine's 2 cores, load generator
included; so each call is offered at a few fixed rates up to the goal, and the table shows,
for each, the rate achieved (OK answers/s), p50/p99 from the moment each call was due, the
server's CPU per call and the generator's CPU share.
"""

from __future__ import annotations

import pathlib
import sys

from harness import grpc_load
from harness.bench import Bench
from harness.procs import Process, free_port, wait_for_port
from harness.report import Row, fmt, median
from harness.systems import NotAvailable

GOAL = "5,000/s, p99 < 5 ms"
CALL_TIMEOUT = 1.0  # s: far above the goal's p99; an overloaded server's late answers count as errors


def _fixed_rate_rows(bench: Bench, label: str, process, target: str, method: str, request: bytes,
                     token: str, note: str = "", *, per_call: int = 1, rates: tuple[int, ...] | None = None,
                     goal: str = GOAL, database: str | None = None) -> list[Row]:
    """``per_call``: decisions per call (a batch's items): the rows then give decisions/s
    and the server's CPU per decision beside the per-call latency. ``database``: the
    PostgreSQL database the server reads, whose backends' CPU is reported too (same cores)."""
    from harness.postgres import backend_cpu_seconds

    database_cpu = (lambda: backend_cpu_seconds(database)) if database else (lambda: 0.0)
    options = bench.options
    rates = rates or options.grpc_rates
    # Warm-up: connections, caches, the JWKS fetch.
    grpc_load.run(target, method, request, rate=min(rates), duration=0.3 if options.smoke else 2,
                  token=token)
    rows = []
    for rate in rates:
        runs, server_ms, database_ms, generator_share = [], [], [], []
        for _ in range(options.grpc_rounds):
            before, database_before = process.cpu_seconds(), database_cpu()
            result = grpc_load.run(target, method, request, rate=rate, duration=options.grpc_seconds,
                                   token=token, procs=options.grpc_procs, timeout=CALL_TIMEOUT)
            spent = process.cpu_seconds() - before
            runs.append(result)
            if result.ok:
                server_ms.append(spent * 1000 / result.ok)
                database_ms.append((database_cpu() - database_before) * 1000 / result.ok)
            generator_share.append(result.generator_cpu_s / max(spent + result.generator_cpu_s, 1e-9))
        failures = {}
        for result in runs:
            for code, count in result.failed.items():
                failures[code] = failures.get(code, 0) + count
        achieved = median([r.achieved_rps for r in runs])
        notes = [f"p50 {median([r.p50_ms for r in runs]):.1f} ms, p99 {median([r.p99_ms for r in runs]):.1f} ms"
                 + (f" per batch of {per_call}" if per_call > 1 else ""),
                 f"server CPU {median(server_ms):.2f} ms/call" + (
                     f" ({1000 * median(server_ms) / per_call:.1f} µs/decision)" if per_call > 1 else ""),
                 f"generator ({runs[0].generator}) {100 * median(generator_share):.0f}% of the CPU used"]
        if database and database_ms:
            notes.insert(2, f"PostgreSQL backends {1000 * median(database_ms) / per_call:.1f} µs/decision")
        if failures:
            notes.append(f"errors {failures}")
        missed = sum(r.missed for r in runs)
        if missed:
            notes.append(f"{missed} calls never sent (in-flight bound)")
        if note:
            notes.append(note)
        if per_call > 1:
            rows.append(Row(f"{label} @ {rate * per_call:,} decisions/s offered ({rate:,} batches/s)",
                            f"{fmt(achieved * per_call, ' decisions/s')} achieved", goal=goal, note="; ".join(notes)))
        else:
            rows.append(Row(f"{label} @ {rate:,}/s offered", f"{fmt(achieved, '/s')} achieved", goal=goal,
                            note="; ".join(notes)))
    return rows


def validate_token(bench: Bench) -> list[Row]:
    """A borough system asks identity whether an access token is active (RFC 7662-like)."""
    from montreal.identity.v1 import identity_pb2

    from harness.measures_oauth import project_side

    side = project_side(bench)
    identity = bench.identity()
    caller = side.token("urn:mtlid:identity", "identity:validate")
    if "identity:validate" not in caller.get("scope", "identity:validate").split():
        raise NotAvailable("the bench client did not get identity:validate")
    checked = side.token()["access_token"]
    request = identity_pb2.ValidateTokenRequest(token=checked).SerializeToString()
    method = "/montreal.identity.v1.IdentityService/ValidateToken"
    probe = grpc_load.run(identity.grpc_target, method, request, rate=20, duration=0.5, token=caller["access_token"])
    if not probe.ok:
        raise RuntimeError(f"ValidateToken probe failed: {probe.failed}")
    return _fixed_rate_rows(bench, "gRPC identity ValidateToken", identity.process, identity.grpc_target, method,
                            request, caller["access_token"], note="valid token, revocation checked")


def consent_check(bench: Bench) -> list[Row]:
    from harness.consent_setup import check_request, prepare_consent

    # On PostgreSQL (production's database, and the ledger of the ledger measures) when it is
    # reachable; else on the embedded SQLite default.
    try:
        consent, _url = bench.consent_on_postgres()
        where = "PostgreSQL"
    except NotAvailable:
        consent, where = bench.service("consent"), "SQLite"
    setup = prepare_consent(bench, consent)
    method = "/montreal.consent.v1.ConsentService/Check"
    request = check_request(setup)
    probe = grpc_load.run(consent.grpc_target, method, request, rate=20, duration=0.5, token=setup.check_token)
    if not probe.ok:
        raise RuntimeError(f"Check probe failed: {probe.failed}")
    return _fixed_rate_rows(bench, "gRPC consent Check", consent.process, consent.grpc_target, method, request,
                            setup.check_token, note=f"on {where}; a resident with a given consent, 2 categories")


# Issue 24: decisions in batches of 100, offered from 5,000 to 30,000 decisions/s.
BATCH = 100
BATCH_GOAL = "≥ 20,000 decisions/s, p99 < 10 ms per batch of 100"
BATCH_RATES = (50, 100, 200, 300)  # batches/s
SMOKE_BATCH_RATES = (20,)


def _batch_rates(bench: Bench) -> tuple[int, ...]:
    return SMOKE_BATCH_RATES if bench.options.smoke else BATCH_RATES


def consent_check_many(bench: Bench) -> list[Row]:
    """CheckMany: 100 questions per call, over 50 residents who each consented (each
    resident asked twice: the categories consented to, and a category not covered)."""
    try:
        consent, url = bench.consent_on_postgres()
        where, database = "PostgreSQL", _database_of(url)
    except NotAvailable:
        consent, where, database = bench.service("consent"), "SQLite", None
    request, token = _check_many_request(bench, consent)
    method = "/montreal.consent.v1.ConsentService/CheckMany"
    return _fixed_rate_rows(bench, "gRPC consent CheckMany", consent.process, consent.grpc_target, method, request,
                            token, per_call=BATCH, rates=_batch_rates(bench), goal=BATCH_GOAL,
                            database=database, note=f"on {where}; 100 questions over 50 residents, 1-2 categories each; "
                                 "a decision is one question answered")


def consent_check_many_two_workers(bench: Bench) -> list[Row]:
    """CheckMany as above with the consent service run as ``--workers 2`` (issue 24: goal 1
    from both cores, with goal 4's workers), on the same PostgreSQL ledger."""
    from harness.measures_workers import SMOKE, tree_cpu_seconds
    from harness.systems import MtlidService

    label = "gRPC consent CheckMany, 2 workers"
    if bench.options.smoke:
        return [Row(label, SMOKE, goal=BATCH_GOAL)]
    _single, url = bench.consent_on_postgres()   # the ledger, prepared as for the measure above
    env = {"MTLID_ISSUER": bench.jwks().issuer, "MTLID_JWKS_URL": bench.jwks().jwks_url,
           "MTLID_CONSENT_DATABASE_URL": url, "MTLID_WORKERS": "2",
           # the single process above holds the default metrics port
           "MTLID_CONSENT_METRICS_PORT": str(free_port())}
    consent = MtlidService("consent", var_dir=bench.workdir / "var-consent-2-workers", log_dir=bench.log_dir,
                           nats_url=bench.nats().url, env=env)

    class _AllWorkers:
        """The supervisor and its workers, for the server's CPU."""

        @staticmethod
        def cpu_seconds() -> float:
            return tree_cpu_seconds(consent.process.pid)

    try:
        request, token = _check_many_request(bench, consent)
        return _fixed_rate_rows(bench, label, _AllWorkers, consent.grpc_target,
                                "/montreal.consent.v1.ConsentService/CheckMany", request, token, per_call=BATCH,
                                rates=_batch_rates(bench), goal=BATCH_GOAL, database=_database_of(url),
                                note="on PostgreSQL, `mtlid serve consent --workers 2` (server CPU: the "
                                     "supervisor and both workers); the same questions")
    finally:
        consent.process.stop()


def _check_many_request(bench: Bench, consent) -> tuple[bytes, str]:
    """100 questions over 50 residents who each consented (each resident asked twice: the
    categories consented to, and a category not covered), and the caller's token; probed."""
    from montreal.consent.v1 import consent_pb2 as pb

    from harness.consent_setup import CATEGORIES, PURPOSE, RECIPIENT, new_resident_id, prepare_consent

    setup = prepare_consent(bench, consent)
    residents = [setup.resident_id] + [prepare_consent(bench, consent, new_resident_id()).resident_id
                                       for _ in range(BATCH // 2 - 1)]
    items = []
    for resident in residents:
        items.append(pb.CheckQuestion(resident_id=resident, recipient_id=RECIPIENT, purpose_id=PURPOSE,
                                      data_categories=list(CATEGORIES)))
        items.append(pb.CheckQuestion(resident_id=resident, recipient_id=RECIPIENT, purpose_id=PURPOSE,
                                      data_categories=[CATEGORIES[0]]))
    request = pb.CheckManyRequest(items=items).SerializeToString()
    probe = grpc_load.run(consent.grpc_target, "/montreal.consent.v1.ConsentService/CheckMany", request, rate=5,
                          duration=0.5, token=setup.check_token)
    if not probe.ok:
        raise RuntimeError(f"CheckMany probe failed: {probe.failed}")
    return request, setup.check_token


def validate_tokens(bench: Bench) -> list[Row]:
    """ValidateTokens: 100 distinct access tokens per call, each checked as ValidateToken checks it."""
    from montreal.identity.v1 import identity_pb2

    from harness.measures_oauth import project_side

    side = project_side(bench)
    identity = bench.identity()
    caller = side.token("urn:mtlid:identity", "identity:validate")
    if "identity:validate" not in caller.get("scope", "identity:validate").split():
        raise NotAvailable("the bench client did not get identity:validate")
    checked = [side.token()["access_token"] for _ in range(BATCH)]
    request = identity_pb2.ValidateTokensRequest(tokens=checked).SerializeToString()
    method = "/montreal.identity.v1.IdentityService/ValidateTokens"
    probe = grpc_load.run(identity.grpc_target, method, request, rate=5, duration=0.5, token=caller["access_token"])
    if not probe.ok:
        raise RuntimeError(f"ValidateTokens probe failed: {probe.failed}")
    return _fixed_rate_rows(bench, "gRPC identity ValidateTokens", identity.process, identity.grpc_target, method,
                            request, caller["access_token"], per_call=BATCH, rates=_batch_rates(bench),
                            goal=BATCH_GOAL, database=_database_of(identity.env.get("MTLID_IDENTITY_DATABASE_URL")),
                            note="100 distinct valid tokens, revocation checked for each "
                                 "(one statement per batch)")


def _database_of(url: str | None) -> str | None:
    """The PostgreSQL database name in a service's URL; None for SQLite (no backends)."""
    if not url or not url.startswith("postgresql"):
        return None
    return url.rsplit("/", 1)[1].split("?")[0]


def grpc_floor(bench: Bench) -> list[Row]:
    """The same rates against a server that does nothing (``harness/grpc_floor.py``): what
    grpc.aio and the event loop cost per call here before any of mtlid's code runs."""
    port = free_port()
    server = Process("grpc-floor", [sys.executable, str(pathlib.Path(__file__).with_name("grpc_floor.py")), str(port)],
                     log_dir=bench.log_dir)
    try:
        wait_for_port(port, 30, server.popen)
        return _fixed_rate_rows(bench, "gRPC floor: no-op grpc.aio server", server, f"127.0.0.1:{port}",
                                "/montreal.consent.v1.ConsentService/Check", b"", "",
                                note="no mtlid code: gRPC core, the event loop, the same server options")
    finally:
        server.stop()
