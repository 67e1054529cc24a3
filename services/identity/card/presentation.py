"""OpenID for Verifiable Presentations 1.0: a borough system checks one fact of a carte citoyenne online.

mtlid hosts the verifier for the city's borough systems (issue 23): a borough system, an OAuth
client registered with the scope :data:`VERIFY_SCOPE`, asks for one claim (``age_over_18``...);
the resident's wallet answers over ``direct_post``; the borough system fetches the outcome by
its transaction id, authenticated as itself. Framework-free like ``issuance.py``: each
endpoint is ``async def f(issuer, WireRequest, ...) -> WireResponse``.

The flow:

1. ``POST /card/vp/requests`` (client authentication, RFC 6749 s. 2.3; one ``claim``, an
   optional ``purpose``): a transaction, a ``nonce`` and a ``state``; answers the
   ``transaction_id`` and the Authorization Request to show as a QR code or a link,
   ``openid4vp://?client_id=…&request_uri=…`` (OpenID4VP 1.0 s. 5.10, RFC 9101 s. 5.2: the
   request passed by reference).
2. ``GET /card/vp/request/<state>``: the Request Object (RFC 9101; ``typ``
   ``oauth-authz-req+jwt``), **unsigned** (``alg`` ``none``) because its Client Identifier uses
   the ``redirect_uri:`` prefix (OpenID4VP 1.0 s. 5.9.3, which forbids signing): the
   ``client_id`` is ``redirect_uri:<response_uri>``; the wallet trusts what the HTTPS origin of
   ``request_uri`` (mtlid) serves, and reads the borough system's registered name in
   ``client_metadata.client_name`` (RFC 7591). ``response_type`` ``vp_token``,
   ``response_mode`` ``direct_post`` (s. 8.2), a DCQL query (s. 6) for one ``dc+sd-jwt``
   credential of the card's ``vct`` and the one claim.
3. ``POST /card/vp/response`` (s. 8.2): ``vp_token`` (s. 8.1: a JSON object, the DCQL
   credential id ``carte`` → one presentation) and ``state``. The presentation is checked by
   the offline verifier (``verifier.py``) against the issuer's published keys and a status list
   built at that moment (never a cached one), with ``aud`` the ``client_id`` and the
   transaction's ``nonce`` (SD-JWT VC with OpenID4VP, s. B.3.6). Then: exactly the claim asked
   was disclosed. An accepted presentation is a release to the borough system
   (``data_released``, channel ``openid4vp``) in the transaction that stores the outcome: the
   consent register records it as a data access in "Qui a vu mes données".
4. ``POST /card/vp/result`` (client authentication; ``transaction_id``): ``pending``,
   ``accepted`` with the disclosed values (delivered once, then erased here) or ``refused``
   with a reason.

Refusal reasons (besides the verifier's: ``wrong_nonce``, ``wrong_audience``, ``revoked``,
``expired``, ``tampered_disclosure``, ``key_binding_missing``...): ``claim_not_disclosed``,
``claim_not_requested`` (more than asked was disclosed: refused, nothing kept),
``invalid_vp_token``, ``request_expired``, ``wallet_declined`` (the wallet answered an
``error``, s. 8.5), ``client_disabled`` (the borough system was disabled meanwhile), and ``already_answered`` for a second answer to a transaction (the first
outcome stands).
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlencode

from services.identity.card import verifier
from services.identity.card.issuance import CARD_TYP, CardIssuer, current_status_list_token, jwt_vc_issuer_metadata
from services.identity.card.sd_jwt import PresentationRefused, b64url
from services.identity.oidc import releases
from services.identity.oidc.wire import WireRequest, WireResponse

#: the scope a client is registered with to ask residents' cards for a fact (issue 23)
VERIFY_SCOPE = "carte-citoyenne:verify"
DCQL_ID = "carte"
REQUEST_TYP = "oauth-authz-req+jwt"
REQUEST_LIFETIME = 300
#: what a borough system may ask online, and the consent catalogue's category each falls into
#: (the ages come from the birth date, residence and borough from the address). Not the
#: citizen number (one number that follows the resident across every borough system) nor the
#: assurance level (no fact about the resident that a borough decides on).
ASKABLE: dict[str, str] = {
    "age_over_18": "date_of_birth",
    "age_over_65": "date_of_birth",
    "birthdate": "date_of_birth",
    "resident_of_montreal": "postal_address",
    "borough": "postal_address",
    "given_name": "given_name",
    "family_name": "family_name",
}

PENDING, ACCEPTED, REFUSED = "pending", "accepted", "refused"

#: authenticates the client of a request (RFC 6749 s. 2.3) or raises the provider's OAuth2Error
Authenticate = Callable[[WireRequest], Awaitable[Any]]


@dataclasses.dataclass
class Verification:
    """One request of a borough system (table ``card_verifications``, identity migration 0115)."""

    transaction_id: str
    request_id: str                       # the ``state``, and the request object's path
    client_id: str
    claims: tuple[str, ...]
    purpose: str
    nonce: str
    created_at: int
    expires_at: int
    status: str = PENDING
    reason: str | None = None
    disclosed: dict[str, Any] | None = None
    resident_id: str | None = None
    answered_at: int | None = None
    delivered_at: int | None = None


def response_uri(issuer: CardIssuer) -> str:
    return issuer.config.issuer + "/card/vp/response"


def client_identifier(issuer: CardIssuer) -> str:
    """OpenID4VP 1.0 s. 5.9.3: ``redirect_uri:`` and the response URI (``direct_post``)."""
    return "redirect_uri:" + response_uri(issuer)


def _error(status: int, error: str, description: str, **extra: Any) -> WireResponse:
    return WireResponse.json(status, {"error": error, "error_description": description, **extra})


async def _client(authenticate: Authenticate, request: WireRequest):
    from services.identity.oidc.errors import OAuth2Error, error_response

    try:
        view = await authenticate(request)
    except OAuth2Error as error:
        return None, WireResponse.json(*error_response(error))
    return getattr(view, "client", view), None


async def request_endpoint(issuer: CardIssuer, request: WireRequest, authenticate: Authenticate) -> WireResponse:
    """A borough system asks for one claim of a resident's card."""
    if request.method != "POST":
        return _error(400, "invalid_request", "use POST")
    client, refused = await _client(authenticate, request)
    if refused is not None:
        return refused
    form = request.form
    claims = form.get("claim", [])
    purposes = form.get("purpose", [])
    # The checks, in order: a client registered for it, one claim it may ask, a short purpose.
    if client.disabled or VERIFY_SCOPE not in client.scopes:
        return _error(400, "unauthorized_client", f"the client is not registered with the scope {VERIFY_SCOPE}")
    if len(claims) != 1:
        return _error(400, "invalid_request", "claim: exactly one claim is asked per request")
    if claims[0] not in ASKABLE:
        return _error(400, "invalid_request", f"claim: one of {', '.join(sorted(ASKABLE))}")
    if len(purposes) > 1 or (purposes and (len(purposes[0]) > 200 or not purposes[0].isprintable())):
        return _error(400, "invalid_request", "purpose: at most one, 200 printable characters")
    now = issuer.now()
    verification = Verification(transaction_id=secrets.token_urlsafe(24), request_id=secrets.token_urlsafe(24),
                                client_id=client.client_id, claims=(claims[0],),
                                purpose=purposes[0] if purposes else "", nonce=secrets.token_urlsafe(24),
                                created_at=now, expires_at=now + REQUEST_LIFETIME)
    async with issuer.uow_factory() as uow:
        await uow.cards.add_verification(verification)
        await uow.commit()
    request_uri = f"{issuer.config.issuer}/card/vp/request/{verification.request_id}"
    wallet_url = "openid4vp://?" + urlencode({"client_id": client_identifier(issuer), "request_uri": request_uri},
                                             quote_via=quote)
    return WireResponse.json(200, {"transaction_id": verification.transaction_id, "request_uri": request_uri,
                                   "authorization_request": wallet_url, "expires_in": REQUEST_LIFETIME})


