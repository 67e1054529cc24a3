"""The accounts service over real gRPC, on a real database (SQLite or PostgreSQL), with real
NATS, calling real gRPC consent and identity servers. Issue 5, part 8."""

from __future__ import annotations

import asyncio
import json
import uuid

import grpc
import pytest
from sqlalchemy import func, select

from montreal.accounts.v1 import accounts_pb2 as pb
from montreal.consent.v1 import consent_pb2, consent_pb2_grpc
from services.common.grpc.client import make_channel, rpc_error_details
from services.common.nats import ensure_stream
from services.common.uow import OUTBOX
from services.identity.domain.citizen_number import CitizenNumber

PLATEAU, VERDUN, BIXI = "plateau-mont-royal-permits", "verdun-permits", "bixi-montreal"
ATTRS = ["given_name", "family_name", "email", "phone", "postal_address", "biometric_face"]


async def fails(call):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return rpc_error_details(caught.value)


@pytest.fixture(scope="module")
async def catalogue(stub, tokens):
    for sid, client, kind, borough in ((PLATEAU, "plateau-permits", pb.SERVICE_KIND_BOROUGH, "Le Plateau-Mont-Royal"),
                                       (VERDUN, "verdun-permits", pb.SERVICE_KIND_BOROUGH, "Verdun"),
                                       (BIXI, "bixi-montreal", pb.SERVICE_KIND_PARTNER, "")):
        await stub.RegisterService(pb.RegisterServiceRequest(
            service_id=sid, name_fr=f"{sid} fr", name_en=f"{sid} en", kind=kind, owner="owner", borough=borough,
            client_id=client, attributes=ATTRS, purposes=["service-provision", "communication"]),
            metadata=tokens.admin())


async def enrolled(stub, tokens) -> str:
    resident = CitizenNumber.new().canonical
    await stub.EnrollResident(pb.EnrollResidentRequest(resident_id=resident, attributes=[
        pb.AttributeChange(name="given_name", value="Marie"), pb.AttributeChange(name="family_name", value="Tremblay"),
        pb.AttributeChange(name="email", value="marie.tremblay@example.ca"),
        pb.AttributeChange(name="postal_address", value="275 rue Notre-Dame Est, Montréal, QC, H2Y 1C6")]),
        metadata=tokens.agent())
    return resident


async def linked(stub, tokens, service_id, client_id, resident_ref) -> pb.ServiceAccount:
    response = await stub.LinkAccount(pb.LinkAccountRequest(service_id=service_id, resident_id=resident_ref,
                                                            account_reference=f"REF-{uuid.uuid4().hex[:8]}"),
                                      metadata=tokens.service(client_id))
    return response.account


async def outbox_count(accounts, name: str, needle: str = "") -> int:
    async with accounts.session_factory() as session:
        query = select(func.count()).select_from(OUTBOX).where(OUTBOX.c.subject == f"montreal.accounts.v1.{name}")
        if needle:
            query = query.where(OUTBOX.c.envelope.contains(needle))
        return (await session.execute(query)).scalar_one()


