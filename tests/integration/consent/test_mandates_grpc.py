"""Mandates over montreal.consent.v1 (issue 22) on a real grpc.aio server and a migrated
database: a resident gives, the mandatary accepts, a borough system asks, the resident
revokes and the next question is refused; the counter records parental authority on a
document; who may call what; bad input named, nothing recorded."""

from __future__ import annotations

import datetime as dt

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from montreal.consent.v1 import consent_pb2 as pb
from montreal.consent.v1 import consent_pb2_grpc
from services.common.grpc.auth import StaticJwks, TokenVerifier
from services.common.grpc.client import rpc_error_details
from services.common.grpc.server import GrpcServer
from services.common.testing.tokens import TokenMinter
from services.consent.adapters.uow import uow_factory
from services.consent.entrypoints.grpc import METHOD_POLICIES, SERVICE, ConsentServicer, add_to_server

AUD = "urn:mtlid:consent"
ELDER, CAREGIVER, PARENT, CHILD = "789ABCDEFGHJ", "89ABCDEFGHJK", "9ABCDEFGHJKM", "ABCDEFGHJKMN"


@pytest.fixture(scope="module")
def minter():
    return TokenMinter()


@pytest.fixture(scope="module")
async def stub(store, minter):
    server = GrpcServer("consent", host="127.0.0.1", port=0,
                        token_verifier=TokenVerifier(minter.issuer, AUD, StaticJwks(minter.jwks())),
                        method_policies=METHOD_POLICIES, telemetry=False)
    server.add(ConsentServicer(uow_factory(store)), add_to_server, SERVICE)
    port = await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield consent_pb2_grpc.ConsentServiceStub(channel)
    await channel.close()
    await server.drain(0.5)


@pytest.fixture(scope="module")
def auth(minter):
    def token(client, scopes, subject=None, acting_for=None):
        return (("authorization",
                 f"Bearer {minter.mint(client, scopes, AUD, subject=subject, acting_for=acting_for)}"),)
    return {
        "elder": token("montreal-ca", ["resident"], ELDER),
        "caregiver": token("montreal-ca", ["resident"], CAREGIVER),
        "parent": token("montreal-ca", ["resident"], PARENT),
        "borough": token("borough-client", ["consent:check"]),
        "agent": token("counter-console", ["consent:agent"], acting_for="AG0123456789"),
        "admin": token("operator", ["consent:admin"]),
    }


def ts(value: dt.datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def in_days(days: int) -> Timestamp:
    return ts(dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days))


async def fails(call, code):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    got, violations, reason = rpc_error_details(err.value)
    assert got == code, (got, err.value.details())
    return violations, reason


async def tree_size(stub):
    return (await stub.GetSignedTreeHead(pb.GetSignedTreeHeadRequest())).signed_tree_head.tree_size


def resident_auth(minter, resident_id: str) -> tuple:
    """A resident's own session: a montreal.ca token naming them."""
    return (("authorization", f"Bearer {minter.mint('montreal-ca', ['resident'], AUD, subject=resident_id)}"),)


async def pay_mandate(stub, represented: str, mandatary: str, metadata):
    """The represented resident gives the mandatary a 30-day mandate to pay for family sports."""
    return (await stub.GiveMandate(pb.GiveMandateRequest(
        represented_id=represented, mandatary_id=mandatary, grantor_id=represented,
        basis=pb.MANDATE_BASIS_RESIDENT_CONSENT,
        scope=[pb.MandateScope(service="family:sports", actions=["pay"])], valid_until_time=in_days(30)),
        metadata=metadata)).mandate


def question(mandatary, represented, service="montreal-library", action="view"):
    return pb.MandateQuestion(mandatary_id=mandatary, represented_id=represented, service=service, action=action)


