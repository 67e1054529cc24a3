"""The UserInfo endpoint (OIDC Core s. 5.3): claims per granted scope, for a resident's token.

The access token carries the pairwise ``sub``, never the universal identifier; the resident is
found through the token's session (``sid``) and the subject is recomputed to check it.
Every answer is a recorded release (``releases.py``): repeated identical calls within the
window are one record.

A DPoP-bound token (``cnf.jkt``, RFC 9449) is accepted only as ``Authorization: DPoP`` with a
proof by the bound key over this request (``htm``, ``htu``, ``ath``: s. 7.1); presented as
``Bearer`` it is refused (s. 7.2), and so is an unbound token under the DPoP scheme. Those
refusals are 401 with a ``WWW-Authenticate: DPoP`` challenge naming the error and the
algorithms we accept (s. 7.1); ``use_dpop_nonce`` comes with a ``DPoP-Nonce`` header (s. 9).
"""

from __future__ import annotations

from services.identity.domain.pairwise import subject_for
from services.common import dpop as dpop_proofs
from services.identity.oidc import dpop, releases
from services.identity.oidc.access import active_access_token
from services.identity.oidc.claims import claims_for_scope
from services.identity.oidc.errors import (
    InsufficientScope, InvalidDpopProof, InvalidToken, OAuth2Error, UseDpopNonce, error_response,
)
from services.identity.oidc.wire import WireRequest, WireResponse


def _error(error) -> WireResponse:
    return WireResponse.json(*error_response(error))


def _dpop_error(error: OAuth2Error) -> WireResponse:
    """RFC 9449 s. 7.1: 401 and a DPoP challenge (plus the nonce to use, s. 9)."""
    algs = " ".join(dpop_proofs.ALGORITHMS)
    headers = [("WWW-Authenticate", f'DPoP error="{error.error}", algs="{algs}"')]
    if isinstance(error, UseDpopNonce):
        headers.append(("DPoP-Nonce", error.nonce))
    body = {"error": error.error, "error_description": error.description}
    return WireResponse.json(401, body, headers)


async def _sender_refusal(provider, request: WireRequest, scheme: str, token: str,
                          claims: dict) -> WireResponse | None:
    """None when the token is presented as its binding requires (RFC 9449 s. 7)."""
    cnf = claims.get("cnf")
    bound_to = cnf.get("jkt") if isinstance(cnf, dict) else None
    if bound_to is None:
        if scheme == "dpop":
            return _dpop_error(InvalidToken("This access token is not DPoP-bound: use the Bearer scheme."))
        return None
    if scheme != "dpop":
        return _dpop_error(InvalidToken("This access token is DPoP-bound: use the DPoP scheme with a proof."))
    try:
        proof = await dpop.checked_proof(provider, request, path="/userinfo", access_token=token,
                                         require_nonce=False)
    except (InvalidDpopProof, UseDpopNonce) as error:
        return _dpop_error(error)
    if proof.jkt != bound_to:
        return _dpop_error(InvalidDpopProof("The DPoP proof's key is not the one the token is bound to."))
    return None


async def userinfo_endpoint(provider, request: WireRequest) -> WireResponse:
    await provider.refresh_keys()
    scheme, token = request.presented_token()
    # token and proof first, each with its own short reads and write (the proof's jti), before
    # this request's unit of work opens
    claims = await active_access_token(provider, token)
    if claims is None or not claims.get("sid"):
        if scheme == "dpop":
            return _dpop_error(InvalidToken("The access token is invalid, expired or revoked."))
        return _error(InvalidToken("The access token is invalid, expired or revoked."))
    if (refusal := await _sender_refusal(provider, request, scheme, token, claims)) is not None:
        return refusal
    async with provider.uow_factory() as uow:
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
