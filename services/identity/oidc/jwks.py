"""The JWK Set (RFC 7517 s. 5): current, next (published before it signs) and retired keys."""

from __future__ import annotations

from services.identity.oidc.wire import WireRequest, WireResponse


async def jwks_endpoint(provider, request: WireRequest) -> WireResponse:
    await provider.refresh_keys()
    response = WireResponse.json(200, provider.keys.jwks(), no_store=False)
    # short: a rotation must reach verifiers quickly (the next key is published in advance)
    response.headers.append(("Cache-Control", "public, max-age=60"))
    return response
