"""Issue 22: a borough system asks accounts about mandates, with the real consent register
running (real gRPC servers, migrated databases, real NATS): "may X act for Y here for A"
(batched, each answered on its own, X and Y named as the borough knows them), acts recorded
under a mandate (decided again, idempotent), attributes released to a mandatary only under a
mandate covering ``view`` and recorded "by X under mandate M"; every refusal with its reason
and nothing recorded; bad items each named; a borough without the scope refused."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from montreal.accounts.v1 import accounts_pb2 as pb
from montreal.consent.v1 import consent_pb2, consent_pb2_grpc
from services.common.grpc.client import make_channel, rpc_error_details
from services.common.testing.services import running_service
from services.identity.domain.citizen_number import CitizenNumber

from .conftest import AUD, accounts_runtime

SERVICE, CLIENT = "verdun-library", "verdun-library-system"
OTHER, OTHER_CLIENT = "verdun-pools", "verdun-pools-system"


@pytest.fixture(scope="module")
async def consent_service(minter, nats):
    async with running_service("consent", nats_url=nats.url, minter=minter) as runtime:
        yield runtime


@pytest.fixture(scope="module")
async def accounts(minter, nats, consent_service, stand_ins, tmp_path_factory):
    async with accounts_runtime(minter, nats.url, tmp_path_factory.mktemp("accounts-mandates"),
                                consent_port=consent_service.bound_grpc_port,
                                identity_port=stand_ins["identity_port"]) as runtime:
        yield runtime


@pytest.fixture(scope="module")
async def ledger(consent_service):
    channel = make_channel(f"127.0.0.1:{consent_service.bound_grpc_port}", telemetry=False)
    yield consent_pb2_grpc.ConsentServiceStub(channel)
    await channel.close()


def consent_md(minter, client, scopes, subject=None, acting_for=None):
    token = minter.mint(client, scopes, "urn:mtlid:consent", subject=subject, acting_for=acting_for)
    return (("authorization", f"Bearer {token}"),)


@pytest.fixture(scope="module")
async def services(stub, tokens, ledger):
    for service_id, client, name in ((SERVICE, CLIENT, "Bibliothèques de Verdun"),
                                     (OTHER, OTHER_CLIENT, "Piscines de Verdun")):
        await stub.RegisterService(pb.RegisterServiceRequest(
            service_id=service_id, name_fr=name, name_en=name, kind=pb.SERVICE_KIND_BOROUGH,
            owner="Arrondissement de Verdun", borough="Verdun", client_id=client,
            attributes=["given_name", "family_name", "email", "postal_address"],
            purposes=["service-provision", "communication"]), metadata=tokens.admin())
    # service_registered travels outbox → relay → JetStream → consent's consumer: wait for both.
    for _ in range(200):
        recipients = {r.recipient_id for r in (await ledger.ListRecipients(
            consent_pb2.ListRecipientsRequest())).recipients}
        if {SERVICE, OTHER} <= recipients:
            return
        await asyncio.sleep(0.05)
    pytest.fail("consent never registered the recipients from service_registered")


async def person(stub, tokens, given: str, *, linked: bool = True) -> tuple[str, str]:
    """(citizen number, account id at the library, or "")."""
    resident = CitizenNumber.new().canonical
    await stub.EnrollResident(pb.EnrollResidentRequest(resident_id=resident, attributes=[
        pb.AttributeChange(name="given_name", value=given), pb.AttributeChange(name="family_name", value="Tremblay"),
        pb.AttributeChange(name="email", value=f"{given.lower()}.{resident[:4].lower()}@example.ca")]),
        metadata=tokens.agent())
    if not linked:
        return resident, ""
    account = (await stub.LinkAccount(pb.LinkAccountRequest(
        service_id=SERVICE, resident_id=resident, account_reference=f"VER-{uuid.uuid4().hex[:8]}"),
        metadata=tokens.service(CLIENT))).account
    return resident, account.account_id


def ts(value: dt.datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def in_seconds(seconds: float) -> Timestamp:
    return ts(dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds))


async def mandate(ledger, minter, represented, mandatary, scope, *, accept=True, valid_from=None,
                  valid_until_seconds=30 * 86400, under="", grantor=None):
    grantor = grantor or represented
    given = (await ledger.GiveMandate(consent_pb2.GiveMandateRequest(
        represented_id=represented, mandatary_id=mandatary, grantor_id=grantor,
        basis=consent_pb2.MANDATE_BASIS_RESIDENT_CONSENT, under_mandate_id=under,
        scope=[consent_pb2.MandateScope(service=s, actions=a) for s, a in scope],
        valid_from_time=valid_from, valid_until_time=in_seconds(valid_until_seconds)),
        metadata=consent_md(minter, "montreal-ca", ["resident"], grantor))).mandate
    if accept:
        await ledger.AcceptMandate(consent_pb2.AcceptMandateRequest(mandate_id=given.mandate_id),
                                   metadata=consent_md(minter, "montreal-ca", ["resident"], mandatary))
    return given.mandate_id


def q(mandatary, represented, action="view", service_id=""):
    return pb.MandateQuestion(mandatary_id=mandatary, represented_id=represented, action=action,
                              service_id=service_id)


async def decide(stub, tokens, *questions):
    return list((await stub.DecideMandates(pb.DecideMandatesRequest(questions=list(questions)),
                                           metadata=tokens.service(CLIENT))).decisions)


async def fails(call, code):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    got, violations, reason = rpc_error_details(err.value)
    assert got == code, (got, err.value.details())
    return violations, reason


async def acts_of(ledger, minter, represented, mandate_id):
    listing = await ledger.ListMandates(consent_pb2.ListMandatesRequest(resident_id=represented),
                                        metadata=consent_md(minter, "montreal-ca", ["resident"], represented))
    return [a for m in listing.given if m.mandate_id == mandate_id for a in m.acts]


async def test_allowed_by_account_ids_and_citizen_numbers_and_refused_with_each_reason(
        stub, tokens, ledger, minter, services):
    elder, elder_acc = await person(stub, tokens, "Gisèle")
    son, son_acc = await person(stub, tokens, "Marc")
    granddaughter, _ = await person(stub, tokens, "Léa", linked=False)
    stranger, stranger_acc = await person(stub, tokens, "Paul")
    m = await mandate(ledger, minter, elder, son, [(SERVICE, ["view", "request"])])
    sub = await mandate(ledger, minter, elder, granddaughter, [(SERVICE, ["view"])], under=m, grantor=son,
                        valid_until_seconds=20 * 86400)

    by_account, by_number, pay, nobody, sub_allowed = await decide(
        stub, tokens, q(son_acc, elder_acc), q(son, elder, "request"), q(son_acc, elder, "pay"),
        q(stranger_acc, elder_acc), q(granddaughter, elder_acc))
    assert (by_account.allowed, by_account.mandate_id) == (True, m)
    assert (by_number.allowed, by_number.mandate_id) == (True, m)
    assert (pay.allowed, pay.mandate_id, pay.reason) == (False, m, "ACTION_NOT_COVERED")
    assert (nobody.allowed, nobody.reason) == (False, "NO_MANDATE")
    assert (sub_allowed.allowed, sub_allowed.mandate_id) == (True, sub)

    # Pending, not yet valid, suspended at the counter, and a sub-mandate whose source ended.
    neighbour, neighbour_acc = await person(stub, tokens, "Rita")
    pending = await mandate(ledger, minter, neighbour, stranger, [(SERVICE, ["view"])], accept=False)
    later = await mandate(ledger, minter, stranger, neighbour, [(SERVICE, ["view"])], valid_from=in_seconds(3600))
    [p_, l_] = await decide(stub, tokens, q(stranger_acc, neighbour_acc), q(neighbour_acc, stranger_acc))
    assert (p_.allowed, p_.mandate_id, p_.reason) == (False, pending, "MANDATE_PENDING")
    assert (l_.allowed, l_.mandate_id, l_.reason) == (False, later, "NOT_YET_VALID")

    await ledger.EndMandate(consent_pb2.EndMandateRequest(mandate_id=m, suspend=True),
                            metadata=consent_md(minter, "counter-console", ["consent:agent"], acting_for="AG0123456789"))
    suspended, source_ended = await decide(stub, tokens, q(son, elder), q(granddaughter, elder))
    assert (suspended.allowed, suspended.mandate_id, suspended.reason) == (False, m, "MANDATE_SUSPENDED")
    assert (source_ended.allowed, source_ended.mandate_id, source_ended.reason) == (False, sub, "SOURCE_MANDATE_ENDED")

    # Expired: a mandate ending in a second is refused from that instant (polled, bounded).
    short = await mandate(ledger, minter, neighbour, son, [(SERVICE, ["view"])], valid_until_seconds=1.0)
    for _ in range(100):
        [d] = await decide(stub, tokens, q(son_acc, neighbour_acc))
        if not d.allowed:
            break
        await asyncio.sleep(0.05)
    assert (d.allowed, d.mandate_id, d.reason) == (False, short, "MANDATE_EXPIRED")


async def test_acts_recorded_idempotent_and_refused_at_once_after_revocation(stub, tokens, ledger, minter, services):
    elder, elder_acc = await person(stub, tokens, "Huguette")
    carer, carer_acc = await person(stub, tokens, "Nadia")
    m = await mandate(ledger, minter, elder, carer, [(SERVICE, ["view", "request"])])
    act_id = f"loan-{uuid.uuid4().hex[:12]}"
    record = pb.RecordMandateActRequest(mandate_id=m, act_id=act_id, action="request")
    first = await stub.RecordMandateAct(record, metadata=tokens.service(CLIENT))
    again = await stub.RecordMandateAct(record, metadata=tokens.service(CLIENT))
    assert (first.already_recorded, again.already_recorded) == (False, True)
    assert first.act_time.seconds > 0
    acts = await acts_of(ledger, minter, elder, m)
    assert [(a.act_id, a.service, a.action, a.recorded_by) for a in acts] == [
        (act_id, SERVICE, "request", f"client:{CLIENT}")]   # the library's act, passed on by accounts

    # Not covered: refused with the reason, nothing recorded.
    _, reason = await fails(stub.RecordMandateAct(pb.RecordMandateActRequest(
        mandate_id=m, act_id=f"pay-{uuid.uuid4().hex[:12]}", action="pay"), metadata=tokens.service(CLIENT)),
        grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "ACTION_NOT_COVERED"

    # The resident revokes: the very next question and act are refused.
    await ledger.EndMandate(consent_pb2.EndMandateRequest(mandate_id=m),
                            metadata=consent_md(minter, "montreal-ca", ["resident"], elder))
    [after] = await decide(stub, tokens, q(carer_acc, elder_acc, "request"))
    assert (after.allowed, after.mandate_id, after.reason) == (False, m, "MANDATE_REVOKED")
    _, reason = await fails(stub.RecordMandateAct(pb.RecordMandateActRequest(
        mandate_id=m, act_id=f"loan-{uuid.uuid4().hex[:12]}", action="request"), metadata=tokens.service(CLIENT)),
        grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "MANDATE_REVOKED"
    assert len(await acts_of(ledger, minter, elder, m)) == 1

    # A mandate nobody has.
    await fails(stub.RecordMandateAct(pb.RecordMandateActRequest(
        mandate_id=str(uuid.uuid4()), act_id=f"loan-{uuid.uuid4().hex[:12]}", action="view"),
        metadata=tokens.service(CLIENT)), grpc.StatusCode.NOT_FOUND)


async def test_release_to_a_mandatary_only_under_a_mandate_covering_view(stub, tokens, ledger, minter, services):
    elder, elder_acc = await person(stub, tokens, "Jeanne")
    carer, carer_acc = await person(stub, tokens, "Omar")
    me = consent_md(minter, "montreal-ca", ["resident"], elder)
    await ledger.Grant(consent_pb2.GrantRequest(
        resident_id=elder, recipient_id=SERVICE, language="fr",
        collection_method=consent_pb2.COLLECTION_METHOD_ACCOUNT_PAGE,
        items=[consent_pb2.GrantItem(purpose_id="communication", data_categories=["email"])]), metadata=me)

    async def library_reads():
        # the library's reads only: the counter's enrolment above is a data access of its own,
        # recorded when its event reaches consent (whenever that is)
        log = await ledger.AccessLog(consent_pb2.AccessLogRequest(resident_id=elder), metadata=me)
        return [r for r in log.records if r.recipient_id == SERVICE]

    def release(mandatary):
        return stub.ReleaseAttributes(pb.ReleaseAttributesRequest(
            service_id=SERVICE, resident_id=elder, purpose_id="communication", attributes=["email"],
            mandatary_id=mandatary), metadata=tokens.service(CLIENT))

    # No mandate: refused, nothing released, nothing recorded.
    _, reason = await fails(release(carer), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "NO_MANDATE"
    # A mandate that does not cover `view`.
    pay_only = await mandate(ledger, minter, elder, carer, [(SERVICE, ["pay"])])
    _, reason = await fails(release(carer_acc), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "ACTION_NOT_COVERED"
    assert await library_reads() == []

    m = await mandate(ledger, minter, elder, carer, [(SERVICE, ["view"])])
    released = await release(carer_acc)
    assert [r.name for r in released.released] == ["email"] and released.mandate_id == m
    [record] = await library_reads()
    assert (record.access_id, record.mandatary_id, record.mandate_id) == (released.access_id, carer, m)
    assert [a.act_id for a in await acts_of(ledger, minter, elder, m)] == [f"release:{released.access_id}"]

    await ledger.EndMandate(consent_pb2.EndMandateRequest(mandate_id=m), metadata=me)
    _, reason = await fails(release(carer), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "ACTION_NOT_COVERED"  # the pay-only mandate is still in force
    await ledger.EndMandate(consent_pb2.EndMandateRequest(mandate_id=pay_only), metadata=me)
    _, reason = await fails(release(carer), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "MANDATE_REVOKED"
    assert len(await library_reads()) == 1
    # The resident's own release is unchanged.
    own = await stub.ReleaseAttributes(pb.ReleaseAttributesRequest(
        service_id=SERVICE, resident_id=elder, purpose_id="communication", attributes=["email"]),
        metadata=tokens.service(CLIENT))
    assert [r.name for r in own.released] == ["email"] and own.mandate_id == ""


async def test_bad_items_each_named_and_nothing_decided(stub, tokens, ledger, minter, services):
    elder, elder_acc = await person(stub, tokens, "Simone")
    son, son_acc = await person(stub, tokens, "Yves")
    other_acc = (await stub.LinkAccount(pb.LinkAccountRequest(
        service_id=OTHER, resident_id=son, account_reference=f"POOL-{uuid.uuid4().hex[:6]}"),
        metadata=tokens.service(OTHER_CLIENT))).account.account_id
    violations, _ = await fails(stub.DecideMandates(pb.DecideMandatesRequest(questions=[
        q(son_acc, elder_acc),                       # fine
        q(son_acc, elder_acc, "borrow"),             # unknown action
        q("not-a-number", elder),                    # not a citizen number
        q(other_acc, elder_acc),                     # another service's account
        q(son, elder, service_id=OTHER),             # another service
        q(son, son),                                 # the same person
    ]), metadata=tokens.service(CLIENT)), grpc.StatusCode.INVALID_ARGUMENT)
    assert set(violations) == {"questions[1].action", "questions[2].mandatary_id", "questions[3].mandatary_id",
                               "questions[4].service_id", "questions[5].mandatary_id"}
    await fails(stub.DecideMandates(pb.DecideMandatesRequest(questions=[q(son, elder)] * 1001),
                                    metadata=tokens.service(CLIENT)), grpc.StatusCode.INVALID_ARGUMENT)
    violations, _ = await fails(stub.RecordMandateAct(pb.RecordMandateActRequest(
        mandate_id="nope", act_id="x", action="borrow", service_id=SERVICE), metadata=tokens.service(CLIENT)),
        grpc.StatusCode.INVALID_ARGUMENT)
    assert set(violations) == {"mandate_id", "act_id", "action"}


async def test_a_thousand_questions_each_answered_in_order(stub, tokens, ledger, minter, services):
    elder, _ = await person(stub, tokens, "Aline")
    son, _ = await person(stub, tokens, "Rémi")
    m = await mandate(ledger, minter, elder, son, [(SERVICE, ["view"])])
    actions = ["view", "pay", "request", "consent"] * 250
    decisions = await decide(stub, tokens, *(q(son, elder, a) for a in actions))
    assert len(decisions) == 1000
    assert [(d.allowed, d.mandate_id) for d in decisions] == [(a == "view", m) for a in actions]


async def test_a_borough_without_the_scope_is_refused(stub, tokens, minter, services):
    elder, elder_acc = await person(stub, tokens, "Irène")
    release_only = (("authorization", f"Bearer {minter.mint(CLIENT, ['accounts:release'], AUD)}"),)
    await fails(stub.DecideMandates(pb.DecideMandatesRequest(questions=[q(elder_acc, elder_acc)]),
                                    metadata=release_only), grpc.StatusCode.PERMISSION_DENIED)
    await fails(stub.RecordMandateAct(pb.RecordMandateActRequest(
        mandate_id=str(uuid.uuid4()), act_id="act-12345678", action="view"), metadata=release_only),
        grpc.StatusCode.PERMISSION_DENIED)
    # A client that represents no service of the catalogue asks about nobody.
    await fails(stub.DecideMandates(pb.DecideMandatesRequest(questions=[q(elder, elder)]),
                                    metadata=tokens.service("no-such-service")), grpc.StatusCode.PERMISSION_DENIED)


async def test_a_partner_names_people_by_their_pairwise_subjects_only(stub, tokens, ledger, minter, services, stand_ins):
    partner, partner_client = "club-aquatique-verdun", "club-aquatique-system"
    await stub.RegisterService(pb.RegisterServiceRequest(
        service_id=partner, name_fr="Club aquatique", name_en="Swimming club", kind=pb.SERVICE_KIND_PARTNER,
        owner="Club aquatique de Verdun", client_id=partner_client, attributes=["given_name"],
        purposes=["service-provision"]), metadata=tokens.admin())
    for _ in range(200):
        if any(r.recipient_id == partner for r in (await ledger.ListRecipients(
                consent_pb2.ListRecipientsRequest())).recipients):
            break
        await asyncio.sleep(0.05)
    elder, _ = await person(stub, tokens, "Berthe", linked=False)
    son, _ = await person(stub, tokens, "Guy", linked=False)
    m = await mandate(ledger, minter, elder, son, [(partner, ["view"])])
    identity = stand_ins["identity"]
    sub_son, sub_elder = identity.subject(partner_client, son), identity.subject(partner_client, elder)
    [allowed] = list((await stub.DecideMandates(pb.DecideMandatesRequest(questions=[q(sub_son, sub_elder)]),
                                                metadata=tokens.service(partner_client))).decisions)
    assert (allowed.allowed, allowed.mandate_id) == (True, m)
    # Citizen numbers, or another client's pairwise subject, name nobody for a partner.
    violations, _ = await fails(stub.DecideMandates(pb.DecideMandatesRequest(questions=[
        q(son, sub_elder), q(sub_son, identity.subject(CLIENT, elder))]), metadata=tokens.service(partner_client)),
        grpc.StatusCode.INVALID_ARGUMENT)
    assert set(violations) == {"questions[0].mandatary_id", "questions[1].represented_id"}
