"""Token material: the provider's configuration, signed JWTs and opaque secrets.

- Access tokens are JWTs per RFC 9068 (header ``typ: at+jwt``; claims ``iss, sub, aud,
  client_id, scope, exp, iat, jti`` and ``auth_time, acr, amr`` for residents), ES256.
- ID tokens per OIDC Core s. 2 and 3.1.3.6 (``at_hash``), ES256 by default or RS256 for clients
  registered so (``id_token_signed_response_alg``).
- Authorization codes, refresh tokens and session cookies are opaque random strings
  (256 bits); only their SHA-256 is stored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import secrets
import time
from typing import Any, Protocol

from authlib.oidc.core.util import create_half_hash
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from services.identity.oidc import es256

ACCESS_TOKEN_TYPE = "at+jwt"  # RFC 9068 s. 2.1
ACCESS_TOKEN_TTL = 600        # seconds; short, so a revocation list entry is short-lived too


class SigningKeyRing(Protocol):
    """CORE's ``services.identity.service_layer.keys.SigningKeys``."""

    def current(self, alg: str) -> tuple[str, Any]: ...
    def jwks(self) -> dict: ...


@dataclasses.dataclass(frozen=True)
class OidcConfig:
    issuer: str
    pairwise_secret: bytes
    #: HMAC key for interaction state carried through the login pages (derived from the KEK)
    interaction_key: bytes
    secure_cookies: bool = False
    code_ttl: int = 60                       # RFC 9700 s. 4.2.1: short-lived codes
    access_token_ttl: int = ACCESS_TOKEN_TTL
    id_token_ttl: int = 600
    refresh_token_ttl: int = 30 * 24 * 3600
    session_ttl: int = 12 * 3600
    interaction_ttl: int = 1800
    resident_scopes: tuple[str, ...] = ("openid", "profile", "email", "offline_access")

    def endpoint(self, path: str) -> str:
        return self.issuer.rstrip("/") + path


def new_secret() -> str:
    """256 random bits, URL-safe (codes, refresh tokens, session cookies)."""
    return secrets.token_urlsafe(32)


def secret_hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


class _RandomBytes:
    """The operating system's random bytes (``os.urandom``), read 4 KiB at a time: one
    system call per 256 identifiers instead of one each. A child process starts with an
    empty pool (``register_at_fork``), so no two processes hand out the same bytes."""

    SIZE = 4096

    def __init__(self) -> None:
        self._pool = b""
        self._at = 0
        os.register_at_fork(after_in_child=self.clear)

    def clear(self) -> None:
        self._pool, self._at = b"", 0

    def take(self, count: int) -> bytes:
        if self._at + count > len(self._pool):
            self._pool, self._at = os.urandom(self.SIZE), 0
        start = self._at
        self._at = start + count
        return self._pool[start:start + count]


_RANDOM = _RandomBytes()


def new_id() -> str:
    """A random UUID (RFC 9562 s. 5.4, version 4), as ``str(uuid.uuid4())`` writes it.

    Every access token's ``jti`` is one: built from 16 random bytes directly, at a third of
    ``uuid.UUID``'s cost (the token endpoint's hot path). A ``jti`` names a token, it protects
    nothing: it needs to be unique (RFC 7519 s. 4.1.7), not secret."""
    raw = bytearray(_RANDOM.take(16))
    raw[6] = (raw[6] & 0x0F) | 0x40      # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80      # the RFC's variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def family_jti(family_id: str) -> str:
    """The ``jti`` of a resident's access token: ``<grant family>:<random>``.

    The family is the one login's chain of tokens (the code and the refresh tokens rotated
    from it). Listing the family id among revoked jtis (``revoke_family``) makes every access
    token minted from it inactive at the next check, with the same one-row lookup as one
    revoked jti: RFC 6749 s. 4.1.2 (a replayed code), RFC 7009 s. 2.1 (a revoked refresh
    token) and RFC 9700 s. 4.14.2 (a reused refresh token) ask for exactly that."""
    return f"{family_id}:{secrets.token_urlsafe(12)}"


def family_of(jti: str) -> str | None:
    """The grant family named in a resident's access-token ``jti``; None for a client's own."""
    family, sep, _rest = jti.partition(":")
    return family if sep else None


OFFLINE_ACCESS = "offline_access"


def bound_session(claims: dict[str, Any]) -> str | None:
    """The SSO session an access token dies with, or None.

    OIDC Core s. 11: ``offline_access`` (granted only with the resident's consent) is access
    while the resident is not signed in, so those tokens outlive the session; every other
    resident token ends with its session (logout, expiry). ``sid`` stays in the token either
    way (userinfo finds the resident through it)."""
    sid = claims.get("sid")
    if not isinstance(sid, str):
        return None
    scope = claims.get("scope")
    if isinstance(scope, str) and OFFLINE_ACCESS in scope.split():
        return None
    return sid


