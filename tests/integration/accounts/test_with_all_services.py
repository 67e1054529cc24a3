"""The three services together, each real and in-process, sharing one NATS: identity registers a
resident, accounts builds the profile from ``resident_registered`` and identity's
``GetResidentContact``; a partner addresses the resident by the pairwise subject identity
computes, consent decides and records; the partner never sees the universal identifier."""

from __future__ import annotations

import asyncio
import base64
import uuid

import pytest

from montreal.accounts.v1 import accounts_pb2 as pb
from montreal.consent.v1 import consent_pb2, consent_pb2_grpc
from montreal.identity.v1 import identity_pb2, identity_pb2_grpc
from services.common.grpc.client import StaticToken, make_channel
from services.common.nats import free_port
from services.common.testing.services import running_service
from services.identity.domain.clients import OAuthClient
from services.identity.service_layer import authentication
from services.identity.service_layer.clients import RegisterClient, register_client

from .conftest import accounts_runtime

KEK = bytes(range(32))
PAIRWISE_SECRET = b"accounts-tests-pairwise-secret-32b!"
PARTNER, PARTNER_CLIENT = "velo-quebec-partners", "velo-quebec"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.fixture(scope="module")
async def identity_service(minter, nats):
    env = {"MTLID_HTTP_PORT": str(free_port()), "MTLID_KEY_ENCRYPTION_KEY": _b64(KEK),
           "MTLID_PAIRWISE_SECRET": _b64(PAIRWISE_SECRET)}
    async with running_service("identity", nats_url=nats.url, minter=minter, env=env) as runtime:
        uow = runtime.identity.uow_factory
        await register_client(RegisterClient(OAuthClient(
            client_id="mtlid-accounts", name="mtlid accounts", secret_hash=None, grant_types=("client_credentials",),
            scopes=("identity:resolve",), audiences=("urn:mtlid:identity",), is_city_client=True,
            subject_type="public")), uow())
        await register_client(RegisterClient(OAuthClient(
            client_id=PARTNER_CLIENT, name="Vélo Québec", secret_hash=None, grant_types=("client_credentials",),
            scopes=("accounts:link", "accounts:release"), audiences=("urn:mtlid:accounts",))), uow())
        yield runtime


@pytest.fixture(scope="module")
async def consent_service(minter, nats):
    async with running_service("consent", nats_url=nats.url, minter=minter) as runtime:
        yield runtime


@pytest.fixture(scope="module")
async def accounts(minter, nats, identity_service, consent_service, tmp_path_factory):
    async with accounts_runtime(minter, nats.url, tmp_path_factory.mktemp("accounts-all"),
                                consent_port=consent_service.bound_grpc_port,
                                identity_port=identity_service.bound_grpc_port) as runtime:
        yield runtime


@pytest.fixture(scope="module")
async def ledger(consent_service):
    channel = make_channel(f"127.0.0.1:{consent_service.bound_grpc_port}", telemetry=False)
    yield consent_pb2_grpc.ConsentServiceStub(channel)
    await channel.close()


@pytest.fixture(scope="module")
async def identity_stub(identity_service, minter):
    token = minter.mint("mtlid-accounts", ["identity:resolve"], "urn:mtlid:identity")
    channel = make_channel(f"127.0.0.1:{identity_service.bound_grpc_port}", token_provider=StaticToken(token),
                           telemetry=False)
    yield identity_pb2_grpc.IdentityServiceStub(channel)
    await channel.close()


async def eventually(probe, what: str):
    for _ in range(200):
        result = await probe()
        if result:
            return result
        await asyncio.sleep(0.05)
    pytest.fail(f"never happened: {what}")


async def test_partner_release_across_the_three_services(stub, tokens, accounts, identity_service, ledger,
                                                         identity_stub):
    await stub.RegisterService(pb.RegisterServiceRequest(
        service_id=PARTNER, name_fr="Vélo Québec", name_en="Vélo Québec", kind=pb.SERVICE_KIND_PARTNER,
        owner="Vélo Québec (OBNL)", client_id=PARTNER_CLIENT, attributes=["email", "phone", "given_name"],
        purposes=["communication"]), metadata=tokens.admin())

    email = f"resident-{uuid.uuid4().hex[:8]}@example.ca"
    resident = await authentication.register_resident(
        authentication.RegisterResident(email, "une longue phrase de passe", "fr"), identity_service.identity.uow_factory())

    async def profile_with_email():
        try:
            profile = (await stub.GetProfile(pb.GetProfileRequest(resident_id=resident),
                                             metadata=tokens.resident(resident))).profile
        except Exception:
            return None
        return profile if any(a.name == "email" for a in profile.attributes) else None

    profile = await eventually(profile_with_email, "accounts built the profile from resident_registered")
    assert {a.name: a.value for a in profile.attributes} == {"email": email, "preferred_language": "fr"}

    async def recipient_known():
        return any(r.recipient_id == PARTNER
                   for r in (await ledger.ListRecipients(consent_pb2.ListRecipientsRequest())).recipients)

    await eventually(recipient_known, "consent registered the partner from service_registered")

    pairwise = (await identity_stub.GetClientSubject(identity_pb2.GetClientSubjectRequest(
        client_id=PARTNER_CLIENT, resident_id=resident))).subject
    assert pairwise and pairwise != resident
    granted = await ledger.Grant(consent_pb2.GrantRequest(
        resident_id=resident, recipient_id=PARTNER, language="fr",
        collection_method=consent_pb2.COLLECTION_METHOD_ACCOUNT_PAGE,
        items=[consent_pb2.GrantItem(purpose_id="communication", data_categories=["email"])]),
        metadata=tokens.resident_for_consent(resident))

    partner = tokens.service(PARTNER_CLIENT)
    linked = await stub.LinkAccount(pb.LinkAccountRequest(service_id=PARTNER, resident_id=pairwise,
                                                          account_reference="VQ-000123"), metadata=partner)
    released = await stub.ReleaseAttributes(pb.ReleaseAttributesRequest(
        service_id=PARTNER, resident_id=pairwise, purpose_id="communication", attributes=["email", "phone"]),
        metadata=partner)
    listed = await stub.ListAccounts(pb.ListAccountsRequest(service_id=PARTNER), metadata=partner)

    assert linked.account.resident_id == pairwise and released.resident_id == pairwise
    assert [(r.name, r.value, r.consent_id) for r in released.released] == [("email", email,
                                                                              granted.consents[0].consent_id)]
    assert [(w.name, w.reason) for w in released.withheld] == [("phone", pb.WITHHELD_REASON_NO_CONSENT)]
    for response in (linked, released, listed):
        assert resident.encode() not in response.SerializeToString()

    log = await ledger.AccessLog(consent_pb2.AccessLogRequest(resident_id=resident),
                                 metadata=tokens.resident_for_consent(resident))
    assert [(r.access_id, r.recipient_id, list(r.data_categories)) for r in log.records] == [
        (released.access_id, PARTNER, ["email"])]
