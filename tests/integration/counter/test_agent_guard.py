"""The whole path of an agent token through the running identity service (real process
runtime: gRPC + HTTP front, real NATS, real database): sign in at the console, token exchange
at ``/token``, then a counter RPC that the agent guard accepts and journals with the agent,
the client and the office. A client-credentials token (no agent) is still refused."""

from __future__ import annotations

import base64
import uuid

import grpc
import httpx
import pytest

from montreal.identity.v1 import identity_pb2 as pb
from montreal.identity.v1 import identity_pb2_grpc as pb_grpc
from services.common.grpc.client import StaticToken, make_channel, rpc_error_details
from services.common.nats import free_port
from services.common.testing.databases import temporary_database
from services.common.migrations import migrate_async
from services.common.testing.nats import nats_server
from services.common.testing.services import running_service
from services.identity.adapters.orm import AgentActionRow
from services.identity.adapters.uow import IdentityUnitOfWork
from services.identity.domain.citizen_number import CitizenNumber
from services.identity.domain.clients import TOKEN_EXCHANGE, OAuthClient, hash_client_secret
from services.identity.service_layer import authentication as auth
from tests.integration.counter.conftest import AgentBrowser, NewAgent
from tests.integration.identity_oidc.conftest import KEK, PAIRWISE_SECRET, SECRET

JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.fixture(scope="module")
async def identity():
    async with temporary_database("counter_guard") as url:
        await migrate_async("identity", url)
        port = free_port()
        with nats_server() as nats:
            env = {"MTLID_ISSUER": f"http://127.0.0.1:{port}", "MTLID_HTTP_PORT": str(port),
                   "MTLID_KEY_ENCRYPTION_KEY": _b64(KEK), "MTLID_PAIRWISE_SECRET": _b64(PAIRWISE_SECRET)}
            async with running_service("identity", nats_url=nats.url, database_url=url, env=env) as runtime:
                sessions = runtime.session_factory

                def uow():
                    return IdentityUnitOfWork(sessions, kek=KEK)

                async with uow() as u:
                    await u.clients.add(OAuthClient(
                        client_id="borough-counter", name="Comptoir", secret_hash=hash_client_secret(SECRET),
                        grant_types=(TOKEN_EXCHANGE, "client_credentials"), scopes=("identity:agent",),
                        audiences=("urn:mtlid:identity",)))
                    await u.commit()
                await _front_up(f"http://127.0.0.1:{port}")
                yield runtime, f"http://127.0.0.1:{port}", uow


async def _front_up(base: str, timeout: float = 30.0) -> None:
    """The HTTP front starts beside gRPC, as a runtime task: wait until it answers."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as http:
        while True:
            try:
                if (await http.get(base + "/healthz")).status_code < 500:
                    return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.1)


async def test_an_exchanged_token_passes_the_agent_guard_and_is_journaled_with_the_office(identity):
    from services.identity.service_layer.staff import CreateAgent, create_agent

    runtime, base, uow = identity
    created = await create_agent(CreateAgent(email=f"a-{uuid.uuid4().hex[:6]}@ville.montreal.qc.ca",
                                             name="Alex Gagnon", office="Comptoir Verdun",
                                             password="un mot de passe de comptoir 2026"), uow())
    secret = base64.b32decode(created.totp_secret + "=" * (-len(created.totp_secret) % 8))
    agent = NewAgent(created.agent.agent_id, created.agent.email, "Comptoir Verdun", secret, "agent")
    browser = AgentBrowser(base)
    try:
        await browser.sign_in(agent)
        subject_token = await browser.subject_token()
    finally:
        await browser.close()
    async with httpx.AsyncClient() as http:
        exchanged = (await http.post(base + "/token", auth=("borough-counter", SECRET), data={
            "grant_type": TOKEN_EXCHANGE, "subject_token": subject_token, "subject_token_type": JWT_TYPE})).json()
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
