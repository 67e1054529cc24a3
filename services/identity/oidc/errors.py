"""OAuth 2.0 / OpenID Connect protocol errors: one class per error code.

Each class extends authlib's ``OAuth2Error`` (so errors authlib's grants raise and ours are
handled by the same boundary code) and says in its docstring which section defines it.
Raise deep, catch once: the endpoints turn any ``OAuth2Error`` into a JSON body
(RFC 6749 s. 5.2) or, at the authorization endpoint and only once the redirect URI is
verified, a redirect (RFC 6749 s. 4.1.2.1). Descriptions are plain ASCII for developers;
they never contain a token, a secret or personal data.
"""

from __future__ import annotations

from authlib.oauth2.rfc6749 import errors as _rfc6749
from authlib.oidc.core import errors as _oidc

OAuth2Error = _rfc6749.OAuth2Error


class InvalidRequest(_rfc6749.InvalidRequestError):
    """``invalid_request`` — missing, repeated or malformed parameter (RFC 6749 s. 4.1.2.1, 5.2)."""


class InvalidClient(_rfc6749.InvalidClientError):
    """``invalid_client`` — client authentication failed (RFC 6749 s. 5.2).

    401 with ``WWW-Authenticate: Basic`` when the client tried HTTP Basic (``status_code=401``).
    """


class InvalidGrant(_rfc6749.InvalidGrantError):
    """``invalid_grant`` — code or refresh token invalid, expired, revoked, reused, or issued
    to another client; redirect URI or PKCE verifier mismatch (RFC 6749 s. 5.2, RFC 7636 s. 4.6)."""


class UnauthorizedClient(_rfc6749.UnauthorizedClientError):
    """``unauthorized_client`` — the client may not use this grant or response type (RFC 6749 s. 5.2)."""


class UnsupportedGrantType(_rfc6749.OAuth2Error):
    """``unsupported_grant_type`` — the grant type is not supported here (RFC 6749 s. 5.2).

    The implicit and password grants are deliberately absent (RFC 9700 s. 2.1.2, 2.4).
    """

    error = "unsupported_grant_type"


class UnsupportedResponseType(_rfc6749.OAuth2Error):
    """``unsupported_response_type`` — only ``code`` is supported (RFC 6749 s. 4.1.2.1; RFC 9700)."""

    error = "unsupported_response_type"


class InvalidScope(_rfc6749.InvalidScopeError):
    """``invalid_scope`` — unknown scope or one the client is not registered for (RFC 6749 s. 3.3, 5.2)."""


class AccessDenied(_rfc6749.AccessDeniedError):
    """``access_denied`` — the resident refused (RFC 6749 s. 4.1.2.1)."""


class ServerError(_rfc6749.OAuth2Error):
    """``server_error`` — an unexpected condition; redirected, never a bare 500 (RFC 6749 s. 4.1.2.1)."""

    error = "server_error"
    # At a JSON endpoint: 500 (RFC 9110 s. 15.6.1). authlib's default, 400, would tell the
    # client that its request was at fault (and hide a bug from every "never a 500" test).
    status_code = 500


class TemporarilyUnavailable(_rfc6749.OAuth2Error):
    """``temporarily_unavailable`` — overloaded or in maintenance (RFC 6749 s. 4.1.2.1)."""

    error = "temporarily_unavailable"
    # At a JSON endpoint: 503, the HTTP status for "try again later" (RFC 9110 s. 15.6.4).
    status_code = 503


class InvalidAuthorizationDetails(_rfc6749.OAuth2Error):
    """``invalid_authorization_details`` — RFC 9396 s. 5 (a mandate named wrongly, issue 22)."""

    error = "invalid_authorization_details"


class InvalidTarget(_rfc6749.OAuth2Error):
    """``invalid_target`` — the ``resource`` is unknown or not allowed for the client (RFC 8707 s. 2)."""

    error = "invalid_target"


class UnsupportedTokenType(_rfc6749.OAuth2Error):
    """``unsupported_token_type`` — the server cannot revoke this type of token (RFC 7009 s. 2.2.1)."""

    error = "unsupported_token_type"


class InvalidToken(_rfc6749.OAuth2Error):
    """``invalid_token`` — the bearer access token is missing, expired or revoked (RFC 6750 s. 3.1).

    401 with ``WWW-Authenticate: Bearer error="invalid_token"``.
    """

    error = "invalid_token"
    status_code = 401

    def get_headers(self):
        headers = super().get_headers()
        headers.append(("WWW-Authenticate", f'Bearer error="{self.error}"'))
        return headers


class InsufficientScope(_rfc6749.OAuth2Error):
    """``insufficient_scope`` — the access token lacks the scope the resource needs (RFC 6750 s. 3.1)."""

    error = "insufficient_scope"
    status_code = 403


class InteractionRequired(_oidc.InteractionRequiredError):
    """``interaction_required`` — the resident must interact, ``prompt=none`` forbids it (OIDC Core s. 3.1.2.6)."""


class LoginRequired(_oidc.LoginRequiredError):
    """``login_required`` — ``prompt=none`` without a session (or one too old) (OIDC Core s. 3.1.2.6)."""


class ConsentRequired(_oidc.ConsentRequiredError):
    """``consent_required`` — ``prompt=none`` but the resident has not consented (OIDC Core s. 3.1.2.6)."""


class RequestNotSupported(_oidc.RequestNotSupportedError):
    """``request_not_supported`` — request objects are not supported (OIDC Core s. 3.1.2.6)."""


class RequestUriNotSupported(_oidc.RequestURINotSupportedError):
    """``request_uri_not_supported`` — ``request_uri`` is not supported (OIDC Core s. 3.1.2.6)."""


class UnmetAuthenticationRequirements(_rfc6749.OAuth2Error):
    """``unmet_authentication_requirements`` — an essential ``acr`` (OIDC Core s. 5.5.1.1) cannot
    be reached: a failed authentication (OpenID Connect Core Unmet Authentication Requirements 1.0)."""

    error = "unmet_authentication_requirements"


class UntrustedRedirect(Exception):
    """Not an OAuth error response: the client or its redirect URI cannot be verified.

    RFC 6749 s. 4.1.2.1: the server MUST NOT redirect then, and informs the resident instead
    (an error page). ``reason`` is a stable token for the page's message catalogue.
    """

    def __init__(self, reason: str, description: str) -> None:
        super().__init__(description)
        self.reason = reason
        self.description = description


def error_response(error: OAuth2Error) -> tuple[int, dict, list[tuple[str, str]]]:
    """``(status, json body, headers)`` for an error at a JSON endpoint (RFC 6749 s. 5.2)."""
    error.redirect_uri = None  # a JSON endpoint never redirects
    status, body, headers = error()
    return status, dict(body), list(headers)


class InvalidDpopProof(_rfc6749.OAuth2Error):
    """``invalid_dpop_proof`` — the DPoP proof is missing, malformed, replayed or does not fit
    the request (RFC 9449 s. 5 at the token endpoint; s. 7.1 at a resource, 401)."""

    error = "invalid_dpop_proof"


class UseDpopNonce(_rfc6749.OAuth2Error):
    """``use_dpop_nonce`` — the proof must carry the server's nonce, given in the ``DPoP-Nonce``
    header of this answer (RFC 9449 s. 8 at the token endpoint, s. 9 at a resource)."""

    error = "use_dpop_nonce"

    def __init__(self, description: str, nonce: str) -> None:
        super().__init__(description)
        self.nonce = nonce

    def get_headers(self):
        headers = super().get_headers()
        headers.append(("DPoP-Nonce", self.nonce))
        return headers
