"""The hand-written ES256 JWS (``services.identity.oidc.es256``) agrees with joserfc both ways,
and its cache of verified signatures never lets through what a fresh check would refuse."""

from __future__ import annotations

import json

import pytest
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from services.identity.oidc import es256

CLAIMS = {"iss": "https://compte.montreal.ca", "sub": "client-a", "scope": "accounts:release", "exp": 2_000_000_000}


@pytest.fixture
def key() -> ECKey:
    return ECKey.generate_key("P-256", private=True)


def test_a_token_we_sign_verifies_with_joserfc_and_carries_header_and_claims(key):
    token = es256.sign(key.private_key, "kid-1", "at+jwt", CLAIMS)
    decoded = jwt.decode(token, key, algorithms=["ES256"])
    assert decoded.header == {"alg": "ES256", "kid": "kid-1", "typ": "at+jwt"}
    assert decoded.claims == CLAIMS


def test_a_joserfc_token_verifies_here_and_any_change_breaks_it(key):
    token = jwt.encode({"alg": "ES256", "kid": "k"}, CLAIMS, key, algorithms=["ES256"])
    assert es256.verify(key.public_key, token)
    head, payload, signature = token.split(".")
    forged = json.dumps({**CLAIMS, "scope": "accounts:admin"}, separators=(",", ":")).encode()
    assert not es256.verify(key.public_key, f"{head}.{es256.b64url(forged).decode()}.{signature}")
    assert not es256.verify(key.public_key, f"{head}.{payload}.{signature[:-4]}AAAA")
    assert not es256.verify(key.public_key, f"{head}.{payload}.{signature[:20]}")     # not 64 octets
    assert not es256.verify(key.public_key, f"{head}.{payload}.***")                  # not base64url
    other = ECKey.generate_key("P-256", private=True)
    assert not es256.verify(other.public_key, token)


def test_joserfc_refuses_a_token_signed_by_another_key(key):
    token = es256.sign(ECKey.generate_key("P-256", private=True).private_key, "kid-1", "at+jwt", CLAIMS)
    with pytest.raises(JoseError):
        jwt.decode(token, key, algorithms=["ES256"])


def test_only_p256_keys_are_used_for_es256(key):
    assert es256.public_key_of(key) is not None
    assert es256.public_key_of(ECKey.generate_key("P-384", private=True)) is None
    assert es256.public_key_of(RSAKey.generate_key(2048, private=True)) is None
    assert es256.public_key_of(None) is None


def test_the_cache_remembers_a_signature_only_while_its_key_is_published(key):
    cache = es256.VerifiedSignatures()
    published = {"kid-1": key.public_key}
    token = es256.sign(key.private_key, "kid-1", "at+jwt", CLAIMS)
    assert cache.verify(token, "kid-1", published.get)
    assert cache.verify(token, "kid-1", published.get)           # a hit
    assert not cache.verify(token, "kid-2", published.get)       # another kid is not this entry
    published.clear()                                            # key removed from the ring
    assert not cache.verify(token, "kid-1", published.get)


def test_the_cache_never_remembers_a_failure_and_stays_bounded(key):
    cache = es256.VerifiedSignatures(max_entries=20)
    published = {"k": key.public_key}
    bad = es256.sign(ECKey.generate_key("P-256", private=True).private_key, "k", "at+jwt", CLAIMS)
    assert not cache.verify(bad, "k", published.get)
    assert not cache.verify(bad, "k", published.get)
    for n in range(100):
        assert cache.verify(es256.sign(key.private_key, "k", "at+jwt", {**CLAIMS, "n": n}), "k", published.get)
    assert len(cache._kids) <= 20
