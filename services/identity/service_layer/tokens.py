"""Validation of identity's own JWT access tokens (RFC 9068 s. 4), answered like token
introspection (RFC 7662 s. 2.2): anything wrong — forged, expired, revoked, another issuer —
is simply ``active = false``, never an error (and never a reason that helps a forger)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from joserfc import jws
from joserfc.errors import JoseError

from services.identity.oidc import es256
from services.identity.oidc.tokens import bound_session

ALGORITHMS = ("ES256", "RS256")
LEEWAY_SECONDS = 30
# (jti, sid) -> revoked? A resident's token also dies with its SSO session (sign out everywhere).
RevocationCheck = Callable[[str, str | None], Awaitable[bool]]
# [(jti, sid)] -> revoked? for each, in order: the same answers in one read (ValidateTokens).
ManyRevocationCheck = Callable[[list[tuple[str, str | None]]], Awaitable[list[bool]]]


@dataclass(frozen=True)
class TokenInfo:
    active: bool
    client_id: str = ""
    subject: str = ""
    scopes: tuple[str, ...] = ()
    expires_at: int = 0
    audiences: tuple[str, ...] = ()
    acr: str = ""
    acting_for: str = ""
    token_id: str = ""


INACTIVE = TokenInfo(active=False)
_REGISTRY = jws.JWSRegistry(algorithms=list(ALGORITHMS))


# Parsed protected headers by their encoded segment: every token of one key has the same
# header, so ValidateTokens' batches (issue 24) parse it once. Small and bounded.
_HEADERS: dict[str, dict | None] = {}
_MAX_HEADERS = 64


def _header(token: str) -> dict | None:
    segment_text = token.split(".", 1)[0]
    if segment_text in _HEADERS:
        return _HEADERS[segment_text]
    try:
        segment = segment_text.encode("ascii")
        header = json.loads(base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4)))
    except (ValueError, UnicodeError, IndexError):
        return None
    header = header if isinstance(header, dict) else None
    if header is not None and len(_HEADERS) < _MAX_HEADERS:
        _HEADERS[segment_text] = header  # read only by the checks below, never changed
    return header


async def validate_access_token(token: str, keys, issuer: str, *, is_revoked: RevocationCheck | None = None,
                                now: float | None = None) -> TokenInfo:
    """``keys`` has ``public_key(kid)`` (SigningKeys); ``is_revoked(jti)`` comes from the
    OAuth side (RFC 7009 revocation of access tokens)."""
    now = time.time() if now is None else now
    checked = _checked(token, keys, issuer, now)
    if checked is None:
        return INACTIVE
    info, claims = checked
    if is_revoked is not None and await is_revoked(info.token_id, bound_session(claims)):
        return INACTIVE
    return info


def _checked(token: str, keys, issuer: str, now: float) -> tuple[TokenInfo, dict] | None:
    """Everything but revocation (RFC 9068 s. 4): the answer if the token is not revoked,
    with its claims; None when it is inactive whatever the revocation list says."""
    header = _header(token or "")
    if header is None or str(header.get("typ", "")).lower() not in ("at+jwt", "application/at+jwt"):
        return None
    if header.get("alg") not in ALGORITHMS or not isinstance(header.get("kid"), str):
        return None
    kid = header["kid"]
    key = keys.public_key(kid)
    if key is None:
        return None
    try:
        if header["alg"] == "ES256":
            # the hot path (every access token): cryptography directly, each signature once
            claims = es256.verified_claims(token, kid, keys.public_key)
        else:
            obj = jws.extract_compact(token.encode("ascii"))
            if not jws.validate_compact(obj, key, registry=_REGISTRY):
                return None
            claims = json.loads(obj.payload)
    except (JoseError, ValueError, TypeError, UnicodeError, IndexError):
        return None
    if not isinstance(claims, dict) or claims.get("iss") != issuer:
        return None
    try:
        exp, iat = int(claims["exp"]), int(claims["iat"])
        sub, client_id, jti = claims["sub"], claims["client_id"], claims["jti"]
    except (KeyError, TypeError, ValueError):
        return None
    if exp <= now or iat - LEEWAY_SECONDS > now:
        return None
    if not all(isinstance(v, str) and v for v in (sub, client_id, jti)):
        return None
    aud = claims.get("aud", [])
    audiences = (aud,) if isinstance(aud, str) else tuple(a for a in aud if isinstance(a, str)) if isinstance(aud, list) else ()
    scope = claims.get("scope", "")
    act = claims.get("act")
    return TokenInfo(active=True, client_id=client_id, subject=sub,
                     scopes=tuple(scope.split()) if isinstance(scope, str) else (),
                     expires_at=exp, audiences=audiences,
                     acr=claims.get("acr", "") if isinstance(claims.get("acr"), str) else "",
                     acting_for=act.get("sub", "") if isinstance(act, dict) and isinstance(act.get("sub"), str) else "",
                     token_id=jti), claims


# ValidateTokens' limit per call (issue 24).
MAX_VALIDATE_MANY = 1000


async def validate_access_tokens(tokens: list[str], keys, issuer: str, *, is_revoked: RevocationCheck | None = None,
                                 are_revoked: ManyRevocationCheck | None = None,
                                 now: float | None = None) -> list[TokenInfo]:
    """``validate_access_token`` for each token, in order, at one instant (issue 24's batch).
    Each answer is the single call's: signature, issuer, expiry and revocation checked for
    this call. The same token twice in a batch is validated once (same bytes, same instant:
    the same answer).

    ``are_revoked`` answers the revocation of every token that passed the other checks in one
    read (RFC 7009; one statement, started after the call arrived, never a cache); without it
    each token asks ``is_revoked``."""
    now = time.time() if now is None else now
    by_token: dict[str, TokenInfo] = {}
    waiting: list[tuple[str, TokenInfo, dict]] = []
    for token in tokens:
        if token in by_token:
            continue
        checked = _checked(token, keys, issuer, now)
        if checked is None:
            by_token[token] = INACTIVE
        else:
            by_token[token] = checked[0]
            waiting.append((token, *checked))
    if waiting and are_revoked is not None:
        revoked = await are_revoked([(info.token_id, bound_session(claims)) for _, info, claims in waiting])
    elif waiting and is_revoked is not None:
        revoked = await asyncio.gather(*(is_revoked(info.token_id, bound_session(claims))
                                         for _, info, claims in waiting))
    else:
        revoked = [False] * len(waiting)
    for (token, _, _), gone in zip(waiting, revoked, strict=True):
        if gone:
            by_token[token] = INACTIVE
    return [by_token[t] for t in tokens]
