"""The token endpoint (RFC 6749 s. 3.2, 4.1.3, 4.4, 6; OIDC Core s. 3.1.3; RFC 8693).

Three steps (see ``server.py``): prefetch through the unit of work, let authlib validate and
mint, apply the writes atomically. Reuse detection happens in the prefetch step, because it
must *write* (revoke a family) even though the answer is an error:

- a code presented again → the grant family it produced is revoked: its refresh tokens and
  the access tokens minted from it (RFC 6749 s. 4.1.2: "SHOULD revoke ... all tokens
  previously issued based on that authorization code");
- a rotated refresh token presented again → its whole family is revoked (RFC 9700 s. 4.14.2).

Only the code's or token's own client can trigger that, once authenticated (RFC 6749 s. 3.2.1,
``_may_revoke``): otherwise anyone holding a used code and a public client's id could sign a
resident's tokens out. A replayed code must also come with the PKCE verifier of its challenge
(RFC 7636 s. 4.6) — the one proof a public client has that it is the client that asked.

Errors are JSON (RFC 6749 s. 5.2); ``invalid_client`` is 401 with ``WWW-Authenticate`` when the
client tried HTTP Basic.

DPoP (RFC 9449, ``dpop.py``): a request with a ``DPoP`` header gets tokens bound to the proof's
key (``cnf.jkt``, ``token_type: DPoP``), for every grant. Checked in this order, before the
grant: the proof (s. 4.3; ``invalid_dpop_proof``), its nonce (s. 8; ``use_dpop_nonce``), its
``jti`` not seen before (s. 11.1); then, once the client is known, a client registered with
``dpop_bound_access_tokens`` must have sent one (s. 5.2), and a refresh token bound to a key
(a public client's, s. 5) or a code whose request named ``dpop_jkt`` (s. 10) needs a proof by
that same key: ``invalid_dpop_proof`` without a
proof, ``invalid_grant`` with another key (what node-oidc-provider answers). Every answer
carries the current ``DPoP-Nonce`` (s. 8.2), so a client rarely meets ``use_dpop_nonce`` twice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging

from services.common.organization_number import is_organization_id
from services.identity.domain.clients import TOKEN_EXCHANGE
from services.identity.oidc import client_credentials, dpop, releases
from services.identity.oidc.access import revoke_family
from services.identity.oidc.agent_sessions import read_subject_token
from services.identity.oidc import staff_directory
from services.identity.oidc.authorization_code import TOKEN_ENDPOINT_AUTH_METHODS
from services.identity.oidc.client_assertion import assertion_of, claimed_client_id, verify_assertion
from services.identity.oidc.clients import ClientView
from services.identity.oidc.errors import (
    InvalidDpopProof, InvalidGrant, InvalidRequest, OAuth2Error, error_response,
)
from services.identity.oidc.records import AuthorizationCode, RefreshTokenState, utcnow
from services.identity.oidc.server import MtlidOAuth2Request, TokenOwner, TokenRequestState
from services.identity.oidc.tokens import TokenInvalid, secret_hash
from services.identity.oidc.wire import WireRequest, WireResponse

log = logging.getLogger(__name__)

SINGLE_VALUED = ("grant_type", "code", "redirect_uri", "client_id", "client_secret", "code_verifier",
                 "refresh_token", "scope", "subject_token", "subject_token_type", "actor_token",
                 "actor_token_type", "requested_token_type", "client_assertion", "client_assertion_type")


def _error(error: OAuth2Error) -> WireResponse:
    return WireResponse.json(*error_response(error))


def presented_client_id(request: WireRequest) -> str | None:
    basic = request.basic_credentials()
    if basic:
        return basic[0]
    client_id = request.first(request.form, "client_id")
    if client_id is None and (assertion := assertion_of(request)) is not None:
        return claimed_client_id(assertion)          # RFC 7523 s. 3: client_id is optional
    return client_id


async def check_assertion(provider, request: WireRequest, state: TokenRequestState) -> None:
    """A ``private_key_jwt`` assertion, verified before authlib's client authentication runs
    (it may fetch keys and records the ``jti``): ``client_assertion.py``."""
    if assertion_of(request) is None:
        return
    client = state.clients.get(presented_client_id(request) or "")
    if client is not None and await verify_assertion(provider, request, client.client):
        state.assertion_client = client


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

    represented_id = getattr(record, "represented_id", None)
    if represented_id:
        # Issue 22: signed in on behalf of the represented resident under a mandate.
        from services.identity.oidc.represented import represented_party

        represented = await represented_party(uow, represented_id)
        if represented is None or represented.disabled:
            return None
        secret = provider.config.pairwise_secret
        details = list(record.authorization_details or [])
        mandate_id = next((str(d.get("mandate_id")) for d in details if isinstance(d, dict) and d.get("mandate_id")),
                          None)
        represented_names: dict[str, str] = {}
        mandatary_names: dict[str, str] = {}
        # Both names only for an ID token (a code, not a refresh) at a client that accepts
        # mandates and was granted ``profile``; an organization has no profile of names.
        if (isinstance(record, AuthorizationCode) and provider.names is not None
                and record.client_id == client.client_id and getattr(client.client, "accepts_mandates", False)
                and {"openid", "profile"} <= set(str(record.scope or "").split())
                and not is_organization_id(represented.resident_id)):
            represented_names = await provider.names.names_of(represented.resident_id)
            mandatary_names = await provider.names.names_of(resident.resident_id)
        return TokenOwner(resident_id=represented.resident_id,
                          subject=subject_for(client.client, represented.resident_id, secret),
                          session_id=record.session_id, auth_time=record.auth_time, acr=record.acr,
                          amr=tuple(record.amr), resident=represented,
                          acting={"sub": subject_for(client.client, resident.resident_id, secret)},
                          authorization_details=details, mandatary_id=resident.resident_id, mandate_id=mandate_id,
                          represented_names=represented_names, mandatary_names=mandatary_names)
    return TokenOwner(resident_id=resident.resident_id,
                      subject=subject_for(client.client, resident.resident_id, provider.config.pairwise_secret),
                      session_id=record.session_id, auth_time=record.auth_time, acr=record.acr,
                      amr=tuple(record.amr), resident=resident)


async def _session_allows(uow, record) -> bool:
    """A refresh token without ``offline_access`` works only while its SSO session is active
    (OIDC Core s. 11: only offline access outlives the resident's session)."""
    if record.is_offline:
        return True
    session = await uow.sessions.get(record.session_id)
    return session is not None and session.is_active(utcnow())


async def _revoke_family(provider, family_id: str | None, why: str) -> None:
    if not family_id:
        return
    async with provider.uow_factory() as uow:
        count = await revoke_family(uow, provider.config, family_id)
        await uow.commit()
    log.warning("grant family revoked", extra={"reason": why, "revoked": count})


def _may_revoke(provider, request: WireRequest, state: TokenRequestState,
                code_challenge: str | None = None) -> OAuth2Error | None:
    """None if the request may revoke the family of a replayed code or refresh token: its
    client authenticates (the same methods as the grant), and for a code the PKCE verifier
    matches the code's challenge. Otherwise the error to answer, revoking nothing."""
    oauth_request = MtlidOAuth2Request(request, provider.server.request_uri(request.path), state)
    try:
        provider.server.authenticate_client(oauth_request, TOKEN_ENDPOINT_AUTH_METHODS, "token")
    except OAuth2Error as error:
        return error
    if code_challenge is not None:
        verifier = request.first(request.form, "code_verifier") or ""
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if not verifier or not hmac.compare_digest(digest, code_challenge):
            return InvalidGrant("The code is invalid or was already used.")
    return None


async def token_endpoint(provider, request: WireRequest) -> WireResponse:
    response = await _token_endpoint(provider, request)
    if dpop.proof_header(request) is not None and not any(k.lower() == "dpop-nonce" for k, _ in response.headers):
        # RFC 9449 s. 8.2: the nonce to use next, on every answer to a DPoP client
        response.headers.append(("DPoP-Nonce", dpop.current_nonce(provider)))
    return response


def _dpop_refusal(state: TokenRequestState, client: ClientView | None, bound_to: str | None = None,
                  bound: bool = False) -> OAuth2Error | None:
    """RFC 9449 s. 5 and 5.2, once the client is known; s. 5 and 10, once the refresh token
    or the code (bound to a key: ``bound_to``) is."""
    if client is not None and getattr(client.client, "dpop_bound_access_tokens", False) and not state.dpop_jkt:
        return InvalidDpopProof("This client must send a DPoP proof.")
    if bound and not state.dpop_jkt:
        return InvalidDpopProof("This grant is bound to a DPoP key: send a proof by it.")
    if bound and bound_to != state.dpop_jkt:
        return InvalidGrant("The grant is bound to another DPoP key.")
    return None


async def _token_endpoint(provider, request: WireRequest) -> WireResponse:
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
    if dpop.proof_header(request) is not None:
        try:
            state.dpop_jkt = (await dpop.checked_proof(provider, request, path="/token", require_nonce=True)).jkt
        except OAuth2Error as error:
            return _error(error)

    if grant_type == "client_credentials":
        # RFC 6749 s. 4.4: the client is all there is to read and nothing is written (the
        # access token is a self-contained JWT), so no unit of work: one fresh read.
        state.clients = await load_client(provider.reads.client, client_id)
        await check_assertion(provider, request, state)
        if (refusal := _dpop_refusal(state, state.clients.get(client_id or ""))) is not None:
            return _error(refusal)
        # the common request in one pass; any other, and every error, through authlib's grant
        return client_credentials.issue_at_once(provider, request, state) or \
            provider.server.create_token_response((request, state))

    if grant_type == TOKEN_EXCHANGE:
        return await _token_exchange(provider, request, state, client_id)

    async with provider.uow_factory() as uow:
        # the client through the hot reads (fresh, or cached until it changes), not the ORM
        state.clients = await load_client(provider.reads.client, client_id)
        await check_assertion(provider, request, state)
        client = state.clients.get(client_id or "")
        if (refusal := _dpop_refusal(state, client)) is not None:
            return _error(refusal)
        if grant_type == "authorization_code" and (code := request.first(request.form, "code")):
            record = await uow.codes.get(secret_hash(code)) if len(code) <= 200 else None
            if record is not None and record.consumed_at is not None and record.client_id == client_id:
                if (refusal := _may_revoke(provider, request, state, record.code_challenge)) is not None:
                    return _error(refusal)
                reused_family = (record.family_id, "authorization code reused")
            elif record is not None:
                if record.client_id == client_id and (refusal := _dpop_refusal(
                        state, client, record.dpop_jkt, bound=record.dpop_jkt is not None)) is not None:
                    return _error(refusal)
                state.code = record
                state.owner = await owner_for(provider, uow, client, record)
                if state.owner is None:
                    state.code = None
        elif grant_type == "refresh_token" and (value := request.first(request.form, "refresh_token")):
            record = await uow.refresh_tokens.get(secret_hash(value)) if len(value) <= 200 else None
            if record is not None and record.state != RefreshTokenState.ACTIVE and record.client_id == client_id:
                if (refusal := _may_revoke(provider, request, state)) is not None:
                    return _error(refusal)
                if record.state == RefreshTokenState.ROTATED:
                    reused_family = (record.family_id, "refresh token reused")
                else:
                    return _error(InvalidGrant("The refresh token was revoked."))
            elif record is not None:
                if record.client_id == client_id and (refusal := _dpop_refusal(
                        state, client, record.dpop_jkt, bound=record.dpop_jkt is not None)) is not None:
                    return _error(refusal)
                state.refresh_token = record
                state.owner = await owner_for(provider, uow, client, record)
                if state.owner is None or not await _session_allows(uow, record):
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


async def _mandate_exchange(provider, uow, request: WireRequest, state: TokenRequestState, view,
                            subject_token: str | None) -> None:
    """Issue 22, RFC 8693 with RFC 9396: a system that accepts mandates shows the mandatary's
    access token it received from us and names the mandate in ``authorization_details``; the
    register decides and records the act (as at sign-in), and the token is for the represented
    resident with ``act`` naming the mandatary. Every problem is kept for the grant to answer."""
    import json as _json

    from services.identity.domain.pairwise import subject_for
    from services.identity.oidc.authorize import MANDATE_DETAIL_TYPE
    from services.identity.oidc.tokens import verify_jwt

    state.mandate_exchange = True
    if view is None or not getattr(view.client, "accepts_mandates", False) or provider.mandates is None:
        state.mandate_problem = ("unauthorized_client", "The client does not accept mandates.")
        return
    try:
        details = _json.loads(request.first(request.form, "authorization_details") or "")
        [detail] = details
        mandate_id = detail["mandate_id"]
        if detail.get("type") != MANDATE_DETAIL_TYPE or not isinstance(mandate_id, str) or len(mandate_id) > 36:
            raise ValueError
    except (ValueError, TypeError, KeyError):
        # RFC 6749 s. 5.2: an error_description has no double quote nor non-ASCII character
        state.mandate_problem = ("invalid_authorization_details",
                                 f"Name one mandate: a list of one object of type {MANDATE_DETAIL_TYPE} "
                                 "with its mandate_id.")
        return
    try:
        claims = verify_jwt(provider.keys, provider.config, subject_token or "", typ="at+jwt")
    except TokenInvalid as invalid:
        state.mandate_problem = ("invalid_request", f"The 'subject_token' is not valid ({invalid}).")
        return
    session = await uow.sessions.get(claims.get("sid") or "") if isinstance(claims.get("sid"), str) else None
    if (claims.get("client_id") != view.client.client_id or session is None or not session.is_active(utcnow())
            or claims.get("sub") != subject_for(view.client, session.resident_id, provider.config.pairwise_secret)):
        state.mandate_problem = ("invalid_request", "The 'subject_token' must be a resident's access token "
                                                    "issued to this client, in an open session.")
        return
    held = await provider.mandates.held_by(session.resident_id) or []
    mandate = next((m for m in held if m.mandate_id == mandate_id), None)
    allowed, reason = (False, "NOT_HELD") if mandate is None else await provider.mandates.may_sign_in(
        mandate_id, view.client.client_id)
    if not allowed:
        state.mandate_problem = ("access_denied", f"The mandate does not allow this now ({reason}).")
        return
    from services.identity.oidc.represented import represented_party

    represented = await represented_party(uow, mandate.represented_id)
    if represented is None or represented.disabled:
        state.mandate_problem = ("access_denied", "The represented resident cannot be acted for.")
        return
    secret = provider.config.pairwise_secret
    state.mandate_owner = TokenOwner(
        resident_id=represented.resident_id, subject=subject_for(view.client, represented.resident_id, secret),
        session_id=session.session_id, auth_time=session.auth_time, acr=session.acr, amr=tuple(session.amr),
        resident=represented, acting={"sub": claims["sub"]},
        authorization_details=[{"type": MANDATE_DETAIL_TYPE, "mandate_id": mandate.mandate_id, "basis": mandate.basis,
                                "locations": [item["service"]], "actions": sorted(item["actions"])}
                               for item in mandate.scope])


async def _token_exchange(provider, request: WireRequest, state: TokenRequestState,
                          client_id: str | None) -> WireResponse:
    """RFC 8693 (``token_exchange.py``): read the client and the agent session the subject
    token names; on success the session's last activity is now (an agent at work). With
    ``authorization_details`` and an access token as subject: a mandate (``_mandate_exchange``)."""
    async with provider.uow_factory() as uow:
        state.clients = await load_client(uow.clients.get, client_id)
        if (refusal := _dpop_refusal(state, state.clients.get(client_id or ""))) is not None:
            return _error(refusal)
        subject_token = request.first(request.form, "subject_token")
        view = state.clients.get(client_id or "")
        issuer = staff_directory.claimed_issuer(subject_token) if subject_token else None
        if request.first(request.form, "authorization_details") is not None:
            await _mandate_exchange(provider, uow, request, state, view, subject_token)
        elif subject_token and issuer is not None and issuer != provider.config.issuer:
            # another issuer: only the staff directory this client is registered with
            try:
                if view is None:
                    raise staff_directory.StaffTokenRefused("unknown_issuer")
                state.external_agent = await staff_directory.verify_staff_token(
                    provider.client_keys, view.client, subject_token, issuer=provider.config.issuer,
                    token_endpoint=provider.config.endpoint("/token"))
                await staff_directory.use_once(uow, view.client, state.external_agent)
            except staff_directory.StaffTokenRefused as refused:
                state.external_agent = None
                state.external_problem = staff_directory.PROBLEMS[str(refused)]
        elif subject_token:
            try:
                claims = read_subject_token(provider.keys, provider.config, subject_token)
            except TokenInvalid as invalid:
                state.subject_problem = str(invalid)
            else:
                session = await uow.agent_sessions.get(claims["sid"])
                if session is not None and session.agent_id == claims["sub"]:
                    state.agent_session = session
        response: WireResponse = provider.server.create_token_response((request, state))
        if response.status == 200 and state.touch_agent_session:
            await uow.agent_sessions.touch(state.touch_agent_session, utcnow())
            await uow.commit()
        if response.status == 200 and state.external_agent is not None:
            # a borough's staff member obtained an agent token: in the agents' journal, with the
            # client and the office, as the supervisors review it
            agent = state.external_agent
            await uow.agent_actions.record(agent_id=agent.agent_ref, client_id=client_id or "",
                                           action="agent_token_exchanged", resident_id="",
                                           details={"issuer": agent.issuer}, now=utcnow(), office=agent.office)
            await uow.commit()
        return response


async def _apply(uow, state: TokenRequestState) -> tuple[str | None, str] | None:
    """Perform the writes the grant recorded; a (family, reason) if a concurrent request won."""
    now = utcnow()
    if state.consume_code:
        if not await uow.codes.consume(state.consume_code, now, state.family_id):
            return (None, "authorization code used concurrently")
    if state.rotate_refresh:
        if not await uow.refresh_tokens.rotate(state.rotate_refresh):
            return (state.refresh_token.family_id, "refresh token used concurrently")
    for token in state.new_refresh_tokens:
        await uow.refresh_tokens.add(token)
    return None