def request_object(issuer: CardIssuer, verification: Verification, client_name: str) -> str:
    """The unsigned Request Object (RFC 9101 s. 4; ``alg`` ``none``, see the module doc)."""
    payload = {
        "iss": client_identifier(issuer),   # RFC 9101 s. 4: the client
        "aud": "https://self-issued.me/v2",  # OpenID4VP 1.0 s. 5.8, a wallet not known in advance
        "client_id": client_identifier(issuer),
        "response_type": "vp_token",
        "response_mode": "direct_post",
        "response_uri": response_uri(issuer),
        "nonce": verification.nonce,
        "state": verification.request_id,
        "iat": verification.created_at,
        "exp": verification.expires_at,
        "dcql_query": {"credentials": [{
            "id": DCQL_ID, "format": CARD_TYP, "meta": {"vct_values": [issuer.config.vct]},
            "claims": [{"path": [name]} for name in verification.claims]}]},
        "client_metadata": {
            "client_name": client_name,
            "vp_formats_supported": {CARD_TYP: {"sd-jwt_alg_values": ["ES256"], "kb-jwt_alg_values": ["ES256"]}},
        },
    }
    if verification.purpose:
        payload["client_metadata"]["purpose"] = verification.purpose
    header = {"alg": "none", "typ": REQUEST_TYP}
    encode = lambda part: b64url(json.dumps(part, separators=(",", ":"), ensure_ascii=False).encode())  # noqa: E731
    return f"{encode(header)}.{encode(payload)}."


