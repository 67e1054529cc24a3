"""ES256 compact JWS, signed and verified with ``cryptography`` directly (RFC 7515 s. 7.1,
RFC 7518 s. 3.4).

Every client-credentials token is one ES256 signature and every introspection one ES256
verification. Through joserfc a signature cost twice the elliptic-curve operation itself
(registry lookups, header validation, key-object dispatch per call; issue 8 profiles), so
the hot paths use these two functions; RS256 ID tokens and everything else stay on joserfc.

RFC 7518 s. 3.4: the signature is the 64-octet ``R || S``, not the DER that OpenSSL returns.
The claims are compact JSON in UTF-8 (RFC 7519 s. 7.1), written by orjson: a tenth of
``json.dumps``'s time on the hottest path there is.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_HEADERS: dict[tuple[str, str], bytes] = {}


def b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def b64url_decode(segment: str | bytes) -> bytes:
    if isinstance(segment, str):
        segment = segment.encode("ascii")
    return base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4))


def _protected_header(kid: str, typ: str) -> bytes:
    # The header of a key never changes: encode it once per (kid, typ).
    encoded = _HEADERS.get((kid, typ))
    if encoded is None:
        encoded = b64url(json.dumps({"alg": "ES256", "kid": kid, "typ": typ}, separators=(",", ":")).encode())
        _HEADERS[(kid, typ)] = encoded
    return encoded


def sign(private_key: ec.EllipticCurvePrivateKey, kid: str, typ: str, claims: dict[str, Any]) -> str:
    """``header.payload.signature`` for ``claims`` (RFC 7515 s. 7.1)."""
    signing_input = _protected_header(kid, typ) + b"." + b64url(orjson.dumps(claims))
    r, s = decode_dss_signature(private_key.sign(signing_input, _ECDSA_SHA256))
    return (signing_input + b"." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))).decode("ascii")


def verify(public_key: ec.EllipticCurvePublicKey, token: str) -> bool:
    """Whether the ES256 signature of a compact JWS verifies (the caller checked ``alg``)."""
    signing_input, _, signature = token.rpartition(".")
    try:
        raw = b64url_decode(signature)
    except (binascii.Error, ValueError, UnicodeError):
        return False
    if len(raw) != 64:
        return False
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        public_key.verify(der, signing_input.encode("ascii"), _ECDSA_SHA256)
    except (InvalidSignature, UnicodeError):
        return False
    return True


class VerifiedSignatures:
    """Tokens whose ES256 signature already verified, so a token presented again (a resource
    server introspecting or validating the same token on every call) costs no second
    elliptic-curve verification.

    Only the signature is remembered — the one property of a token that cannot change. Expiry,
    issuer, type and revocation (RFC 7009) are checked again on every call by the callers, and
    a hit counts only while the signing key is still published (``key_for(kid)``): a key
    removed from the key ring takes its tokens with it. Bounded: the oldest entries go first.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self._kids: dict[str, str] = {}
        self._max = max_entries

    def verify(self, token: str, kid: str, key_for) -> bool:
        """``key_for(kid)`` → a ``cryptography`` EC public key or None."""
        key = key_for(kid)
        if key is None:
            return False
        if self._kids.get(token) == kid:
            return True
        if not verify(key, token):
            return False
        if len(self._kids) >= self._max:
            # dicts keep insertion order: drop the oldest tenth in one go
            for stale in list(self._kids)[: self._max // 10]:
                del self._kids[stale]
        self._kids[token] = kid
        return True


#: one per process, shared by introspection/userinfo and gRPC ValidateToken
VERIFIED = VerifiedSignatures()



def verified_claims(token: str, kid: str, key_for) -> dict[str, Any] | None:
    """The claims of an ES256 compact JWS whose signature verifies with ``key_for(kid)`` (a
    joserfc key or None), through the process's cache of verified signatures; None for any
    failure. The caller checks the header (``alg``, ``typ``) and the claims."""
    if not VERIFIED.verify(token, kid, lambda k: public_key_of(key_for(k))):
        return None
    try:
        claims = json.loads(b64url_decode(token.split(".")[1]))
    except (ValueError, UnicodeError, TypeError, IndexError):
        return None
    return claims if isinstance(claims, dict) else None


def public_key_of(key: Any) -> ec.EllipticCurvePublicKey | None:
    """The P-256 public key inside a joserfc key (private or public), or None for any other key."""
    public = getattr(key, "public_key", None)
    if isinstance(public, ec.EllipticCurvePublicKey) and isinstance(public.curve, ec.SECP256R1):
        return public
    return None