async def test_partial_consent_releases_part_and_the_access_is_in_the_ledger(stub, tokens, catalogue, stand_ins, accounts):
    consent = stand_ins["consent"]
    resident = await enrolled(stub, tokens)
    await linked(stub, tokens, PLATEAU, "plateau-permits", resident)
    consent.grant(resident, PLATEAU, "communication", ["email"], "consent-email-1")
    consent.grant(resident, PLATEAU, "communication", ["given_name"], "", basis=consent_pb2.LEGAL_BASIS_PUBLIC_TASK)

    response = await stub.ReleaseAttributes(pb.ReleaseAttributesRequest(
        service_id=PLATEAU, resident_id=CitizenNumber(resident).human, purpose_id="communication",
        attributes=["email", "given_name", "family_name", "biometric_face"]), metadata=tokens.service("plateau-permits"))

    assert response.resident_id == resident  # the human form came in; the canonical one goes out
    assert [(r.name, r.value, r.basis) for r in response.released] == [
        ("email", "marie.tremblay@example.ca", pb.RELEASE_BASIS_CONSENT),
        ("given_name", "Marie", pb.RELEASE_BASIS_LEGAL)]
    assert response.released[0].provenance == pb.PROVENANCE_VERIFIED_AT_COUNTER
    assert response.released[0].consent_id == "consent-email-1" and response.released[0].HasField("verified_at")
    assert [(w.name, w.reason) for w in response.withheld] == [
        ("family_name", pb.WITHHELD_REASON_NO_CONSENT), ("biometric_face", pb.WITHHELD_REASON_NOT_STORED)]
    assert all(w.explanation for w in response.withheld)

    # The resident sees the access in the ledger's access log.
    channel = make_channel(f"127.0.0.1:{stand_ins['consent_port']}", telemetry=False)
    try:
        log = await consent_pb2_grpc.ConsentServiceStub(channel).AccessLog(
            consent_pb2.AccessLogRequest(resident_id=resident), metadata=tokens.resident_for_consent(resident))
    finally:
        await channel.close()
    [record] = log.records
    assert record.access_id == response.access_id and record.recipient_id == PLATEAU
    assert list(record.data_categories) == ["email", "given_name"]
    assert list(record.withheld_categories) == ["family_name", "biometric_face"]
    assert dict(record.bases) == {"email": consent_pb2.LEGAL_BASIS_CONSENT, "given_name": consent_pb2.LEGAL_BASIS_PUBLIC_TASK}
    # The outbox event carries the same access_id, and no attribute value.
    async with accounts.session_factory() as session:
        envelope = (await session.execute(select(OUTBOX.c.envelope).where(
            OUTBOX.c.envelope.contains(response.access_id)))).scalar_one()
    data = json.loads(envelope)["data"]
    assert data["access_id"] == response.access_id and data["categories"] == ["email", "given_name"]
    assert "marie.tremblay@example.ca" not in envelope and "Marie" not in envelope


async def test_withdrawal_stops_the_next_release(stub, tokens, catalogue, stand_ins):
    consent = stand_ins["consent"]
    resident = await enrolled(stub, tokens)
    await linked(stub, tokens, PLATEAU, "plateau-permits", resident)
    consent.grant(resident, PLATEAU, "communication", ["email"], "consent-w")
    request = pb.ReleaseAttributesRequest(service_id=PLATEAU, resident_id=resident, purpose_id="communication",
                                          attributes=["email"])
    first = await stub.ReleaseAttributes(request, metadata=tokens.service("plateau-permits"))
    assert [r.name for r in first.released] == ["email"]
    consent.withdrawn.add("consent-w")
    second = await stub.ReleaseAttributes(request, metadata=tokens.service("plateau-permits"))
    assert list(second.released) == [] and second.access_id == ""
    assert [(w.name, w.reason) for w in second.withheld] == [("email", pb.WITHHELD_REASON_CONSENT_WITHDRAWN)]


async def test_calls_to_the_ledger_carry_the_service_token_and_the_request_id(stub, tokens, catalogue, stand_ins):
    """Accounts calls consent with its own token (scope consent:broker, checked by the stand-in's
    method policies) and the request id of the call it serves, on every call."""
    consent = stand_ins["consent"]
    resident = await enrolled(stub, tokens)
    await linked(stub, tokens, PLATEAU, "plateau-permits", resident)
    consent.grant(resident, PLATEAU, "communication", ["email"], "consent-rid")
    request = pb.ReleaseAttributesRequest(service_id=PLATEAU, resident_id=resident, purpose_id="communication",
                                          attributes=["email"])
    for request_id in ("release-rid-1", "release-rid-2"):
        before = len(consent.calls)
        await stub.ReleaseAttributes(request, metadata=(*tokens.service("plateau-permits"),
                                                        ("x-request-id", request_id)))
        assert consent.calls[before:] == [("CheckAndRecord", "mtlid-accounts", request_id)]


async def test_no_release_when_the_access_record_cannot_be_written(stub, tokens, catalogue, stand_ins, accounts):
    consent = stand_ins["consent"]
    resident = await enrolled(stub, tokens)
    await linked(stub, tokens, PLATEAU, "plateau-permits", resident)
    consent.grant(resident, PLATEAU, "communication", ["email"], "consent-down")
    before = await outbox_count(accounts, "attributes_released", resident)
    consent.record_fails = True
    try:
        code, _, _ = await fails(stub.ReleaseAttributes(pb.ReleaseAttributesRequest(
            service_id=PLATEAU, resident_id=resident, purpose_id="communication", attributes=["email"]),
            metadata=tokens.service("plateau-permits")))
    finally:
        consent.record_fails = False
    assert code == grpc.StatusCode.UNAVAILABLE
    assert await outbox_count(accounts, "attributes_released", resident) == before
    assert not [a for a in consent.accesses.values() if a.resident_id == resident]


