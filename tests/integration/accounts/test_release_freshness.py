"""What the release reads outside a unit of work is never staler than the last commit
(``adapters/release_reads.py``): over real gRPC, on SQLite and PostgreSQL, with the running
service's change feed (PostgreSQL) filling and clearing its catalogue cache.

- a service retired through this replica stops releasing at the very next call;
- a service retired by another replica (here: SQL straight in the database) stops releasing
  at the next call on SQLite, and as soon as the notification arrives on PostgreSQL;
- a changed attribute, a suspended or closed account take effect at the next release.
"""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from sqlalchemy import text

from montreal.accounts.v1 import accounts_pb2 as pb
from services.common.grpc.client import rpc_error_details
from services.common.testing.databases import backend
from services.identity.domain.citizen_number import CitizenNumber

PURPOSE = "communication"


async def _eventually(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


@pytest.fixture
async def feed_ready(accounts):
    """On PostgreSQL the catalogue cache is in use only while the feed listens: wait for it, so
    these tests go through the cache rather than around it."""
    reads = accounts.accounts.release_reads
    if backend() == "postgres":
        await _eventually(lambda: reads.feed.live)
    else:
        assert reads.feed is None          # SQLite: no notifications, so no cache at all
    return reads


async def _service(stub, tokens) -> tuple[str, str]:
    service_id, client_id = f"fresh-{uuid.uuid4().hex[:8]}", f"fresh-client-{uuid.uuid4().hex[:8]}"
    await stub.RegisterService(pb.RegisterServiceRequest(
        service_id=service_id, name_fr="Frais", name_en="Fresh", kind=pb.SERVICE_KIND_MUNICIPAL, owner="Ville",
        client_id=client_id, attributes=["email", "given_name"], purposes=[PURPOSE]), metadata=tokens.admin())
    return service_id, client_id


async def _linked_resident(stub, tokens, stand_ins, service_id: str, client_id: str) -> tuple[str, str]:
    resident = CitizenNumber.new().canonical
    await stub.UpdateProfile(pb.UpdateProfileRequest(resident_id=resident, changes=[
        pb.AttributeChange(name="email", value="avant@example.ca")]), metadata=tokens.resident(resident))
    account = (await stub.LinkAccount(pb.LinkAccountRequest(
        service_id=service_id, resident_id=resident, account_reference=f"R-{uuid.uuid4().hex[:8]}"),
        metadata=tokens.service(client_id))).account
    stand_ins["consent"].grant(resident, service_id, PURPOSE, ["email"], f"consent-{uuid.uuid4().hex[:8]}")
    return resident, account.account_id


def _release(stub, tokens, service_id, client_id, resident):
    return stub.ReleaseAttributes(pb.ReleaseAttributesRequest(
        service_id=service_id, resident_id=resident, purpose_id=PURPOSE, attributes=["email"]),
        metadata=tokens.service(client_id))


async def _refusal(call) -> tuple[grpc.StatusCode, str | None]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    code, _, reason = rpc_error_details(caught.value)
    return code, reason


async def test_a_service_retired_here_stops_releasing_at_the_next_call(stub, tokens, stand_ins, feed_ready):
    service_id, client_id = await _service(stub, tokens)
    resident, _ = await _linked_resident(stub, tokens, stand_ins, service_id, client_id)
    assert [r.value for r in (await _release(stub, tokens, service_id, client_id, resident)).released] == [
        "avant@example.ca"]
    if backend() == "postgres":
        assert service_id in feed_ready.services.cached          # the release went through the cache

    await stub.UpdateService(pb.UpdateServiceRequest(
        service_id=service_id, name_fr="Frais", name_en="Fresh", owner="Ville", attributes=["email", "given_name"],
        purposes=[PURPOSE], state=pb.SERVICE_STATE_RETIRED), metadata=tokens.admin())
    # no wait: this replica forgets its copy when its own write commits
    assert await _refusal(_release(stub, tokens, service_id, client_id, resident)) == (
        grpc.StatusCode.FAILED_PRECONDITION, "SERVICE_RETIRED")


async def test_a_service_retired_by_another_replica_stops_releasing(stub, tokens, stand_ins, accounts, feed_ready):
    service_id, client_id = await _service(stub, tokens)
    resident, _ = await _linked_resident(stub, tokens, stand_ins, service_id, client_id)
    for _ in range(2):
        assert (await _release(stub, tokens, service_id, client_id, resident)).access_id
    # Another replica, an operator or a migration: the row changes under this process.
    async with accounts.engine.begin() as connection:
        await connection.execute(text("UPDATE services SET state = 'retired' WHERE service_id = :s"),
                                 {"s": service_id})
    if backend() == "sqlite":
        assert await _refusal(_release(stub, tokens, service_id, client_id, resident)) == (
            grpc.StatusCode.FAILED_PRECONDITION, "SERVICE_RETIRED")
    else:
        # The notification is delivered at commit; the cache forgets the service on arrival.
        await _eventually(lambda: service_id not in feed_ready.services.cached, timeout=1.0)
        assert await _refusal(_release(stub, tokens, service_id, client_id, resident)) == (
            grpc.StatusCode.FAILED_PRECONDITION, "SERVICE_RETIRED")
    # and it stays refused: nothing stale was put back in the cache
    assert await _refusal(_release(stub, tokens, service_id, client_id, resident)) == (
        grpc.StatusCode.FAILED_PRECONDITION, "SERVICE_RETIRED")


async def test_a_changed_value_and_an_account_state_take_effect_at_the_next_release(stub, tokens, stand_ins,
                                                                                     feed_ready):
    service_id, client_id = await _service(stub, tokens)
    resident, account_id = await _linked_resident(stub, tokens, stand_ins, service_id, client_id)
    assert [r.value for r in (await _release(stub, tokens, service_id, client_id, resident)).released] == [
        "avant@example.ca"]

    await stub.UpdateProfile(pb.UpdateProfileRequest(resident_id=resident, changes=[
        pb.AttributeChange(name="email", value="apres@example.ca")]), metadata=tokens.resident(resident))
    assert [r.value for r in (await _release(stub, tokens, service_id, client_id, resident)).released] == [
        "apres@example.ca"]

    await stub.UpdateProfile(pb.UpdateProfileRequest(resident_id=resident, changes=[
        pb.AttributeChange(name="email", clear=True)]), metadata=tokens.resident(resident))
    removed = await _release(stub, tokens, service_id, client_id, resident)
    assert (list(removed.released), [(w.name, w.reason) for w in removed.withheld], removed.access_id) == (
        [], [("email", pb.WITHHELD_REASON_NOT_ON_PROFILE)], "")
    await stub.UpdateProfile(pb.UpdateProfileRequest(resident_id=resident, changes=[
        pb.AttributeChange(name="email", value="apres@example.ca")]), metadata=tokens.resident(resident))

    await stub.ActivateAccount(pb.ActivateAccountRequest(account_id=account_id, reason="confirmed"),
                               metadata=tokens.service(client_id))
    assert (await _release(stub, tokens, service_id, client_id, resident)).access_id      # active: live too
    await stub.SuspendAccount(pb.SuspendAccountRequest(account_id=account_id, reason="unpaid"),
                              metadata=tokens.service(client_id))
    assert await _refusal(_release(stub, tokens, service_id, client_id, resident)) == (
        grpc.StatusCode.FAILED_PRECONDITION, "NO_LIVE_ACCOUNT")
    await stub.ActivateAccount(pb.ActivateAccountRequest(account_id=account_id, reason="paid"),
                               metadata=tokens.service(client_id))
    assert (await _release(stub, tokens, service_id, client_id, resident)).access_id

    await stub.CloseAccount(pb.CloseAccountRequest(account_id=account_id, reason="moved out"),
                            metadata=tokens.service(client_id))
    assert await _refusal(_release(stub, tokens, service_id, client_id, resident)) == (
        grpc.StatusCode.FAILED_PRECONDITION, "NO_LIVE_ACCOUNT")
