"""The REAL identity HTTP front with the carte citoyenne, in-process on a free port, on a
migrated throwaway database, with two residents: Éloïse at level 2 (verified name and birth
date) and Jules at level 1. The accounts service's verified attributes are given through
``app.state.card_holders`` (the page reads them from accounts otherwise; tests/e2e runs that)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from types import SimpleNamespace

from services.common.config import Settings
from services.common.db import create_engine, session_factory
from services.common.migrations import migrate_async
from services.common.nats import free_port
from services.common.testing.databases import temporary_database
from services.identity.adapters.oauth_repositories import OAuthUnitOfWork
from services.identity.card.keys import card_issuer_for
from services.identity.domain import passwords
from services.identity.domain.assurance import LevelOfAssurance
from services.identity.http.app import create_app, serve
from services.identity.oidc.provider import CoreAuthenticator, Provider, derive_key
from services.identity.oidc.tokens import OidcConfig
from services.identity.service_layer.authentication import add_new_resident
from services.identity.service_layer.keys import SigningKeys
from tests.unit.identity_card.fakes import ELOISE

KEK = bytes(range(32))
PASSWORD = "correct horse battery staple 42"
VERIFIED_EMAIL = "eloise@example.ca"
SELF_ASSERTED_EMAIL = "jules@example.ca"


@contextlib.asynccontextmanager
async def running_card_front():
    async with temporary_database("card_pages") as url:
        await migrate_async("identity", url)
        engine = create_engine(url)
        sessions = session_factory(engine)

        def uow_factory():
            return OAuthUnitOfWork(sessions, kek=KEK)

        password_hash = await asyncio.to_thread(passwords.hash_password, PASSWORD)
        ids = {}
        async with uow_factory() as uow:
            for email, level in ((VERIFIED_EMAIL, LevelOfAssurance.VERIFIED),
                                 (SELF_ASSERTED_EMAIL, LevelOfAssurance.SELF_ASSERTED)):
                resident = await add_new_resident(uow, email=email, password_hash=password_hash,
                                                  preferred_language="fr", now=dt.datetime.now(dt.timezone.utc),
                                                  email_verified=True)
                resident.level = level
                await uow.residents.save(resident)
                ids[email] = resident.resident_id
            await uow.commit()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        provider = Provider(config=OidcConfig(issuer=base, pairwise_secret=b"pairwise-secret-for-tests-only-32b",
                                              interaction_key=derive_key(KEK, "interaction"), secure_cookies=False),
                            keys=await SigningKeys.load(uow_factory(), KEK), uow_factory=uow_factory,
                            authenticator=CoreAuthenticator(uow_factory),
                            card=card_issuer_for(SimpleNamespace(issuer=base, key_encryption_key=KEK), uow_factory))
        app = create_app(provider)
        dead = free_port()  # nothing listens there: accounts and consent are "down"
        app.state.settings = Settings.from_env({"MTLID_ISSUER": base,
                                                "MTLID_ACCOUNTS_GRPC_TARGET": f"127.0.0.1:{dead}",
                                                "MTLID_CONSENT_GRPC_TARGET": f"127.0.0.1:{dead}"})
        verified_id = ids[VERIFIED_EMAIL]
        app.state.card_holders = lambda resident_id: ELOISE if resident_id == verified_id else None
        stop, started = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(serve(app, "127.0.0.1", port, stop, started=started))
        await asyncio.wait_for(started.wait(), 10)
        try:
            yield SimpleNamespace(base=base, provider=provider, ids=ids, app=app)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
            await engine.dispose()