async def test_a_partner_never_sees_the_universal_identifier(stub, tokens, catalogue, stand_ins):
    consent, identity = stand_ins["consent"], stand_ins["identity"]
    resident = await enrolled(stub, tokens)
    pairwise = identity.subject("bixi-montreal", resident)

    code, violations, _ = await fails(stub.LinkAccount(pb.LinkAccountRequest(
        service_id=BIXI, resident_id=resident, account_reference="BIXI-1"), metadata=tokens.service("bixi-montreal")))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "resident_id" in violations
    code, _, _ = await fails(stub.LinkAccount(pb.LinkAccountRequest(
        service_id=BIXI, resident_id=identity.subject("someone-else", resident), account_reference="BIXI-1"),
        metadata=tokens.service("bixi-montreal")))
    assert code == grpc.StatusCode.NOT_FOUND  # another client's pairwise id resolves to nobody

    account = await linked(stub, tokens, BIXI, "bixi-montreal", pairwise)
    consent.grant(resident, BIXI, "service-provision", ["given_name"], "consent-bixi")
    responses = [
        account,
        await stub.ActivateAccount(pb.ActivateAccountRequest(account_id=account.account_id),
                                   metadata=tokens.service("bixi-montreal")),
        await stub.ListAccounts(pb.ListAccountsRequest(service_id=BIXI), metadata=tokens.service("bixi-montreal")),
        await stub.GetAccountHistory(pb.GetAccountHistoryRequest(account_id=account.account_id),
                                     metadata=tokens.service("bixi-montreal")),
        await stub.ReleaseAttributes(pb.ReleaseAttributesRequest(
            service_id=BIXI, resident_id=pairwise, purpose_id="service-provision", attributes=["given_name", "email"]),
            metadata=tokens.service("bixi-montreal")),
    ]
    assert account.resident_id == pairwise and responses[-1].resident_id == pairwise
    assert [r.value for r in responses[-1].released] == ["Marie"]
    for response in responses:
        assert resident.encode() not in response.SerializeToString()
    # the ledger, on the other hand, keeps the universal identifier
    assert consent.accesses[responses[-1].access_id].resident_id == resident


async def test_a_borough_cannot_touch_another_boroughs_accounts(stub, tokens, catalogue):
    resident = await enrolled(stub, tokens)
    account = await linked(stub, tokens, PLATEAU, "plateau-permits", resident)
    verdun = tokens.service("verdun-permits")
    for call in (stub.SuspendAccount(pb.SuspendAccountRequest(account_id=account.account_id, reason="x"), metadata=verdun),
                 stub.CloseAccount(pb.CloseAccountRequest(account_id=account.account_id, reason="x"), metadata=verdun),
                 stub.ActivateAccount(pb.ActivateAccountRequest(account_id=account.account_id), metadata=verdun),
                 stub.LinkAccount(pb.LinkAccountRequest(service_id=PLATEAU, resident_id=resident,
                                                        account_reference="V-1"), metadata=verdun),
                 stub.ListAccounts(pb.ListAccountsRequest(service_id=PLATEAU), metadata=verdun),
                 stub.ReleaseAttributes(pb.ReleaseAttributesRequest(service_id=PLATEAU, resident_id=resident,
                                                                    purpose_id="communication", attributes=["email"]),
                                        metadata=verdun)):
        code, _, reason = await fails(call)
        assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_YOUR_SERVICE")
    history = await stub.GetAccountHistory(pb.GetAccountHistoryRequest(account_id=account.account_id),
                                           metadata=tokens.resident(resident))
    assert history.account.state == pb.ACCOUNT_STATE_PENDING and len(history.transitions) == 1


