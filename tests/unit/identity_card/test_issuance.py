"""OpenID4VCI 1.0 pre-authorized code flow of the carte citoyenne, endpoint by endpoint."""

from __future__ import annotations

import json
import urllib.parse

import pytest
from joserfc import jws
from joserfc.jwk import ECKey

from services.identity.card import issuance, sd_jwt, verifier
from services.identity.card.issuance import CardConfig, CardIssuer, CardKey, OfferRefused
from services.identity.card.sd_jwt import PresentationRefused
from services.identity.domain.assurance import LevelOfAssurance
from services.identity.oidc.wire import WireRequest
from tests.unit.identity_card.fakes import ELOISE, FakeResident, FakeUnitOfWork, Tables

ISSUER = "https://id.montreal.example"
RESIDENT = "MTL-2026-0000-0001"


class Clock:
    def __init__(self):
        self.now = 1_780_000_000

    def __call__(self):
        return self.now


@pytest.fixture
def world():
    tables, clock = Tables(), Clock()
    tables.residents[RESIDENT] = FakeResident(RESIDENT)
    card_issuer = CardIssuer(CardConfig(issuer=ISSUER, nonce_key=b"k" * 32),
                             CardKey("card-2026-1", ECKey.generate_key("P-256")),
                             lambda: FakeUnitOfWork(tables), clock)
    return card_issuer, tables, clock


def post(path, **form):
    return WireRequest("POST", path, form={k: [v] for k, v in form.items()})


async def token_for(card_issuer, offer, tx_code=None):
    code = offer.offer["grants"][issuance.PRE_AUTHORIZED_GRANT]["pre-authorized_code"]
    return await issuance.token_endpoint(card_issuer, post(
        "/card/token", grant_type=issuance.PRE_AUTHORIZED_GRANT, **{"pre-authorized_code": code},
        tx_code=tx_code or offer.tx_code))


def proof(wallet_key, nonce, aud=ISSUER, iat=None, typ=issuance.PROOF_TYP, now=1_780_000_000):
    header = {"alg": "ES256", "typ": typ, "jwk": wallet_key.as_dict(private=False)}
    body = json.dumps({"aud": aud, "iat": iat or now, "nonce": nonce}).encode()
    return jws.serialize_compact(header, body, wallet_key, algorithms=["ES256"])


async def credential(card_issuer, access_token, proof_jwt, configuration=issuance.CONFIGURATION_ID):
    request = WireRequest("POST", "/card/credential", headers={"authorization": f"Bearer {access_token}"})
    body = json.dumps({"credential_configuration_id": configuration, "proofs": {"jwt": [proof_jwt]}}).encode()
    return await issuance.credential_endpoint(card_issuer, request, body)


async def issue_card(card_issuer, wallet_key):
    offer = await issuance.create_offer(card_issuer, RESIDENT, ELOISE)
    token = (await token_for(card_issuer, offer)).body["access_token"]
    nonce = (await issuance.nonce_endpoint(card_issuer, post("/card/nonce"))).body["c_nonce"]
    response = await credential(card_issuer, token, proof(wallet_key, nonce, now=card_issuer.now()))
    assert response.status == 200, response.body
    return response.body["credentials"][0]["credential"]


async def test_offer_to_offline_verification_to_revocation(world):
    card_issuer, tables, clock = world
    wallet_key = ECKey.generate_key("P-256")
    offer = await issuance.create_offer(card_issuer, RESIDENT, ELOISE)
    # The offer is a link the QR code carries; the transaction code is not in it.
    parsed = json.loads(urllib.parse.unquote(offer.uri.split("credential_offer=", 1)[1]))
    assert parsed["credential_issuer"] == ISSUER and offer.tx_code not in offer.uri
    card = await issue_card(card_issuer, wallet_key)
    assert [e.NAME for e in tables.outbox] == ["card_issued"]
    assert set(sd_jwt.disclosed_names(card)) == set(issuance.DISCLOSABLE)

    endpoints = {ISSUER + "/.well-known/jwt-vc-issuer": issuance.jwt_vc_issuer_endpoint,
                 ISSUER + "/card/status/1": issuance.status_list_endpoint}

    async def fetch_all():
        bodies = {}
        for url, endpoint in endpoints.items():
            bodies[url] = (await endpoint(card_issuer, WireRequest("GET", url))).body_bytes().decode()
        return bodies

    bodies = await fetch_all()
    cache = verifier.refresh(ISSUER, bodies.__getitem__, now=clock.now)
    presentation = sd_jwt.present(card, ["age_over_18"], wallet_key, audience="comptoir", nonce="n1",
                                  issued_at=clock.now)
    check = verifier.OfflineVerifier(cache).verify(presentation, audience="comptoir", nonce="n1", now=clock.now)
    assert check.disclosed == {"age_over_18": True}

    async with card_issuer.uow_factory() as uow:
        assert await issuance.revoke_cards(card_issuer, uow, RESIDENT, "lost_device")
        await uow.commit()
    assert [e.NAME for e in tables.outbox] == ["card_issued", "card_revoked"]
    # revoked: no renewal, and the sealed attributes are gone
    assert [(o.holder, o.refresh_hash) for o in tables.offers.values()] == [(None, None), (None, None)]
    cache = verifier.refresh(ISSUER, (await fetch_all()).__getitem__, now=clock.now)
    with pytest.raises(PresentationRefused) as refused:
        verifier.OfflineVerifier(cache).verify(presentation, audience="comptoir", nonce="n1", now=clock.now)
    assert refused.value.reason == "revoked"


