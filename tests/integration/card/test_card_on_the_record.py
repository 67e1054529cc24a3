"""The carte citoyenne on the resident's record, with the whole system running (``mtlid up`` as
processes: identity, accounts, consent, NATS JetStream): the card given to the wallet, a
borough system's online check (OpenID4VP) and the card's renewal and revocation each reach the
consent register through identity's outbox and consent's consumers, and the resident reads
them in "Qui a vu mes données" (``/account/access``).

Setup steps that stand for others' work: the resident's level 2 is set in identity's database
(a counter's document check, tests/integration/counter), and the offer is made with the
verified attributes Mon compte would read from accounts (tests/integration/card/test_card_pages.py
covers that page). Everything after the offer goes over real HTTP and NATS."""

from __future__ import annotations

import asyncio
import contextlib
import re

import httpx
import pytest

from services.common.config import Settings
from services.common.db import create_engine, session_factory
from services.common.testing.databases import backend, temporary_database
from services.identity.adapters.oauth_repositories import OAuthUnitOfWork
from services.identity.card import issuance
from services.identity.card.keys import card_issuer_for
from services.identity.card.wallet import ReferenceWallet
from services.identity.domain.assurance import LevelOfAssurance
from tests.e2e.system import System
from tests.integration.account_pages.conftest import hidden_fields
from tests.unit.identity_card.fakes import ELOISE, PIN, mtlid_typing_pin

PASSWORD = "une phrase de passe pour la carte 2026"
BOROUGH = "Bibliothèques du Plateau-Mont-Royal"


@pytest.fixture(scope="module")
async def system(tmp_path_factory):
    # MTLID_TEST_DATABASE=postgres: the three services on PostgreSQL databases of their own
    # (``mtlid up`` migrates them); otherwise SQLite files in the system's var directory.
    async with contextlib.AsyncExitStack() as stack:
        urls = {}
        if backend() == "postgres":
            for service in ("identity", "accounts", "consent"):
                urls[service] = await stack.enter_async_context(temporary_database(f"card_record_{service}"))
        running = System(str(tmp_path_factory.mktemp("card_record") / "var"), database_urls=urls)
        await asyncio.to_thread(running.start)
        try:
            yield running
        finally:
            await asyncio.to_thread(running.stop)


async def _access_page_with(http: httpx.AsyncClient, *texts: str, card_entries: int = 0,
                            timeout: float = 30.0) -> str:
    """The resident's access page once every text is on it and its card section holds
    ``card_entries`` entries (the events travel through NATS, in no set order)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        page = (await http.get("/account/access")).text.replace("&#39;", "'")
        if (all(t in page for t in texts) and len(_card_entries(page)) >= card_entries) \
                or asyncio.get_running_loop().time() > deadline:
            return page
        await asyncio.sleep(0.3)


def _card_entries(page: str) -> list[str]:
    """The titles of the card section's entries ("Votre carte citoyenne"), newest first."""
    if 'id="card-history-title"' not in page:
        return []
    section = page[page.index('id="card-history-title"'):page.index("</section>", page.index('id="card-history-title"'))]
    return re.findall(r'<h3 class="card-title">([^<]+)</h3>', section)


async def test_issuance_online_check_renewal_and_revocation_are_on_the_resident_s_record(system, tmp_path, capsys):
    email = "carte-registre@example.ca"
    resident_id = system.cli("resident", "create", "--email", email, "--password", PASSWORD,
                             "--verified")["resident_id"]
    settings = Settings.from_env(system.env())
    assert settings.database_url("identity").startswith("postgresql") == (backend() == "postgres")
    engine = create_engine(settings.database_url("identity"))
    sessions = session_factory(engine)
    uow_factory = lambda: OAuthUnitOfWork(sessions, kek=settings.key_encryption_key)  # noqa: E731
    try:
        async with uow_factory() as uow:
            resident = await uow.residents.get(resident_id)
            resident.level = LevelOfAssurance.VERIFIED
            await uow.residents.save(resident)
            await uow.commit()
        offer = await issuance.create_offer(card_issuer_for(settings, uow_factory), resident_id, ELOISE)
    finally:
        await engine.dispose()

    wallet = ReferenceWallet.open(tmp_path / "wallet.json", PIN)
    client = system.cli("client", "create", "--name", BOROUGH, "--client-id", "plateau-bibliotheques",
                        "--grant-type", "client_credentials", "--scope", "carte-citoyenne:verify",
                        "--audience", "urn:mtlid:accounts")
    async with httpx.AsyncClient(timeout=15) as http:
        await wallet.accept_offer(http, offer.uri, offer.tx_code, pin=PIN)
        asked = (await http.post(system.issuer + "/card/vp/requests", auth=(client["client_id"], client["client_secret"]),
                                 data={"claim": "age_over_18"})).json()
        assert await asyncio.to_thread(mtlid_typing_pin, ["wallet", "present", "--openid4vp", asked["authorization_request"],
                                               "--store", str(wallet.path)]) == 0, capsys.readouterr()
        result = (await http.post(system.issuer + "/card/vp/result",
                                  auth=(client["client_id"], client["client_secret"]),
                                  data={"transaction_id": asked["transaction_id"]})).json()
        assert result["status"] == "accepted" and result["disclosed"] == {"age_over_18": True}
        await wallet.renew(http, pin=PIN)

    resident_http = httpx.AsyncClient(base_url=system.issuer, follow_redirects=False, timeout=15)
    try:
        page = await resident_http.get("/account/login")
        signed = await resident_http.post("/account/login", data={**hidden_fields(page.text), "email": email,
                                                                   "password": PASSWORD})
        assert signed.status_code in (302, 303), signed.text[:500]
        text = await _access_page_with(resident_http, BOROUGH, "Votre portefeuille — carte citoyenne",
                                       card_entries=1)
        # the borough system by name, what it learned (the category, never the value)
        borough_card = text[text.index(BOROUGH):]
        borough_card = borough_card[:borough_card.index("</li>")]
        assert "Date de naissance" in borough_card and "18 ans" not in borough_card
        assert "Votre portefeuille — carte citoyenne" in text   # the first card: a data access
        assert _card_entries(text) == ["Carte renouvelée par votre portefeuille"]

        # "J'ai perdu mon téléphone": a card_revoked entry on the record
        card_page = await resident_http.get("/account/card")
        lost = await resident_http.post("/account/card/lost", data=hidden_fields(card_page.text))
        assert lost.status_code == 303
        text = await _access_page_with(resident_http, card_entries=3)
        # the first card and the renewed one, both revoked; newest first
        assert _card_entries(text) == ["Carte révoquée : téléphone perdu"] * 2 + [
            "Carte renouvelée par votre portefeuille"]
        section = text[text.index('id="card-history-title"'):]
        assert section.count('/proof" download>') == 3
        english = (await resident_http.get("/account/access?lang=en")).text
        assert "Card revoked: phone lost" in english and "Card renewed by your wallet" in english
    finally:
        await resident_http.aclose()
