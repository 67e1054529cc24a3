"""The carte citoyenne's protocol endpoints (OpenID4VCI 1.0, SD-JWT VC, Token Status List):
converted here, handled by ``services.identity.card.issuance``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from services.identity.card import issuance
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


routes = [
    Route("/.well-known/openid-credential-issuer", _endpoint(issuance.metadata_endpoint), methods=["GET"]),
    Route("/.well-known/oauth-authorization-server/card", _endpoint(issuance.authorization_server_endpoint),
          methods=["GET"]),
    Route("/.well-known/jwt-vc-issuer", _endpoint(issuance.jwt_vc_issuer_endpoint), methods=["GET"]),
    Route("/card/token", _endpoint(issuance.token_endpoint), methods=["GET", "POST"]),
    Route("/card/nonce", _endpoint(issuance.nonce_endpoint), methods=["GET", "POST"]),
    Route("/card/credential", credential_route, methods=["GET", "POST"]),
    Route("/card/status/1", _endpoint(issuance.status_list_endpoint), methods=["GET"]),
]
