"""The carte citoyenne's issuance on a real database (SQLite; PostgreSQL with MTLID_TEST_DATABASE=postgres):
offer, token, credential, revocation, and the events in the outbox in the same transaction."""

from __future__ import annotations

import json
import uuid

from joserfc import jws
from joserfc.jwk import ECKey

from services.identity.card import issuance, status_list
from services.identity.card.issuance import CardConfig, CardIssuer, CardKey
from services.identity.card.sd_jwt import b64url_decode
from services.identity.domain.assurance import LevelOfAssurance
from services.identity.oidc.wire import WireRequest
from services.identity.service_layer import authentication as auth
from tests.integration.identity.conftest import outbox_events
from tests.unit.identity_card.fakes import ELOISE

ISSUER = "https://id.montreal.example"


async def _verified_resident(uow_factory) -> str:
    rid = await auth.register_resident(
        auth.RegisterResident(f"carte-{uuid.uuid4().hex[:8]}@example.org", "une phrase de passe", "fr", ""), uow_factory())
    async with uow_factory() as uow:
        resident = await uow.residents.get(rid)
        resident.level = LevelOfAssurance.VERIFIED
        await uow.residents.save(resident)
        await uow.commit()
    return rid


async def test_issuance_and_revocation_are_stored_and_in_the_outbox(uow_factory, sessions):
    rid = await _verified_resident(uow_factory)
    card_issuer = CardIssuer(CardConfig(issuer=ISSUER, nonce_key=b"n" * 32),
                             CardKey("card-1", ECKey.generate_key("P-256")), uow_factory)
    wallet = ECKey.generate_key("P-256")
    offer = await issuance.create_offer(card_issuer, rid, ELOISE)
    code = offer.offer["grants"][issuance.PRE_AUTHORIZED_GRANT]["pre-authorized_code"]
    form = {"grant_type": [issuance.PRE_AUTHORIZED_GRANT], "pre-authorized_code": [code], "tx_code": [offer.tx_code]}
    token = await issuance.token_endpoint(card_issuer, WireRequest("POST", "/card/token", form=form))
    assert token.status == 200
    again = await issuance.token_endpoint(card_issuer, WireRequest("POST", "/card/token", form=form))
    assert again.body["error"] == "invalid_grant"  # the stored offer is single use

    nonce = (await issuance.nonce_endpoint(card_issuer, WireRequest("POST", "/card/nonce"))).body["c_nonce"]
    proof = jws.serialize_compact(
        {"alg": "ES256", "typ": issuance.PROOF_TYP, "jwk": wallet.as_dict(private=False)},
        json.dumps({"aud": ISSUER, "iat": card_issuer.now(), "nonce": nonce}).encode(), wallet, algorithms=["ES256"])
    body = json.dumps({"credential_configuration_id": issuance.CONFIGURATION_ID, "proofs": {"jwt": [proof]}}).encode()
    response = await issuance.credential_endpoint(
        card_issuer, WireRequest("POST", "/card/credential",
                                 headers={"authorization": f"Bearer {token.body['access_token']}"}), body)
    assert response.status == 200, response.body

    async with uow_factory() as uow:
        cards = await uow.cards.cards_for(rid)
        assert len(cards) == 1 and cards[0].revoked_at is None
        assert await issuance.revoke_cards(card_issuer, uow, rid, "lost_device") == [cards[0].card_id]
        await uow.commit()
    async with sessions() as session:  # the attributes were sealed, then erased at revocation
        from sqlalchemy import text
        rows = (await session.execute(text("SELECT holder_sealed, refresh_hash FROM card_offers WHERE resident_id = :r"),
                                      {"r": rid})).all()
        assert rows and all(tuple(row) == (None, None) for row in rows)
    issued = await outbox_events(sessions, "card_issued")
    revoked = await outbox_events(sessions, "card_revoked")
    assert [e["data"]["card_id"] for e in issued] == [cards[0].card_id]
    assert revoked[-1]["data"] == {"resident_id": rid, "card_id": cards[0].card_id, "reason": "lost_device"}
    # Identifiers only: no claim value of the card in the events.
    assert "Tremblay" not in json.dumps(issued + revoked)

    published = await issuance.status_list_endpoint(card_issuer, WireRequest("GET", "/card/status/1"))
    claims = json.loads(b64url_decode(published.body.split(".")[1]))
    entries = status_list.StatusList.decoded(claims["status_list"])
    assert entries.get(cards[0].status_index) == status_list.INVALID