async def test_lifecycle_over_grpc_keeps_history_and_refuses_illegal_transitions(stub, tokens, catalogue, accounts):
    resident = await enrolled(stub, tokens)
    account = await linked(stub, tokens, PLATEAU, "plateau-permits", resident)
    md = tokens.service("plateau-permits")
    code, _, reason = await fails(stub.SuspendAccount(pb.SuspendAccountRequest(account_id=account.account_id,
                                                                               reason="unpaid"), metadata=md))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "ILLEGAL_ACCOUNT_TRANSITION")
    await stub.ActivateAccount(pb.ActivateAccountRequest(account_id=account.account_id), metadata=md)
    await stub.SuspendAccount(pb.SuspendAccountRequest(account_id=account.account_id, reason="unpaid"), metadata=md)
    await stub.CloseAccount(pb.CloseAccountRequest(account_id=account.account_id, reason="moved out"), metadata=md)
    code, _, reason = await fails(stub.ActivateAccount(pb.ActivateAccountRequest(account_id=account.account_id),
                                                       metadata=md))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "ACCOUNT_CLOSED")
    history = await stub.GetAccountHistory(pb.GetAccountHistoryRequest(account_id=account.account_id),
                                           metadata=tokens.resident(resident))
    assert [(t.from_state, t.to_state) for t in history.transitions] == [
        (pb.ACCOUNT_STATE_UNSPECIFIED, pb.ACCOUNT_STATE_PENDING), (pb.ACCOUNT_STATE_PENDING, pb.ACCOUNT_STATE_ACTIVE),
        (pb.ACCOUNT_STATE_ACTIVE, pb.ACCOUNT_STATE_SUSPENDED), (pb.ACCOUNT_STATE_SUSPENDED, pb.ACCOUNT_STATE_CLOSED)]
    assert history.transitions[2].reason == "unpaid" and history.transitions[2].actor == "client:plateau-permits"
    by_reference = await stub.ListAccounts(pb.ListAccountsRequest(service_id=PLATEAU,
                                                                  account_reference=account.account_reference), metadata=md)
    assert [a.account_id for a in by_reference.accounts] == [account.account_id]
    assert await outbox_count(accounts, "service_account_state_changed", account.account_id) == 3
    # The resident sees every linked service and asks to unlink.
    again = await linked(stub, tokens, PLATEAU, "plateau-permits", resident)
    mine = await stub.ListAccounts(pb.ListAccountsRequest(resident_id=resident), metadata=tokens.resident(resident))
    assert {a.account_id for a in mine.accounts} == {account.account_id, again.account_id}
    unlink = await stub.RequestUnlink(pb.RequestUnlinkRequest(account_id=again.account_id),
                                      metadata=tokens.resident(resident))
    assert unlink.account.HasField("unlink_requested_at")
    code, _, _ = await fails(stub.RequestUnlink(pb.RequestUnlinkRequest(account_id=again.account_id),
                                                metadata=tokens.resident(CitizenNumber.new().canonical)))
    assert code == grpc.StatusCode.PERMISSION_DENIED


