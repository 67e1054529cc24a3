"""The UserInfo endpoint (OIDC Core s. 5.3): claims per granted scope, for a resident's token.

The access token carries the pairwise ``sub``, never the universal identifier; the resident is
found through the token's session (``sid``) and the subject is recomputed to check it.
Every answer is a recorded release (``releases.py``): repeated identical calls within the
window are one record.
"""

from __future__ import annotations

from services.identity.domain.pairwise import subject_for
from services.identity.oidc import releases
from services.identity.oidc.access import active_access_token
from services.identity.oidc.claims import claims_for_scope
from services.identity.oidc.errors import InsufficientScope, InvalidToken, error_response
from services.identity.oidc.wire import WireRequest, WireResponse


def _error(error) -> WireResponse:
    return WireResponse.json(*error_response(error))


async def userinfo_endpoint(provider, request: WireRequest) -> WireResponse:
    await provider.refresh_keys()
    async with provider.uow_factory() as uow:
        claims = await active_access_token(provider, request.bearer_token())
        if claims is None or not claims.get("sid"):
            return _error(InvalidToken("The access token is invalid, expired or revoked."))
        if "openid" not in str(claims.get("scope", "")).split():
            return _error(InsufficientScope("The 'openid' scope is required."))
        session = await uow.sessions.get(claims["sid"])
        client = await uow.clients.get(claims.get("client_id", ""))
        resident = await uow.residents.get(session.resident_id) if session else None
        if session is None or client is None or resident is None or resident.disabled:
            return _error(InvalidToken("The access token is invalid, expired or revoked."))
        subject = subject_for(client, resident.resident_id, provider.config.pairwise_secret)
        if subject != claims.get("sub"):
            return _error(InvalidToken("The access token is invalid, expired or revoked."))
        released = claims_for_scope(resident, subject, claims["scope"])
        # the answer leaves only once its record is committed (releases.py)
        recorded = await releases.record_read(provider, uow, resident_id=resident.resident_id, client=client,
                                              channel="userinfo", claims=released)
        if recorded is not None:
            await uow.commit()
            provider.recent_releases.remember(recorded)
    return WireResponse.json(200, released)
