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


# RFC 9901 s. 5.1, the issuance example: every Disclosure (salt, claim, value), its encoded
# form and its digest, as the RFC prints them.
RFC_5_1 = [
    ("2GLC42sKQveCfGfryNRN9w", "given_name", "John",
     "WyIyR0xDNDJzS1F2ZUNmR2ZyeU5STjl3IiwgImdpdmVuX25hbWUiLCAiSm9obiJd",
     "jsu9yVulwQQlhFlM_3JlzMaSFzglhQG0DpfayQwLUK4"),
    ("eluV5Og3gSNII8EYnsxA_A", "family_name", "Doe",
     "WyJlbHVWNU9nM2dTTklJOEVZbnN4QV9BIiwgImZhbWlseV9uYW1lIiwgIkRvZSJd",
     "TGf4oLbgwd5JQaHyKVQZU9UdGE0w5rtDsrZzfUaomLo"),
    ("6Ij7tM-a5iVPGboS5tmvVA", "email", "johndoe@example.com",
     "WyI2SWo3dE0tYTVpVlBHYm9TNXRtdlZBIiwgImVtYWlsIiwgImpvaG5kb2VAZXhhbXBsZS5jb20iXQ",
     "JzYjH4svliH0R3PyEMfeZu6Jt69u5qehZo7F7EPYlSE"),
    ("eI8ZWm9QnKPpNPeNenHdhQ", "phone_number", "+1-202-555-0101",
     "WyJlSThaV205UW5LUHBOUGVOZW5IZGhRIiwgInBob25lX251bWJlciIsICIrMS0yMDItNTU1LTAxMDEiXQ",
     "PorFbpKuVu6xymJagvkFsFXAbRoc2JGlAUA2BA4o7cI"),
    ("Qg_O64zqAxe412a108iroA", "phone_number_verified", True,
     "WyJRZ19PNjR6cUF4ZTQxMmExMDhpcm9BIiwgInBob25lX251bWJlcl92ZXJpZmllZCIsIHRydWVd",
     "XQ_3kPKt1XyX7KANkqVR6yZ2Va5NrPIvPYbyMvRKBMM"),
    ("AJx-095VPrpTtN4QMOqROA", "address",
     {"street_address": "123 Main St", "locality": "Anytown", "region": "Anystate", "country": "US"},
     "WyJBSngtMDk1VlBycFR0TjRRTU9xUk9BIiwgImFkZHJlc3MiLCB7InN0cmVldF9hZGRyZXNzIjogIjEyMyBNYWluIFN0IiwgImxvY2FsaXR5"
     "IjogIkFueXRvd24iLCAicmVnaW9uIjogIkFueXN0YXRlIiwgImNvdW50cnkiOiAiVVMifV0",
     "XzFrzwscM6Gn6CJDc6vVK8BkMnfG8vOSKfpPIZdAfdE"),
    ("Pc33JM2LchcU_lHggv_ufQ", "birthdate", "1940-01-01",
     "WyJQYzMzSk0yTGNoY1VfbEhnZ3ZfdWZRIiwgImJpcnRoZGF0ZSIsICIxOTQwLTAxLTAxIl0",
     "gbOsI4Edq2x2Kw-w5wPEzakob9hV1cRD0ATN3oQL9JM"),
    ("G02NSrQfjFXQ7Io09syajA", "updated_at", 1570000000,
     "WyJHMDJOU3JRZmpGWFE3SW8wOXN5YWpBIiwgInVwZGF0ZWRfYXQiLCAxNTcwMDAwMDAwXQ",
     "CrQe7S5kqBAHt-nMYXgc6bdt2SH5aTY1sU_M-PgkjPI"),
    ("lklxF5jMYlGTPUovMNIvCA", None, "US", "WyJsa2x4RjVqTVlsR1RQVW92TU5JdkNBIiwgIlVTIl0",
     "pFndjkZ_VCzmyTa6UjlZo3dh-ko8aIKQc9DlGzhaVYo"),
    ("nPuoQnkRFq3BIeAm7AnXFA", None, "DE", "WyJuUHVvUW5rUkZxM0JJZUFtN0FuWEZBIiwgIkRFIl0",
     "7Cf6JkPudry3lcbwHgeZ8khAv1U1OSlerP0VkBJrWZ0"),
]
# The issuer-signed payload's _sd array in RFC 9901 s. 5.1 (sorted, as the RFC prints it).
RFC_5_1_SD = [
    "CrQe7S5kqBAHt-nMYXgc6bdt2SH5aTY1sU_M-PgkjPI", "JzYjH4svliH0R3PyEMfeZu6Jt69u5qehZo7F7EPYlSE",
    "PorFbpKuVu6xymJagvkFsFXAbRoc2JGlAUA2BA4o7cI", "TGf4oLbgwd5JQaHyKVQZU9UdGE0w5rtDsrZzfUaomLo",
    "XQ_3kPKt1XyX7KANkqVR6yZ2Va5NrPIvPYbyMvRKBMM", "XzFrzwscM6Gn6CJDc6vVK8BkMnfG8vOSKfpPIZdAfdE",
    "gbOsI4Edq2x2Kw-w5wPEzakob9hV1cRD0ATN3oQL9JM", "jsu9yVulwQQlhFlM_3JlzMaSFzglhQG0DpfayQwLUK4",
]


