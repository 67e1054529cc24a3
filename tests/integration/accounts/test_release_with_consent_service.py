"""The release path end to end with the real consent service running: accounts publishes
``service_registered`` through its outbox and NATS, consent registers the recipient, the
resident grants and withdraws through consent's own API, and every release is checked
against and recorded in the real ledger (issue 5, parts 4 and 8)."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest

from montreal.accounts.v1 import accounts_pb2 as pb
from montreal.consent.v1 import consent_pb2, consent_pb2_grpc
from services.common.grpc.client import make_channel
from services.common.testing.services import running_service
from services.identity.domain.citizen_number import CitizenNumber

from .conftest import accounts_runtime

SERVICE, CLIENT = "rosemont-la-petite-patrie-permits", "rosemont-permits"


@pytest.fixture(scope="module")
async def consent_service(minter, nats):
    async with running_service("consent", nats_url=nats.url, minter=minter) as runtime:
        yield runtime


@pytest.fixture(scope="module", params=["one", "two"])
async def accounts(request, minter, nats, consent_service, stand_ins, tmp_path_factory):
    """Accounts asking the ledger in one CheckAndRecord call (the default), and in two (Check
    then RecordAccess, MTLID_RELEASE_CONSENT_CALLS=two): every test holds for both."""
    async with accounts_runtime(minter, nats.url, tmp_path_factory.mktemp("accounts-real"),
                                consent_port=consent_service.bound_grpc_port,
                                identity_port=stand_ins["identity_port"],
                                env={"MTLID_RELEASE_CONSENT_CALLS": request.param}) as runtime:
        yield runtime


@pytest.fixture(scope="module")
async def ledger(consent_service):
    channel = make_channel(f"127.0.0.1:{consent_service.bound_grpc_port}", telemetry=False)
    yield consent_pb2_grpc.ConsentServiceStub(channel)
    await channel.close()


@pytest.fixture(scope="module")
async def recipient(stub, tokens, ledger):
    await stub.RegisterService(pb.RegisterServiceRequest(
        service_id=SERVICE, name_fr="Permis de Rosemont–La Petite-Patrie", name_en="Rosemont–La Petite-Patrie permits",
        kind=pb.SERVICE_KIND_BOROUGH, owner="Arrondissement de Rosemont–La Petite-Patrie",
        borough="Rosemont–La Petite-Patrie", client_id=CLIENT,
        attributes=["given_name", "family_name", "email", "phone", "postal_address"],
        purposes=["service-provision", "communication"]), metadata=tokens.admin())
    # service_registered travels outbox → relay → JetStream → consent's consumer.
    for _ in range(200):
        recipients = (await ledger.ListRecipients(consent_pb2.ListRecipientsRequest())).recipients
        if any(r.recipient_id == SERVICE for r in recipients):
            return SERVICE
        await asyncio.sleep(0.05)
    pytest.fail("consent never registered the recipient from service_registered")


async def resident_with_account(stub, tokens) -> str:
    resident = CitizenNumber.new().canonical
    await stub.EnrollResident(pb.EnrollResidentRequest(resident_id=resident, attributes=[
        pb.AttributeChange(name="given_name", value="Amélie"), pb.AttributeChange(name="family_name", value="Roy"),
        pb.AttributeChange(name="email", value="amelie.roy@example.ca"),
        pb.AttributeChange(name="postal_address", value="5650 rue D'Iberville, Montréal, QC, H2G 2B3")]),
        metadata=tokens.agent())
    await stub.LinkAccount(pb.LinkAccountRequest(service_id=SERVICE, resident_id=resident,
                                                 account_reference=f"RPP-{uuid.uuid4().hex[:8]}"),
                           metadata=tokens.service(CLIENT))
    return resident


def release(stub, tokens, resident, purpose, attributes):
    return stub.ReleaseAttributes(pb.ReleaseAttributesRequest(service_id=SERVICE, resident_id=resident,
                                                              purpose_id=purpose, attributes=attributes),
                                  metadata=tokens.service(CLIENT))


async def test_release_is_checked_against_and_recorded_in_the_real_ledger(stub, tokens, ledger, recipient):
    resident = await resident_with_account(stub, tokens)
    me = tokens.resident_for_consent(resident)
    granted = await ledger.Grant(consent_pb2.GrantRequest(
        resident_id=resident, recipient_id=SERVICE, language="fr",
        collection_method=consent_pb2.COLLECTION_METHOD_ACCOUNT_PAGE,
        items=[consent_pb2.GrantItem(purpose_id="communication", data_categories=["email"])]), metadata=me)
    consent_id = granted.consents[0].consent_id

    # Partial consent: e-mail under the consent, the rest withheld and named.
    partial = await release(stub, tokens, resident, "communication", ["email", "given_name", "phone"])
    assert [(r.name, r.basis, r.consent_id) for r in partial.released] == [("email", pb.RELEASE_BASIS_CONSENT, consent_id)]
    assert [(w.name, w.reason) for w in partial.withheld] == [("given_name", pb.WITHHELD_REASON_NO_CONSENT),
                                                              ("phone", pb.WITHHELD_REASON_NO_CONSENT)]
    # A public-task purpose covers what the service declared, without consent.
    public = await release(stub, tokens, resident, "service-provision", ["given_name", "postal_address"])
    assert [(r.name, r.basis) for r in public.released] == [("given_name", pb.RELEASE_BASIS_LEGAL),
                                                           ("postal_address", pb.RELEASE_BASIS_LEGAL)]

    # Both accesses are in the resident's access log, under the same access ids.
    log = await ledger.AccessLog(consent_pb2.AccessLogRequest(resident_id=resident), metadata=me)
    by_id = {r.access_id: r for r in log.records}
    assert set(by_id) == {partial.access_id, public.access_id}
    assert list(by_id[partial.access_id].data_categories) == ["email"]
    assert set(by_id[partial.access_id].withheld_categories) == {"given_name", "phone"}
    assert list(by_id[partial.access_id].consent_ids) == [consent_id]
    assert by_id[public.access_id].purpose_id == "service-provision"

    # Withdrawal stops the very next release.
    await ledger.Withdraw(consent_pb2.WithdrawRequest(resident_id=resident, consent_id=consent_id), metadata=me)
    after = await release(stub, tokens, resident, "communication", ["email"])
    assert list(after.released) == [] and after.access_id == ""
    assert [(w.name, w.reason) for w in after.withheld] == [("email", pb.WITHHELD_REASON_CONSENT_WITHDRAWN)]
    log = await ledger.AccessLog(consent_pb2.AccessLogRequest(resident_id=resident), metadata=me)
    assert len(log.records) == 2  # nothing released, nothing recorded


async def test_the_ledger_refuses_what_accounts_would_not_release_either(stub, tokens, ledger, recipient):
    resident = await resident_with_account(stub, tokens)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await release(stub, tokens, resident, "statistics", ["postal_address"])
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION  # purpose not declared by the service
    nothing = await release(stub, tokens, resident, "communication", ["family_name", "biometric_face"])
    assert [(w.name, w.reason) for w in nothing.withheld] == [
        ("family_name", pb.WITHHELD_REASON_NO_CONSENT), ("biometric_face", pb.WITHHELD_REASON_NOT_STORED)]