def mint_access_token(keys: SigningKeyRing, config: OidcConfig, *, subject: str, client_id: str,
                      audience: str | list[str], scope: str, extra: dict[str, Any] | None = None,
                      now: int | None = None, jti: str | None = None) -> tuple[str, dict[str, Any]]:
    """An RFC 9068 JWT access token; returns ``(token, claims)``."""
    now = int(time.time()) if now is None else now
    claims: dict[str, Any] = {
        "iss": config.issuer,
        "sub": subject,
        "aud": audience,
        "client_id": client_id,
        "scope": scope,
        "iat": now,
        "nbf": now,
        "exp": now + config.access_token_ttl,
        "jti": jti or new_id(),
    }
    claims.update(extra or {})
    kid, key = keys.current("ES256")
    return es256.sign(key.private_key, kid, ACCESS_TOKEN_TYPE, claims), claims


def mint_id_token(keys: SigningKeyRing, config: OidcConfig, *, alg: str, client_id: str, subject: str,
                  auth_time: int, acr: str, amr: tuple[str, ...] | list[str], nonce: str | None,
                  access_token: str | None, claims: dict[str, Any] | None = None,
                  sid: str | None = None) -> str:
    """An ID token (OIDC Core s. 2; ``at_hash`` s. 3.1.3.6; ``sid`` Front-Channel Logout s. 3)."""
    if alg not in ("ES256", "RS256"):
        alg = "ES256"
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": config.issuer, "sub": subject, "aud": client_id, "azp": client_id,
        "iat": now, "exp": now + config.id_token_ttl,
        "auth_time": auth_time, "acr": acr, "amr": list(amr),
    }
    if nonce:
        payload["nonce"] = nonce
    if sid:
        payload["sid"] = sid
    if access_token:
        payload["at_hash"] = create_half_hash(access_token, alg).decode("ascii")
    for name, value in (claims or {}).items():
        payload.setdefault(name, value)
    kid, key = keys.current(alg)
    return jwt.encode({"alg": alg, "kid": kid, "typ": "JWT"}, payload, key, algorithms=[alg])


class TokenInvalid(Exception):
    """A JWT that does not verify, is expired, or is not ours."""


_KEY_SETS: dict[int, tuple[float, KeySet]] = {}


def published_key_set(keys: SigningKeyRing) -> KeySet:
    """Our published keys as a joserfc ``KeySet``, parsed once per (re)load of the key ring."""
    loaded_at = getattr(keys, "loaded_at", None)
    if loaded_at is None:
        return KeySet.import_key_set(keys.jwks())
    cached = _KEY_SETS.get(id(keys))
    if cached is None or cached[0] != loaded_at:
        cached = (loaded_at, KeySet.import_key_set(keys.jwks()))
        _KEY_SETS[id(keys)] = cached
    return cached[1]


def _decode(keys: SigningKeyRing, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(header, claims)`` of a JWT signed by one of our published keys, or TokenInvalid.

    ES256 (every access token) through ``es256`` with its cache of verified signatures;
    anything else through joserfc."""
    header_segment = token.partition(".")[0]
    try:
        header = json.loads(es256.b64url_decode(header_segment))
    except (ValueError, UnicodeError, TypeError) as exc:
        raise TokenInvalid("signature") from exc
    if not isinstance(header, dict):
        raise TokenInvalid("signature")
    kid = header.get("kid")
    if header.get("alg") == "ES256" and isinstance(kid, str) and hasattr(keys, "public_key"):
        claims = es256.verified_claims(token, kid, keys.public_key)
        if claims is None:
            raise TokenInvalid("signature")
        return header, claims
    try:
        decoded = jwt.decode(token, published_key_set(keys), algorithms=["ES256", "RS256"])
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise TokenInvalid("signature") from exc
    return decoded.header, decoded.claims


def verify_jwt(keys: SigningKeyRing, config: OidcConfig, token: str, *, typ: str | None,
               check_exp: bool = True) -> dict[str, Any]:
    """Verify signature (against our JWKS, by ``kid``), issuer, expiry and ``typ`` (RFC 9068 s. 4)."""
    header, claims = _decode(keys, token)
    if typ is not None and str(header.get("typ", "")).lower() not in (typ, "application/" + typ):
        raise TokenInvalid("typ")
    if claims.get("iss") != config.issuer:
        raise TokenInvalid("iss")
    if check_exp:
        exp = claims.get("exp")
        if not isinstance(exp, int) or exp <= int(time.time()):
            raise TokenInvalid("exp")
    return claims