async def test_card_claims_and_lifetime(world):
    card_issuer, _, clock = world
    card = await issue_card(card_issuer, ECKey.generate_key("P-256"))
    jwt = card.split("~")[0]
    header, payload = sd_jwt._verified(jwt, lambda h: card_issuer.key.key, "x")
    assert header["typ"] == "dc+sd-jwt" and header["kid"] == "card-2026-1"
    assert payload["vct"] == ISSUER + "/vct/carte-citoyenne"
    assert payload["exp"] - payload["iat"] == 14 * 86400
    assert payload["status"]["status_list"] == {"idx": 0, "uri": ISSUER + "/card/status/1"}
    claims, _ = sd_jwt._disclose(payload, card.split("~")[1:-1])
    assert claims["age_over_18"] is True and claims["age_over_65"] is False
    assert claims["citizen_number"] == RESIDENT and claims["borough"] == "Ahuntsic-Cartierville"
    assert claims["assurance_level"] == 2 and claims["resident_of_montreal"] is True


async def test_level_one_and_disabled_residents_get_no_offer(world):
    card_issuer, tables, _ = world
    tables.residents[RESIDENT].level = LevelOfAssurance.SELF_ASSERTED
    with pytest.raises(OfferRefused, match="level_too_low"):
        await issuance.create_offer(card_issuer, RESIDENT, ELOISE)
    tables.residents[RESIDENT].level = LevelOfAssurance.VERIFIED
    with pytest.raises(OfferRefused, match="attributes_unavailable"):
        await issuance.create_offer(card_issuer, RESIDENT, None)
    tables.residents[RESIDENT].disabled = True
    with pytest.raises(OfferRefused, match="resident_inactive"):
        await issuance.create_offer(card_issuer, RESIDENT, ELOISE)


async def test_token_endpoint_refuses_wrong_codes_and_reuse(world):
    card_issuer, _, clock = world
    offer = await issuance.create_offer(card_issuer, RESIDENT, ELOISE)
    wrong = "000000" if offer.tx_code != "000000" else "111111"
    for _ in range(issuance.TX_CODE_ATTEMPTS):
        response = await token_for(card_issuer, offer, tx_code=wrong)
        assert (response.status, response.body["error"]) == (400, "invalid_grant")
    # After three wrong transaction codes, even the right one no longer works.
    assert (await token_for(card_issuer, offer)).body["error"] == "invalid_grant"

    offer = await issuance.create_offer(card_issuer, RESIDENT, ELOISE)
    assert (await token_for(card_issuer, offer)).status == 200
    assert (await token_for(card_issuer, offer)).body["error"] == "invalid_grant"  # single use

    offer = await issuance.create_offer(card_issuer, RESIDENT, ELOISE)
    clock.now += 601
    assert (await token_for(card_issuer, offer)).body["error"] == "invalid_grant"  # expired

    missing = await issuance.token_endpoint(card_issuer, post("/card/token", grant_type=issuance.PRE_AUTHORIZED_GRANT))
    assert (missing.status, missing.body["error"]) == (400, "invalid_request")
    assert "pre-authorized_code" in missing.body["error_description"]
    other = await issuance.token_endpoint(card_issuer, post("/card/token", grant_type="password"))
    assert other.body["error"] == "unsupported_grant_type"


