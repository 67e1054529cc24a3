"""The carte citoyenne verifier in the counter console (issue 23), over the REAL identity front:
an agent reads the desk's code, the reference wallet presents only ``age_over_18`` for it, the
console shows that and nothing else, checked against the desk's cache (a revocation shows only
after a refresh), refuses with a reason, says plainly when its cache is too old, and leaves no
trace but the agent's journal line without values. SQLite; PostgreSQL with MTLID_TEST_DATABASE=postgres."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from types import SimpleNamespace

import httpx
import pytest
from sqlalchemy import func, select

from services.common.db import create_engine, session_factory
from services.common.migrations import migrate_async
from services.common.uow import OUTBOX
from services.common.testing.databases import temporary_database
from services.identity.adapters.oauth_repositories import OAuthUnitOfWork
from services.identity.card import issuance
from services.identity.card.keys import card_issuer_for
from services.identity.card.wallet import ReferenceWallet
from services.identity.domain.assurance import LevelOfAssurance
from services.identity.http.app import create_app, serve
from services.identity.oidc.provider import CoreAuthenticator, Provider, derive_key
from services.identity.oidc.tokens import OidcConfig
from services.identity.service_layer.authentication import add_new_resident
from services.identity.service_layer.keys import SigningKeys
from tests.integration.counter.conftest import AgentBrowser, agent_of
from tests.integration.identity_oidc.conftest import KEK, PAIRWISE_SECRET, free_port, hidden_fields
from tests.unit.identity_card.fakes import ELOISE, PIN


@pytest.fixture(scope="module")
async def desk():
    async with temporary_database("counter_card") as url:
        await migrate_async("identity", url)
        engine = create_engine(url)
        sessions = session_factory(engine)

        def uow_factory():
            return OAuthUnitOfWork(sessions, kek=KEK)

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        provider = Provider(config=OidcConfig(issuer=base, pairwise_secret=PAIRWISE_SECRET,
                                              interaction_key=derive_key(KEK, "interaction"), secure_cookies=False),
                            keys=await SigningKeys.load(uow_factory(), KEK), uow_factory=uow_factory,
                            authenticator=CoreAuthenticator(uow_factory),
                            card=card_issuer_for(SimpleNamespace(issuer=base, key_encryption_key=KEK), uow_factory))
        app = create_app(provider)
        stop, started = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(serve(app, "127.0.0.1", port, stop, started=started))
        await asyncio.wait_for(started.wait(), 10)
        try:
            yield SimpleNamespace(base=base, provider=provider, app=app, uow_factory=uow_factory, sessions=sessions)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
            await engine.dispose()


async def _wallet(desk, tmp_path) -> tuple[str, ReferenceWallet]:
    async with desk.uow_factory() as uow:
        resident = await add_new_resident(uow, email="carte-comptoir@example.ca", password_hash=None,
                                          preferred_language="fr", now=dt.datetime.now(dt.timezone.utc),
                                          email_verified=True)
        resident.level = LevelOfAssurance.VERIFIED
        await uow.residents.save(resident)
        await uow.commit()
    offer = await issuance.create_offer(desk.provider.card, resident.resident_id, ELOISE)
    wallet = ReferenceWallet.open(tmp_path / "wallet.json", PIN)
    async with httpx.AsyncClient(timeout=10) as http:
        await wallet.accept_offer(http, offer.uri, offer.tx_code, pin=PIN)
    return resident.resident_id, wallet


def _code(page: str, element: str) -> str:
    return re.search(rf'<code id="{element}">([^<]+)</code>', page).group(1)


async def _check(browser: AgentBrowser, present) -> httpx.Response:
    """The agent opens the page, the resident's wallet presents for the code shown, the agent submits."""
    page = (await browser.http.get("/counter/card")).text
    presentation = present(_code(page, "audience"), _code(page, "nonce"))
    return await browser.http.post("/counter/card", data={**hidden_fields(page), "presentation": presentation})


async def _rows(desk, table_query):
    async with desk.sessions() as session:
        return (await session.execute(table_query)).all()


