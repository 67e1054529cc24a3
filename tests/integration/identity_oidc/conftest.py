"""Fixtures for the OpenID provider's integration tests: a migrated throwaway database
(SQLite, or PostgreSQL with MTLID_TEST_DATABASE=postgres), registered clients and residents,
and the REAL HTTP front served by uvicorn on a free port. The consent screen's wording comes
from a REAL consent register (in-process, its own database), where the client ``montreal-ca``
is a service of the catalogue (email and preferred language, PURPOSES)."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import socket
from dataclasses import dataclass

import httpx
import pytest

from services.common.db import create_engine, session_factory
from services.common.reads import PointReads, PointWrites
from services.identity.adapters.hot_reads import IdentityHotReads
from services.identity.adapters.single_use import PointSingleUse
from services.common.migrations import migrate_async
from services.common.testing.databases import temporary_database
from services.identity.adapters import crypto
from services.identity.adapters.oauth_repositories import OAuthUnitOfWork
from services.identity.domain import passwords, totp
from services.identity.domain.assurance import LevelOfAssurance
from services.identity.domain.clients import OAuthClient, hash_client_secret
from services.identity.http.app import create_app, serve
from services.identity.oidc.provider import CoreAuthenticator, Provider, derive_key
from services.identity.oidc.tokens import OidcConfig
from services.identity.service_layer.authentication import add_new_resident
from services.identity.service_layer.keys import SigningKeys

KEK = bytes(range(32))
PAIRWISE_SECRET = b"pairwise-secret-for-tests-only-32b"
SECRET = "s3cret-for-tests-only-0123456789abcdefghijk"
PASSWORD = "correct horse battery staple 42"
RP_REDIRECT = "http://127.0.0.1:9/callback"
LIBRARY_REDIRECT = "https://bibliotheque.example.ca/callback"
PURPOSES = ("service-provision", "communication", "statistics")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clients() -> list[OAuthClient]:
    secret_hash = hash_client_secret(SECRET)
    resident_scopes = ("openid", "email", "profile", "offline_access")
    return [
        OAuthClient(client_id="montreal-ca", name="montreal.ca", secret_hash=secret_hash,
                    redirect_uris=(RP_REDIRECT,), post_logout_redirect_uris=("http://127.0.0.1:9/bye",),
                    grant_types=("authorization_code", "refresh_token"), scopes=resident_scopes,
                    purposes=PURPOSES),
        OAuthClient(client_id="library", name="Bibliothèques de Montréal", secret_hash=secret_hash,
                    redirect_uris=(LIBRARY_REDIRECT,), grant_types=("authorization_code", "refresh_token"),
                    scopes=resident_scopes, purposes=("service-provision",)),
        OAuthClient(client_id="permits-spa", name="Permis (app)", secret_hash=None,
                    redirect_uris=(RP_REDIRECT,), grant_types=("authorization_code", "refresh_token"),
                    scopes=resident_scopes, token_endpoint_auth_method="none"),
        OAuthClient(client_id="rs256-app", name="Ancien système", secret_hash=secret_hash,
                    redirect_uris=("http://127.0.0.1:9/rs256",), grant_types=("authorization_code",),
                    scopes=("openid",), id_token_signed_response_alg="RS256",
                    token_endpoint_auth_method="client_secret_post"),
        OAuthClient(client_id="borough-system", name="Système d'arrondissement", secret_hash=secret_hash,
                    grant_types=("client_credentials",), scopes=("accounts:release", "consent:check"),
                    audiences=("urn:mtlid:accounts", "urn:mtlid:consent")),
        OAuthClient(client_id="single-aud", name="Un système", secret_hash=secret_hash,
                    grant_types=("client_credentials",), scopes=("identity:validate",),
                    audiences=("urn:mtlid:identity",)),
    ]


@dataclass
class Resident:
    resident_id: str
    email: str
    totp_secret: bytes | None = None


@dataclass
class Front:
    base: str
    provider: Provider
    sessions: object
    resident: Resident
    verified: Resident

    def uow(self) -> OAuthUnitOfWork:
        return OAuthUnitOfWork(self.sessions, kek=KEK)


async def add_resident(uow_factory, email: str, level: LevelOfAssurance, with_totp: bool) -> Resident:
    secret = totp.new_secret() if with_totp else None
    password_hash = await asyncio.to_thread(passwords.hash_password, PASSWORD)
    async with uow_factory() as uow:
        resident = await add_new_resident(uow, email=email, password_hash=password_hash, preferred_language="fr",
                                          now=dt.datetime.now(dt.timezone.utc), email_verified=True)
        resident.level = level
        if secret is not None:
            resident.totp_secret_encrypted = crypto.encrypt(KEK, secret, resident.resident_id.encode())
        await uow.residents.save(resident)
        await uow.commit()
    return Resident(resident.resident_id, email, secret)


@pytest.fixture(scope="module")
async def register(nats):
    """The consent register the consent screen reads its wording from."""
    from montreal.consent.v1 import consent_pb2 as cpb
    from montreal.consent.v1 import consent_pb2_grpc
    from services.common.testing.services import running_service
    from services.common.testing.tokens import TokenMinter
    import grpc

    minter = TokenMinter()
    async with running_service("consent", nats_url=nats.url, minter=minter) as consent:
        target = f"127.0.0.1:{consent.bound_grpc_port}"
        admin = minter.mint("operator", ["consent:admin"], "urn:mtlid:consent")
        async with grpc.aio.insecure_channel(target) as channel:
            await consent_pb2_grpc.ConsentServiceStub(channel).RegisterRecipient(cpb.RegisterRecipientRequest(
                recipient=cpb.Recipient(recipient_id="montreal-ca", client_id="montreal-ca", name_fr="montreal.ca",
                                        name_en="montreal.ca", kind="municipal", owner="Ville de Montréal",
                                        purposes=list(PURPOSES), data_categories=["email", "preferred_language"])),
                metadata=(("authorization", f"Bearer {admin}"),))
        yield target


@pytest.fixture(scope="module")
async def front(register):
    from services.identity.http.consent_terms import GrpcConsentTerms

    async with temporary_database("identity_oidc") as url:
        await migrate_async("identity", url)
        engine = create_engine(url)
        sessions = session_factory(engine)

        def uow_factory():
            return OAuthUnitOfWork(sessions, kek=KEK)

        async with uow_factory() as uow:
            for client in clients():
                await uow.clients.add(client)
            await uow.commit()
        resident = await add_resident(uow_factory, "camille@example.ca", LevelOfAssurance.SELF_ASSERTED, False)
        verified = await add_resident(uow_factory, "alex@example.ca", LevelOfAssurance.VERIFIED, True)
        keys = await SigningKeys.load(uow_factory(), KEK)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        config = OidcConfig(issuer=base, pairwise_secret=PAIRWISE_SECRET,
                            interaction_key=derive_key(KEK, "interaction"), secure_cookies=False)
        # the service's own hot-path reads (one statement each), as `mtlid serve identity` wires them
        reads = PointReads(engine)
        # and, on PostgreSQL, its single-statement records of used DPoP proofs and assertions
        writes = PointWrites.for_engine(engine)
        provider = Provider(config=config, keys=keys, uow_factory=uow_factory,
                            authenticator=CoreAuthenticator(uow_factory), reads=IdentityHotReads(reads),
                            terms=GrpcConsentTerms(register),
                            single_use=PointSingleUse(writes) if writes is not None else None)
        stop, started = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(serve(create_app(provider), "127.0.0.1", port, stop, started=started))
        await asyncio.wait_for(started.wait(), 10)
        try:
            yield Front(base, provider, sessions, resident, verified)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
            await reads.aclose()
            if writes is not None:
                await writes.aclose()
            await provider.terms.close()
            await engine.dispose()


FIELD = re.compile(r'name="(?P<name>[a-z_]+)" value="(?P<value>[^"]*)"')


def hidden_fields(html: str) -> dict[str, str]:
    return {m["name"]: m["value"].replace("&amp;", "&") for m in FIELD.finditer(html)}


class Browser:
    """A resident's browser: keeps cookies, follows redirects one at a time, fills the forms."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = httpx.AsyncClient(base_url=base, follow_redirects=False, timeout=10)

    async def close(self) -> None:
        await self.http.aclose()

    async def get(self, url: str) -> httpx.Response:
        return await self.http.get(url)

    async def follow(self, response: httpx.Response, until_host_leaves: bool = True) -> httpx.Response:
        """Follow redirects while they stay on the provider."""
        while response.status_code in (302, 303) and response.headers["location"].startswith(("/", self.base)):
            response = await self.http.get(response.headers["location"])
        return response

    async def submit(self, page: httpx.Response, action: str, **fields: str | list[str]) -> httpx.Response:
        data = hidden_fields(page.text)
        data.update(fields)
        return await self.http.post(action, data=data)

    async def login(self, page: httpx.Response, email: str, password: str = PASSWORD) -> httpx.Response:
        assert "/login" in str(page.url), page.url
        return await self.follow(await self.submit(page, "/login", email=email, password=password))

    async def consent(self, page: httpx.Response, scopes: list[str], purposes: list[str],
                      decision: str = "accept") -> httpx.Response:
        """As a resident would: tick the named scopes that have their own checkbox and, for
        each named purpose, every category the screen offers for it (or only ``purpose:category``
        when named so)."""
        assert "/consent" in str(page.url), page.url
        offered = re.findall(r'name="choice" value="([^"]+)"', page.text)
        own = set(re.findall(r'name="scope" value="([^"]+)"', page.text))
        choices = [c for c in offered if c.split(":")[0] in purposes or c in purposes]
        return await self.follow(await self.submit(page, "/consent", scope=[s for s in scopes if s in own],
                                                   choice=choices, decision=decision))


@pytest.fixture
async def browser(front):
    b = Browser(front.base)
    yield b
    await b.close()
