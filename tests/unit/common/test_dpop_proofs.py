"""The DPoP proof checks (RFC 9449 s. 4.3) on proofs a client library makes (joserfc):
every accepted algorithm, ``htu`` compared without query/fragment and with default ports
normalised, and each refusal naming its check."""

from __future__ import annotations

import base64
import json
import time

import pytest
from joserfc.jwk import ECKey, OKPKey, RSAKey

from services.common import dpop
from services.common.testing.dpop import ProofMaker

URL = "https://identite.montreal.ca/token"


@pytest.mark.parametrize("key, alg", [(ECKey.generate_key("P-256"), "ES256"), (RSAKey.generate_key(2048), "RS256"),
                                      (RSAKey.generate_key(2048), "PS256"), (OKPKey.generate_key("Ed25519"), "EdDSA")])
def test_every_accepted_algorithm_gives_the_keys_thumbprint(key, alg):
    maker = ProofMaker(key, alg=alg)
    proof = dpop.check_proof(maker.proof("POST", URL, jti="one"), htm="POST", htu=URL)
    assert proof.jkt == key.thumbprint() and proof.jti == "one" and proof.nonce is None


@pytest.mark.parametrize("claimed", ["https://identite.montreal.ca/token?x=1", "https://IDENTITE.montreal.ca:443/token",
                                     "HTTPS://identite.montreal.ca/token#f"])
def test_htu_ignores_query_fragment_case_and_default_port(claimed):
    dpop.check_proof(ProofMaker().proof("POST", claimed), htm="POST", htu=URL)


def _unsigned(header: dict, claims: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    return f"{part(header)}.{part(claims)}."


def test_each_refusal_names_its_check():
    maker = ProofMaker()
    now = int(time.time())
    cases = {
        "missing": None,
        "malformed": "not-a-jwt",
        "typ": maker.proof("POST", URL, typ="JWT"),
        "alg": _unsigned({"typ": "dpop+jwt", "alg": "none", "jwk": maker.key.as_dict(private=False)},
                         {"htm": "POST", "htu": URL, "iat": now, "jti": "x"}),
        "jwk": _unsigned({"typ": "dpop+jwt", "alg": "ES256", "jwk": maker.key.as_dict(private=True)},
                         {"htm": "POST", "htu": URL, "iat": now, "jti": "x"}),
        "htm": maker.proof("GET", URL),
        "htu": maker.proof("POST", "https://identite.montreal.ca/userinfo"),
        "iat": maker.proof("POST", URL, iat=now - dpop.MAX_AGE - 5),
        "ath": maker.proof("POST", URL, access_token="another token"),
    }
    for reason, proof in cases.items():
        with pytest.raises(dpop.ProofInvalid) as refused:
            dpop.check_proof(proof, htm="POST", htu=URL, access_token="the token")
        assert refused.value.reason == reason, (reason, refused.value.reason)
    with pytest.raises(dpop.ProofInvalid) as refused:
        dpop.check_proof(maker.proof("POST", URL, iat=now + dpop.SKEW + 30), htm="POST", htu=URL)
    assert refused.value.reason == "iat"


def test_a_proof_signed_by_another_key_than_its_jwk_is_refused():
    maker, other = ProofMaker(), ProofMaker()
    head, payload, _ = maker.proof("POST", URL).split(".")
    _, _, signature = other.proof("POST", URL).split(".")
    with pytest.raises(dpop.ProofInvalid) as refused:
        dpop.check_proof(f"{head}.{payload}.{signature}", htm="POST", htu=URL)
    assert refused.value.reason == "signature"


@pytest.mark.parametrize("claimed", ["https://identite.montreal.ca:99999/token", "https://[::1/token", "token"])
def test_an_htu_that_is_no_uri_is_refused_not_an_error(claimed):
    with pytest.raises(dpop.ProofInvalid) as refused:
        dpop.check_proof(ProofMaker().proof("POST", claimed), htm="POST", htu=URL)
    assert refused.value.reason == "htu"
