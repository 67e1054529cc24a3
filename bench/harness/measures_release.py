"""Attribute release end to end on PostgreSQL (issue 8, point 2).

A service asks accounts for a resident's attributes (``ReleaseAttributes``): accounts reads
the catalogue, the account and the profile, asks consent to decide and record the access in one
``CheckAndRecord`` call (never cached: a withdrawal stops the very next release; a ledger
append), then writes its outbox event. The same run measures the path before issue 24 (``Check``
then ``RecordAccess``, ``MTLID_RELEASE_CONSENT_CALLS=two``) beside it. Accounts and consent both run on PostgreSQL; accounts gets its own
client-credentials token from the harness's stub token endpoint once and reuses it.
``RELEASE_CONCURRENCY`` callers in a closed loop: throughput and latency under that load; then
``SATURATING_CONCURRENCY`` callers, enough to keep both processes busy while others wait on
commits — the capacity an operator sizes for, where CPU per release decides (issue 24).
"""

from __future__ import annotations

import asyncio

from harness import closed_loop
from harness.bench import Bench
from harness.consent_setup import CATEGORIES, PURPOSE, RECIPIENT, new_resident_id, prepare_consent
from harness.report import Row, fmt, median

RELEASE_CONCURRENCY = 8
SATURATING_CONCURRENCY = 32
ACCOUNTS = "urn:mtlid:accounts"


def _setup(bench: Bench, calls: str = "one"):
    """Accounts asking consent in ``calls`` calls per release (MTLID_RELEASE_CONSENT_CALLS):
    ``one`` CheckAndRecord, or ``two`` (Check then RecordAccess, the path before issue 24); each
    its own accounts process and database, against the same consent service."""
    def build():
        import grpc

        from montreal.accounts.v1 import accounts_pb2 as pb
        from montreal.accounts.v1 import accounts_pb2_grpc

        consent, _url = bench.consent_on_postgres()
        accounts = bench.service("accounts", database_url=bench.throwaway_postgres(f"accounts_{calls}"), extra_env={
            "MTLID_CONSENT_GRPC_TARGET": consent.grpc_target, "MTLID_RELEASE_CONSENT_CALLS": calls,
            # two accounts processes side by side: the second serves no metrics port
            **({"MTLID_ACCOUNTS_METRICS_PORT": "off"} if calls == "two" else {}),
            "MTLID_SERVICE_CLIENT_ID": "accounts-service", "MTLID_SERVICE_CLIENT_SECRET": "bench-not-a-secret"})
        jwks = bench.jwks()
        resident_id = new_resident_id()
        admin = jwks.mint("bench-operator", ["accounts:admin"], ACCOUNTS)
        resident = jwks.minter.mint("montreal-ca", ["resident"], ACCOUNTS, subject=resident_id)
        link = jwks.mint(RECIPIENT, ["accounts:link"], ACCOUNTS)
        with grpc.insecure_channel(accounts.grpc_target) as channel:
            stub = accounts_pb2_grpc.AccountsServiceStub(channel)
            stub.RegisterService(pb.RegisterServiceRequest(
                service_id=RECIPIENT, name_fr="Bibliothèque (banc d'essai)", name_en="Library (benchmark)",
                kind=pb.SERVICE_KIND_MUNICIPAL, owner="Ville de Montréal", client_id=RECIPIENT,
                attributes=list(CATEGORIES), purposes=[PURPOSE]),
                metadata=[("authorization", f"Bearer {admin}")], timeout=10)
            stub.UpdateProfile(pb.UpdateProfileRequest(resident_id=resident_id, changes=[
                pb.AttributeChange(name="email", value="resident.banc@example.org"),
                pb.AttributeChange(name="phone", value="+1 514 555 0142")]),
                metadata=[("authorization", f"Bearer {resident}")], timeout=10)
            stub.LinkAccount(pb.LinkAccountRequest(service_id=RECIPIENT, resident_id=resident_id,
                                                   account_reference="BENCH-0001"),
                             metadata=[("authorization", f"Bearer {link}")], timeout=10)
        prepare_consent(bench, consent, resident_id)
        release = jwks.mint(RECIPIENT, ["accounts:release"], ACCOUNTS)
        request = pb.ReleaseAttributesRequest(service_id=RECIPIENT, resident_id=resident_id, purpose_id=PURPOSE,
                                              attributes=list(CATEGORIES))
        with grpc.insecure_channel(accounts.grpc_target) as channel:
            answer = accounts_pb2_grpc.AccountsServiceStub(channel).ReleaseAttributes(
                request, metadata=[("authorization", f"Bearer {release}")], timeout=10)
        if sorted(a.name for a in answer.released) != sorted(CATEGORIES) or not answer.access_id:
            raise RuntimeError(f"the first release did not release both attributes: {answer}")
        return accounts, consent, request, release
    return bench._get(f"release-setup-{calls}", build)


