"""The carte citoyenne end to end over real HTTP (issue 23, "Shown"): the reference wallet
receives a card (offer -> token -> nonce -> credential), presents only ``age_over_18``, the
verifier checks it offline with the network cut (and is asserted to make no request), and
sees the revocation after refreshing its cache. SQLite; PostgreSQL with MTLID_TEST_DATABASE=postgres."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
from types import SimpleNamespace

import httpx
import pytest
from joserfc.jwk import ECKey

from services.cli import main as mtlid
from services.common.db import create_engine, session_factory
from services.common.migrations import migrate_async
from services.common.testing.databases import temporary_database
from services.identity.adapters.oauth_repositories import OAuthUnitOfWork
from services.identity.card import issuance, sd_jwt, verifier
from services.identity.card.keys import card_issuer_for
from services.identity.card.sd_jwt import PresentationRefused
from services.identity.card.wallet import ReferenceWallet, WalletError
from services.identity.domain.assurance import LevelOfAssurance
from services.identity.http.app import create_app, serve
from services.identity.oidc.provider import CoreAuthenticator, Provider, derive_key
from services.identity.oidc.tokens import OidcConfig
from services.identity.service_layer.authentication import add_new_resident
from services.identity.service_layer.keys import SigningKeys
from tests.integration.identity_oidc.conftest import free_port
from tests.unit.identity_card.fakes import ELOISE, PIN, mtlid_typing_pin

KEK = bytes(range(32))


@pytest.fixture(scope="module")
async def issuer_front():
    async with temporary_database("card") as url:
        await migrate_async("identity", url)
        engine = create_engine(url)
        sessions = session_factory(engine)

        def uow_factory():
            return OAuthUnitOfWork(sessions, kek=KEK)

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        settings = SimpleNamespace(issuer=base, key_encryption_key=KEK)
        provider = Provider(config=OidcConfig(issuer=base, pairwise_secret=b"p" * 32,
                                              interaction_key=derive_key(KEK, "interaction"), secure_cookies=False),
                            keys=await SigningKeys.load(uow_factory(), KEK), uow_factory=uow_factory,
                            authenticator=CoreAuthenticator(uow_factory), card=card_issuer_for(settings, uow_factory))
        stop, started = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(serve(create_app(provider), "127.0.0.1", port, stop, started=started))
        await asyncio.wait_for(started.wait(), 10)
        try:
            yield SimpleNamespace(base=base, provider=provider, uow_factory=uow_factory)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
            await engine.dispose()


async def _verified_resident(uow_factory, email: str) -> str:
    async with uow_factory() as uow:
        resident = await add_new_resident(uow, email=email, password_hash=None, preferred_language="fr",
                                          now=dt.datetime.now(dt.timezone.utc),
                                          email_verified=True)
        resident.level = LevelOfAssurance.VERIFIED
        await uow.residents.save(resident)
        await uow.commit()
    return resident.resident_id


def _fetch(url: str) -> str:
    response = httpx.get(url, timeout=10)
    response.raise_for_status()
    return response.text


@pytest.fixture
def network_cut(monkeypatch):
    """Every attempt to open a connection is recorded and refused."""
    attempts: list = []

    def refuse(*args, **kwargs):
        attempts.append(args[1:] if args else kwargs)
        raise OSError("network cut by the test")

    def cut():
        monkeypatch.setattr(socket.socket, "connect", refuse)
        monkeypatch.setattr(socket.socket, "connect_ex", refuse)
        monkeypatch.setattr(socket, "getaddrinfo", refuse)
        monkeypatch.setattr(socket, "create_connection", refuse)
        return attempts

    cut.restore = monkeypatch.undo  # the desk is back online
    yield cut
    monkeypatch.undo()


async def test_wallet_card_offline_verification_and_revocation(issuer_front, tmp_path, network_cut, capsys):
    """The issue's "Shown" flow in one piece: offer -> token -> credential -> only age_over_18
    -> verified offline with the network cut (no request made) -> revoked -> the old cache
    still accepts (it is offline) -> refreshed -> refused as revoked."""
    card_issuer = issuer_front.provider.card
    rid = await _verified_resident(issuer_front.uow_factory, "carte-flow@example.ca")
    offer = await issuance.create_offer(card_issuer, rid, ELOISE)   # what Mon compte does

    wallet = ReferenceWallet.open(tmp_path / "wallet.json", PIN)
    steps: list[tuple[str, str]] = []

    async def record(request: httpx.Request) -> None:
        steps.append((request.method, request.url.path))

    async with httpx.AsyncClient(timeout=10, event_hooks={"request": [record]}) as http:
        card = await wallet.accept_offer(http, offer.uri, offer.tx_code, pin=PIN)
    # OpenID4VCI 1.0 over real HTTP: metadata beside the OpenID metadata, the card's AS
    # metadata, token (pre-authorized code + tx_code), nonce, credential (proof of possession)
    assert steps == [("GET", "/.well-known/openid-credential-issuer"),
                     ("GET", "/.well-known/oauth-authorization-server/card"),
                     ("POST", "/card/token"), ("POST", "/card/nonce"), ("POST", "/card/credential")]
    assert set(sd_jwt.disclosed_names(card)) == set(issuance.DISCLOSABLE)
    assert ReferenceWallet.open(tmp_path / "wallet.json").cards == [card]  # stored (the key sealed)

    # Online, the counter's verifier takes home the card keys and the status list.
    cache_file = tmp_path / "cache.json"
    assert await asyncio.to_thread(mtlid, ["card", "refresh", "--issuer", issuer_front.base,
                                           "--cache", str(cache_file)]) == 0
    capsys.readouterr()
    cached = json.loads(cache_file.read_text())
    # the card key, and the next generation published ahead of its use (the rotation story)
    assert [k["kid"] for k in cached["jwks"]["keys"]] == [card_issuer.key.kid, card_issuer.next_key.kid]

    presentation = wallet.present(["age_over_18"], pin=PIN, audience="comptoir-ahuntsic", nonce="7f3a")
    assert [sd_jwt.Disclosure.parse(d).name for d in sd_jwt.SdJwt.parse(presentation).disclosures] == ["age_over_18"]
    attempts = network_cut()
    check = verifier.OfflineVerifier(verifier.VerifierCache.load(cache_file)).verify(
        presentation, audience="comptoir-ahuntsic", nonce="7f3a")
    assert check.disclosed == {"age_over_18": True}
    # The same through the command a desk runs, still with the network cut.
    verify = ["card", "verify", presentation, "--audience", "comptoir-ahuntsic", "--nonce", "7f3a",
              "--cache", str(cache_file)]
    assert mtlid(verify) == 0
    assert json.loads(capsys.readouterr().out) == {"accepted": True, "issuer": issuer_front.base,
                                                   "disclosed": {"age_over_18": True}}
    assert mtlid(["card", "verify", presentation, "--audience", "comptoir-ahuntsic", "--nonce", "other",
                  "--cache", str(cache_file)]) == 1
    assert json.loads(capsys.readouterr().out)["reason"] == "wrong_nonce"
    assert attempts == []  # the verifier made no request
    # The cut is real: the same process cannot reach the issuer.
    with pytest.raises((OSError, httpx.TransportError)):
        httpx.get(issuer_front.base + "/card/status/1", timeout=2)
    assert attempts
    network_cut.restore()

    # "J'ai perdu mon téléphone" (what /account/card/lost does)...
    async with issuer_front.uow_factory() as uow:
        assert await issuance.revoke_cards(card_issuer, uow, rid, "lost_device")
        await uow.commit()
    # ...the desk's cache, taken before, does not know yet (offline is the point)...
    assert mtlid(verify) == 0
    capsys.readouterr()
    # ...and knows once refreshed while online.
    assert await asyncio.to_thread(mtlid, ["card", "refresh", "--issuer", issuer_front.base,
                                           "--cache", str(cache_file)]) == 0
    capsys.readouterr()
    assert mtlid(verify) == 1
    assert json.loads(capsys.readouterr().out)["reason"] == "revoked"


async def test_wrong_transaction_code_is_refused_over_http(issuer_front, tmp_path):
    rid = await _verified_resident(issuer_front.uow_factory, "carte-code@example.ca")
    offer = await issuance.create_offer(issuer_front.provider.card, rid, ELOISE)
    wrong = "000000" if offer.tx_code != "000000" else "111111"
    async with httpx.AsyncClient(timeout=10) as http:
        with pytest.raises(WalletError) as refused:
            await ReferenceWallet.open(None, PIN).accept_offer(http, offer.uri, wrong, pin=PIN)
        assert (refused.value.step, refused.value.error) == ("token", "invalid_grant")
        published = await http.get(issuer_front.base + "/card/status/1")
        metadata = await http.get(issuer_front.base + "/.well-known/openid-credential-issuer")
    assert published.headers["content-type"] == "application/statuslist+jwt"
    assert published.headers["cache-control"] == "public, max-age=3600"
    assert published.headers["access-control-allow-origin"] == "*"
    assert metadata.json()["credential_endpoint"] == issuer_front.base + "/card/credential"


async def test_the_card_is_signed_by_its_own_key_published_beside_the_openid_metadata(issuer_front, tmp_path):
    """The credential issuer metadata sits beside the OpenID metadata (same origin, same
    issuer); the card is a dc+sd-jwt signed by the card key, which is not a token key."""
    rid = await _verified_resident(issuer_front.uow_factory, "carte-cle@example.ca")
    offer = await issuance.create_offer(issuer_front.provider.card, rid, ELOISE)
    async with httpx.AsyncClient(timeout=10) as http:
        card = await ReferenceWallet.open(None, PIN).accept_offer(http, offer.uri, offer.tx_code, pin=PIN)
        openid = (await http.get(issuer_front.base + "/.well-known/openid-configuration")).json()
        vci = (await http.get(issuer_front.base + "/.well-known/openid-credential-issuer")).json()
        token_keys = (await http.get(openid["jwks_uri"])).json()["keys"]
        card_keys = (await http.get(issuer_front.base + "/.well-known/jwt-vc-issuer")).json()["jwks"]["keys"]
    assert vci["credential_issuer"] == openid["issuer"] == issuer_front.base
    assert vci["nonce_endpoint"] == issuer_front.base + "/card/nonce"
    header = json.loads(sd_jwt.b64url_decode(card.split(".")[0]))
    assert (header["typ"], header["alg"]) == ("dc+sd-jwt", "ES256")
    assert header["kid"] == card_keys[0]["kid"]
    assert token_keys and header["kid"] not in {k.get("kid") for k in token_keys}
    assert {(k.get("x"), k.get("n")) for k in token_keys}.isdisjoint({(k["x"], None) for k in card_keys})
    # the card verifies with the card key and with no token key
    assert sd_jwt._verified(card.split("~")[0], lambda h: ECKey.import_key(card_keys[0]), "x")
    for token_key in token_keys:
        with pytest.raises(PresentationRefused):
            sd_jwt._verified(card.split("~")[0], lambda h, k=token_key: _any_key(k), "bad_signature")


def _any_key(jwk: dict):
    from joserfc.jwk import KeySet

    return KeySet.import_key_set({"keys": [jwk]}).keys[0]


async def _card_for(issuer_front, email: str, tmp_path, password_hash: str | None = None) -> tuple[str, str]:
    async with issuer_front.uow_factory() as uow:
        resident = await add_new_resident(uow, email=email, password_hash=password_hash, preferred_language="fr",
                                          now=dt.datetime.now(dt.timezone.utc), email_verified=True)
        resident.level = LevelOfAssurance.VERIFIED
        await uow.residents.save(resident)
        await uow.commit()
    offer = await issuance.create_offer(issuer_front.provider.card, resident.resident_id, ELOISE)
    wallet = ReferenceWallet.open(tmp_path / f"{email}.json", PIN)
    async with httpx.AsyncClient(timeout=10) as http:
        await wallet.accept_offer(http, offer.uri, offer.tx_code, pin=PIN)
    return resident.resident_id, wallet.present(["resident_of_montreal"], pin=PIN, audience="comptoir", nonce="n")


async def _refused_after_refresh(issuer_front, presentation: str) -> str:
    cache = await asyncio.to_thread(verifier.refresh, issuer_front.base, _fetch)
    with pytest.raises(PresentationRefused) as refused:
        verifier.OfflineVerifier(cache).verify(presentation, audience="comptoir", nonce="n")
    return refused.value.reason


async def test_a_disabled_resident_s_card_is_revoked(issuer_front, tmp_path):
    from services.identity.domain.citizen_number import CitizenNumber
    from services.identity.service_layer.authentication import DisableResident, disable_resident

    rid, presentation = await _card_for(issuer_front, "carte-desactivee@example.ca", tmp_path)
    await disable_resident(DisableResident(CitizenNumber(rid).human), issuer_front.uow_factory())
    assert await _refused_after_refresh(issuer_front, presentation) == "revoked"
    async with issuer_front.uow_factory() as uow:
        assert [c.revoked_reason for c in await uow.cards.cards_for(rid)] == ["resident_disabled"]


async def test_a_closed_account_s_card_is_revoked(issuer_front, tmp_path):
    from services.identity.domain import passwords
    from services.identity.service_layer.account_closure import CloseAccount, close_account

    password = "une phrase de passe assez longue"
    password_hash = await asyncio.to_thread(passwords.hash_password, password)
    rid, presentation = await _card_for(issuer_front, "carte-fermee@example.ca", tmp_path, password_hash)
    await close_account(CloseAccount(rid, password, "192.0.2.9"), issuer_front.uow_factory())
    assert await _refused_after_refresh(issuer_front, presentation) == "revoked"
    async with issuer_front.uow_factory() as uow:
        assert [c.revoked_reason for c in await uow.cards.cards_for(rid)] == ["account_closed"]


async def test_housekeeping_removes_offers_never_taken_with_their_sealed_attributes(issuer_front):
    from services.identity.oidc.records import utcnow

    rid = await _verified_resident(issuer_front.uow_factory, "carte-oubliee@example.ca")
    card_issuer = issuer_front.provider.card
    offer = await issuance.create_offer(card_issuer, rid, ELOISE)
    code_hash = issuance._hash(offer.offer["grants"][issuance.PRE_AUTHORIZED_GRANT]["pre-authorized_code"])

    async def sealed() -> list:
        async with issuer_front.uow_factory() as uow:
            found = await uow.cards.get_offer(code_hash)
        return [] if found is None else [found.holder]

    assert await sealed() == [ELOISE]
    async with issuer_front.uow_factory() as uow:
        await uow.housekeeping.purge(utcnow())
        await uow.commit()
    assert await sealed() == [ELOISE]  # still valid: kept
    later = utcnow() + dt.timedelta(seconds=card_issuer.config.offer_lifetime + 3601)
    async with issuer_front.uow_factory() as uow:
        await uow.housekeeping.purge(later)
        await uow.commit()
    assert await sealed() == []


async def test_the_commands_wallet_accept_present_and_card_refresh_verify(issuer_front, tmp_path, capsys):
    rid = await _verified_resident(issuer_front.uow_factory, "carte-commandes@example.ca")
    offer = await issuance.create_offer(issuer_front.provider.card, rid, ELOISE)
    store, cache = str(tmp_path / "wallet.json"), str(tmp_path / "cache.json")
    accept = ["wallet", "accept", offer.uri, "--tx-code", offer.tx_code, "--store", store]
    assert await asyncio.to_thread(mtlid_typing_pin, accept) == 0  # sets the PIN up
    assert "age_over_18" in json.loads(capsys.readouterr().out)["claims"]
    # The same offer again with a wrong PIN: refused before any request (the offer, already
    # taken, answers invalid_grant once the PIN is right and the request is made).
    assert await asyncio.to_thread(mtlid_typing_pin, accept, "135790") == 1
    assert "wrong PIN; 4 tries left" in capsys.readouterr().err
    assert await asyncio.to_thread(mtlid_typing_pin, accept) == 1
    assert "invalid_grant" in capsys.readouterr().err
    assert mtlid_typing_pin(["wallet", "present", "--claim", "age_over_65", "--claim", "resident_of_montreal",
                             "--audience", "bibliotheque", "--nonce", "b1", "--store", store]) == 0
    presentation = capsys.readouterr().out.strip()
    assert await asyncio.to_thread(mtlid, ["card", "refresh", "--issuer", issuer_front.base, "--cache", cache]) == 0
    capsys.readouterr()
    assert mtlid(["card", "verify", presentation, "--audience", "bibliotheque", "--nonce", "b1", "--cache", cache]) == 0
    assert json.loads(capsys.readouterr().out)["disclosed"] == {"age_over_65": False, "resident_of_montreal": True}
    assert mtlid(["card", "verify", presentation, "--audience", "piscine", "--nonce", "b1", "--cache", cache]) == 1
    assert json.loads(capsys.readouterr().out)["reason"] == "wrong_audience"
    assert mtlid(["card", "verify", presentation, "--audience", "bibliotheque", "--nonce", "b1", "--cache", cache,
                  "--max-age", "-1"]) == 1
    assert json.loads(capsys.readouterr().out)["reason"] == "cache_too_old"


async def test_mtlid_wallet_renew_gets_a_new_card_and_stops_after_lost_phone(issuer_front, tmp_path, capsys):
    rid = await _verified_resident(issuer_front.uow_factory, "carte-renouvelee@example.ca")
    card_issuer = issuer_front.provider.card
    offer = await issuance.create_offer(card_issuer, rid, ELOISE)
    store = str(tmp_path / "wallet.json")
    assert await asyncio.to_thread(mtlid_typing_pin, ["wallet", "accept", offer.uri, "--tx-code", offer.tx_code,
                                           "--store", store]) == 0
    assert await asyncio.to_thread(mtlid_typing_pin, ["wallet", "renew", "--store", store]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["cards"] == 2
    async with issuer_front.uow_factory() as uow:
        assert len(await uow.cards.cards_for(rid)) == 2
        await issuance.revoke_cards(card_issuer, uow, rid, "lost_device")
        await uow.commit()
    assert await asyncio.to_thread(mtlid_typing_pin, ["wallet", "renew", "--store", store]) == 1
    assert "invalid_grant" in capsys.readouterr().err


async def test_wrong_transaction_codes_sent_at_once_still_void_the_offer_after_three(issuer_front):
    """Three wrong codes void an offer even when a wallet (or a thief with a photo of the QR
    code) sends many at once: the offer row is locked while a code is checked."""
    rid = await _verified_resident(issuer_front.uow_factory, "carte-rafale@example.ca")
    offer = await issuance.create_offer(issuer_front.provider.card, rid, ELOISE)
    code = offer.offer["grants"][issuance.PRE_AUTHORIZED_GRANT]["pre-authorized_code"]
    wrong = [f"{n:06d}" for n in range(12) if f"{n:06d}" != offer.tx_code][:10]

    async def attempt(http, tx_code):
        return await http.post(issuer_front.base + "/card/token", data={
            "grant_type": issuance.PRE_AUTHORIZED_GRANT, "pre-authorized_code": code, "tx_code": tx_code})

    async with httpx.AsyncClient(timeout=20) as http:
        answers = await asyncio.gather(*(attempt(http, tx) for tx in wrong))
        assert {(a.status_code, a.json()["error"]) for a in answers} == {(400, "invalid_grant")}
        right = await attempt(http, offer.tx_code)
    assert (right.status_code, right.json()["error"]) == (400, "invalid_grant")
    async with issuer_front.uow_factory() as uow:
        assert (await uow.cards.get_offer(issuance._hash(code))).failed_attempts == issuance.TX_CODE_ATTEMPTS
