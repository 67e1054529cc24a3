"""Provider metadata: OpenID Connect Discovery 1.0 s. 3 and RFC 8414 s. 2.

It advertises exactly what works: ``scopes_supported`` lists the resident scopes and the
partner-facing ``accounts:release`` (the scopes between the city's own services — admin,
broker, resolve, validate — are not advertised, RFC 8414 s. 2 allows it);
``resource_indicators_supported`` says the token endpoint takes RFC 8707's ``resource``.

Every member and every listed value is exercised by a real request in
tests/integration/identity_oidc/test_discovery_works.py (issue 20): a member added here
without a check there fails that test.
"""

from __future__ import annotations

from services.common.dpop import ALGORITHMS as DPOP_ALGORITHMS
from services.identity.domain.clients import TOKEN_EXCHANGE
from services.identity.oidc.authorize import ACR_VALUES_SUPPORTED
from services.identity.oidc.claims import CLAIMS_SUPPORTED
from services.identity.oidc.client_assertion import ALGORITHMS as ASSERTION_ALGORITHMS
from services.identity.oidc.wire import WireRequest, WireResponse

#: client_credentials scopes partners' systems ask for (docs/contracts.md)
PARTNER_SCOPES = ("accounts:release",)

def metadata(provider) -> dict:
    config = provider.config
    e = config.endpoint
    return {
        "issuer": config.issuer,
        "authorization_endpoint": e("/authorize"),
        "token_endpoint": e("/token"),
        "userinfo_endpoint": e("/userinfo"),
        "jwks_uri": e("/jwks"),
        "introspection_endpoint": e("/introspect"),
        "revocation_endpoint": e("/revoke"),
        "end_session_endpoint": e("/end-session"),
        "pushed_authorization_request_endpoint": e("/par"),          # RFC 9126 s. 5
        "require_pushed_authorization_requests": False,              # per client (s. 6)
        "scopes_supported": [*config.resident_scopes, *PARTNER_SCOPES],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", TOKEN_EXCHANGE],
        "code_challenge_methods_supported": ["S256"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": ["ES256", "RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "introspection_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "revocation_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "acr_values_supported": list(ACR_VALUES_SUPPORTED),
        # RFC 8176 values an ID token's ``amr`` may carry (docs/contracts.md, "Passkeys, acr and
        # amr"). Not in Discovery 1.0's list, but the name relying-party libraries read.
        "amr_values_supported": list(AMR_VALUES_SUPPORTED),
        "claims_supported": list(CLAIMS_SUPPORTED),
        "prompt_values_supported": ["none", "login", "consent"],
        "ui_locales_supported": ["fr-CA", "en-CA"],
        "claims_parameter_supported": True,     # acr honoured; other claims per scope
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
        "access_token_issuer": config.issuer,
        "resource_indicators_supported": True,
        # OpenID Connect Back-Channel Logout 1.0 s. 2.1, Front-Channel Logout 1.0 s. 3
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "frontchannel_logout_supported": True,
        "frontchannel_logout_session_supported": True,
        # RFC 9449 s. 5.1: DPoP proofs at the token endpoint, userinfo and the services' gRPC
        "dpop_signing_alg_values_supported": list(DPOP_ALGORITHMS),
    }


#: password, one-time code (TOTP or recovery code), passkey (device-bound or synced), user
#: presence, multiple factors
AMR_VALUES_SUPPORTED = ("pwd", "otp", "hwk", "swk", "user", "mfa")


async def discovery_endpoint(provider, request: WireRequest) -> WireResponse:
    """GET /.well-known/openid-configuration and /.well-known/oauth-authorization-server."""
    response = WireResponse.json(200, metadata(provider), no_store=False)
    response.headers.append(("Cache-Control", "public, max-age=300"))
    return response
