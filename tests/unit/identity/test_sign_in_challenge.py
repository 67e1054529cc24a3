"""The sealed sign-in challenge (WebAuthn s. 13.4.3; issue 24): issued without a database
write, it is accepted only as this service issued it — any altered byte, another service's
key or a stretched expiry makes it unknown — and its expiry is the one sealed in it."""

from __future__ import annotations

import datetime as dt

from webauthn.helpers import bytes_to_base64url

from services.identity.service_layer.passkeys import RelyingParty, sealed_sign_in_challenge, unsealed_expiry

EXPIRES = dt.datetime(2026, 12, 6, 12, 5, tzinfo=dt.timezone.utc)


def _key(secret: bytes = b"k" * 32) -> bytes:
    return RelyingParty.of_issuer("https://compte.montreal.ca", secret).challenge_key


def test_a_sealed_challenge_gives_back_its_expiry_and_is_random():
    first, second = (sealed_sign_in_challenge(_key(), EXPIRES) for _ in range(2))
    assert first != second and len(first) >= 16            # at least 16 random bytes (s. 13.4.3)
    assert unsealed_expiry(_key(), bytes_to_base64url(first)) == EXPIRES


def test_any_altered_byte_another_key_or_no_key_makes_it_unknown():
    sealed = bytearray(sealed_sign_in_challenge(_key(), EXPIRES))
    for index in range(len(sealed)):
        altered = bytearray(sealed)
        altered[index] ^= 0x01
        assert unsealed_expiry(_key(), bytes_to_base64url(bytes(altered))) is None, index
    assert unsealed_expiry(_key(b"another service's secret"), bytes_to_base64url(bytes(sealed))) is None
    assert unsealed_expiry(b"", bytes_to_base64url(bytes(sealed))) is None


def test_a_stored_challenge_or_garbage_is_not_taken_for_a_sealed_one():
    for challenge in ("QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB", "A" * 43, "not base64url!", ""):
        assert unsealed_expiry(_key(), challenge) is None


def test_the_key_is_derived_from_the_secret_never_the_secret_itself():
    secret = b"s" * 32
    assert _key(secret) not in (b"", secret) and len(_key(secret)) == 32
    assert RelyingParty.of_issuer("https://compte.montreal.ca").challenge_key == b""
