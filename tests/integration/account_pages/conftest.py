"""Fixtures for the account pages' own tests: the REAL identity HTTP front served by uvicorn
on a free port, on a migrated throwaway database (SQLite, or PostgreSQL with
MTLID_TEST_DATABASE=postgres), with a registered resident. The accounts and consent services
are pointed at ports where nothing listens: what needs them is tested end to end in
tests/e2e and in test_with_services.py."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from dataclasses import dataclass

import httpx
import pytest

from services.common.config import Settings
from services.common.db import create_engine, session_factory
from services.common.migrations import migrate_async
from services.common.nats import free_port
from services.common.testing.databases import temporary_database
from services.identity.adapters.oauth_repositories import OAuthUnitOfWork
from services.identity.domain import passwords
from services.identity.http.app import create_app, serve
from services.identity.oidc.provider import CoreAuthenticator, Provider, derive_key
from services.identity.oidc.tokens import OidcConfig
from services.identity.service_layer.authentication import add_new_resident
from services.identity.service_layer.keys import SigningKeys

KEK = bytes(range(32))
PASSWORD = "correct horse battery staple 42"
EMAIL = "gabrielle@example.ca"


@dataclass
class Front:
    base: str
    provider: Provider
    resident_id: str
    app: object


@pytest.fixture(scope="module")
async def front():
    async with temporary_database("account_pages") as url:
        await migrate_async("identity", url)
        engine = create_engine(url)
        sessions = session_factory(engine)

        def uow_factory():
            return OAuthUnitOfWork(sessions, kek=KEK)

        password_hash = await asyncio.to_thread(passwords.hash_password, PASSWORD)
        async with uow_factory() as uow:
            resident = await add_new_resident(uow, email=EMAIL, password_hash=password_hash, preferred_language="fr",
                                              now=dt.datetime.now(dt.timezone.utc), email_verified=True)
            await uow.commit()
        keys = await SigningKeys.load(uow_factory(), KEK)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        config = OidcConfig(issuer=base, pairwise_secret=b"pairwise-secret-for-tests-only-32b",
                            interaction_key=derive_key(KEK, "interaction"), secure_cookies=False)
        provider = Provider(config=config, keys=keys, uow_factory=uow_factory,
                            authenticator=CoreAuthenticator(uow_factory))
        app = create_app(provider)
        dead = free_port()  # nothing listens there: accounts and consent are "down"
        app.state.settings = Settings.from_env({"MTLID_ISSUER": base,
                                                "MTLID_ACCOUNTS_GRPC_TARGET": f"127.0.0.1:{dead}",
                                                "MTLID_CONSENT_GRPC_TARGET": f"127.0.0.1:{dead}"})
        stop, started = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(serve(app, "127.0.0.1", port, stop, started=started))
        await asyncio.wait_for(started.wait(), 10)
        try:
            yield Front(base, provider, resident.resident_id, app)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
            backends = getattr(app.state, "account_backends", None)
            if backends is not None:
                await backends.close()
            await engine.dispose()


FIELD = re.compile(r'name="(?P<name>[a-z_]+)" value="(?P<value>[^"]*)"')


def hidden_fields(html: str) -> dict[str, str]:
    return {m["name"]: m["value"].replace("&amp;", "&") for m in FIELD.finditer(html)}


async def sign_in(http: httpx.AsyncClient, email: str = EMAIL, password: str = PASSWORD,
                  next_url: str = "/account") -> httpx.Response:
    page = await http.get("/account/login", params={"next": next_url})
    return await http.post("/account/login", data={**hidden_fields(page.text), "email": email, "password": password})


@pytest.fixture
async def http(front):
    async with httpx.AsyncClient(base_url=front.base, follow_redirects=False, timeout=10) as client:
        yield client
