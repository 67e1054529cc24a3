"""Organizations in the consent register (issue 22, docs/mandates.md "Organizations"), over
montreal.consent.v1 on a real grpc.aio server and a migrated database: a counter agent names a
resident representative of an organization on the register's statement; a borough system's
decision says yes for what the mandate covers and no for anyone else; the representative
reads the organization's file (who represents it, what was done), a non-representative does
not; a representative hands part on to the accountant, and when the representative's own
mandate is revoked the accountant can neither act nor read the file. Bad input is refused,
each with its reason, and nothing is recorded."""

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
from services.common.organization_number import OrganizationNumber
from services.common.testing.tokens import TokenMinter
from services.consent.adapters.uow import uow_factory
from services.consent.entrypoints.grpc import METHOD_POLICIES, SERVICE, ConsentServicer, add_to_server
from services.identity.domain.citizen_number import CitizenNumber

AUD = "urn:mtlid:consent"
CONDO = OrganizationNumber.new().canonical
REPRESENTATIVE, ACCOUNTANT, NEIGHBOUR = (CitizenNumber.new().canonical for _ in range(3))


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
        "representative": token("montreal-ca", ["resident"], REPRESENTATIVE),
        "accountant": token("montreal-ca", ["resident"], ACCOUNTANT),
        "neighbour": token("montreal-ca", ["resident"], NEIGHBOUR),
        "borough": token("borough-client", ["consent:check"]),
        "agent": token("counter-console", ["consent:agent"], acting_for="AG0123456789"),
    }


def in_days(days: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days))
    return stamp


async def fails(call, code):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    got, violations, reason = rpc_error_details(err.value)
    assert got == code, (got, err.value.details())
    return violations, reason


async def tree_size(stub):
    return (await stub.GetSignedTreeHead(pb.GetSignedTreeHeadRequest())).signed_tree_head.tree_size


def naming(represented=CONDO, mandatary=REPRESENTATIVE, days=365, basis=pb.MANDATE_BASIS_ORGANIZATION_REPRESENTATIVE,
           document="registry_statement", actions=("view", "request", "pay")):
    request = pb.GiveMandateRequest(represented_id=represented, mandatary_id=mandatary, grantor_id=mandatary,
                                    basis=basis, scope=[pb.MandateScope(service="*", actions=list(actions))],
                                    document_kind=document, document_reference="REQ état 2026-11-30")
    if days is not None:
        request.valid_until_time.CopyFrom(in_days(days))
    return request


def question(mandatary, action="view", represented=CONDO):
    return pb.MandateQuestion(mandatary_id=mandatary, represented_id=represented, service="permis-plateau",
                              action=action)


