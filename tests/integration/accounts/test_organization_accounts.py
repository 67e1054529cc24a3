"""Issue 22, an organization's own service accounts, with identity, accounts and consent real
and in-process on one NATS (and the test database: SQLite, or PostgreSQL with
MTLID_TEST_DATABASE=postgres): identity registers a condo association (bad input first,
nothing written; its NEQ only once); accounts learns of it from ``organization_registered``;
a partner links its service account to the association by the association's pairwise
subject, and never sees the association's number. An unregistered organization number is
no one's."""

from __future__ import annotations

import secrets

import grpc
import pytest

from montreal.accounts.v1 import accounts_pb2 as pb
from montreal.identity.v1 import identity_pb2
from services.common.errors import AlreadyExists, InvalidArgument
from services.common.grpc.client import rpc_error_details
from services.common.organization_number import OrganizationNumber
from services.identity.service_layer.organizations import RegisterOrganization, register_organization

from .test_with_all_services import (  # noqa: F401 - the module's fixtures
    PARTNER, PARTNER_CLIENT, accounts, consent_service, eventually, identity_service, identity_stub, ledger,
)


async def test_a_partner_links_its_account_to_an_organization_by_its_pairwise_subject(stub, tokens, accounts,
                                                                                    identity_service, identity_stub):
    uow = identity_service.identity.uow_factory
    neq = f"11{secrets.randbelow(10 ** 8):08d}"   # a fresh NEQ: the database may outlive one run
    with pytest.raises(InvalidArgument) as bad:
        await register_organization(RegisterOrganization(name=" ", kind="shop", neq="12", registered_by="operator"),
                                    uow())
    assert [field for field, _ in bad.value.violations] == ["name", "kind", "neq"]
    async with uow() as unit:
        assert await unit.organizations.by_neq("0000000012") is None
    condo = await register_organization(RegisterOrganization(
        name="Syndicat du 12 rue Rachel", kind="condo_association", neq=neq, registered_by="operator"), uow())
    assert OrganizationNumber.is_valid(condo.organization_id)
    with pytest.raises(AlreadyExists):
        await register_organization(RegisterOrganization(
            name="Syndicat du 12 rue Rachel (bis)", kind="condo_association", neq=neq, registered_by="operator"), uow())

    try:
        await stub.RegisterService(pb.RegisterServiceRequest(
            service_id=PARTNER, name_fr="Vélo Québec", name_en="Vélo Québec", kind=pb.SERVICE_KIND_PARTNER,
            owner="Vélo Québec (OBNL)", client_id=PARTNER_CLIENT, attributes=["email"],
            purposes=["communication"]), metadata=tokens.admin())
    except grpc.aio.AioRpcError as error:
        assert error.code() == grpc.StatusCode.ALREADY_EXISTS   # another test of the module registered it
    pairwise = (await identity_stub.GetClientSubject(identity_pb2.GetClientSubjectRequest(
        client_id=PARTNER_CLIENT, resident_id=condo.organization_id))).subject
    assert pairwise and pairwise != condo.organization_id
    partner = tokens.service(PARTNER_CLIENT)

    async def linked():
        try:
            return await stub.LinkAccount(pb.LinkAccountRequest(service_id=PARTNER, resident_id=pairwise,
                                                                account_reference="VQ-ORG-0001"), metadata=partner)
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.NOT_FOUND, error.details()   # not yet told
            return None

    account = (await eventually(linked, "accounts learned of the organization from organization_registered")).account
    assert account.resident_id == pairwise and account.account_reference == "VQ-ORG-0001"
    listed = await stub.ListAccounts(pb.ListAccountsRequest(service_id=PARTNER, resident_id=pairwise),
                                     metadata=partner)
    assert [a.account_id for a in listed.accounts] == [account.account_id]
    for response in (account, listed):
        assert condo.organization_id.encode() not in response.SerializeToString()

    # An organization number no one registered: identity knows no subject for it.
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await identity_stub.GetClientSubject(identity_pb2.GetClientSubjectRequest(
            client_id=PARTNER_CLIENT, resident_id=OrganizationNumber.new().canonical))
    assert rpc_error_details(unknown.value)[0] == grpc.StatusCode.NOT_FOUND
