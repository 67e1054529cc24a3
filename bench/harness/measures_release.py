"""Attribute release end to end on PostgreSQL (issue 8, point 2).

A service asks accounts for a resident's attributes (``ReleaseAttributes``): accounts reads
the catalogue, the account and the profile, asks consent ``Check`` (never cached: a withdrawal
stops the very next release), writes the access record with ``RecordAccess`` (a ledger append),
then its outbox event. Accounts and consent both run on PostgreSQL; accounts gets its own
client-credentials token from the harness's stub token endpoint once and reuses it.
``RELEASE_CONCURRENCY`` callers in a closed loop: throughput and latency under that load.
"""

from __future__ import annotations

import asyncio

from harness import closed_loop
from harness.bench import Bench
from harness.consent_setup import CATEGORIES, PURPOSE, RECIPIENT, new_resident_id, prepare_consent
from harness.report import Row, fmt, median

RELEASE_CONCURRENCY = 8
ACCOUNTS = "urn:mtlid:accounts"


def _setup(bench: Bench):
    def build():
        import grpc

        from montreal.accounts.v1 import accounts_pb2 as pb
        from montreal.accounts.v1 import accounts_pb2_grpc

        consent, _url = bench.consent_on_postgres()
        accounts = bench.service("accounts", database_url=bench.throwaway_postgres("accounts"), extra_env={
            "MTLID_CONSENT_GRPC_TARGET": consent.grpc_target,
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
    return bench._get("release-setup", build)


async def _callers(target: str, request, token: str, seconds: float) -> tuple[float, list[float], dict]:
    import grpc

    from montreal.accounts.v1 import accounts_pb2_grpc

    metadata = (("authorization", f"Bearer {token}"),)
    async with grpc.aio.insecure_channel(target) as channel:
        stub = accounts_pb2_grpc.AccountsServiceStub(channel)
        return await closed_loop.run(lambda: stub.ReleaseAttributes(request, metadata=metadata, timeout=10),
                                     seconds=seconds, callers=RELEASE_CONCURRENCY)


def attribute_release(bench: Bench) -> list[Row]:
    accounts, consent, request, token = _setup(bench)
    rates, p50s, p99s, failures = [], [], [], {}
    accounts_ms, consent_ms = [], []
    for _ in range(max(1, min(bench.options.rounds, 3))):
        cpu = (accounts.process.cpu_seconds(), consent.process.cpu_seconds())
        rate, latencies, failed = asyncio.run(_callers(accounts.grpc_target, request, token,
                                                       bench.options.ledger_seconds))
        latencies.sort()
        if latencies:
            rates.append(rate)
            p50s.append(1000 * latencies[len(latencies) // 2])
            p99s.append(1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))])
            accounts_ms.append((accounts.process.cpu_seconds() - cpu[0]) * 1000 / len(latencies))
            consent_ms.append((consent.process.cpu_seconds() - cpu[1]) * 1000 / len(latencies))
        for code, count in failed.items():
            failures[code] = failures.get(code, 0) + count
    note = (f"{RELEASE_CONCURRENCY} callers, closed loop; p50 {median(p50s):.0f} ms, p99 {median(p99s):.0f} ms; "
            f"CPU per release: accounts {median(accounts_ms):.1f} ms, consent {median(consent_ms):.1f} ms "
            f"(Check + RecordAccess)")
    if failures:
        note += f"; errors {failures}"
    return [Row("attribute release on PostgreSQL (accounts → consent)", fmt(median(rates), "releases/s"), note=note)]
