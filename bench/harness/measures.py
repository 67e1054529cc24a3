"""Every measure of issue 8, point 2, in the order of the table.

A measure is a function ``(bench) -> list[Row]``. It raises ``NotAvailable`` when a service it
needs does not exist yet; the runner turns that into a "not available yet" row.
"""

from __future__ import annotations

from harness import (measures_client_auth, measures_dpop, measures_grpc, measures_ledger, measures_login, measures_metrics,
                     measures_oauth, measures_release, measures_workers)
from harness.bench import Bench
from harness.report import Row, fmt

MEASURES = [
    ("token_endpoint", "token endpoint, client credentials (JWT ES256)", measures_oauth.token_endpoint),
    ("introspection", "token introspection (RFC 7662)", measures_oauth.introspection),
    ("client_auth", "token endpoint: private_key_jwt vs client_secret_basic", measures_client_auth.client_auth),
    ("dpop", "DPoP (RFC 9449) at the token endpoint and userinfo", measures_dpop.dpop),
    ("login_flow", "login: authorization code + PKCE, argon2id", measures_login.login_flow),
    ("validate_token", "gRPC identity ValidateToken at fixed rates", measures_grpc.validate_token),
    ("consent_check", "gRPC consent Check at fixed rates", measures_grpc.consent_check),
    ("validate_tokens", "gRPC identity ValidateTokens, batches of 100 (issue 24)", measures_grpc.validate_tokens),
    ("consent_check_many", "gRPC consent CheckMany, batches of 100 (issue 24)", measures_grpc.consent_check_many),
    ("consent_check_many_workers", "gRPC consent CheckMany, batches of 100, 2 workers (issue 24)",
     measures_grpc.consent_check_many_two_workers),
    ("grpc_floor", "gRPC floor: a no-op grpc.aio server at the same rates", measures_grpc.grpc_floor),
    ("attribute_release", "attribute release on PostgreSQL (accounts → consent)", measures_release.attribute_release),
    ("ledger_proofs", "ledger proofs and full verify", measures_ledger.proofs_and_verify),
    ("ledger_appends", "ledger appends on PostgreSQL, 4 writers", measures_ledger.appends),
    ("metrics_cost_token", "metrics cost: token endpoint", measures_metrics.token_endpoint),
    ("metrics_cost_check", "metrics cost: consent Check", measures_metrics.consent_check),
    ("metrics_profile_token", "metrics share of the token endpoint (profile)", measures_metrics.token_endpoint_profile),
    ("metrics_profile_check", "metrics share of consent Check (profile)", measures_metrics.consent_check_profile),
    ("workers_token", "workers: token endpoint, 2 vs 1 (issue 24)", measures_workers.token_endpoint),
    ("workers_check", "workers: consent Check, 2 vs 1 (issue 24)", measures_workers.consent_check),
]

MEMORY_GOAL_MB = 150


def memory_rows(bench: Bench) -> list[Row]:
    """Resident memory of each process at rest (1 s after start) and its peak under load."""
    rows = []
    for name, rest in bench.memory.at_rest.items():
        peak = bench.memory.peak.get(name, rest)
        is_peer = name.startswith("peer")
        cell = f"{fmt(rest, 'MB')} at rest, {fmt(peak, 'MB')} peak"
        rows.append(Row(f"resident memory: {name}", "—" if is_peer else cell, cell if is_peer else "—",
                        goal="" if is_peer else f"< {MEMORY_GOAL_MB} MB",
                        note="the Python process only (not nats-server)" if not is_peer else "one Node process"))
    return rows