async def _callers(target: str, request, token: str, seconds: float,
                   callers: int = RELEASE_CONCURRENCY) -> tuple[float, list[float], dict]:
    import grpc

    from montreal.accounts.v1 import accounts_pb2_grpc

    metadata = (("authorization", f"Bearer {token}"),)
    async with grpc.aio.insecure_channel(target) as channel:
        stub = accounts_pb2_grpc.AccountsServiceStub(channel)
        return await closed_loop.run(lambda: stub.ReleaseAttributes(request, metadata=metadata, timeout=10),
                                     seconds=seconds, callers=callers)


def attribute_release(bench: Bench) -> list[Row]:
    """Releases per second with one consent call per release (CheckAndRecord) and with two
    (Check then RecordAccess), in alternating rounds of the same run (issue 24: goal ≥ 1.5×),
    at ``RELEASE_CONCURRENCY`` callers and (not in smoke runs) ``SATURATING_CONCURRENCY``."""
    sides = {calls: _setup(bench, calls) for calls in ("one", "two")}
    rows = []
    for callers in (RELEASE_CONCURRENCY,) if bench.options.smoke else (RELEASE_CONCURRENCY, SATURATING_CONCURRENCY):
        rows.extend(_release_rows(bench, sides, callers))
    return rows


def _release_rows(bench: Bench, sides: dict, callers: int) -> list[Row]:
    from harness.measures_grpc import _database_of
    from harness.postgres import backend_cpu_seconds

    figures = {calls: {"rate": [], "p50": [], "p99": [], "accounts": [], "consent": [], "postgres": []}
               for calls in sides}
    failures: dict[str, dict] = {calls: {} for calls in sides}
    for round_index in range(max(2, min(bench.options.rounds, 4))):
        for calls in (("one", "two") if round_index % 2 == 0 else ("two", "one")):
            accounts, consent, request, token = sides[calls]
            databases = [d for d in (_database_of(accounts.env.get("MTLID_ACCOUNTS_DATABASE_URL")),
                                     _database_of(consent.env.get("MTLID_CONSENT_DATABASE_URL"))) if d]
            cpu = (accounts.process.cpu_seconds(), consent.process.cpu_seconds(),
                   sum(backend_cpu_seconds(d) for d in databases))
            rate, latencies, failed = asyncio.run(_callers(accounts.grpc_target, request, token,
                                                           bench.options.ledger_seconds, callers))
            latencies.sort()
            f = figures[calls]
            if latencies:
                f["rate"].append(rate)
                f["p50"].append(1000 * latencies[len(latencies) // 2])
                f["p99"].append(1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))])
                f["accounts"].append((accounts.process.cpu_seconds() - cpu[0]) * 1000 / len(latencies))
                f["consent"].append((consent.process.cpu_seconds() - cpu[1]) * 1000 / len(latencies))
                f["postgres"].append((sum(backend_cpu_seconds(d) for d in databases) - cpu[2]) * 1000 / len(latencies))
            for code, count in failed.items():
                failures[calls][code] = failures[calls].get(code, 0) + count
    rows = []
    for calls, label, what in (("one", "attribute release on PostgreSQL (accounts → consent)", "CheckAndRecord"),
                               ("two", "attribute release, two consent calls (before issue 24)",
                                "Check + RecordAccess")):
        f = figures[calls]
        note = (f"{callers} callers, closed loop; p50 {median(f['p50']):.0f} ms, "
                f"p99 {median(f['p99']):.0f} ms; CPU per release: accounts {median(f['accounts']):.1f} ms, "
                f"consent {median(f['consent']):.1f} ms, PostgreSQL backends {median(f['postgres']):.1f} ms ({what})")
        if calls == "one" and f["rate"] and figures["two"]["rate"]:
            ratios = [a / b for a, b in zip(f["rate"], figures["two"]["rate"])]
            note = (f"{median(f['rate']) / median(figures['two']['rate']):.2f}× the two-call release of the same "
                    f"run [{min(ratios):.2f}–{max(ratios):.2f}]; " + note)
        if failures[calls]:
            note += f"; errors {failures[calls]}"
        if callers != RELEASE_CONCURRENCY:
            label += f", {callers} callers"
        rows.append(Row(label, fmt(median(f["rate"]), "releases/s"), goal="≥ 1.5× two calls" if calls == "one" else "",
                        note=note))
    return rows
