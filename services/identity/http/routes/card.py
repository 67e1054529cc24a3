"""The carte citoyenne's protocol endpoints (OpenID4VCI 1.0, SD-JWT VC, Token Status List,
OpenID4VP 1.0): converted here, handled by ``services.identity.card.issuance`` and
``services.identity.card.presentation``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from services.identity.card import issuance, presentation
from services.identity.http.routes.common import provider, respond
from services.identity.oidc.wire import WireResponse


def _card_issuer(request: Request):
    return provider(request).card


async def _unavailable(_wire) -> WireResponse:
    return WireResponse.json(404, {"error": "not_found", "error_description": "the carte citoyenne is not offered here"})


def _endpoint(handler):
    async def route(request: Request):
        card = _card_issuer(request)
        if card is None:
            return await respond(request, _unavailable, json_errors=True)
        return await respond(request, lambda w: handler(card, w), json_errors=True)

    return route


async def credential_route(request: Request):
    card = _card_issuer(request)
    if card is None:
        return await respond(request, _unavailable, json_errors=True)
    body = await request.body()  # JSON (OpenID4VCI 1.0 s. 8.2); respond() bounds its length
    return await respond(request, lambda w: issuance.credential_endpoint(card, w, body), json_errors=True)


def _authenticate(request: Request):
    """Client authentication of a borough system (RFC 6749 s. 2.3), the token endpoint's rules."""
    from services.identity.oidc.introspection import CONFIDENTIAL, authenticate

    return lambda wire: authenticate(provider(request), wire, CONFIDENTIAL, "card_verification")


def _verifier_endpoint(handler):
    async def route(request: Request):
        card = _card_issuer(request)
        if card is None:
            return await respond(request, _unavailable, json_errors=True)
        return await respond(request, lambda w: handler(card, w, _authenticate(request)), json_errors=True)

    return route


async def request_object_route(request: Request):
    card = _card_issuer(request)
    if card is None:
        return await respond(request, _unavailable, json_errors=True)
    request_id = request.path_params["request_id"]
    return await respond(request, lambda w: presentation.request_object_endpoint(card, w, request_id),
                         json_errors=True)


routes = [
    Route("/.well-known/openid-credential-issuer", _endpoint(issuance.metadata_endpoint), methods=["GET"]),
    Route("/.well-known/oauth-authorization-server/card", _endpoint(issuance.authorization_server_endpoint),
          methods=["GET"]),
    Route("/.well-known/jwt-vc-issuer", _endpoint(issuance.jwt_vc_issuer_endpoint), methods=["GET"]),
    Route("/card/token", _endpoint(issuance.token_endpoint), methods=["GET", "POST"]),
    Route("/card/nonce", _endpoint(issuance.nonce_endpoint), methods=["GET", "POST"]),
    Route("/card/credential", credential_route, methods=["GET", "POST"]),
    Route("/card/status/1", _endpoint(issuance.status_list_endpoint), methods=["GET"]),
    # OpenID4VP 1.0: a borough system's online verification (card/presentation.py)
    Route("/card/vp/requests", _verifier_endpoint(presentation.request_endpoint), methods=["GET", "POST"]),
    Route("/card/vp/request/{request_id}", request_object_route, methods=["GET"]),
    Route("/card/vp/response", _endpoint(presentation.response_endpoint), methods=["GET", "POST"]),
    Route("/card/vp/result", _verifier_endpoint(presentation.result_endpoint), methods=["GET", "POST"]),
]
