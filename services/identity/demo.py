"""Demo data for ``mtlid up`` (development only): a demo resident to log in with, the demo
montreal.ca relying party's client, and the accounts service's own client.

Idempotent: a second ``mtlid up`` finds the same resident and clients; the accounts client
gets a fresh secret each time (secrets are stored hashed, so the old one cannot be shown).
"""

from __future__ import annotations

import asyncio

from services.common.config import Settings

DEMO_EMAIL = "resident.demo@example.org"
DEMO_PASSWORD = "Demo-Montreal-2026"
ACCOUNTS_CLIENT_ID = "mtlid-accounts"


async def _prepare(settings: Settings) -> dict:
    from services.common.db import create_engine, session_factory
    from services.identity.adapters.uow import IdentityUnitOfWork
    from services.identity.demo_rp.app import demo_client_spec
    from services.identity.domain.assurance import LevelOfAssurance
    from services.identity.domain.clients import OAuthClient
    from services.identity.service_layer.seed import ensure_client, ensure_resident

    engine = create_engine(settings.database_url("identity"))
    try:
        factory = session_factory(engine)

        def uow_factory():
            return IdentityUnitOfWork(factory, kek=settings.key_encryption_key)

        resident = await ensure_resident(uow_factory, email=DEMO_EMAIL, password=DEMO_PASSWORD,
                                         level=LevelOfAssurance.VERIFIED)
        await ensure_client(uow_factory, OAuthClient(secret_hash=None, **demo_client_spec(settings.demo_rp_port)))
        # Accounts brokers every release: it checks and records consent for any service, and
        # translates partners' pairwise identifiers (docs/contracts.md).
        accounts = await ensure_client(uow_factory, OAuthClient(
            client_id=ACCOUNTS_CLIENT_ID, name="mtlid accounts service", secret_hash=None,
            redirect_uris=(), post_logout_redirect_uris=(), grant_types=("client_credentials",),
            scopes=("consent:broker", "identity:resolve"),
            audiences=("urn:mtlid:consent", "urn:mtlid:identity"),
            subject_type="public", is_city_client=True,
            token_endpoint_auth_method="client_secret_basic"))
    finally:
        await engine.dispose()
    return {
        "env": {"MTLID_SERVICE_CLIENT_ID": ACCOUNTS_CLIENT_ID,
                "MTLID_SERVICE_CLIENT_SECRET": accounts.client_secret or ""},
        "lines": [f"demo resident      {DEMO_EMAIL} / {DEMO_PASSWORD}  (citizen number {resident.citizen_number.human})"],
    }


def prepare_demo(settings: Settings) -> dict:
    if settings.production:
        raise RuntimeError("demo data is for development only")
    return asyncio.run(_prepare(settings))
