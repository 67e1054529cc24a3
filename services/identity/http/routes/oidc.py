"""Protocol endpoints: discovery, JWKS, authorize, token, userinfo, introspection, revocation, logout."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from services.identity.http.routes.common import provider, respond
from services.identity.oidc import (
    authorize, discovery, end_session, introspection, jwks, par, revocation, token, userinfo,
)


async def discovery_route(request: Request):
    return await respond(request, lambda w: discovery.discovery_endpoint(provider(request), w), json_errors=True)


async def jwks_route(request: Request):
    return await respond(request, lambda w: jwks.jwks_endpoint(provider(request), w), json_errors=True)


async def authorize_route(request: Request):
    return await respond(request, lambda w: authorize.authorization_endpoint(provider(request), w), json_errors=False)


async def resume_route(request: Request):
    return await respond(request, lambda w: authorize.resume_endpoint(provider(request), w), json_errors=False)


async def par_route(request: Request):
    return await respond(request, lambda w: par.pushed_authorization_request_endpoint(provider(request), w),
                         json_errors=True)


async def token_route(request: Request):
    return await respond(request, lambda w: token.token_endpoint(provider(request), w), json_errors=True)


async def userinfo_route(request: Request):
    return await respond(request, lambda w: userinfo.userinfo_endpoint(provider(request), w), json_errors=True)


async def introspection_route(request: Request):
    return await respond(request, lambda w: introspection.introspection_endpoint(provider(request), w),
                         json_errors=True)


async def revocation_route(request: Request):
    return await respond(request, lambda w: revocation.revocation_endpoint(provider(request), w), json_errors=True)


async def end_session_route(request: Request):
    return await respond(request, lambda w: end_session.end_session_endpoint(provider(request), w),
                         json_errors=False)


async def end_session_confirm_route(request: Request):
    return await respond(request, lambda w: end_session.end_session_endpoint(provider(request), w, confirmed=True),
                         json_errors=False, check_csrf=True)


async def sign_out_everywhere_route(request: Request):
    return await respond(request, lambda w: end_session.sign_out_everywhere_endpoint(provider(request), w),
                         json_errors=False, check_csrf=True)


routes = [
    Route("/.well-known/openid-configuration", discovery_route, methods=["GET"]),
    Route("/.well-known/oauth-authorization-server", discovery_route, methods=["GET"]),
    Route("/jwks", jwks_route, methods=["GET"]),
    Route("/authorize", authorize_route, methods=["GET", "POST"]),
    Route("/authorize/resume", resume_route, methods=["GET"]),
    # GET reaches the core, which answers an RFC 6749 JSON error rather than a 405 page
    Route("/token", token_route, methods=["GET", "POST"]),
    Route("/par", par_route, methods=["GET", "POST"]),
    Route("/userinfo", userinfo_route, methods=["GET", "POST"]),
    Route("/introspect", introspection_route, methods=["GET", "POST"]),
    Route("/revoke", revocation_route, methods=["GET", "POST"]),
    Route("/end-session", end_session_route, methods=["GET", "POST"]),
    Route("/end-session/confirm", end_session_confirm_route, methods=["POST"]),
    Route("/logout/everywhere", sign_out_everywhere_route, methods=["POST"]),
]
