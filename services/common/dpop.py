"""DPoP proofs (RFC 9449): checking one proof JWT, for the token endpoint, userinfo and the
services' gRPC token verification alike.

A DPoP proof is a JWT the client signs, for one request, with a private key it keeps; the
access token then carries the key's thumbprint (``cnf.jkt``, s. 6.1) and is worthless to
whoever copies it without the key. :func:`check_proof` applies s. 4.3's checks, in order:

1. one well-formed JWS (items 1-3); ``typ`` is ``dpop+jwt`` (item 4);
2. ``alg`` is an asymmetric algorithm we accept, never ``none`` or HMAC (item 5);
3. ``jwk`` is a public key, no private part (item 7); the signature verifies with it (item 6);
4. ``htm`` is the request's method and ``htu`` its URI without query and fragment (items 8-9);
5. ``iat`` within the accepted window (item 11): at most ``max_age`` seconds old and at most
   ``skew`` seconds ahead;
6. ``jti`` present (item 10; whether it was seen before is the caller's store, s. 11.1);
7. with an access token: ``ath`` is its SHA-256 (item 12).

The ``nonce`` (item 10, s. 8-9) and the ``jti`` store are the caller's: what they need
(a secret, a database) differs between identity and the services.

Nothing here imports a web framework or gRPC; errors carry a short ``reason`` for logs and a
description for the client, never the proof or the token.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import math
import time
from urllib.parse import urlsplit, urlunsplit

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry

PROOF_TYPE = "dpop+jwt"
#: RFC 9449 s. 5.1 ``dpop_signing_alg_values_supported``: asymmetric only (s. 4.2)
ALGORITHMS = ("ES256", "PS256", "RS256", "EdDSA")
MAX_AGE = 60          # seconds: a proof is made for one request, just before it (s. 11.1)
SKEW = 10             # seconds a client's clock may run ahead of ours
MAX_PROOF_LENGTH = 8192
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")


def _registry(alg: str) -> jws.JWSRegistry:
    registry = jws.JWSRegistry(algorithms=[alg])
    # the header carries the public key: an RSA key's JWK alone passes joserfc's 512 bytes
    registry.max_header_length = 2048
    return registry


_REGISTRIES = {alg: _registry(alg) for alg in ALGORITHMS}


class ProofInvalid(Exception):
    """The proof fails a check of RFC 9449 s. 4.3: ``invalid_dpop_proof`` (s. 5, 7.1)."""

    def __init__(self, reason: str, description: str) -> None:
        super().__init__(description)
        self.reason = reason
        self.description = description


@dataclasses.dataclass(frozen=True)
class Proof:
    """A proof that passed :func:`check_proof`."""

    jkt: str          # RFC 7638 thumbprint of the proof's key (s. 6.1)
    jti: str
    iat: int
    nonce: str | None


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def access_token_hash(token: str) -> str:
    """``ath`` (s. 4.2): base64url of the SHA-256 of the access token's ASCII bytes."""
    return b64url(hashlib.sha256(token.encode("ascii")).digest())


def normalized_uri(uri: str) -> str:
    """A URI as ``htu`` compares it (s. 4.3 item 9): no query, no fragment, scheme and host
    lower-case, a default port dropped (RFC 3986 s. 6.2.2-6.2.3)."""
    parts = urlsplit(uri)
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    port = parts.port
    netloc = host if port is None or (scheme, port) in (("https", 443), ("http", 80)) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", "", ""))


def _normalized_or_none(uri: str) -> str | None:
    """A client's ``htu`` normalised, or None when it is no URI (an out-of-range port, a
    broken IPv6 literal: ``urlsplit`` raises on those)."""
    try:
        return normalized_uri(uri)
    except ValueError:
        return None


def _segment(value: str) -> dict:
    decoded = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    if not isinstance(decoded, dict):
        raise ValueError("not an object")
    return decoded


def unverified_claims(proof: str | None) -> dict:
    """A proof's claims before any check (only to read the authority a gRPC caller used)."""
    try:
        return _segment(proof.split(".")[1]) if proof and proof.count(".") == 2 else {}
    except (ValueError, UnicodeError):
        return {}


def check_proof(proof: str | None, *, htm: str, htu: str, access_token: str | None = None,
                now: float | None = None, max_age: int = MAX_AGE, skew: int = SKEW) -> Proof:
    """The checked proof, or :class:`ProofInvalid` naming the first check that failed."""
    if not proof:
        raise ProofInvalid("missing", "A DPoP proof is required.")
    if len(proof) > MAX_PROOF_LENGTH or "," in proof or proof.count(".") != 2:
        # a comma: the header was sent twice (s. 4.3 item 1: exactly one)
        raise ProofInvalid("malformed", "Exactly one DPoP proof JWT is required.")
    try:
        header = _segment(proof.split(".", 1)[0])
    except (ValueError, UnicodeError):
        raise ProofInvalid("malformed", "The DPoP proof is not a JWT.") from None
    if header.get("typ") != PROOF_TYPE:
        raise ProofInvalid("typ", "The DPoP proof's typ must be dpop+jwt.")
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise ProofInvalid("alg", "The DPoP proof's algorithm is not accepted.")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict) or any(member in jwk for member in _PRIVATE_MEMBERS):
        raise ProofInvalid("jwk", "The DPoP proof must carry its public key (jwk), and only it.")
    try:
        key = JWKRegistry.import_key(dict(jwk))
        registry = _REGISTRIES[alg]
        compact = jws.extract_compact(proof.encode("ascii"), registry=registry)
        if not jws.validate_compact(compact, key, registry=registry):
            raise ProofInvalid("signature", "The DPoP proof's signature does not verify.")
        claims = json.loads(compact.payload)
        jkt = key.thumbprint()
    except ProofInvalid:
        raise
    except (JoseError, ValueError, TypeError, KeyError, UnicodeError):
        raise ProofInvalid("signature", "The DPoP proof's signature does not verify.") from None
    if not isinstance(claims, dict):
        raise ProofInvalid("malformed", "The DPoP proof's claims are not an object.")
    if claims.get("htm") != htm:
        raise ProofInvalid("htm", "The DPoP proof's htm is not this request's method.")
    claimed_uri = claims.get("htu")
    if not isinstance(claimed_uri, str) or _normalized_or_none(claimed_uri) != normalized_uri(htu):
        raise ProofInvalid("htu", "The DPoP proof's htu is not this request's URI.")
    iat = claims.get("iat")
    now = time.time() if now is None else now
    if (not isinstance(iat, (int, float)) or isinstance(iat, bool) or not math.isfinite(iat)
            or iat < now - max_age or iat > now + skew):
        raise ProofInvalid("iat", "The DPoP proof's iat is outside the accepted window.")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > 200:
        raise ProofInvalid("jti", "The DPoP proof needs a jti.")
    if access_token is not None and claims.get("ath") != access_token_hash(access_token):
        raise ProofInvalid("ath", "The DPoP proof's ath does not match the access token.")
    nonce = claims.get("nonce")
    return Proof(jkt=jkt, jti=jti, iat=int(iat), nonce=nonce if isinstance(nonce, str) else None)


def replay_key(proof: Proof) -> str:
    """What a ``jti`` store records (s. 11.1): the key and the ``jti`` together, hashed to a
    fixed length, so two clients' ``jti`` never collide and nothing stored is the client's."""
    return hashlib.sha256(f"{proof.jkt}:{proof.jti}".encode()).hexdigest()
