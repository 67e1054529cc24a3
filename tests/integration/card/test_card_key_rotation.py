"""The card key's rotation (issue 23): with ``MTLID_CARD_KEY_GENERATION`` raised from 1 to 2 on
the same issuer and database (a rolling restart), a verifier that refreshed its cache before the
rotation checks the cards signed after it (the next key was published ahead), the card signed
before still verifies (its key stays published), and the old key leaves the metadata once the
last card it signed has expired. Real HTTP; SQLite, PostgreSQL with MTLID_TEST_DATABASE=postgres."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
from types import SimpleNamespace

import httpx

from services.common.config import Settings
from services.common.db import create_engine, session_factory
from services.common.migrations import migrate_async
from services.common.testing.databases import temporary_database
from services.identity.adapters.oauth_repositories import OAuthUnitOfWork
from services.identity.card import issuance, verifier
from services.identity.card.keys import card_issuer_for, card_key
from services.identity.card.sd_jwt import b64url_decode
from services.identity.card.wallet import ReferenceWallet
from services.identity.domain.assurance import LevelOfAssurance
from services.identity.http.app import create_app, serve
from services.identity.oidc.provider import CoreAuthenticator, Provider, derive_key
from services.identity.oidc.tokens import OidcConfig
from services.identity.service_layer.authentication import add_new_resident
from services.identity.service_layer.keys import SigningKeys
from tests.integration.identity_oidc.conftest import free_port
from tests.unit.identity_card.fakes import ELOISE, PIN

KEK = bytes(range(32))


@contextlib.asynccontextmanager
async def _front(uow_factory, port: int, generation: int):
    base = f"http://127.0.0.1:{port}"
    settings = Settings.from_env({"MTLID_ISSUER": base, "MTLID_CARD_KEY_GENERATION": str(generation)})
    settings = SimpleNamespace(issuer=base, key_encryption_key=KEK, card_key_generation=settings.card_key_generation)
    provider = Provider(config=OidcConfig(issuer=base, pairwise_secret=b"p" * 32,
                                          interaction_key=derive_key(KEK, "interaction"), secure_cookies=False),
                        keys=await SigningKeys.load(uow_factory(), KEK), uow_factory=uow_factory,
                        authenticator=CoreAuthenticator(uow_factory), card=card_issuer_for(settings, uow_factory))
    stop, started = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(create_app(provider), "127.0.0.1", port, stop, started=started))
    await asyncio.wait_for(started.wait(), 10)
    try:
        yield SimpleNamespace(base=base, card=provider.card)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def _fetch(url: str) -> str:
    response = httpx.get(url, timeout=10)
    response.raise_for_status()
    return response.text


def _kid(card: str) -> str:
    return json.loads(b64url_decode(card.split(".")[0]))["kid"]


async def _kids(base: str) -> list[str]:
    async with httpx.AsyncClient(timeout=10) as http:
        return [k["kid"] for k in (await http.get(base + "/.well-known/jwt-vc-issuer")).json()["jwks"]["keys"]]


async def test_a_new_card_key_is_published_beside_the_old_until_old_cards_expire(tmp_path):
    gen1, gen2, gen3 = (card_key(KEK, g).kid for g in (1, 2, 3))
    assert len({gen1, gen2, gen3}) == 3
    async with temporary_database("card_rotation") as url:
        await migrate_async("identity", url)
        engine = create_engine(url)
        uow_factory = lambda: OAuthUnitOfWork(session_factory(engine), kek=KEK)  # noqa: E731
        async with uow_factory() as uow:
            resident = await add_new_resident(uow, email="rotation@example.ca", password_hash=None,
                                              preferred_language="fr", now=dt.datetime.now(dt.timezone.utc),
                                              email_verified=True)
            resident.level = LevelOfAssurance.VERIFIED
            await uow.residents.save(resident)
            await uow.commit()
        port = free_port()
        wallet = ReferenceWallet.open(tmp_path / "wallet.json", PIN)
        try:
            # Generation 1: signs; generation 2 is already published.
            async with _front(uow_factory, port, 1) as front:
                assert front.card.key.kid == gen1
                offer = await issuance.create_offer(front.card, resident.resident_id, ELOISE)
                async with httpx.AsyncClient(timeout=10) as http:
                    await wallet.accept_offer(http, offer.uri, offer.tx_code, pin=PIN)
                assert await _kids(front.base) == [gen1, gen2]
                cache = await asyncio.to_thread(verifier.refresh, front.base, _fetch)   # the desk, before
            old_card = wallet.cards[-1]
            assert _kid(old_card) == gen1

            # The operator raises the generation (the same issuer, the same database).
            async with _front(uow_factory, port, 2) as front:
                # the old key stays while the card it signed is valid; the next one is announced
                assert await _kids(front.base) == [gen2, gen3, gen1]
                async with httpx.AsyncClient(timeout=10) as http:
                    await wallet.renew(http, pin=PIN)   # the wallet's silent renewal: onto the new key
                new_card = wallet.cards[-1]
                assert _kid(new_card) == gen2
                # A desk that refreshed before the rotation checks both cards; the one after too.
                desk_before = verifier.OfflineVerifier(cache)
                for card in (old_card, new_card):
                    presented = wallet.present(["age_over_18"], pin=PIN, audience="comptoir", nonce="n", card=card)
                    assert desk_before.verify(presented, audience="comptoir", nonce="n").disclosed == {
                        "age_over_18": True}
                desk_after = verifier.OfflineVerifier(await asyncio.to_thread(verifier.refresh, front.base, _fetch))
                presented = wallet.present(["age_over_18"], pin=PIN, audience="comptoir", nonce="n", card=old_card)
                assert desk_after.verify(presented, audience="comptoir", nonce="n").disclosed == {"age_over_18": True}

                # Fifteen days on, every card generation 1 signed has expired: its key is gone.
                front.card.clock = lambda: time.time() + 15 * 86400
                assert await _kids(front.base) == [gen2, gen3]
        finally:
            await engine.dispose()