async def request_object_endpoint(issuer: CardIssuer, request: WireRequest, request_id: str) -> WireResponse:
    """The request by reference (RFC 9101 s. 5.2): while the transaction waits for an answer."""
    async with issuer.uow_factory() as uow:
        verification = await uow.cards.verification_by_request(request_id)
        client = await uow.clients.get(verification.client_id) if verification is not None else None
    if verification is None or verification.status != PENDING or verification.expires_at < issuer.now():
        return _error(404, "invalid_request_uri", "this request is unknown, answered or expired")
    body = request_object(issuer, verification, getattr(client, "name", "") or verification.client_id)
    return WireResponse(200, body, [("Content-Type", "application/oauth-authz-req+jwt"),
                                    ("Cache-Control", "no-store")])


async def _fresh_verifier(issuer: CardIssuer, status_list_token: str) -> verifier.OfflineVerifier:
    """The offline verifier on what the issuer publishes now: its keys and a status list built
    for this answer (a card revoked a second ago is refused)."""
    metadata = await jwt_vc_issuer_metadata(issuer)
    cache = verifier.VerifierCache(issuer.config.issuer, metadata["jwks"],
                                   {issuer.config.status_list_uri: status_list_token}, issuer.now())
    return verifier.OfflineVerifier(cache)


def _presentation(vp_token: str) -> str:
    """OpenID4VP 1.0 s. 8.1: ``{"<DCQL credential id>": ["<presentation>"]}``."""
    try:
        parsed = json.loads(vp_token)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict) or set(parsed) != {DCQL_ID} or not isinstance(parsed[DCQL_ID], list) \
            or len(parsed[DCQL_ID]) != 1 or not isinstance(parsed[DCQL_ID][0], str):
        raise PresentationRefused("invalid_vp_token", f'vp_token must be {{"{DCQL_ID}": ["<SD-JWT presentation>"]}}')
    return parsed[DCQL_ID][0]


def _unknown_or_answered(verification: Verification | None) -> WireResponse:
    if verification is None:
        return _error(400, "invalid_request", "state: no such request")
    return _error(400, "invalid_request", "this request was answered already; the first answer stands",
                  reason="already_answered")


