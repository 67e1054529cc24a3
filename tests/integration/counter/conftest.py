"""Fixtures for the counter's integration tests (issue 17): a migrated throwaway database
(SQLite, or PostgreSQL with MTLID_TEST_DATABASE=postgres), counter systems registered as
clients, and the REAL identity HTTP front served by uvicorn on a free port. Agents are
created by the service layer ``mtlid agent create`` runs, and sign in through the pages."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from dataclasses import dataclass

import httpx
import pytest

from services.common.db import create_engine, session_factory
from services.common.migrations import migrate_async
from services.common.nats import free_port as free_tcp_port
from services.common.testing.databases import temporary_database
from services.common.testing.nats import nats_server
from services.common.testing.services import running_service
from services.identity.adapters.oauth_repositories import OAuthUnitOfWork
from services.identity.adapters.uow import IdentityUnitOfWork
from services.identity.domain import totp
from services.identity.domain.clients import TOKEN_EXCHANGE, OAuthClient, hash_client_secret
from services.identity.http.app import create_app, serve
from services.identity.oidc.provider import CoreAuthenticator, Provider, derive_key
from services.identity.oidc.tokens import OidcConfig
from services.identity.service_layer.keys import SigningKeys
from services.identity.service_layer.staff import CreateAgent, create_agent
from tests.integration.identity_oidc.conftest import KEK, PAIRWISE_SECRET, SECRET, free_port, hidden_fields

PASSWORD = "un mot de passe de comptoir 2026"


def counter_clients() -> list[OAuthClient]:
    secret_hash = hash_client_secret(SECRET)
    return [
        OAuthClient(client_id="borough-counter", name="Comptoir d'arrondissement", secret_hash=secret_hash,
                    grant_types=(TOKEN_EXCHANGE,), scopes=("identity:agent", "accounts:agent"),
                    audiences=("urn:mtlid:identity", "urn:mtlid:accounts")),
        OAuthClient(client_id="permits-backoffice", name="Permis", secret_hash=secret_hash,
                    grant_types=(TOKEN_EXCHANGE,), scopes=("identity:validate",),
                    audiences=("urn:mtlid:identity",)),
        OAuthClient(client_id="no-exchange", name="Système", secret_hash=secret_hash,
                    grant_types=("client_credentials",), scopes=("identity:agent",),
                    audiences=("urn:mtlid:identity",)),
    ]


@dataclass
class CounterFront:
    base: str
    provider: Provider
    sessions: object

    def uow(self) -> OAuthUnitOfWork:
        return OAuthUnitOfWork(self.sessions, kek=KEK)


@pytest.fixture(scope="module")
async def front():
    async with temporary_database("counter") as url:
        await migrate_async("identity", url)
        engine = create_engine(url)
        sessions = session_factory(engine)

        def uow_factory():
            return OAuthUnitOfWork(sessions, kek=KEK)

        async with uow_factory() as uow:
            for client in counter_clients():
                await uow.clients.add(client)
            await uow.commit()
        keys = await SigningKeys.load(uow_factory(), KEK)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        config = OidcConfig(issuer=base, pairwise_secret=PAIRWISE_SECRET,
                            interaction_key=derive_key(KEK, "interaction"), secure_cookies=False)
        provider = Provider(config=config, keys=keys, uow_factory=uow_factory,
                            authenticator=CoreAuthenticator(uow_factory))
        stop, started = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(serve(create_app(provider), "127.0.0.1", port, stop, started=started))
        await asyncio.wait_for(started.wait(), 10)
        try:
            yield CounterFront(base, provider, sessions)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
            await engine.dispose()


@dataclass
class NewAgent:
    agent_id: str
    email: str
    office: str
    totp_secret: bytes
    role: str


async def new_agent(front, *, role: str = "agent", office: str = "Accès Montréal — Ville-Marie") -> NewAgent:
    return await agent_of(front.uow, role=role, office=office)


class AgentBrowser:
    """An agent's browser at the counter console: keeps cookies, fills the forms."""

    def __init__(self, base: str) -> None:
        self.http = httpx.AsyncClient(base_url=base, follow_redirects=False, timeout=15)
        self.step = 0

    async def close(self) -> None:
        await self.http.aclose()

    async def submit(self, path: str, *, from_page: str | None = None, **fields: str) -> httpx.Response:
        page = await self.http.get(from_page or path)
        data = hidden_fields(page.text)
        data.update(fields)
        return await self.http.post(path, data=data)

    async def password(self, agent: NewAgent, password: str = PASSWORD) -> httpx.Response:
        return await self.submit("/counter/login", email=agent.email, password=password)

    def code(self, agent: NewAgent) -> str:
        # A step is accepted once (RFC 6238 s. 5.2): a second sign-in in the same 30 s uses the next.
        step = max(int(time.time()) // 30, self.step + 1)
        self.step = step
        return totp.hotp(agent.totp_secret, step)

    async def sign_in(self, agent: NewAgent) -> httpx.Response:
        response = await self.password(agent)
        assert response.status_code == 303 and response.headers["location"] == "/counter/second-factor"
        response = await self.submit("/counter/second-factor", code=self.code(agent))
        assert response.status_code == 303 and response.headers["location"] == "/counter", response.text[:500]
        return response

    async def sign_out(self) -> httpx.Response:
        return await self.submit("/counter/logout", from_page="/counter")

    async def subject_token(self) -> str:
        response = await self.http.get("/counter/session-token")
        assert response.status_code == 200, response.text
        return response.json()["subject_token"]


@pytest.fixture
async def agent_browser(front):
    browser = AgentBrowser(front.base)
    yield browser
    await browser.close()


async def agent_of(uow_factory, *, role: str = "agent", office: str = "Comptoir Verdun") -> NewAgent:
    """An agent created as ``mtlid agent create`` does, with the TOTP secret it prints."""
    created = await create_agent(CreateAgent(email=f"a-{uuid.uuid4().hex[:8]}@ville.montreal.qc.ca",
                                             name="Dominique Tremblay", office=office, role=role, password=PASSWORD),
                                 uow_factory())
    secret = base64.b32decode(created.totp_secret + "=" * (-len(created.totp_secret) % 8))
    return NewAgent(created.agent.agent_id, created.agent.email, office, secret, role)


async def agent_access_token(base: str, agent: NewAgent, client: str = "borough-counter") -> str:
    """What a counter system does: the agent signs in (password + TOTP), the system reads the
    agent's session token and exchanges it at ``/token`` (RFC 8693) for an access token."""
    browser = AgentBrowser(base)
    try:
        await browser.sign_in(agent)
        subject_token = await browser.subject_token()
    finally:
        await browser.close()
    async with httpx.AsyncClient() as http:
        answer = await http.post(base + "/token", auth=(client, SECRET), data={
            "grant_type": TOKEN_EXCHANGE, "subject_token": subject_token,
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt"})
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.fixture(scope="module")
async def running_identity():
    async with temporary_database("counter_guard") as url:
        await migrate_async("identity", url)
        port = free_tcp_port()
        with nats_server() as nats:
            # accounts and consent are not running here: their targets are free ports nobody listens on
            env = {"MTLID_ISSUER": f"http://127.0.0.1:{port}", "MTLID_HTTP_PORT": str(port),
                   "MTLID_ACCOUNTS_GRPC_TARGET": f"127.0.0.1:{free_tcp_port()}",
                   "MTLID_CONSENT_GRPC_TARGET": f"127.0.0.1:{free_tcp_port()}",
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


