"""The whole path of an agent token through the running identity service (real process
runtime: gRPC + HTTP front, real NATS, real database): sign in at the console, token exchange
at ``/token``, then a counter RPC that the agent guard accepts and journals with the agent,
the client and the office. A client-credentials token (no agent) is still refused."""

from __future__ import annotations

import uuid
from zoneinfo import ZoneInfo

import grpc
import httpx
import pytest

from montreal.identity.v1 import identity_pb2 as pb
from montreal.identity.v1 import identity_pb2_grpc as pb_grpc
from services.common.grpc.client import StaticToken, make_channel, rpc_error_details
from sqlalchemy import func, select

from services.identity.adapters.orm import AgentActionRow, ResidentRow
from services.identity.domain.citizen_number import CitizenNumber
from services.identity.domain.clients import TOKEN_EXCHANGE
from services.identity.service_layer import authentication as auth
from tests.integration.counter.conftest import agent_access_token, agent_of
from tests.integration.identity_oidc.conftest import SECRET

JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"


async def test_an_exchanged_token_passes_the_agent_guard_and_is_journaled_with_the_office(running_identity):
    runtime, base, uow = running_identity
    agent = await agent_of(uow)
    exchanged = {"access_token": await agent_access_token(base, agent)}
    async with httpx.AsyncClient() as http:
        plain = (await http.post(base + "/token", auth=("borough-counter", SECRET), data={
            "grant_type": "client_credentials"})).json()
    rid = await auth.register_resident(auth.RegisterResident(f"r-{uuid.uuid4().hex[:6]}@example.ca",
                                                             "une phrase de passe", "fr", ""), uow())
    request = pb.RaiseLevelOfAssuranceRequest(citizen_number=CitizenNumber(rid).human,
                                              level=pb.LEVEL_OF_ASSURANCE_VERIFIED,
                                              document_type=pb.DOCUMENT_TYPE_PASSPORT, document_last_digits="4821")
    target = f"127.0.0.1:{runtime.bound_grpc_port}"
    channel = make_channel(target, token_provider=StaticToken(plain["access_token"]))
    try:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await pb_grpc.IdentityServiceStub(channel).RaiseLevelOfAssurance(request)
        code, _, reason = rpc_error_details(refused.value)
        assert code == grpc.StatusCode.PERMISSION_DENIED and reason == "AGENT_NOT_IDENTIFIED"
    finally:
        await channel.close()
    channel = make_channel(target, token_provider=StaticToken(exchanged["access_token"]))
    try:
        raised = await pb_grpc.IdentityServiceStub(channel).RaiseLevelOfAssurance(request)
    finally:
        await channel.close()
    async with uow() as u:
        action = await u.session.get(AgentActionRow, raised.action_id)
        assert (action.agent_id, action.client_id, action.office) == (agent.agent_id, "borough-counter",
                                                                      "Comptoir Verdun")
        assert action.details["document_last_digits"] == "4821" and action.resident_id == rid


async def test_summarize_agent_actions_is_for_supervisors_and_names_bad_fields(running_identity):
    runtime, base, uow = running_identity
    agent, supervisor = await agent_of(uow), await agent_of(uow, role="supervisor")
    target = f"127.0.0.1:{runtime.bound_grpc_port}"

    async def token_of(who) -> str:
        return await agent_access_token(base, who)

    import datetime as dt

    # the supervisor's days are Montréal's (UTC is already tomorrow from 19:00 or 20:00 here)
    today = dt.datetime.now(ZoneInfo("America/Montreal")).date().isoformat()
    request = pb.SummarizeAgentActionsRequest(start_date=today, end_date=today)
    for token, reason in ((await token_of(agent), "SUPERVISOR_REQUIRED"),):
        channel = make_channel(target, token_provider=StaticToken(token))
        try:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await pb_grpc.IdentityServiceStub(channel).SummarizeAgentActions(request)
            code, _, got = rpc_error_details(refused.value)
            assert code == grpc.StatusCode.PERMISSION_DENIED and got == reason
        finally:
            await channel.close()
    channel = make_channel(target, token_provider=StaticToken(await token_of(supervisor)))
    try:
        stub = pb_grpc.IdentityServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.SummarizeAgentActions(pb.SummarizeAgentActionsRequest(start_date="hier", end_date=today,
                                                                             agent_id="bob"))
        code, violations, _ = rpc_error_details(refused.value)
        assert code == grpc.StatusCode.INVALID_ARGUMENT and set(violations) == {"start_date", "agent_id"}
        summary = await stub.SummarizeAgentActions(request)
    finally:
        await channel.close()
    assert summary.total >= 1 and any(row.key for row in summary.per_agent)


