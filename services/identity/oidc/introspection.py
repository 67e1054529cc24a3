"""Token introspection (RFC 7662): for authenticated clients only (s. 2.1).

Access tokens (JWTs) are active if they verify, have not expired and were not revoked;
refresh tokens are active while their family stands, and only their own client may ask about
them (s. 4: do not disclose to others). Anything else is ``{"active": false}`` (s. 2.2).
An active resident's access token tells the asking client the resident's ``sub``: that answer
is a recorded release (``releases.py``).

A DPoP-bound access token is answered with ``token_type: DPoP`` and its ``cnf`` (the key's
thumbprint, RFC 9449 s. 6.2), so a resource server that introspects can check the proof.
"""

from __future__ import annotations

import datetime as dt

from services.identity.oidc import releases
from services.identity.oidc.access import active_access_token
from services.identity.oidc.errors import InvalidRequest, OAuth2Error, error_response
from services.identity.oidc.records import RefreshTokenState, utcnow
from services.identity.oidc.server import MtlidOAuth2Request, TokenRequestState
from services.identity.oidc.token import check_assertion, load_client, presented_client_id
from services.identity.oidc.tokens import secret_hash
from services.identity.oidc.wire import WireRequest, WireResponse

CONFIDENTIAL = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
INACTIVE = {"active": False}


async def authenticate(provider, request: WireRequest, methods: list[str], endpoint: str):
    """Client authentication through authlib (the same rules as the token endpoint)."""
    state = TokenRequestState(clients=await load_client(provider.reads.client, presented_client_id(request)))
    await check_assertion(provider, request, state)
    oauth_request = MtlidOAuth2Request(request, provider.server.request_uri(request.path), state)
    return provider.server.authenticate_client(oauth_request, methods, endpoint)


async def authenticated_token(provider, request: WireRequest, methods, endpoint: str):
    """The authenticated client and the one ``token`` parameter (RFC 7662 s. 2.1, RFC 7009 s. 2.1)."""
    client = await authenticate(provider, request, methods, endpoint)
    tokens = request.form.get("token", [])
    if len(tokens) != 1:
        raise InvalidRequest("Exactly one 'token' is required.")
    return client, tokens[0]


async def _record(provider, client, session_id: str, released: dict) -> None:
    """An answer about a resident's token tells the asking client who the resident is (their
    ``sub``): a release like userinfo's (``releases.py``), recorded before the answer leaves."""
    async with provider.uow_factory() as uow:
        session = await uow.sessions.get(session_id)
        if session is None:
            return
        key = await releases.record_read(provider, uow, resident_id=session.resident_id, client=client,
                                         channel="introspection", claims=released)
        if key is not None:
            await uow.commit()
            provider.recent_releases.remember(key)


async def introspection_endpoint(provider, request: WireRequest) -> WireResponse:
    if request.method != "POST":
        return WireResponse.json(*error_response(InvalidRequest("POST only.")))
    await provider.refresh_keys()
    try:
        client, token = await authenticated_token(provider, request, CONFIDENTIAL, "introspection")
    except OAuth2Error as error:
        return WireResponse.json(*error_response(error))
    claims = await active_access_token(provider, token)
    if claims is not None:
        bound = isinstance(claims.get("cnf"), dict) and "jkt" in claims["cnf"]
        body = {"active": True, "token_type": "DPoP" if bound else "Bearer"}
        body.update({k: claims[k] for k in ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "nbf",
                                           "jti", "auth_time", "acr", "cnf") if k in claims})
        if claims.get("sid"):
            await _record(provider, client.client, str(claims["sid"]), {"sub": body.get("sub")})
        return WireResponse.json(200, body)
    if len(token) <= 200 and token.count(".") != 2:
        # Not a JWT: perhaps one of our opaque refresh tokens.
        async with provider.uow_factory() as uow:
            record = await uow.refresh_tokens.get(secret_hash(token))
        if (record is not None and record.client_id == client.client_id
                and record.state == RefreshTokenState.ACTIVE and not record.is_expired(utcnow())):
            return WireResponse.json(200, {
                "active": True, "token_type": "refresh_token", "scope": record.scope,
                "client_id": record.client_id, "iss": provider.config.issuer,
                "exp": int(record.expires_at.replace(tzinfo=record.expires_at.tzinfo or dt.timezone.utc).timestamp()),
                "iat": int(record.issued_at.timestamp())})
    return WireResponse.json(200, INACTIVE)