async def response_endpoint(issuer: CardIssuer, request: WireRequest) -> WireResponse:
    """The wallet's answer (OpenID4VP 1.0 s. 8.2, ``direct_post``)."""
    if request.method != "POST":
        return _error(400, "invalid_request", "use POST")
    form = request.form
    for name in ("state", "vp_token", "error"):
        if len(form.get(name, [])) > 1:
            return _error(400, "invalid_request", f"{name} is repeated")
    state = request.first(form, "state")
    if not state:
        return _error(400, "invalid_request", "state is required")
    async with issuer.uow_factory() as uow:
        waiting = await uow.cards.verification_by_request(state)
    if waiting is None or waiting.status != PENDING:
        # answered before any work: an unknown or answered state costs one read, not a status list
        return _unknown_or_answered(waiting)
    fresh = await _fresh_verifier(issuer, await current_status_list_token(issuer))
    now = issuer.now()
    async with issuer.uow_factory() as uow:
        verification = await uow.cards.verification_by_request(state, for_update=True)
        # The checks, in order: a known transaction, not answered yet, not expired, then the
        # presentation itself, then exactly the claim asked.
        if verification is None or verification.status != PENDING:
            return _unknown_or_answered(verification)
        try:
            if verification.expires_at < now:
                raise PresentationRefused("request_expired", "the request expired; the borough system asks again")
            if request.first(form, "error"):
                raise PresentationRefused("wallet_declined", "the wallet declined to present the card")
            presentation = _presentation(request.first(form, "vp_token") or "")
            check = fresh.verify(presentation, audience=client_identifier(issuer), nonce=verification.nonce, now=now)
            missing = [c for c in verification.claims if c not in check.disclosed]
            if missing:
                raise PresentationRefused("claim_not_disclosed", f"the card did not disclose {', '.join(missing)}")
            extra = sorted(set(check.disclosed) - set(verification.claims))
            if extra:
                raise PresentationRefused("claim_not_requested",
                                          f"more was disclosed than asked ({', '.join(extra)}); nothing was kept")
            card = await uow.cards.card_by_status_index(int(check.status_index))
            if card is None:
                raise PresentationRefused("status_unavailable", "no card of this issuer has this status entry")
            client = await uow.clients.get(verification.client_id)
            if client is None or client.disabled:
                # the borough system was disabled meanwhile: it receives nothing
                raise PresentationRefused("client_disabled", "the system that asked can no longer receive it")
        except PresentationRefused as refused:
            verification.status, verification.reason, verification.answered_at = REFUSED, refused.reason, now
            await uow.cards.update_verification(verification)
            await uow.commit()
            return _error(400, "invalid_request", refused.detail or refused.reason, reason=refused.reason)
        verification.status, verification.answered_at = ACCEPTED, now
        verification.disclosed = dict(check.disclosed)
        verification.resident_id = card.resident_id
        await uow.cards.update_verification(verification)
        # A release like any other (docs/releases.md): the categories, never the values, in
        # the transaction that keeps the outcome for the borough system.
        uow.add_event(releases.release(
            resident_id=card.resident_id, client=client, channel="openid4vp",
            categories=tuple(sorted({ASKABLE[c] for c in verification.claims}))))
        await uow.commit()
    return WireResponse.json(200, {})


async def result_endpoint(issuer: CardIssuer, request: WireRequest, authenticate: Authenticate) -> WireResponse:
    """The borough system fetches the outcome of its own transaction."""
    if request.method != "POST":
        return _error(400, "invalid_request", "use POST")
    client, refused = await _client(authenticate, request)
    if refused is not None:
        return refused
    ids = request.form.get("transaction_id", [])
    if len(ids) != 1:
        return _error(400, "invalid_request", "transaction_id: exactly one")
    now = issuer.now()
    async with issuer.uow_factory() as uow:
        verification = await uow.cards.get_verification(ids[0], for_update=True)
        # another client's transaction is answered as an unknown one
        if verification is None or verification.client_id != client.client_id:
            return _error(400, "invalid_request", "transaction_id: no such transaction of this client")
        body: dict[str, Any] = {"transaction_id": verification.transaction_id, "status": verification.status,
                                "claims": list(verification.claims)}
        if verification.status == PENDING and verification.expires_at < now:
            body.update(status=REFUSED, reason="request_expired")
        elif verification.status == REFUSED:
            body["reason"] = verification.reason
        elif verification.status == ACCEPTED:
            if verification.delivered_at is None:
                body["disclosed"] = verification.disclosed or {}
                # delivered once: the values are the borough system's now, not kept here
                verification.disclosed, verification.delivered_at = None, now
                await uow.cards.update_verification(verification)
                await uow.commit()
            else:
                body["delivered_at"] = verification.delivered_at
    return WireResponse.json(200, body)
