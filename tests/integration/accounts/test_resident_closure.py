"""A resident closes their Montréal account (issue 21): the three services real and
in-process on one NATS. Identity's ``resident_closed`` reaches accounts, which suspends the
live links (the services are told by ``service_account_state_changed``) so no service
receives the resident's information any more; a counter's reopening
(``resident_reopened``) brings back exactly the links the closure suspended."""

from __future__ import annotations

import json
import uuid

import grpc
import pytest

from montreal.accounts.v1 import accounts_pb2 as pb
from montreal.consent.v1 import consent_pb2
from montreal.identity.v1 import identity_pb2
from services.common.grpc.client import rpc_error_details
from services.identity.adapters.oauth_repositories import OAuthUnitOfWork
from services.identity.service_layer import account_closure, authentication
from services.identity.service_layer.agents import Agent

from .test_with_all_services import (  # noqa: F401 - the module's fixtures
    PARTNER, PARTNER_CLIENT, accounts, consent_service, eventually, identity_service, identity_stub, ledger,
)

PASSWORD = "une longue phrase de passe"


async def test_closing_suspends_every_live_link_and_reopening_brings_them_back(stub, tokens, accounts,
                                                                               identity_service, identity_stub,
                                                                               ledger):
    await stub.RegisterService(pb.RegisterServiceRequest(
        service_id=PARTNER, name_fr="Vélo Québec", name_en="Vélo Québec", kind=pb.SERVICE_KIND_PARTNER,
        owner="Vélo Québec (OBNL)", client_id=PARTNER_CLIENT, attributes=["email"], purposes=["communication"]),
        metadata=tokens.admin())
    uow = identity_service.identity.uow_factory
    resident = await authentication.register_resident(authentication.RegisterResident(
        f"ferme-{uuid.uuid4().hex[:8]}@example.ca", PASSWORD, "fr"), uow())

    async def profile_exists():
        try:
            return await stub.GetProfile(pb.GetProfileRequest(resident_id=resident), metadata=tokens.resident(resident))
        except Exception:
            return None

    await eventually(profile_exists, "accounts built the profile")
    partner = tokens.service(PARTNER_CLIENT)
    pairwise = (await identity_stub.GetClientSubject(identity_pb2.GetClientSubjectRequest(
        client_id=PARTNER_CLIENT, resident_id=resident))).subject
    active = (await stub.LinkAccount(pb.LinkAccountRequest(service_id=PARTNER, resident_id=pairwise,
                                                           account_reference="VQ-ACTIVE"), metadata=partner)).account
    await stub.ActivateAccount(pb.ActivateAccountRequest(account_id=active.account_id), metadata=partner)

    # What the account page does (its unit of work has the provider's sessions and tokens).
    receipt = await account_closure.close_account(account_closure.CloseAccount(resident, PASSWORD),
                                                  OAuthUnitOfWork(identity_service.session_factory))

    async def states():
        listed = await stub.ListAccounts(pb.ListAccountsRequest(service_id=PARTNER), metadata=partner)
        return {a.account_reference: a.state for a in listed.accounts if a.account_reference == "VQ-ACTIVE"}

    async def suspended():
        return (await states()) == {"VQ-ACTIVE": pb.ACCOUNT_STATE_SUSPENDED}

    await eventually(suspended, "accounts suspended the link on resident_closed")

    async def informed():
        """The resident's history in the consent register (what Mon compte and the export read)."""
        history = await ledger.History(consent_pb2.HistoryRequest(resident_id=resident),
                                       metadata=tokens.resident_for_consent(resident))
        return [(json.loads(e.leaf_data)["informed_of"], e.recipient_id) for e in history.entries
                if e.type == consent_pb2.ENTRY_TYPE_SERVICE_INFORMED]

    async def told_of_closing():
        return await informed() == [("resident_closed", PARTNER)]

    # accounts' service_account_suspended (its outbox, NATS) → consent's service_informed entry
    await eventually(told_of_closing, "the consent register recorded that the service was told")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.ReleaseAttributes(pb.ReleaseAttributesRequest(
            service_id=PARTNER, resident_id=pairwise, purpose_id="communication", attributes=["email"]),
            metadata=partner)
    code, _, reason = rpc_error_details(refused.value)
    assert code == grpc.StatusCode.FAILED_PRECONDITION and reason == "NO_LIVE_ACCOUNT"

    await account_closure.reopen_account(account_closure.ReopenAccount(
        Agent("agent-0042", "acces-montreal-counter"), resident, "passport"), uow())

    async def active_again():
        return (await states()) == {"VQ-ACTIVE": pb.ACCOUNT_STATE_ACTIVE}

    await eventually(active_again, "accounts reactivated the link on resident_reopened")

    async def told_of_reopening():
        return await informed() == [("resident_closed", PARTNER), ("resident_reopened", PARTNER)]

    await eventually(told_of_reopening, "the consent register recorded that the service was told again")
    assert receipt.closure_id