@pytest.mark.parametrize(("case", "status", "error"), [
    ("no_token", 401, "invalid_token"),
    ("unknown_configuration", 400, "unknown_credential_configuration"),
    ("wrong_typ", 400, "invalid_proof"),
    ("wrong_aud", 400, "invalid_proof"),
    ("not_the_header_s_key", 400, "invalid_proof"),
    ("private_key_in_header", 400, "invalid_proof"),
    ("old_iat", 400, "invalid_proof"),
    ("forged_nonce", 400, "invalid_nonce"),
    ("stale_nonce", 400, "invalid_nonce"),
    ("expired_token", 401, "invalid_token"),
])
async def test_credential_endpoint_refusals(world, case, status, error):
    card_issuer, tables, clock = world
    wallet_key = ECKey.generate_key("P-256")
    offer = await issuance.create_offer(card_issuer, RESIDENT, ELOISE)
    token = (await token_for(card_issuer, offer)).body["access_token"]
    nonce = (await issuance.nonce_endpoint(card_issuer, post("/card/nonce"))).body["c_nonce"]
    args = {"access_token": token, "proof_jwt": proof(wallet_key, nonce, now=clock.now)}
    if case == "no_token":
        args["access_token"] = ""
    elif case == "unknown_configuration":
        args["configuration"] = "mdoc"
    elif case == "wrong_typ":
        args["proof_jwt"] = proof(wallet_key, nonce, typ="JWT", now=clock.now)
    elif case == "wrong_aud":
        args["proof_jwt"] = proof(wallet_key, nonce, aud="https://ailleurs.example", now=clock.now)
    elif case == "not_the_header_s_key":
        # proof of possession: signed by another key than the one the card would be bound to
        header = {"alg": "ES256", "typ": issuance.PROOF_TYP, "jwk": wallet_key.as_dict(private=False)}
        body = json.dumps({"aud": ISSUER, "iat": clock.now, "nonce": nonce}).encode()
        args["proof_jwt"] = jws.serialize_compact(header, body, ECKey.generate_key("P-256"), algorithms=["ES256"])
    elif case == "private_key_in_header":
        header = {"alg": "ES256", "typ": issuance.PROOF_TYP, "jwk": wallet_key.as_dict(private=True)}
        body = json.dumps({"aud": ISSUER, "iat": clock.now, "nonce": nonce}).encode()
        args["proof_jwt"] = jws.serialize_compact(header, body, wallet_key, algorithms=["ES256"])
    elif case == "old_iat":
        args["proof_jwt"] = proof(wallet_key, nonce, iat=clock.now - 3600, now=clock.now)
    elif case == "forged_nonce":
        args["proof_jwt"] = proof(wallet_key, nonce[:-2] + "xx", now=clock.now)
    elif case == "stale_nonce":
        clock.now += 301  # the nonce is now too old; the access token is a fresh one
        fresh = await issuance.create_offer(card_issuer, RESIDENT, ELOISE)
        args["access_token"] = (await token_for(card_issuer, fresh)).body["access_token"]
        args["proof_jwt"] = proof(wallet_key, nonce, now=clock.now)
    elif case == "expired_token":
        clock.now += 301
        nonce = (await issuance.nonce_endpoint(card_issuer, post("/card/nonce"))).body["c_nonce"]
        args["proof_jwt"] = proof(wallet_key, nonce, now=clock.now)
    response = await credential(card_issuer, **args)
    assert (response.status, response.body["error"]) == (status, error)
    assert tables.cards == [] and tables.outbox == []


async def test_status_list_is_signed_and_cacheable(world):
    card_issuer, _, _ = world
    response = await issuance.status_list_endpoint(card_issuer, WireRequest("GET", "/card/status/1"))
    headers = dict(response.headers)
    assert headers["Content-Type"] == "application/statuslist+jwt"
    assert headers["Cache-Control"] == "public, max-age=3600"
    assert json.loads(sd_jwt.b64url_decode(response.body.split(".")[0]))["typ"] == "statuslist+jwt"


async def test_metadata_names_the_endpoints_and_the_card_key_not_the_token_key(world):
    card_issuer, _, _ = world
    metadata = (await issuance.metadata_endpoint(card_issuer, WireRequest("GET", "/"))).body
    config = metadata["credential_configurations_supported"][issuance.CONFIGURATION_ID]
    assert metadata["nonce_endpoint"] == ISSUER + "/card/nonce"
    assert config["format"] == "dc+sd-jwt" and config["proof_types_supported"]["jwt"]
    assert [c["path"] for c in config["credential_metadata"]["claims"]] == [[n] for n in issuance.DISCLOSABLE]
    keys = (await issuance.jwt_vc_issuer_endpoint(card_issuer, WireRequest("GET", "/"))).body["jwks"]["keys"]
    assert [k["kid"] for k in keys] == ["card-2026-1"]


