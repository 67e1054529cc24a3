"""RFC 9901 (SD-JWT): the RFC's own disclosures and digests, and every refusal a verifier owes."""

from __future__ import annotations

import pytest
from joserfc.jwk import ECKey

from services.identity.card import sd_jwt
from services.identity.card.sd_jwt import Disclosure, PresentationRefused

NOW = 1_780_000_000
TYP = "dc+sd-jwt"


# --- RFC 9901's examples -------------------------------------------------------------------


def test_rfc9901_object_property_disclosure_and_digest():
    # RFC 9901 s. 4.2.1 (the Disclosure) and s. 4.2.3 (its digest).
    d = Disclosure.of("_26bc4LT-ac6q2KI6cBW5es", "family_name", "Möbius")
    assert d.encoded == "WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsICJmYW1pbHlfbmFtZSIsICJNw7ZiaXVzIl0"
    assert d.digest == "X9yH0Ajrdm1Oij4tWso9UzzKJvPoDxwmuEcO3XAdRC0"


def test_rfc9901_array_element_disclosure_and_digest():
    # RFC 9901 s. 4.2.2 and s. 4.2.3.
    d = Disclosure.of("lklxF5jMYlGTPUovMNIvCA", None, "FR")
    assert d.encoded == "WyJsa2x4RjVqTVlsR1RQVW92TU5JdkNBIiwgIkZSIl0"
    assert d.digest == "w0I8EKcdCtUPkGCNUrfwVp2xEgNjtoIDlOxc9-PlOhs"


def test_rfc9901_example_given_name_disclosure():
    # RFC 9901 s. 5.1's example SD-JWT: the given_name Disclosure and its digest.
    d = Disclosure.of("2GLC42sKQveCfGfryNRN9w", "given_name", "John")
    assert d.encoded == "WyIyR0xDNDJzS1F2ZUNmR2ZyeU5STjl3IiwgImdpdmVuX25hbWUiLCAiSm9obiJd"
    assert d.digest == "jsu9yVulwQQlhFlM_3JlzMaSFzglhQG0DpfayQwLUK4"


def test_digest_is_over_the_encoded_disclosure_not_its_json():
    d = Disclosure.of("_26bc4LT-ac6q2KI6cBW5es", "family_name", "Möbius")
    assert Disclosure.parse(d.encoded) == d
    import hashlib

    over_json = sd_jwt.b64url(hashlib.sha256(sd_jwt.b64url_decode(d.encoded)).digest())
    assert over_json != d.digest


def test_verifier_processes_the_rfc_array_element_form():
    # A payload that hides one nationality as {"...": digest} (RFC 9901 s. 4.2.4.2).
    de, fr = Disclosure.of("salt-de", None, "DE"), Disclosure.of("lklxF5jMYlGTPUovMNIvCA", None, "FR")
    claims, disclosed = sd_jwt._disclose({"nationalities": [{"...": de.digest}, {"...": fr.digest}]}, [fr.encoded])
    assert claims == {"nationalities": ["FR"]}


# --- issue, present, verify ----------------------------------------------------------------


@pytest.fixture(scope="module")
def keys():
    return ECKey.generate_key("P-256"), ECKey.generate_key("P-256")


CARD = {
    "iss": "https://id.montreal.example",
    "vct": "https://id.montreal.example/vct/carte-citoyenne",
    "iat": NOW - 60,
    "exp": NOW + 14 * 86400,
    "citizen_number": "MTL-1234-5678",
    "given_name": "Éloïse",
    "family_name": "Tremblay",
    "age_over_18": True,
    "age_over_65": False,
}
DISCLOSABLE = ["citizen_number", "given_name", "family_name", "age_over_18", "age_over_65"]


def _card(keys, **overrides):
    issuer, holder = keys
    claims = {**CARD, **overrides}
    return sd_jwt.issue(claims, DISCLOSABLE, issuer, kid="card-1", typ=TYP, holder_jwk=holder.as_dict(private=False))


