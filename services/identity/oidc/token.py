"""The token endpoint (RFC 6749 s. 3.2, 4.1.3, 4.4, 6; OIDC Core s. 3.1.3).

Three steps (see ``server.py``): prefetch through the unit of work, let authlib validate and
mint, apply the writes atomically. Reuse detection happens in the prefetch step, because it
must *write* (revoke a family) even though the answer is an error:

- a code presented again → the refresh-token family it produced is revoked (RFC 6749 s. 4.1.2);
- a rotated refresh token presented again → its whole family is revoked (RFC 9700 s. 4.14.2).

Errors are JSON (RFC 6749 s. 5.2); ``invalid_client`` is 401 with ``WWW-Authenticate`` when the
client tried HTTP Basic.
"""

from __future__ import annotations

import logging

from services.identity.oidc import releases
from services.identity.oidc.clients import ClientView
from services.identity.oidc.errors import InvalidGrant, InvalidRequest, OAuth2Error, error_response
from services.identity.oidc.records import RefreshTokenState, utcnow
from services.identity.oidc.server import TokenOwner, TokenRequestState
from services.identity.oidc.tokens import secret_hash
from services.identity.oidc.wire import WireRequest, WireResponse

log = logging.getLogger(__name__)

SINGLE_VALUED = ("grant_type", "code", "redirect_uri", "client_id", "client_secret", "code_verifier",
                 "refresh_token", "scope")


def _error(error: OAuth2Error) -> WireResponse:
    return WireResponse.json(*error_response(error))


def presented_client_id(request: WireRequest) -> str | None:
    basic = request.basic_credentials()
    if basic:
        return basic[0]
    return request.first(request.form, "client_id")


async def load_client(find_client, client_id: str | None) -> dict[str, ClientView]:
    """The client a request names, for authlib's client authentication; ``find_client`` is
    ``uow.clients.get`` or ``provider.reads.client`` (a fresh read either way)."""
    if not client_id or len(client_id) > 64:
        return {}
    client = await find_client(client_id)
    if client is None or getattr(client, "disabled", False):
        return {}
    return {client_id: ClientView(client)}


async def owner_for(provider, uow, client: ClientView | None, record) -> TokenOwner | None:
    """The resident behind a code or refresh token, as this client sees them; None if gone or disabled."""
    if client is None:
        return None
    resident = await uow.residents.get(record.resident_id)
    if resident is None or resident.disabled:
        return None
    from services.identity.domain.pairwise import subject_for

    return TokenOwner(resident_id=resident.resident_id,
                      subject=subject_for(client.client, resident.resident_id, provider.config.pairwise_secret),
                      session_id=record.session_id, auth_time=record.auth_time, acr=record.acr,
                      amr=tuple(record.amr), resident=resident)


async def _revoke_family(provider, family_id: str | None, why: str) -> None:
    if not family_id:
        return
    async with provider.uow_factory() as uow:
        count = await uow.refresh_tokens.revoke_family(family_id)
        await uow.commit()
    log.warning("refresh-token family revoked", extra={"reason": why, "revoked": count})


async def token_endpoint(provider, request: WireRequest) -> WireResponse:
    if request.method != "POST":
        return _error(InvalidRequest("The token endpoint accepts POST only."))
    for name in SINGLE_VALUED:
        if len(request.form.get(name, [])) > 1:
            return _error(InvalidRequest(f"Parameter '{name}' is repeated."))
    await provider.refresh_keys()
    state = TokenRequestState()
    grant_type = request.first(request.form, "grant_type")
    client_id = presented_client_id(request)
    reused_family: tuple[str | None, str] | None = None

    if grant_type == "client_credentials":
        # RFC 6749 s. 4.4: the client is all there is to read and nothing is written (the
        # access token is a self-contained JWT), so no unit of work: one fresh read.
        state.clients = await load_client(provider.reads.client, client_id)
        return provider.server.create_token_response((request, state))

    async with provider.uow_factory() as uow:
        state.clients = await load_client(uow.clients.get, client_id)
        client = state.clients.get(client_id or "")
        if grant_type == "authorization_code" and (code := request.first(request.form, "code")):
            record = await uow.codes.get(secret_hash(code)) if len(code) <= 200 else None
            if record is not None and record.consumed_at is not None and record.client_id == client_id:
                reused_family = (record.family_id, "authorization code reused")
            elif record is not None:
                state.code = record
                state.owner = await owner_for(provider, uow, client, record)
                if state.owner is None:
                    state.code = None
        elif grant_type == "refresh_token" and (value := request.first(request.form, "refresh_token")):
            record = await uow.refresh_tokens.get(secret_hash(value)) if len(value) <= 200 else None
            if record is not None and record.state != RefreshTokenState.ACTIVE and record.client_id == client_id:
                if record.state == RefreshTokenState.ROTATED:
                    reused_family = (record.family_id, "refresh token reused")
                else:
                    return _error(InvalidGrant("The refresh token was revoked."))
            elif record is not None:
                state.refresh_token = record
                state.owner = await owner_for(provider, uow, client, record)
                if state.owner is None:
                    state.refresh_token = None

        if reused_family is None:
            response: WireResponse = provider.server.create_token_response((request, state))
            if response.status != 200:
                return response
            raced = await _apply(uow, state)
            if raced is None:
                # what the client now holds about the resident, in the same transaction
                recorded = await releases.record_token(provider, uow, state, client, grant_type)
                await uow.commit()
                if recorded is not None:
                    provider.recent_releases.remember(recorded)
                return response
            reused_family = raced
    # Reuse (or a concurrent double use): the transaction above rolled back; revoke and refuse.
    await _revoke_family(provider, reused_family[0], reused_family[1])
    return _error(InvalidGrant("The grant was already used."))


async def _apply(uow, state: TokenRequestState) -> tuple[str | None, str] | None:
    """Perform the writes the grant recorded; a (family, reason) if a concurrent request won."""
    now = utcnow()
    family_id = state.new_refresh_tokens[0].family_id if state.new_refresh_tokens else None
    if state.consume_code:
        if not await uow.codes.consume(state.consume_code, now, family_id):
            return (None, "authorization code used concurrently")
    if state.rotate_refresh:
        if not await uow.refresh_tokens.rotate(state.rotate_refresh):
            return (state.refresh_token.family_id, "refresh token used concurrently")
    for token in state.new_refresh_tokens:
        await uow.refresh_tokens.add(token)
    return None