@pytest.mark.parametrize(("salt", "name", "value", "encoded", "digest"), RFC_5_1, ids=[
    row[1] or f"nationalities-{row[2]}" for row in RFC_5_1])
def test_rfc9901_section_5_1_every_disclosure_and_digest(salt, name, value, encoded, digest):
    d = Disclosure.of(salt, name, value)
    assert (d.encoded, d.digest) == (encoded, digest)
    assert Disclosure.parse(encoded) == d  # and read back as the verifier reads it


def test_rfc9901_section_5_1_payload_digests_and_processing(monkeypatch):
    # Concealing the RFC's claims with the RFC's salts gives the RFC's _sd array, byte for byte.
    object_rows = [row for row in RFC_5_1 if row[1] is not None]
    salts = iter(row[0] for row in object_rows)
    monkeypatch.setattr(sd_jwt, "new_salt", lambda: next(salts))
    claims = {row[1]: row[2] for row in object_rows}
    payload, disclosures = sd_jwt.conceal(claims, claims)
    assert payload == {"_sd": RFC_5_1_SD, "_sd_alg": "sha-256"}
    assert [d.encoded for d in disclosures] == [row[3] for row in object_rows]
    # The RFC's payload (plain claims and the two array elements) processed as a verifier
    # does (s. 7.1) with a holder's choice of Disclosures: only those claims appear.
    rfc_payload = {**payload, "iss": "https://issuer.example.com", "iat": 1683000000, "exp": 1883000000,
                   "sub": "user_42", "nationalities": [{"...": RFC_5_1[8][4]}, {"...": RFC_5_1[9][4]}]}
    chosen = [RFC_5_1[i][3] for i in (0, 1, 5, 9)]  # given_name, family_name, address, "DE"
    revealed, disclosed = sd_jwt._disclose(rfc_payload, chosen)
    assert disclosed == {"given_name", "family_name", "address"}
    assert revealed == {"iss": "https://issuer.example.com", "iat": 1683000000, "exp": 1883000000,
                        "sub": "user_42", "nationalities": ["DE"], "given_name": "John", "family_name": "Doe",
                        "address": RFC_5_1[5][2]}


def test_rfc9901_section_4_2_1_other_json_of_the_same_claim_has_its_own_digest():
    # s. 4.2.1: the same claim serialized without spaces is another valid Disclosure; the
    # digest is over the encoded string as presented, so the verifier must not re-serialize.
    compact = "WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsImZhbWlseV9uYW1lIiwiTcO2Yml1cyJd"
    d = Disclosure.parse(compact)
    assert (d.salt, d.name, d.value) == ("_26bc4LT-ac6q2KI6cBW5es", "family_name", "Möbius")
    assert d.digest == sd_jwt.digest(compact) != Disclosure.of(d.salt, d.name, d.value).digest


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