async def test_a_purged_account_leaves_no_profile_value_nor_reference_in_accounts(stub, tokens, accounts,
                                                                                identity_service, identity_stub):
    """Issue 21: past the retention period identity purges the closed account and says so
    (``resident_purged``); accounts closes the links still open (the service is told), deletes
    the profile's values and blanks the service's reference."""
    import datetime as dt

    from sqlalchemy import update

    from services.identity.adapters.orm import ResidentRow
    from services.identity.service_layer.maintenance import purge_closed

    uow = identity_service.identity.uow_factory
    resident = await authentication.register_resident(authentication.RegisterResident(
        f"purge-{uuid.uuid4().hex[:8]}@example.ca", PASSWORD, "fr"), uow())

    async def profile_exists():
        try:
            return await stub.GetProfile(pb.GetProfileRequest(resident_id=resident), metadata=tokens.resident(resident))
        except Exception:
            return None

    await eventually(profile_exists, "accounts built the profile")
    await stub.UpdateProfile(pb.UpdateProfileRequest(resident_id=resident, changes=[
        pb.AttributeChange(name="phone", value="514 555-0199")]), metadata=tokens.resident(resident))
    before = await stub.GetProfile(pb.GetProfileRequest(resident_id=resident), metadata=tokens.resident(resident))
    assert "phone" in [a.name for a in before.profile.attributes]
    partner = tokens.service(PARTNER_CLIENT)
    pairwise = (await identity_stub.GetClientSubject(identity_pb2.GetClientSubjectRequest(
        client_id=PARTNER_CLIENT, resident_id=resident))).subject
    reference = f"VQ-PURGE-{uuid.uuid4().hex[:6]}"
    linked = (await stub.LinkAccount(pb.LinkAccountRequest(service_id=PARTNER, resident_id=pairwise,
                                                           account_reference=reference), metadata=partner)).account
    await stub.ActivateAccount(pb.ActivateAccountRequest(account_id=linked.account_id), metadata=partner)
    await account_closure.close_account(account_closure.CloseAccount(resident, PASSWORD),
                                        OAuthUnitOfWork(identity_service.session_factory))

    async def the_link():
        listed = await stub.ListAccounts(pb.ListAccountsRequest(service_id=PARTNER), metadata=partner)
        return [a for a in listed.accounts if a.account_id == linked.account_id]

    async def suspended():
        return [a.state for a in await the_link()] == [pb.ACCOUNT_STATE_SUSPENDED]

    await eventually(suspended, "accounts suspended the link on resident_closed")

    async with identity_service.session_factory() as session:      # closed three years ago
        await session.execute(update(ResidentRow).where(ResidentRow.resident_id == resident).values(
            closed_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3 * 365)))
        await session.commit()
    assert (await purge_closed(uow, 730))["closed_accounts_purged"] >= 1

    async def purged_in_accounts():
        links = await the_link()
        profile = await stub.GetProfile(pb.GetProfileRequest(resident_id=resident), metadata=tokens.resident(resident))
        return (links and links[0].state == pb.ACCOUNT_STATE_CLOSED and links[0].account_reference == ""
                and list(profile.profile.attributes) == [])

    await eventually(purged_in_accounts, "accounts deleted the profile's values on resident_purged")
