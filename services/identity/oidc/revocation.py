"""Token revocation (RFC 7009).

A refresh token revokes its whole family, and the access tokens minted from it (s. 2.1: "SHOULD
also invalidate all access tokens based on the same authorization grant"). An
access token's ``jti`` is recorded until the token expires, so introspection and identity's
gRPC ``ValidateToken`` treat it as inactive. A client may revoke only its own tokens; an
unknown or foreign token gets the same 200 (s. 2.2), so the endpoint reveals nothing.
"""

from __future__ import annotations

import datetime as dt

from services.identity.domain.events import TokensRevoked
from services.identity.oidc.access import active_access_token, revoke_family
from services.identity.oidc.errors import InvalidRequest, OAuth2Error, error_response
from services.identity.oidc.introspection import authenticated_token
from services.identity.oidc.tokens import secret_hash
from services.identity.oidc.wire import WireRequest, WireResponse

METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]


async def revocation_endpoint(provider, request: WireRequest) -> WireResponse:
    if request.method != "POST":
        return WireResponse.json(*error_response(InvalidRequest("POST only.")))
    await provider.refresh_keys()
    async with provider.uow_factory() as uow:
        try:
            client, token = await authenticated_token(provider, request, METHODS, "revocation")
        except OAuth2Error as error:
            return WireResponse.json(*error_response(error))
        claims = await active_access_token(provider, token)
        if claims is not None:
            if claims.get("client_id") == client.client_id:
                expires = dt.datetime.fromtimestamp(claims["exp"], dt.timezone.utc)
                await uow.revoked_tokens.add(claims["jti"], expires)
                # the services verify access tokens themselves: they learn it from the event
                uow.add_event(TokensRevoked(jtis=(claims["jti"],),
                                            expires_at=expires.isoformat().replace("+00:00", "Z")))
        elif len(token) <= 200:
            record = await uow.refresh_tokens.get(secret_hash(token))
            if record is not None and record.client_id == client.client_id:
                await revoke_family(uow, provider.config, record.family_id)
        await uow.commit()
    return WireResponse(200, "", [("Cache-Control", "no-store")])