async def test_given_accepted_used_revoked_over_grpc(stub, auth):
    given = (await stub.GiveMandate(pb.GiveMandateRequest(
        represented_id=ELDER, mandatary_id=CAREGIVER, grantor_id=ELDER, basis=pb.MANDATE_BASIS_RESIDENT_CONSENT,
        scope=[pb.MandateScope(service="montreal-library", actions=["view", "request"])],
        valid_until_time=in_days(90)), metadata=auth["elder"])).mandate
    assert given.state == pb.MANDATE_STATE_PENDING

    # Only the mandatary accepts.
    await fails(stub.AcceptMandate(pb.AcceptMandateRequest(mandate_id=given.mandate_id), metadata=auth["elder"]),
                grpc.StatusCode.NOT_FOUND)
    accepted = (await stub.AcceptMandate(pb.AcceptMandateRequest(mandate_id=given.mandate_id),
                                         metadata=auth["caregiver"])).mandate
    assert accepted.state == pb.MANDATE_STATE_ACTIVE

    view, pay = (await stub.DecideMandates(pb.DecideMandatesRequest(questions=[
        question(CAREGIVER, ELDER), question(CAREGIVER, ELDER, action="pay")]), metadata=auth["borough"])).decisions
    assert (view.allowed, view.mandate_id) == (True, given.mandate_id)
    assert (pay.allowed, pay.reason) == (False, "ACTION_NOT_COVERED")

    # Both sides list it; a resident may not list another's.
    mine = await stub.ListMandates(pb.ListMandatesRequest(resident_id=ELDER), metadata=auth["elder"])
    theirs = await stub.ListMandates(pb.ListMandatesRequest(resident_id=CAREGIVER), metadata=auth["caregiver"])
    assert [m.mandate_id for m in mine.given] == [given.mandate_id] and not mine.received
    assert [m.mandate_id for m in theirs.received] == [given.mandate_id]
    await fails(stub.ListMandates(pb.ListMandatesRequest(resident_id=ELDER), metadata=auth["caregiver"]),
                grpc.StatusCode.PERMISSION_DENIED)

    revoked = (await stub.EndMandate(pb.EndMandateRequest(mandate_id=given.mandate_id),
                                     metadata=auth["elder"])).mandate
    assert (revoked.state, revoked.end_reason) == (pb.MANDATE_STATE_REVOKED, "represented")
    [after] = (await stub.DecideMandates(pb.DecideMandatesRequest(questions=[question(CAREGIVER, ELDER)]),
                                         metadata=auth["borough"])).decisions
    assert (after.allowed, after.reason) == (False, "MANDATE_REVOKED")

    # The resident's own history shows the three entries.
    history = await stub.History(pb.HistoryRequest(resident_id=ELDER), metadata=auth["elder"])
    assert [e.type for e in history.entries][-3:] == [pb.ENTRY_TYPE_MANDATE_GRANTED, pb.ENTRY_TYPE_MANDATE_ACCEPTED,
                                                      pb.ENTRY_TYPE_MANDATE_REVOKED]