async def test_the_console_checks_a_card_offline_and_keeps_no_value(desk, tmp_path):
    resident_id, wallet = await _wallet(desk, tmp_path)
    agent = await agent_of(desk.uow_factory, office="Bibliothèque du Boisé")
    browser = AgentBrowser(desk.base)
    try:
        await browser.sign_in(agent)
        [(outbox_before,)] = await _rows(desk, select(func.count()).select_from(OUTBOX))

        shown = await _check(browser, lambda aud, nonce: wallet.present(["age_over_18"], pin=PIN, audience=aud, nonce=nonce))
        assert shown.status_code == 200
        result = shown.text[shown.text.index('id="disclosed"'):shown.text.index("</dl>", shown.text.index('id="disclosed"'))]
        assert "18 ans ou plus" in result and "Oui" in result and result.count("<dt>") == 1
        assert "Éloïse" not in shown.text and "1990" not in shown.text  # only what was disclosed
        assert "Mises à jour il y a 0 min" in shown.text

        # Refusals with their reason: another desk's code, a card shown for another verifier.
        wrong = await _check(browser, lambda aud, nonce: wallet.present(["age_over_18"], pin=PIN, audience=aud, nonce="0000"))
        assert "code de vérification de ce comptoir" in wrong.text and 'id="disclosed"' not in wrong.text
        other = await _check(browser, lambda aud, nonce: wallet.present(["age_over_18"], pin=PIN, audience="ailleurs",
                                                                        nonce=nonce))
        assert "pour un autre vérificateur" in other.text
        page = (await browser.http.get("/counter/card")).text
        forged = await browser.http.post("/counter/card", data={**hidden_fields(page), "challenge": "abcd.1.0",
                                                                "presentation": "x"})
        assert forged.status_code == 400 and 'href="#presentation"' in forged.text

        # Offline: a revocation reaches the desk at its next refresh, not before.
        async with desk.uow_factory() as uow:
            assert await issuance.revoke_all(uow, resident_id, "lost_device", desk.provider.card.now())
            await uow.commit()
        still = await _check(browser, lambda aud, nonce: wallet.present(["age_over_18"], pin=PIN, audience=aud, nonce=nonce))
        assert 'id="disclosed"' in still.text
        refreshed = await browser.submit("/counter/card/refresh", from_page="/counter/card")
        assert refreshed.status_code == 303
        revoked = await _check(browser, lambda aud, nonce: wallet.present(["age_over_18"], pin=PIN, audience=aud, nonce=nonce))
        assert "La carte a été révoquée" in revoked.text

        # A cache two days old: said plainly, and no card accepted.
        desk.app.state.card_verifier_cache.fetched_at -= 2 * 86400
        old = await _check(browser, lambda aud, nonce: wallet.present(["age_over_18"], pin=PIN, audience=aud, nonce=nonce))
        assert "trop vieilles" in old.text and "datent de 48 h" in old.text
        english = (await browser.http.get("/counter/card?lang=en")).text
        assert "Refreshed 48 h ago: too old" in english

        # No trace with the city but the agent's journal: no event, no resident, no value.
        added = await _rows(desk, select(OUTBOX.c.subject).order_by(OUTBOX.c.seq).offset(outbox_before))
        assert [subject for (subject,) in added] == ["montreal.identity.v1.card_revoked"]  # the test's own revocation
        async with desk.uow_factory() as uow:
            journal = [a for a in await uow.agent_actions.between(
                dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1), dt.datetime.now(dt.timezone.utc)
                + dt.timedelta(minutes=1), agent_id=agent.agent_id) if a["action"] == "card_checked"]
        assert [(a["details"]["outcome"], a["details"]["reason"]) for a in journal] == [
            ("accepted", ""), ("refused", "wrong_nonce"), ("refused", "wrong_audience"), ("accepted", ""),
            ("refused", "revoked"), ("refused", "cache_too_old")]
        assert journal[0]["details"]["claims"] == ["age_over_18"]
        assert all(a["resident_id"] == "" and a["office"] == "Bibliothèque du Boisé" for a in journal)
        assert "True" not in str([a["details"] for a in journal])
    finally:
        await browser.close()


async def test_the_page_needs_a_signed_in_agent(desk):
    async with httpx.AsyncClient(base_url=desk.base, follow_redirects=False) as http:
        assert (await http.get("/counter/card")).headers["location"] == "/counter/login"
        assert (await http.post("/counter/card", data={"presentation": "x"})).status_code in (303, 403)