async def test_enrolment_rpcs_without_email_and_their_bad_input(running_identity):
    runtime, base, uow = running_identity
    agent = await agent_of(uow)
    token = await agent_access_token(base, agent)
    channel = make_channel(f"127.0.0.1:{runtime.bound_grpc_port}", token_provider=StaticToken(token))
    try:
        stub = pb_grpc.IdentityServiceStub(channel)

        async def refused(call):
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await call
            return rpc_error_details(error.value)

        async with uow() as u:
            before = await u.session.scalar(select(func.count()).select_from(ResidentRow))
        code, violations, _ = await refused(stub.CreateResidentInPerson(pb.CreateResidentInPersonRequest(
            email="", preferred_language="de", document_type=pb.DOCUMENT_TYPE_HEALTH_INSURANCE_CARD)))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and set(violations) == {"preferred_language", "document_type"}
        async with uow() as u:
            assert await u.session.scalar(select(func.count()).select_from(ResidentRow)) == before  # nothing written

        created = await stub.CreateResidentInPerson(pb.CreateResidentInPersonRequest(
            preferred_language="en", document_type=pb.DOCUMENT_TYPE_PASSPORT, document_last_digits="77"))
        assert created.level == pb.LEVEL_OF_ASSURANCE_VERIFIED
        issued = await stub.IssueActivationCode(pb.IssueActivationCodeRequest(
            citizen_number=created.citizen_number_human))
        assert issued.preferred_language == "en" and len(issued.activation_code) == 14
        assert issued.expire_time.ToDatetime().year >= 2026
        again = await stub.IssueActivationCode(pb.IssueActivationCodeRequest(citizen_number=created.resident_id))
        assert again.activation_code != issued.activation_code  # a new letter replaces the previous code

        code, violations, _ = await refused(stub.IssueActivationCode(pb.IssueActivationCodeRequest(
            citizen_number="MTL 2345")))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "citizen_number" in violations
        code, _, _ = await refused(stub.IssueActivationCode(pb.IssueActivationCodeRequest(
            citizen_number=CitizenNumber.new().human)))
        assert code == grpc.StatusCode.NOT_FOUND
        rid = await auth.register_resident(auth.RegisterResident(f"p-{uuid.uuid4().hex[:6]}@example.ca",
                                                                 "une phrase de passe", "fr", ""), uow())
        code, _, reason = await refused(stub.IssueActivationCode(pb.IssueActivationCodeRequest(citizen_number=rid)))
        assert code == grpc.StatusCode.FAILED_PRECONDITION and reason == "ALREADY_ACTIVATED"
    finally:
        await channel.close()


async def test_a_borough_directory_staff_member_passes_the_agent_guard_under_their_namespaced_id(running_identity):
    """Issue 17: a borough system's own staff directory (``oidc/staff_directory.py``) — its
    staff member's token exchanged at ``/token``, then a counter RPC journaled with the
    external agent (``<client_id>:<sub>``), the client and the directory's office."""
    import time

    from joserfc import jwt
    from joserfc.jwk import ECKey

    from services.identity.domain.clients import OAuthClient
    from services.identity.service_layer.clients import RegisterClient, register_client

    runtime, base, uow = running_identity
    key = ECKey.generate_key("P-256", parameters={"kid": "lasalle-1"}, private=True)
    _client, secret = await register_client(RegisterClient(OAuthClient(
        client_id="lasalle-permits", name="Permis de LaSalle", secret_hash=None, grant_types=(TOKEN_EXCHANGE,),
        scopes=("identity:agent",), audiences=("urn:mtlid:identity",),
        staff_directory_issuer="https://annuaire.lasalle.example",
        staff_directory_jwks={"keys": [key.as_dict(private=False)]}), allow_http_loopback=True), uow())
    now = int(time.time())
    staff_token = jwt.encode({"alg": "ES256", "kid": "lasalle-1"}, {
        "iss": "https://annuaire.lasalle.example", "sub": "mgagnon", "aud": base + "/token", "iat": now,
        "exp": now + 300, "amr": ["pwd", "hwk", "mfa"], "office": "Bureau Accès LaSalle", "jti": "agent-guard-1"}, key)
    async with httpx.AsyncClient() as http:
        answer = await http.post(base + "/token", auth=("lasalle-permits", secret), data={
            "grant_type": TOKEN_EXCHANGE, "subject_token": staff_token, "subject_token_type": JWT_TYPE})
    assert answer.status_code == 200, answer.text
    rid = await auth.register_resident(auth.RegisterResident(f"r-{uuid.uuid4().hex[:6]}@example.ca",
                                                             "une phrase de passe", "fr", ""), uow())
    channel = make_channel(f"127.0.0.1:{runtime.bound_grpc_port}",
                           token_provider=StaticToken(answer.json()["access_token"]))
    try:
        raised = await pb_grpc.IdentityServiceStub(channel).RaiseLevelOfAssurance(pb.RaiseLevelOfAssuranceRequest(
            citizen_number=CitizenNumber(rid).human, level=pb.LEVEL_OF_ASSURANCE_VERIFIED,
            document_type=pb.DOCUMENT_TYPE_PASSPORT, document_last_digits="1188"))
    finally:
        await channel.close()
    async with uow() as u:
        action = await u.session.get(AgentActionRow, raised.action_id)
        assert (action.agent_id, action.client_id, action.office) == ("lasalle-permits:mgagnon", "lasalle-permits",
                                                                      "Bureau Accès LaSalle")