async def test_parental_authority_at_the_counter_only_and_on_a_document(stub, auth):
    request = pb.GiveMandateRequest(
        represented_id=CHILD, mandatary_id=PARENT, grantor_id=PARENT, basis=pb.MANDATE_BASIS_PARENTAL_AUTHORITY,
        scope=[pb.MandateScope(service="*", actions=["view", "request", "pay", "consent"])],
        valid_until_time=in_days(3650), document_kind="birth_certificate", document_reference="QC 2016-123")
    before = await tree_size(stub)
    _, reason = await fails(stub.GiveMandate(request, metadata=auth["parent"]), grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "COUNTER_ONLY"
    assert await tree_size(stub) == before
    recorded = (await stub.GiveMandate(request, metadata=auth["agent"])).mandate
    assert (recorded.state, recorded.document_kind, recorded.document_checked_by) == (
        pb.MANDATE_STATE_ACTIVE, "birth_certificate", "AG0123456789")
    [decision] = (await stub.DecideMandates(pb.DecideMandatesRequest(
        questions=[question(PARENT, CHILD, "montreal-taxes", "consent")]), metadata=auth["borough"])).decisions
    assert decision.allowed
    # The agent's listing of the child's mandates shows it; a borough system may not give one.
    listed = await stub.ListMandates(pb.ListMandatesRequest(resident_id=CHILD), metadata=auth["agent"])
    assert recorded.mandate_id in [m.mandate_id for m in listed.given]
    await fails(stub.GiveMandate(request, metadata=auth["borough"]), grpc.StatusCode.PERMISSION_DENIED)


async def test_bad_input_is_named_and_refusals_record_nothing(stub, auth):
    before = await tree_size(stub)
    scope = [pb.MandateScope(service="montreal-library", actions=["view"])]
    _, reason = await fails(stub.GiveMandate(pb.GiveMandateRequest(
        represented_id=ELDER, mandatary_id=ELDER, grantor_id=ELDER, basis=pb.MANDATE_BASIS_RESIDENT_CONSENT,
        scope=scope, valid_until_time=in_days(30)), metadata=auth["elder"]), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "SELF_MANDATE"
    _, reason = await fails(stub.GiveMandate(pb.GiveMandateRequest(
        represented_id=ELDER, mandatary_id=CAREGIVER, grantor_id=ELDER, basis=pb.MANDATE_BASIS_RESIDENT_CONSENT,
        scope=scope, valid_until_time=in_days(-1)), metadata=auth["elder"]), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "MANDATE_EXPIRED"
    _, reason = await fails(stub.GiveMandate(pb.GiveMandateRequest(
        represented_id=ELDER, mandatary_id=CAREGIVER, grantor_id=ELDER, basis=pb.MANDATE_BASIS_RESIDENT_CONSENT,
        scope=scope, valid_until_time=in_days(400)), metadata=auth["elder"]), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "TOO_LONG"
    violations, _ = await fails(stub.GiveMandate(pb.GiveMandateRequest(
        represented_id=ELDER, mandatary_id=CAREGIVER, grantor_id=ELDER, basis=pb.MANDATE_BASIS_RESIDENT_CONSENT,
        scope=[pb.MandateScope(service="montreal-library", actions=["steal"])], valid_until_time=in_days(30)),
        metadata=auth["elder"]), grpc.StatusCode.INVALID_ARGUMENT)
    assert list(violations) == ["scope[0].actions[0]"]
    violations, _ = await fails(stub.GiveMandate(pb.GiveMandateRequest(
        represented_id=ELDER, mandatary_id=CAREGIVER, grantor_id=ELDER, scope=scope, valid_until_time=in_days(30)),
        metadata=auth["elder"]), grpc.StatusCode.INVALID_ARGUMENT)
    assert list(violations) == ["basis"]
    # A resident cannot give a mandate for someone else.
    await fails(stub.GiveMandate(pb.GiveMandateRequest(
        represented_id=ELDER, mandatary_id=CAREGIVER, grantor_id=ELDER, basis=pb.MANDATE_BASIS_RESIDENT_CONSENT,
        scope=scope, valid_until_time=in_days(30)), metadata=auth["caregiver"]), grpc.StatusCode.PERMISSION_DENIED)
    violations, _ = await fails(stub.DecideMandates(pb.DecideMandatesRequest(questions=[
        question("nope", ELDER)]), metadata=auth["borough"]), grpc.StatusCode.INVALID_ARGUMENT)
    assert list(violations) == ["questions[0].mandatary_id"]
    await fails(stub.AcceptMandate(pb.AcceptMandateRequest(mandate_id="x"), metadata=auth["caregiver"]),
                grpc.StatusCode.INVALID_ARGUMENT)
    assert await tree_size(stub) == before


async def test_acts_under_a_mandate_are_recorded_once_and_seen_on_both_sides(stub, auth, minter):
    await stub.RegisterRecipient(pb.RegisterRecipientRequest(recipient=pb.Recipient(
        recipient_id="montreal-pools", client_id="pools-client", name_fr="Piscines", name_en="Pools",
        kind="sports", owner="Ville de Montréal", purposes=["service-provision"], data_categories=["email"])),
        metadata=auth["admin"])
    pools = (("authorization", f"Bearer {minter.mint('pools-client', ['consent:record'], AUD)}"),)
    elder, helper = "BCDEFGHJKMNP", "CDEFGHJKMNPQ"
    elder_auth = resident_auth(minter, elder)
    helper_auth = resident_auth(minter, helper)
    mandate = await pay_mandate(stub, elder, helper, elder_auth)
    act = pb.RecordMandateActRequest(mandate_id=mandate.mandate_id, act_id="pay-2026-0001", service="montreal-pools",
                                     action="pay")

    # Not yet accepted: refused with the decision's reason, nothing recorded.
    before = await tree_size(stub)
    _, reason = await fails(stub.RecordMandateAct(act, metadata=pools), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "MANDATE_PENDING" and await tree_size(stub) == before

    await stub.AcceptMandate(pb.AcceptMandateRequest(mandate_id=mandate.mandate_id), metadata=helper_auth)
    first_time = await stub.RecordMandateAct(act, metadata=pools)
    again = await stub.RecordMandateAct(act, metadata=pools)
    assert (first_time.already_recorded, again.already_recorded) == (False, True)
    [recorded] = first_time.mandate.acts
    assert (recorded.service, recorded.action, recorded.recorded_by) == ("montreal-pools", "pay", "client:pools-client")

    # Both sides see the act; the represented resident's history has the entry, naming the helper.
    for resident, metadata, side in ((elder, elder_auth, "given"), (helper, helper_auth, "received")):
        listing = await stub.ListMandates(pb.ListMandatesRequest(resident_id=resident), metadata=metadata)
        [m] = [m for m in getattr(listing, side) if m.mandate_id == mandate.mandate_id]
        assert [a.act_id for a in m.acts] == ["pay-2026-0001"]
    history = await stub.History(pb.HistoryRequest(resident_id=elder), metadata=elder_auth)
    used = [e for e in history.entries if e.type == pb.ENTRY_TYPE_MANDATE_USED]
    assert len(used) == 1 and helper.encode() in used[0].leaf_data

    # An action the mandate does not cover, another service's act, or after revocation: refused.
    _, reason = await fails(stub.RecordMandateAct(pb.RecordMandateActRequest(
        mandate_id=mandate.mandate_id, act_id="view-2026-0001", service="montreal-pools", action="view"),
        metadata=pools), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "ACTION_NOT_COVERED"
    await fails(stub.RecordMandateAct(pb.RecordMandateActRequest(
        mandate_id=mandate.mandate_id, act_id="pay-2026-0002", service="montreal-library", action="pay"),
        metadata=pools), grpc.StatusCode.PERMISSION_DENIED)
    await stub.EndMandate(pb.EndMandateRequest(mandate_id=mandate.mandate_id), metadata=elder_auth)
    before = await tree_size(stub)
    _, reason = await fails(stub.RecordMandateAct(pb.RecordMandateActRequest(
        mandate_id=mandate.mandate_id, act_id="pay-2026-0003", service="montreal-pools", action="pay"),
        metadata=pools), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "MANDATE_REVOKED" and await tree_size(stub) == before


async def test_a_parent_consents_for_the_child_marked_so_and_on_the_record(stub, auth, minter):
    await stub.RegisterRecipient(pb.RegisterRecipientRequest(recipient=pb.Recipient(
        recipient_id="montreal-camps", client_id="camps-client", name_fr="Camps de jour", name_en="Day camps",
        kind="sports", owner="Ville de Montréal", purposes=["communication"], data_categories=["email"])),
        metadata=auth["admin"])
    parent, child, stranger = "DEFGHJKMNPQR", "EFGHJKMNPQRS", "FGHJKMNPQRST"
    parent_auth = resident_auth(minter, parent)
    stranger_auth = resident_auth(minter, stranger)
    mandate = (await stub.GiveMandate(pb.GiveMandateRequest(
        represented_id=child, mandatary_id=parent, grantor_id=parent, basis=pb.MANDATE_BASIS_PARENTAL_AUTHORITY,
        scope=[pb.MandateScope(service="*", actions=["view", "request", "pay", "consent"])],
        valid_until_time=in_days(3000), document_kind="birth_certificate", document_reference="QC-55"),
        metadata=auth["agent"])).mandate
    grant = pb.GrantRequest(resident_id=child, recipient_id="montreal-camps",
                            items=[pb.GrantItem(purpose_id="communication", data_categories=["email"])],
                            explicit_act=True, language="fr")

    # Someone without a mandate: refused, nothing recorded.
    before = await tree_size(stub)
    _, reason = await fails(stub.Grant(grant, metadata=stranger_auth), grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "NOT_OWN_DATA" and await tree_size(stub) == before

    [consent] = (await stub.Grant(grant, metadata=parent_auth)).consents
    assert (consent.resident_id, consent.given_by_mandatary, consent.mandate_id) == (child, parent, mandate.mandate_id)
    # The child's own listing says who gave it; the act is under the mandate on both sides.
    child_auth = resident_auth(minter, child)
    [listed] = (await stub.ListConsents(pb.ListConsentsRequest(resident_id=child), metadata=child_auth)).consents
    assert listed.given_by_mandatary == parent
    received = (await stub.ListMandates(pb.ListMandatesRequest(resident_id=parent), metadata=parent_auth)).received
    [held] = [m for m in received if m.mandate_id == mandate.mandate_id]
    assert [(a.service, a.action, a.act_id) for a in held.acts] == [
        ("montreal-camps", "consent", f"consent:{consent.consent_id}")]
    history = await stub.History(pb.HistoryRequest(resident_id=child), metadata=child_auth)
    given = [e for e in history.entries if e.type == pb.ENTRY_TYPE_CONSENT_GIVEN]
    assert f'"actor":"mandatary:{parent}"'.encode() in given[-1].leaf_data
    assert f'"mandate_id":"{mandate.mandate_id}"'.encode() in given[-1].leaf_data

    # The parent signed in on the child's behalf: the token's sub is the child and act.sub the
    # parent, with the mandate in authorization_details (RFC 9396). What it does is recorded as
    # the mandatary's act, never as a counter agent's (both carry act.sub).
    on_behalf = minter.mint('montreal-ca', ['resident'], AUD, subject=child, acting_for=parent,
                            authorization_details=[{"type": "urn:mtlid:mandate", "mandate_id": mandate.mandate_id,
                                                    "locations": ["*"], "actions": ["consent"]}])
    await stub.Withdraw(pb.WithdrawRequest(resident_id=child, consent_id=consent.consent_id),
                        metadata=(("authorization", f"Bearer {on_behalf}"),))
    history = await stub.History(pb.HistoryRequest(resident_id=child), metadata=child_auth)
    [withdrawn] = [e for e in history.entries if e.type == pb.ENTRY_TYPE_CONSENT_WITHDRAWN]
    assert f'"actor":"mandatary:{parent}"'.encode() in withdrawn.leaf_data
    assert b'"actor":"agent:' not in withdrawn.leaf_data

    # A consent given with the token on the child's behalf is decided by the mandate, and
    # marked so (not recorded as the child's own).
    [again] = (await stub.Grant(grant, metadata=(("authorization", f"Bearer {on_behalf}"),))).consents
    assert (again.given_by_mandatary, again.mandate_id) == (parent, mandate.mandate_id)
    # A token on someone's behalf naming its mandatary by a pairwise subject cannot be decided.
    pairwise = minter.mint('partner-app', ['resident'], AUD, subject=child, acting_for="k4l7q2m9x3c8v6b1n5z0",
                           authorization_details=[{"type": "urn:mtlid:mandate", "mandate_id": mandate.mandate_id}])
    _, reason = await fails(stub.Grant(grant, metadata=(("authorization", f"Bearer {pairwise}"),)),
                            grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "NOT_OWN_DATA"


async def test_a_token_on_someones_behalf_withdraws_only_what_its_mandate_covers(stub, auth, minter):
    """A mandatary signed in on someone's behalf (sub the represented resident, act.sub the
    mandatary) is not that resident's own session: withdrawing one of their consents needs a
    mandate covering ``consent`` on the consent's service; otherwise refused, nothing written."""
    await stub.RegisterRecipient(pb.RegisterRecipientRequest(recipient=pb.Recipient(
        recipient_id="montreal-arenas", client_id="arenas-client", name_fr="Arénas", name_en="Arenas",
        kind="sports", owner="Ville de Montréal", purposes=["communication"], data_categories=["email"])),
        metadata=auth["admin"])
    elder, helper = "GHJKMNPQRSTV", "HJKMNPQRSTVW"
    elder_auth = resident_auth(minter, elder)
    helper_auth = resident_auth(minter, helper)
    [consent] = (await stub.Grant(pb.GrantRequest(
        resident_id=elder, recipient_id="montreal-arenas", explicit_act=True, language="fr",
        items=[pb.GrantItem(purpose_id="communication", data_categories=["email"])]), metadata=elder_auth)).consents

    def on_behalf(mandate_id: str, actions: list[str]) -> tuple:
        token = minter.mint('montreal-ca', ['resident'], AUD, subject=elder, acting_for=helper,
                            authorization_details=[{"type": "urn:mtlid:mandate", "mandate_id": mandate_id,
                                                    "locations": ["family:sports"], "actions": actions}])
        return (("authorization", f"Bearer {token}"),)

    withdraw = pb.WithdrawRequest(resident_id=elder, consent_id=consent.consent_id)
    # A mandate to pay only: the helper's token on the elder's behalf cannot withdraw.
    pay = await pay_mandate(stub, elder, helper, elder_auth)
    await stub.AcceptMandate(pb.AcceptMandateRequest(mandate_id=pay.mandate_id), metadata=helper_auth)
    before = await tree_size(stub)
    _, reason = await fails(stub.Withdraw(withdraw, metadata=on_behalf(pay.mandate_id, ["pay"])),
                            grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "ACTION_NOT_COVERED" and await tree_size(stub) == before
    [still] = (await stub.ListConsents(pb.ListConsentsRequest(resident_id=elder), metadata=elder_auth)).consents
    assert still.state == pb.CONSENT_STATE_GIVEN

    # With `consent` covered, the withdrawal goes through, marked as the helper's act under it.
    covering = (await stub.GiveMandate(pb.GiveMandateRequest(
        represented_id=elder, mandatary_id=helper, grantor_id=elder, basis=pb.MANDATE_BASIS_RESIDENT_CONSENT,
        scope=[pb.MandateScope(service="family:sports", actions=["consent"])], valid_until_time=in_days(30)),
        metadata=elder_auth)).mandate
    await stub.AcceptMandate(pb.AcceptMandateRequest(mandate_id=covering.mandate_id), metadata=helper_auth)
    done = await stub.Withdraw(withdraw, metadata=on_behalf(covering.mandate_id, ["consent"]))
    assert done.consent.state == pb.CONSENT_STATE_WITHDRAWN and done.ledger_index > 0
    listing = await stub.ListMandates(pb.ListMandatesRequest(resident_id=helper), metadata=helper_auth)
    [held] = [m for m in listing.received if m.mandate_id == covering.mandate_id]
    assert [(a.service, a.action, a.act_id) for a in held.acts] == [
        ("montreal-arenas", "consent", f"withdraw:{consent.consent_id}")]
    # Withdrawing it again writes nothing (a retry is harmless).
    before = await tree_size(stub)
    again = await stub.Withdraw(withdraw, metadata=on_behalf(covering.mandate_id, ["consent"]))
    assert again.consent.state == pb.CONSENT_STATE_WITHDRAWN and await tree_size(stub) == before


async def test_a_token_on_someones_behalf_cannot_manage_the_represented_residents_register(stub, auth, minter):
    """A mandate to pay at the pool is no power over the represented resident's register: with
    a token on their behalf, giving, accepting or ending mandates, reading their history, access
    log, consents or mandates, exporting or asking a rectification is refused (ON_BEHALF), and
    nothing is written; the represented resident and the mandatary, each in their own session,
    still can."""
    elder, helper, stranger = "JKMNPQRSTVWX", "KMNPQRSTVWXY", "MNPQRSTVWXYZ"
    elder_auth = resident_auth(minter, elder)
    helper_auth = resident_auth(minter, helper)
    pay = await pay_mandate(stub, elder, helper, elder_auth)
    await stub.AcceptMandate(pb.AcceptMandateRequest(mandate_id=pay.mandate_id), metadata=helper_auth)
    token = minter.mint('montreal-ca', ['resident'], AUD, subject=elder, acting_for=helper,
                        authorization_details=[{"type": "urn:mtlid:mandate", "mandate_id": pay.mandate_id,
                                                "locations": ["family:sports"], "actions": ["pay"]}])
    on_behalf = (("authorization", f"Bearer {token}"),)
    before = await tree_size(stub)
    calls = {
        "GiveMandate": stub.GiveMandate(pb.GiveMandateRequest(
            represented_id=elder, mandatary_id=stranger, grantor_id=elder, basis=pb.MANDATE_BASIS_RESIDENT_CONSENT,
            scope=[pb.MandateScope(service="*", actions=["view", "consent"])], valid_until_time=in_days(30)),
            metadata=on_behalf),
        "GiveMandate (legal basis)": stub.GiveMandate(pb.GiveMandateRequest(
            represented_id=elder, mandatary_id=stranger, grantor_id=elder, basis=pb.MANDATE_BASIS_PARENTAL_AUTHORITY,
            scope=[pb.MandateScope(service="*", actions=["view"])], valid_until_time=in_days(300),
            document_kind="birth_certificate", document_reference="QC-1"), metadata=on_behalf),
        "AcceptMandate": stub.AcceptMandate(pb.AcceptMandateRequest(mandate_id=pay.mandate_id), metadata=on_behalf),
        "EndMandate": stub.EndMandate(pb.EndMandateRequest(mandate_id=pay.mandate_id), metadata=on_behalf),
        "ListMandates": stub.ListMandates(pb.ListMandatesRequest(resident_id=elder), metadata=on_behalf),
        "ListConsents": stub.ListConsents(pb.ListConsentsRequest(resident_id=elder), metadata=on_behalf),
        "History": stub.History(pb.HistoryRequest(resident_id=elder), metadata=on_behalf),
        "AccessLog": stub.AccessLog(pb.AccessLogRequest(resident_id=elder), metadata=on_behalf),
        "Export": stub.Export(pb.ExportRequest(resident_id=elder), metadata=on_behalf),
    }
    for name, call in calls.items():
        _, reason = await fails(call, grpc.StatusCode.PERMISSION_DENIED)
        assert reason == "ON_BEHALF", name
    assert await tree_size(stub) == before
    # Each in their own session: the elder reads their register, the helper their mandates.
    assert (await stub.History(pb.HistoryRequest(resident_id=elder), metadata=elder_auth)).entries
    received = (await stub.ListMandates(pb.ListMandatesRequest(resident_id=helper), metadata=helper_auth)).received
    assert [m.mandate_id for m in received] == [pay.mandate_id]


async def test_a_mandates_signed_receipt_shows_its_whole_life_to_both_sides(stub, auth, minter):
    """Granted, accepted, used, suspended, revoked: each a ledger entry, and the receipt signed
    with the log's key lists them all (index and leaf hash, proven by GetInclusionProof) for
    the represented resident and the mandatary alike — verified with joserfc, not our code.
    No one else learns the mandate exists (NOT_FOUND); a token on someone's behalf is refused."""
    import json

    from joserfc import jws
    from joserfc.jwk import KeySet

    broker = (("authorization", f"Bearer {minter.mint('mtlid-accounts', ['consent:broker'], AUD)}"),)
    represented, mandatary, stranger = "DEFGHJKMNPQR", "EFGHJKMNPQRS", "FGHJKMNPQRST"
    represented_auth, mandatary_auth = resident_auth(minter, represented), resident_auth(minter, mandatary)
    await stub.RegisterRecipient(pb.RegisterRecipientRequest(recipient=pb.Recipient(
        recipient_id="montreal-arenas", client_id="arenas-client", name_fr="Arénas", name_en="Arenas",
        kind="sports", owner="Ville de Montréal", purposes=["service-provision"], data_categories=["email"])),
        metadata=auth["admin"])
    mandate = await pay_mandate(stub, represented, mandatary, represented_auth)
    await stub.AcceptMandate(pb.AcceptMandateRequest(mandate_id=mandate.mandate_id), metadata=mandatary_auth)
    await stub.RecordMandateAct(pb.RecordMandateActRequest(
        mandate_id=mandate.mandate_id, act_id="arena-pay-0001", service="montreal-arenas", action="pay"),
        metadata=broker)
    await stub.EndMandate(pb.EndMandateRequest(mandate_id=mandate.mandate_id, suspend=True), metadata=auth["agent"])
    await stub.EndMandate(pb.EndMandateRequest(mandate_id=mandate.mandate_id), metadata=auth["agent"])

    keys = KeySet.import_key_set(json.loads((await stub.GetLogKeys(pb.GetLogKeysRequest())).jwks_json))
    request = pb.GetMandateReceiptRequest(mandate_id=mandate.mandate_id)
    documents = []
    for side in (represented_auth, mandatary_auth, auth["agent"]):
        answer = await stub.GetMandateReceipt(request, metadata=side)
        signed = jws.deserialize_compact(answer.receipt_jws, keys, algorithms=["ES256"])
        assert signed.headers()["typ"] == "mtlid-mandate-receipt+json"
        assert json.loads(signed.payload) == json.loads(answer.receipt_json)
        documents.append(json.loads(signed.payload))
    document = documents[0]
    assert (document["mandate_id"], document["represented_id"], document["mandatary_id"], document["state"]) == (
        mandate.mandate_id, represented, mandatary, "revoked")
    assert [e["type"] for e in document["entries"]] == [
        "mandate_granted", "mandate_accepted", "mandate_used", "mandate_suspended", "mandate_revoked"]
    assert document["entries"][2]["act_id"] == "arena-pay-0001"
    assert [e["leaf_hash"] for e in documents[1]["entries"]] == [e["leaf_hash"] for e in document["entries"]]
    for entry in document["entries"]:
        proven = await stub.GetInclusionProof(pb.GetInclusionProofRequest(leaf_index=entry["index"]),
                                              metadata=represented_auth)
        assert proven.entry.leaf_hash.hex() == entry["leaf_hash"]

    # Nobody else: a stranger is told nothing, a token on someone's behalf is refused.
    await fails(stub.GetMandateReceipt(request, metadata=resident_auth(minter, stranger)), grpc.StatusCode.NOT_FOUND)
    on_behalf = (("authorization", "Bearer " + minter.mint(
        "montreal-ca", ["resident"], AUD, subject=represented, acting_for=mandatary,
        authorization_details=[{"type": "urn:mtlid:mandate", "mandate_id": mandate.mandate_id}])),)
    await fails(stub.GetMandateReceipt(request, metadata=on_behalf), grpc.StatusCode.PERMISSION_DENIED)
    await fails(stub.GetMandateReceipt(pb.GetMandateReceiptRequest(mandate_id="not-a-uuid"),
                                       metadata=represented_auth), grpc.StatusCode.INVALID_ARGUMENT)


async def test_legal_mandates_for_an_adult_are_recorded_at_the_counter_on_their_judgment(stub, auth, minter):
    """A court-homologated protection mandate and a tutorship to an adult (CCQ arts. 2166 ff.,
    268 ff.): only an agent records them, only on the judgment (another document, or none, names
    ``document_kind`` as the field to fix with the kinds accepted; nothing recorded), open-ended when the judgment says so; in force at once."""
    protected, mandatary, tutor = "GHJKMNPQRSTV", "HJKMNPQRSTVW", "JKMNPQRSTVWX"
    everything = [pb.MandateScope(service="*", actions=["view", "request", "pay", "consent"])]
    for basis, holder, judgment in ((pb.MANDATE_BASIS_PROTECTION_MANDATE, mandatary, "homologation_judgment"),
                                    (pb.MANDATE_BASIS_COURT_TUTORSHIP, tutor, "tutorship_judgment")):
        request = pb.GiveMandateRequest(represented_id=protected, mandatary_id=holder, grantor_id=holder, basis=basis,
                                        scope=everything, document_kind="birth_certificate",
                                        document_reference="500-14-000123-261")
        before = await tree_size(stub)
        violations, _ = await fails(stub.GiveMandate(request, metadata=auth["agent"]), grpc.StatusCode.INVALID_ARGUMENT)
        assert list(violations) == ["document_kind"] and judgment in violations["document_kind"]
        request.document_kind = ""
        violations, _ = await fails(stub.GiveMandate(request, metadata=auth["agent"]), grpc.StatusCode.INVALID_ARGUMENT)
        assert list(violations) == ["document_kind"] and await tree_size(stub) == before
        request.document_kind = judgment
        _, reason = await fails(stub.GiveMandate(request, metadata=resident_auth(minter, holder)),
                                grpc.StatusCode.PERMISSION_DENIED)
        assert reason == "COUNTER_ONLY" and await tree_size(stub) == before
        recorded = (await stub.GiveMandate(request, metadata=auth["agent"])).mandate   # no end: as judged
        assert (recorded.state, recorded.document_kind, recorded.HasField("valid_until_time")) == (
            pb.MANDATE_STATE_ACTIVE, judgment, False)
        [decision] = (await stub.DecideMandates(pb.DecideMandatesRequest(
            questions=[question(holder, protected, "montreal-taxes", "consent")]), metadata=auth["borough"])).decisions
        assert decision.allowed and decision.mandate_id == recorded.mandate_id
        # Not the protected person's to end (a legal authority): the counter's.
        _, reason = await fails(stub.EndMandate(pb.EndMandateRequest(mandate_id=recorded.mandate_id),
                                                metadata=resident_auth(minter, protected)),
                                grpc.StatusCode.PERMISSION_DENIED)
        assert reason == "COUNTER_ONLY"


async def test_circular_and_beyond_the_grantors_rights_refused_over_grpc_with_a_sentence(stub, auth, minter):
    """A parent hands the grandmother part of parental authority (library, view); she may not
    hand it back to the parent (CIRCULAR); the parent may not hand on what they do not hold
    (BEYOND_GRANTOR_RIGHTS: an action, or a resident they hold nothing for). Each refusal says
    why in a sentence, and nothing is recorded."""
    child, parent, grandma, neighbour = "QRSTVWXY2345", "RSTVWXY23456", "STVWXY234567", "TVWXY2345678"
    authority = (await stub.GiveMandate(pb.GiveMandateRequest(
        represented_id=child, mandatary_id=parent, grantor_id=parent, basis=pb.MANDATE_BASIS_PARENTAL_AUTHORITY,
        scope=[pb.MandateScope(service="montreal-library", actions=["view", "request"])],
        valid_until_time=in_days(3000), document_kind="birth_certificate", document_reference="QC 2019-77"),
        metadata=auth["agent"])).mandate
    library = [pb.MandateScope(service="montreal-library", actions=["view"])]
    parent_auth, grandma_auth = resident_auth(minter, parent), resident_auth(minter, grandma)
    handed = (await stub.GiveMandate(pb.GiveMandateRequest(
        represented_id=child, mandatary_id=grandma, grantor_id=parent, basis=pb.MANDATE_BASIS_RESIDENT_CONSENT,
        scope=library, valid_until_time=in_days(90), under_mandate_id=authority.mandate_id),
        metadata=parent_auth)).mandate
    await stub.AcceptMandate(pb.AcceptMandateRequest(mandate_id=handed.mandate_id), metadata=grandma_auth)
    before = await tree_size(stub)
    for request, metadata, expected in [
        (pb.GiveMandateRequest(represented_id=child, mandatary_id=parent, grantor_id=grandma,
                               basis=pb.MANDATE_BASIS_RESIDENT_CONSENT, scope=library, valid_until_time=in_days(30),
                               under_mandate_id=handed.mandate_id), grandma_auth, "CIRCULAR"),
        (pb.GiveMandateRequest(represented_id=child, mandatary_id=neighbour, grantor_id=parent,
                               basis=pb.MANDATE_BASIS_RESIDENT_CONSENT, valid_until_time=in_days(30),
                               scope=[pb.MandateScope(service="montreal-library", actions=["pay"])],
                               under_mandate_id=authority.mandate_id), parent_auth, "BEYOND_GRANTOR_RIGHTS"),
        (pb.GiveMandateRequest(represented_id=neighbour, mandatary_id=grandma, grantor_id=parent,
                               basis=pb.MANDATE_BASIS_RESIDENT_CONSENT, scope=library, valid_until_time=in_days(30)),
         parent_auth, "BEYOND_GRANTOR_RIGHTS"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GiveMandate(request, metadata=metadata)
        code, _, reason = rpc_error_details(err.value)
        assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, expected), err.value.details()
        assert len(err.value.details()) > 20     # a sentence saying why, not only a code
    assert await tree_size(stub) == before