def _verify(keys, presentation, **kwargs):
    issuer, _ = keys
    args = {"expected_typ": TYP, "audience": "bibliotheque-ahuntsic", "nonce": "n-123", "now": NOW}
    return sd_jwt.verify(presentation, {"card-1": ECKey.import_key(issuer.as_dict(private=False))}, **{**args, **kwargs})


def _present(keys, card, names=("age_over_18",), **kwargs):
    args = {"audience": "bibliotheque-ahuntsic", "nonce": "n-123", "issued_at": NOW}
    return sd_jwt.present(card, names, keys[1], **{**args, **kwargs})


def test_issued_card_hides_every_disclosable_claim(keys):
    card = _card(keys)
    payload = sd_jwt._verified(card.split("~")[0], lambda h: keys[0], "x")[1]
    assert "age_over_18" not in payload and "given_name" not in payload
    assert len(payload["_sd"]) == len(DISCLOSABLE) and payload["_sd_alg"] == "sha-256"
    assert payload["cnf"]["jwk"]["kty"] == "EC" and "d" not in payload["cnf"]["jwk"]
    assert set(sd_jwt.disclosed_names(card)) == set(DISCLOSABLE)


def test_presentation_of_only_age_over_18_shows_only_that(keys):
    result = _verify(keys, _present(keys, _card(keys)))
    assert result.disclosed == {"age_over_18"}
    assert result.claims["age_over_18"] is True
    for hidden in ("given_name", "family_name", "citizen_number", "age_over_65"):
        assert hidden not in result.claims


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("wrong_nonce", "wrong_nonce"),
        ("wrong_audience", "wrong_audience"),
        ("tampered_disclosure", "tampered_disclosure"),
        ("added_disclosure", "tampered_disclosure"),
        ("expired", "expired"),
        ("key_binding_missing", "key_binding_missing"),
        ("stale_key_binding", "stale_key_binding"),
        ("other_holder", "bad_key_binding"),
        ("forged_issuer", "unknown_key"),
    ],
)
def test_bad_presentations_are_refused_with_a_reason(keys, case, reason):
    card = _card(keys)
    if case == "wrong_nonce":
        p = _present(keys, card, nonce="n-old")
    elif case == "wrong_audience":
        p = _present(keys, card, audience="another-verifier")
    elif case == "tampered_disclosure":
        # Change the disclosed value from true to false, keeping the salt.
        p = _present(keys, card)
        jwt, disclosure, kb = p.split("~")
        d = Disclosure.parse(disclosure)
        forged = Disclosure.of(d.salt, d.name, False).encoded
        p = f"{jwt}~{forged}~{kb}"
    elif case == "added_disclosure":
        # A disclosure slipped in after the holder signed: sd_hash no longer matches.
        p = _present(keys, card)
        jwt, disclosure, kb = p.split("~")
        extra = sd_jwt.disclosed_names(card)["given_name"]
        p = f"{jwt}~{disclosure}~{extra}~{kb}"
    elif case == "expired":
        p = _present(keys, _card(keys, exp=NOW - 3600))
    elif case == "key_binding_missing":
        p = _present(keys, card).rsplit("~", 1)[0] + "~"
    elif case == "stale_key_binding":
        p = _present(keys, card, issued_at=NOW - 3600)
    elif case == "other_holder":
        p = sd_jwt.present(card, ["age_over_18"], ECKey.generate_key("P-256"),
                           audience="bibliotheque-ahuntsic", nonce="n-123", issued_at=NOW)
    else:
        p = _present(keys, sd_jwt.issue(CARD, DISCLOSABLE, ECKey.generate_key("P-256"), kid="card-9", typ=TYP,
                                        holder_jwk=keys[1].as_dict(private=False)))
    with pytest.raises(PresentationRefused) as refused:
        _verify(keys, p)
    assert refused.value.reason == reason


def test_an_unsigned_issuer_jwt_is_refused(keys):
    card = _card(keys)
    jwt = card.split("~")[0]
    header = sd_jwt.b64url(b'{"alg":"none","typ":"dc+sd-jwt","kid":"card-1"}')
    p = _present(keys, header + "." + jwt.split(".")[1] + ".~")
    with pytest.raises(PresentationRefused) as refused:
        _verify(keys, p)
    assert refused.value.reason == "bad_signature"
