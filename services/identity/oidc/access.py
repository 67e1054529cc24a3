"""Checking our own access tokens, shared by userinfo, introspection and revocation.

RFC 9068 s. 4: signature by one of our published keys, ``typ: at+jwt``, issuer, expiry; plus
our revocation list (RFC 7009: a revoked access token's ``jti`` is recorded until it expires).
A resident's token (``sid``) also dies with its session: after a logout or "sign out
everywhere", userinfo and introspection treat it as inactive — unless it carries
``offline_access`` (OIDC Core s. 11, ``tokens.bound_session``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from services.identity.domain.events import TokensRevoked
from services.identity.oidc.records import utcnow
from services.identity.oidc.tokens import (
    ACCESS_TOKEN_TTL, ACCESS_TOKEN_TYPE, TokenInvalid, bound_session, verify_jwt,
)


async def active_access_token(provider, token: str | None) -> dict[str, Any] | None:
    """The claims of a valid, unrevoked access token we issued; None otherwise.

    The revocation and session checks are one fresh read (``provider.reads``) on every call."""
    if not token or len(token) > 8192 or token.count(".") != 2:
        return None
    try:
        claims = verify_jwt(provider.keys, provider.config, token, typ=ACCESS_TOKEN_TYPE)
    except TokenInvalid:
        return None
    jti = claims.get("jti")
    if not isinstance(jti, str):
        return None
    if await provider.reads.token_revoked(jti, bound_session(claims)):
        return None
    return claims


async def revoke_family(uow, config, family_id: str) -> int:
    """Revoke a login's whole grant family: its refresh tokens, and every access token minted
    from it (their ``jti`` names the family, ``tokens.family_jti``), listed until the last of
    them expires. The caller commits. Returns how many refresh tokens were revoked.

    RFC 6749 s. 4.1.2 (a replayed code: revoke the tokens issued from it), RFC 7009 s. 2.1
    (revoking a refresh token invalidates the access tokens of the same grant), RFC 9700
    s. 4.14.2 (a reused refresh token)."""
    count = await uow.refresh_tokens.revoke_family(family_id)
    await revoke_access_tokens_of(uow, [family_id], config.access_token_ttl)
    return count


async def revoke_access_tokens_of(uow, family_ids, ttl: int = ACCESS_TOKEN_TTL) -> None:
    """List grant families among revoked jtis until the last access token they minted expires,
    and tell the services (``tokens_revoked``, in the same transaction: the outbox), whose own
    verification of these tokens does not read identity's database."""
    family_ids = sorted(set(family_ids))
    if not family_ids:
        return
    until = utcnow() + dt.timedelta(seconds=ttl)
    for family_id in family_ids:
        await uow.revoked_tokens.add(family_id, until)
    uow.add_event(TokensRevoked(families=tuple(family_ids), expires_at=_rfc3339(until)))


async def revoke_access_of_resident(uow, resident_id: str, *, client_id: str | None = None,
                                    except_session: str | None = None, families=(),
                                    ttl: int = ACCESS_TOKEN_TTL) -> None:
    """Stop every access token the resident's logins (to ``client_id``, or to any client but
    those of ``except_session``) may still have live: the families of the refresh tokens just
    revoked (``families``) and of every code consumed within a token lifetime (a login without
    a refresh token still minted an access token). Withdrawal, "end the connection", sign out
    everywhere, closure, "this was not me" (issue 15). The caller commits."""
    since = utcnow() - dt.timedelta(seconds=ttl + REVOCATION_LEEWAY_SECONDS)
    recent = await uow.codes.families_since(resident_id, since, client_id=client_id, except_session=except_session)
    await revoke_access_tokens_of(uow, [*families, *recent], ttl)


#: clock skew allowed on either side of a token's lifetime when deciding what may still be live
REVOCATION_LEEWAY_SECONDS = 60


def _rfc3339(at: dt.datetime) -> str:
    return at.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