async def test_the_wallet_renews_silently_until_revocation(world):
    card_issuer, tables, clock = world
    wallet_key = ECKey.generate_key("P-256")
    offer = await issuance.create_offer(card_issuer, RESIDENT, ELOISE)
    first = (await token_for(card_issuer, offer)).body
    nonce = (await issuance.nonce_endpoint(card_issuer, post("/card/nonce"))).body["c_nonce"]
    assert (await credential(card_issuer, first["access_token"], proof(wallet_key, nonce, now=clock.now))).status == 200

    clock.now += 13 * 86400  # a day before the card expires, the wallet renews it
    renewed = await issuance.token_endpoint(card_issuer, post("/card/token", grant_type="refresh_token",
                                                              refresh_token=first["refresh_token"]))
    assert renewed.status == 200 and renewed.body["refresh_token"] != first["refresh_token"]
    nonce = (await issuance.nonce_endpoint(card_issuer, post("/card/nonce"))).body["c_nonce"]
    again = await credential(card_issuer, renewed.body["access_token"], proof(wallet_key, nonce, now=clock.now))
    assert again.status == 200
    _, payload = sd_jwt._verified(again.body["credentials"][0]["credential"].split("~")[0],
                                  lambda h: card_issuer.key.key, "x")
    assert payload["exp"] == clock.now + 14 * 86400 and payload["status"]["status_list"]["idx"] == 1
    # the ledger is told which card was a renewal (a card_renewed entry, not a new data access)
    assert [e.renewal for e in tables.outbox if e.NAME == "card_issued"] == [False, True]
    # the access token gave one card: a second request with it is refused
    nonce = (await issuance.nonce_endpoint(card_issuer, post("/card/nonce"))).body["c_nonce"]
    twice = await credential(card_issuer, renewed.body["access_token"], proof(wallet_key, nonce, now=clock.now))
    assert (twice.status, twice.body["error"]) == (401, "invalid_token")
    # the used refresh token is spent (rotation)
    reuse = await issuance.token_endpoint(card_issuer, post("/card/token", grant_type="refresh_token",
                                                            refresh_token=first["refresh_token"]))
    assert reuse.body["error"] == "invalid_grant"

    async with card_issuer.uow_factory() as uow:
        await issuance.revoke_cards(card_issuer, uow, RESIDENT, "lost_device")
        await uow.commit()
    after = await issuance.token_endpoint(card_issuer, post("/card/token", grant_type="refresh_token",
                                                            refresh_token=renewed.body["refresh_token"]))
    assert (after.status, after.body["error"]) == (400, "invalid_grant")


async def test_no_renewal_past_the_window_or_for_a_disabled_resident(world):
    card_issuer, tables, clock = world
    offer = await issuance.create_offer(card_issuer, RESIDENT, ELOISE)
    refresh = (await token_for(card_issuer, offer)).body["refresh_token"]
    tables.residents[RESIDENT].disabled = True
    refused = await issuance.token_endpoint(card_issuer, post("/card/token", grant_type="refresh_token",
                                                              refresh_token=refresh))
    assert refused.body["error"] == "invalid_grant"
    tables.residents[RESIDENT].disabled = False
    clock.now += 90 * 86400 + 1
    late = await issuance.token_endpoint(card_issuer, post("/card/token", grant_type="refresh_token",
                                                           refresh_token=refresh))
    assert late.body["error"] == "invalid_grant"
    missing = await issuance.token_endpoint(card_issuer, post("/card/token", grant_type="refresh_token"))
    assert (missing.body["error"], missing.body["error_description"]) == ("invalid_request", "refresh_token is required")


async def test_a_copied_refresh_token_renews_nothing_without_the_wallet_key(world):
    card_issuer, tables, clock = world
    wallet_key, thief_key = ECKey.generate_key("P-256"), ECKey.generate_key("P-256")
    offer = await issuance.create_offer(card_issuer, RESIDENT, ELOISE)
    first = (await token_for(card_issuer, offer)).body
    nonce = (await issuance.nonce_endpoint(card_issuer, post("/card/nonce"))).body["c_nonce"]
    assert (await credential(card_issuer, first["access_token"], proof(wallet_key, nonce, now=clock.now))).status == 200
    stolen = (await issuance.token_endpoint(card_issuer, post("/card/token", grant_type="refresh_token",
                                                              refresh_token=first["refresh_token"]))).body
    nonce = (await issuance.nonce_endpoint(card_issuer, post("/card/nonce"))).body["c_nonce"]
    refused = await credential(card_issuer, stolen["access_token"], proof(thief_key, nonce, now=clock.now))
    assert (refused.status, refused.body["error"]) == (400, "invalid_proof")
    assert len(tables.cards) == 1