async def test_bad_input_is_invalid_argument_naming_the_field_and_writes_nothing(stub, tokens, catalogue, accounts):
    resident = await enrolled(stub, tokens)
    before = await outbox_count(accounts, "profile_changed", resident)
    code, violations, _ = await fails(stub.UpdateProfile(pb.UpdateProfileRequest(resident_id=resident, changes=[
        pb.AttributeChange(name="family_name", value="Gagnon"), pb.AttributeChange(name="email", value="not an email")]),
        metadata=tokens.resident(resident)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and set(violations) == {"changes[1].value"}
    profile = (await stub.GetProfile(pb.GetProfileRequest(resident_id=resident), metadata=tokens.resident(resident))).profile
    assert {a.name: a.value for a in profile.attributes}["family_name"] == "Tremblay"
    assert await outbox_count(accounts, "profile_changed", resident) == before

    code, violations, _ = await fails(stub.RegisterService(pb.RegisterServiceRequest(
        service_id="x-y", name_fr="x", name_en="y", owner="o", kind=pb.SERVICE_KIND_BOROUGH, borough="Atlantis",
        client_id="x-y", attributes=["shoe_size"]), metadata=tokens.admin()))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and set(violations) == {"borough", "attributes[0]"}
    code, violations, _ = await fails(stub.RegisterService(pb.RegisterServiceRequest(service_id="x-z"),
                                                           metadata=tokens.admin()))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "name_fr" in violations
    code, violations, _ = await fails(stub.GetService(pb.GetServiceRequest(service_id="x-y"), metadata=tokens.admin()))
    assert code == grpc.StatusCode.NOT_FOUND
    code, violations, _ = await fails(stub.LinkAccount(pb.LinkAccountRequest(
        service_id=PLATEAU, resident_id="MTL 0000-0000-0000", account_reference="R-1"),
        metadata=tokens.service("plateau-permits")))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and set(violations) == {"resident_id"}
    code, violations, _ = await fails(stub.RecordDocumentCheck(pb.RecordDocumentCheckRequest(
        resident_id=resident, document_type=pb.DOCUMENT_TYPE_PASSPORT, last_digits="AB1234567"), metadata=tokens.agent()))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and set(violations) == {"last_digits"}
    code, violations, _ = await fails(stub.ListServices(pb.ListServicesRequest(page_token="garbage!"),
                                                        metadata=tokens.admin()))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and set(violations) == {"page_token"}


async def test_counter_enrollment_is_recorded_under_the_agent(stub, tokens, catalogue, accounts):
    resident = CitizenNumber.new().canonical
    code, _, reason = await fails(stub.EnrollResident(pb.EnrollResidentRequest(resident_id=resident),
                                                      metadata=tokens._md("counter-app", ["accounts:agent"])))
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "AGENT_IDENTITY_REQUIRED")
    await stub.EnrollResident(pb.EnrollResidentRequest(resident_id=resident, attributes=[
        pb.AttributeChange(name="family_name", value="Nguyen"), pb.AttributeChange(name="given_name", value="Linh"),
        pb.AttributeChange(name="date_of_birth", value="1990-05-17")]), metadata=tokens.agent("agent-42"))
    check = (await stub.RecordDocumentCheck(pb.RecordDocumentCheckRequest(
        resident_id=resident, document_type=pb.DOCUMENT_TYPE_DRIVER_LICENCE, last_digits="4821"),
        metadata=tokens.agent("agent-42"))).check
    assert check.agent_id == "agent-42" and check.last_digits == "4821"
    verified = (await stub.VerifyAttribute(pb.VerifyAttributeRequest(
        resident_id=resident, attribute="postal_address", value="4500 rue Sherbrooke Est, Montréal, QC, H1X 1Z1",
        method=pb.VERIFICATION_METHOD_FROM_DOCUMENT, document_check_id=check.check_id),
        metadata=tokens.agent("agent-42"))).attribute
    assert verified.provenance == pb.PROVENANCE_VERIFIED_FROM_DOCUMENT and verified.HasField("verified_at")
    assert verified.verified_by == "agent-42"
    found = await stub.FindResident(pb.FindResidentRequest(family_name="Nguyen", date_of_birth="1990-05-17"),
                                    metadata=tokens.agent("agent-42"))
    assert [(m.resident_id, m.birth_year) for m in found.matches] == [(resident, 1990)]
    in_person = await stub.LinkAccountInPerson(pb.LinkAccountInPersonRequest(
        resident_id=resident, service_id=VERDUN, account_reference="V-2026-1"), metadata=tokens.agent("agent-42"))
    history = await stub.GetAccountHistory(pb.GetAccountHistoryRequest(account_id=in_person.account.account_id),
                                           metadata=tokens.resident(resident))
    assert history.transitions[0].actor == "agent:agent-42"
    from services.accounts.adapters.orm import AgentActionRow
    async with accounts.session_factory() as session:
        rows = (await session.execute(select(AgentActionRow.action, AgentActionRow.agent_id).where(
            AgentActionRow.resident_id == resident))).all()
    assert {a for a, _ in rows} >= {"enroll_resident", "verify_attribute", "record_document_check", "find_resident",
                                    "link_account"}
    assert {agent for _, agent in rows} == {"agent-42"}
    async with accounts.session_factory() as session:
        envelopes = (await session.execute(select(OUTBOX.c.envelope).where(OUTBOX.c.envelope.contains(resident)))).scalars().all()
    assert envelopes and not any("4821" in e or "Nguyen" in e for e in envelopes)


async def test_enrolment_validate_only_names_every_problem_and_writes_nothing(stub, tokens, accounts):
    """AIP-163 ``validate_only``: the counter asks before identity issues the number (issue 17,
    "a failed enrolment leaves no resident and no number consumed")."""
    from services.accounts.adapters.orm import AgentActionRow, ProfileRow

    async def counts():
        async with accounts.session_factory() as session:
            return [await session.scalar(select(func.count()).select_from(table))
                    for table in (ProfileRow, AgentActionRow, OUTBOX)]

    before = await counts()
    code, violations, _ = await fails(stub.EnrollResident(pb.EnrollResidentRequest(
        resident_id="MTL 2345", validate_only=True, attributes=[
            pb.AttributeChange(name="family_name", value="Nguyen"),
            pb.AttributeChange(name="phone", value="+0514 555 1234"),
            pb.AttributeChange(name="date_of_birth", value="2999-01-01")]), metadata=tokens.agent("agent-42")))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations) == {"resident_id", "attributes[1].value", "attributes[2].value"}
    ok = await stub.EnrollResident(pb.EnrollResidentRequest(validate_only=True, attributes=[
        pb.AttributeChange(name="family_name", value="Nguyen")]), metadata=tokens.agent("agent-42"))
    assert not ok.HasField("profile")
    code, violations, _ = await fails(stub.EnrollResident(pb.EnrollResidentRequest(attributes=[
        pb.AttributeChange(name="family_name", value="Nguyen")]), metadata=tokens.agent("agent-42")))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and set(violations) == {"resident_id"}
    code, _, reason = await fails(stub.EnrollResident(pb.EnrollResidentRequest(validate_only=True),
                                                      metadata=tokens._md("counter-app", ["accounts:agent"])))
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "AGENT_IDENTITY_REQUIRED")
    assert await counts() == before