async def test_a_representative_named_at_the_counter_acts_and_reads_the_organizations_file(stub, auth):
    named = (await stub.GiveMandate(naming(), metadata=auth["agent"])).mandate
    assert (named.state, named.basis, named.document_kind, named.represented_id) == (
        pb.MANDATE_STATE_ACTIVE, pb.MANDATE_BASIS_ORGANIZATION_REPRESENTATIVE, "registry_statement", CONDO)

    view, consent, stranger = (await stub.DecideMandates(pb.DecideMandatesRequest(questions=[
        question(REPRESENTATIVE), question(REPRESENTATIVE, "consent"), question(NEIGHBOUR)]),
        metadata=auth["borough"])).decisions
    assert (view.allowed, view.mandate_id) == (True, named.mandate_id)
    assert (consent.allowed, consent.reason) == (False, "ACTION_NOT_COVERED")
    assert (stranger.allowed, stranger.reason) == (False, "NO_MANDATE")

    # The organization's file: its representative reads it; a neighbour does not.
    file = await stub.ListMandates(pb.ListMandatesRequest(resident_id=CONDO), metadata=auth["representative"])
    assert [(m.mandatary_id, m.mandate_id) for m in file.given] == [(REPRESENTATIVE, named.mandate_id)]
    _, reason = await fails(stub.ListMandates(pb.ListMandatesRequest(resident_id=CONDO), metadata=auth["neighbour"]),
                            grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "NOT_OWN_DATA"

    # Handing part on to the accountant (CCQ art. 2140): pending until accepted, then allowed.
    handed = (await stub.GiveMandate(pb.GiveMandateRequest(
        represented_id=CONDO, mandatary_id=ACCOUNTANT, grantor_id=REPRESENTATIVE,
        basis=pb.MANDATE_BASIS_RESIDENT_CONSENT, under_mandate_id=named.mandate_id,
        scope=[pb.MandateScope(service="*", actions=["pay"])], valid_until_time=in_days(90)),
        metadata=auth["representative"])).mandate
    assert handed.state == pb.MANDATE_STATE_PENDING
    await stub.AcceptMandate(pb.AcceptMandateRequest(mandate_id=handed.mandate_id), metadata=auth["accountant"])
    [pays] = (await stub.DecideMandates(pb.DecideMandatesRequest(questions=[question(ACCOUNTANT, "pay")]),
                                        metadata=auth["borough"])).decisions
    assert pays.allowed and pays.mandate_id == handed.mandate_id
    seen = await stub.ListMandates(pb.ListMandatesRequest(resident_id=CONDO), metadata=auth["accountant"])
    assert {m.mandate_id for m in seen.given} == {named.mandate_id, handed.mandate_id}

    # The counter revokes the representative (a new statement no longer names him): at once
    # neither he nor the accountant acts, nor reads the file.
    await stub.EndMandate(pb.EndMandateRequest(mandate_id=named.mandate_id), metadata=auth["agent"])
    him, accountant = (await stub.DecideMandates(pb.DecideMandatesRequest(questions=[
        question(REPRESENTATIVE), question(ACCOUNTANT, "pay")]), metadata=auth["borough"])).decisions
    assert (him.allowed, him.reason) == (False, "MANDATE_REVOKED")
    assert (accountant.allowed, accountant.reason) == (False, "SOURCE_MANDATE_ENDED")
    for who in ("representative", "accountant"):
        await fails(stub.ListMandates(pb.ListMandatesRequest(resident_id=CONDO), metadata=auth[who]),
                    grpc.StatusCode.PERMISSION_DENIED)


async def test_bad_input_for_an_organization_is_refused_with_its_reason_and_records_nothing(stub, auth):
    other = OrganizationNumber.new().canonical
    before = await tree_size(stub)
    cases = [
        (naming(represented=other, days=400), "TOO_LONG"),
        (naming(represented=other, days=None), "TOO_LONG"),
        (naming(represented=other, days=-1), "MANDATE_EXPIRED"),
        (naming(represented=NEIGHBOUR), "NOT_AN_ORGANIZATION"),
        (naming(represented=other, mandatary=OrganizationNumber.new().canonical), "MANDATARY_NOT_RESIDENT"),
        (naming(represented=other, basis=pb.MANDATE_BASIS_PARENTAL_AUTHORITY, document="birth_certificate"),
         "NOT_AN_ORGANIZATION_BASIS"),
    ]
    for request, expected in cases:
        _, reason = await fails(stub.GiveMandate(request, metadata=auth["agent"]), grpc.StatusCode.FAILED_PRECONDITION)
        assert reason == expected, (expected, reason)
    violations, _ = await fails(stub.GiveMandate(naming(represented=other, document="birth_certificate"),
                                                 metadata=auth["agent"]), grpc.StatusCode.INVALID_ARGUMENT)
    assert list(violations) == ["document_kind"]
    # A resident's session cannot name itself representative: the counter does, on the statement.
    _, reason = await fails(stub.GiveMandate(naming(represented=other), metadata=auth["representative"]),
                            grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "COUNTER_ONLY"
    # Nor give a mandate for an organization on its own consent (it has no session; only a
    # representative's sub-mandate): refused.
    _, reason = await fails(stub.GiveMandate(pb.GiveMandateRequest(
        represented_id=other, mandatary_id=ACCOUNTANT, grantor_id=other, basis=pb.MANDATE_BASIS_RESIDENT_CONSENT,
        scope=[pb.MandateScope(service="*", actions=["view"])], valid_until_time=in_days(30)),
        metadata=auth["agent"]), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "NOT_AN_ORGANIZATION_BASIS"
    assert await tree_size(stub) == before