async def _publish(nats, subject: str, data: dict, copies: int = 1) -> None:
    import nats as nats_client

    connection = await nats_client.connect(nats.url)
    try:
        js = connection.jetstream()
        await ensure_stream(js, "identity")
        envelope = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "mtlid/identity", "type": subject,
                    "time": "2026-11-27T12:00:00Z", "data": data}
        for _ in range(copies):  # the same event delivered more than once
            await js.publish(subject, json.dumps(envelope).encode(), headers={"Nats-Msg-Id": str(uuid.uuid4())})
    finally:
        await connection.close()


async def _profile_when(stub, tokens, resident, ready):
    for _ in range(100):
        try:
            profile = (await stub.GetProfile(pb.GetProfileRequest(resident_id=resident),
                                             metadata=tokens.resident(resident))).profile
            if ready(profile):
                return profile
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.NOT_FOUND
        await asyncio.sleep(0.05)
    pytest.fail("the identity event was not applied")


async def test_identity_events_create_the_profile_once_and_verify_the_email(stub, tokens, accounts, nats, stand_ins):
    identity = stand_ins["identity"]
    resident = CitizenNumber.new().canonical
    identity.contacts[resident] = ("Jean.Cote@Example.CA", False, "en")
    await _publish(nats, "montreal.identity.v1.resident_registered",
                   {"resident_id": resident, "email_verified": False, "preferred_language": "en",
                    "registered_by": "self"}, copies=2)
    profile = await _profile_when(stub, tokens, resident, lambda p: len(p.attributes) == 2)
    assert [(a.name, a.value, a.provenance) for a in profile.attributes] == [
        ("email", "Jean.Cote@example.ca", pb.PROVENANCE_SELF_DECLARED),
        ("preferred_language", "en", pb.PROVENANCE_SELF_DECLARED)]
    assert await outbox_count(accounts, "profile_changed", resident) == 1  # applied once

    identity.contacts[resident] = ("Jean.Cote@Example.CA", True, "en")
    await _publish(nats, "montreal.identity.v1.email_verified", {"resident_id": resident})
    profile = await _profile_when(stub, tokens, resident,
                                  lambda p: p.attributes[0].provenance == pb.PROVENANCE_RECEIVED_FROM_SERVICE)
    email = profile.attributes[0]
    assert email.source_service_id == "identity" and email.HasField("verified_at")


async def test_oversized_lists_are_refused_at_the_boundary(stub, tokens, catalogue):
    resident = await enrolled(stub, tokens)
    code, violations, _ = await fails(stub.ReleaseAttributes(pb.ReleaseAttributesRequest(
        service_id=PLATEAU, resident_id=resident, purpose_id="communication", attributes=["email"] * 21),
        metadata=tokens.service("plateau-permits")))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "attributes" in violations


async def test_two_replicas_linking_at_once_make_one_account(stub, tokens, catalogue, accounts):
    """Concurrent links of one resident to one service: the database's partial unique index,
    not only the handler's check, keeps a single open account."""
    resident = await enrolled(stub, tokens)
    md = tokens.service("plateau-permits")
    results = await asyncio.gather(*(stub.LinkAccount(pb.LinkAccountRequest(
        service_id=PLATEAU, resident_id=resident, account_reference=f"RACE-{i}"), metadata=md) for i in range(4)),
        return_exceptions=True)
    won = [r for r in results if isinstance(r, pb.LinkAccountResponse)]
    lost = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(won) == 1 and len(lost) == 3
    assert {e.code() for e in lost} == {grpc.StatusCode.ALREADY_EXISTS}
    # Concurrent transitions of one account: compare-and-set, one wins.
    account_id = won[0].account.account_id
    await stub.ActivateAccount(pb.ActivateAccountRequest(account_id=account_id), metadata=md)
    results = await asyncio.gather(
        stub.SuspendAccount(pb.SuspendAccountRequest(account_id=account_id, reason="a"), metadata=md),
        stub.SuspendAccount(pb.SuspendAccountRequest(account_id=account_id, reason="b"), metadata=md),
        return_exceptions=True)
    assert sum(isinstance(r, pb.SuspendAccountResponse) for r in results) == 1
    assert {r.code() for r in results if isinstance(r, grpc.aio.AioRpcError)} == {grpc.StatusCode.FAILED_PRECONDITION}
    history = await stub.GetAccountHistory(pb.GetAccountHistoryRequest(account_id=account_id), metadata=md)
    assert [t.to_state for t in history.transitions].count(pb.ACCOUNT_STATE_SUSPENDED) == 1


async def test_a_resident_exports_everything_accounts_holds(stub, tokens, catalogue):
    resident = await enrolled(stub, tokens)
    check = (await stub.RecordDocumentCheck(pb.RecordDocumentCheckRequest(
        resident_id=resident, document_type=pb.DOCUMENT_TYPE_PASSPORT, last_digits="77X1"), metadata=tokens.agent())).check
    account = await linked(stub, tokens, PLATEAU, "plateau-permits", resident)
    response = await stub.ExportResidentData(pb.ExportResidentDataRequest(resident_id=resident),
                                             metadata=tokens.resident(resident))
    assert response.media_type == "application/json"
    document = json.loads(response.document)
    assert document["resident_id"] == resident
    assert {a["name"]: a["value"] for a in document["profile"]["attributes"]}["email"] == "marie.tremblay@example.ca"
    assert {a["name"]: a["verified_by"] for a in document["profile"]["attributes"]}["given_name"] == "agent-7"
    assert [a["account_id"] for a in document["service_accounts"]] == [account.account_id]
    assert document["service_accounts"][0]["history"][0]["to"] == "pending"
    assert document["document_checks"] == [{"check_id": check.check_id, "document_type": "passport",
                                             "last_digits": "77X1", "agent_id": "agent-7",
                                             "checked_at": document["document_checks"][0]["checked_at"]}]
    assert {j["action"] for j in document["counter_journal"]} >= {"enroll_resident", "record_document_check"}
    code, _, _ = await fails(stub.ExportResidentData(pb.ExportResidentDataRequest(resident_id=resident),
                                                     metadata=tokens.resident(CitizenNumber.new().canonical)))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    # A counter agent prints it for the resident in front of them (issue 17): named by act.sub,
    # journaled, and the export lists its own printing.
    printed = json.loads((await stub.ExportResidentData(pb.ExportResidentDataRequest(resident_id=resident),
                                                        metadata=tokens.agent("agent-9"))).document)
    assert printed["profile"] == document["profile"]
    assert [(j["action"], j["agent_id"]) for j in printed["counter_journal"]][-1] == ("export_resident_data",
                                                                                      "agent-9")
    code, _, _ = await fails(stub.ExportResidentData(pb.ExportResidentDataRequest(resident_id=resident),
                                                     metadata=tokens._md("counter-app", ["accounts:agent"])))
    assert code == grpc.StatusCode.PERMISSION_DENIED  # an agent token that names no agent
    code, _, _ = await fails(stub.ExportResidentData(pb.ExportResidentDataRequest(resident_id=resident),
                                                     metadata=tokens._md("plateau-permits", ["accounts:link"])))
    assert code == grpc.StatusCode.PERMISSION_DENIED  # a service is neither the resident nor an agent
