"""The client credentials grant for borough and municipal systems (RFC 6749 s. 4.4).

Access tokens are JWTs (RFC 9068). The audience is the ``resource`` the client names
(RFC 8707 s. 2; it must be one of the client's registered audiences, else ``invalid_target``),
or the client's single audience when it names none. Scopes are limited to the client's
registered scopes (``invalid_scope`` otherwise); no scope asked means all of them. No refresh
token (RFC 6749 s. 4.4.3).

Resident scopes (``openid``, ``profile``, ``email``, ``offline_access``) are refused with
``invalid_scope`` even if a client row holds them (the registry refuses them since issue 20,
older rows may not): a token with no resident behind it must not look like a resident's.

Two ways through, one set of rules (``granted_scope``, ``target_audience``):

- ``issue_at_once``: the request partners' systems send thousands of times a second — a
  client secret (HTTP Basic or the form, as registered) that checks, the grant allowed, a
  scope and resource the client holds — answered in one pass. authlib's generic machinery
  (a request object, the grant registry, three authentication functions tried in turn) was
  a sixth of this endpoint's CPU, for a decision that takes a few comparisons;
- anything else (another authentication method, a secret that fails, a refusal of any kind)
  goes through authlib's grant (``ClientCredentialsGrant``), which gives every error its
  RFC 6749 s. 5.2 code, status and ``WWW-Authenticate``. The fast pass never answers an
  error, so the errors have one source.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import grants

from services.identity.domain.clients import RESIDENT_SCOPES
from services.identity.oidc.errors import InvalidScope, InvalidTarget, OAuth2Error
from services.identity.oidc.wire import WireResponse

GRANT_TYPE = "client_credentials"
TOKEN_RESPONSE_HEADERS = [("Content-Type", "application/json"), ("Cache-Control", "no-store"),
                          ("Pragma", "no-cache")]


def granted_scope(client: Any, asked: str | None) -> str:
    """The scope of the token: what the client asks, within what it is registered for (RFC 6749
    s. 3.3), none asked meaning all of it; resident scopes never (``InvalidScope``)."""
    registered = tuple(s for s in client.scopes if s not in RESIDENT_SCOPES)
    wanted = (asked or "").split()
    if set(wanted) & set(RESIDENT_SCOPES):
        raise InvalidScope("Resident scopes need a resident: use the authorization code grant.")
    if not wanted:
        return " ".join(registered)
    if not set(wanted) <= set(registered):
        raise InvalidScope("The client is not registered for one of the requested scopes.")
    return " ".join(wanted)


def target_audience(client: Any, resources: list[str]) -> str | list[str]:
    """The token's ``aud``: the ``resource`` values named (RFC 8707 s. 2), each registered for
    the client, or its single audience (``InvalidTarget`` otherwise)."""
    audiences = tuple(client.audiences)
    if resources:
        if not set(resources) <= set(audiences):
            raise InvalidTarget("The requested resource is not allowed for this client.")
        return resources[0] if len(resources) == 1 else list(resources)
    if len(audiences) == 1:
        return audiences[0]
    raise InvalidTarget("Name the target with the 'resource' parameter (RFC 8707).")


class _Minting:
    """What ``issue_tokens`` reads of a request: its per-request state."""

    __slots__ = ("mtlid",)

    def __init__(self, state: Any) -> None:
        self.mtlid = state


def _secret_holder(request, state) -> Any:
    """The client that authenticated with its secret by its registered method (RFC 6749
    s. 2.3.1), or None — None also when authlib would try another way first, so that both
    passes always agree on who the client is."""
    basic = request.basic_credentials()
    if basic is not None:
        client_id, secret = basic
        method = "client_secret_basic"
    else:
        client_id, secret = request.first(request.form, "client_id"), request.first(request.form, "client_secret")
        method = "client_secret_post"
    view = state.clients.get(client_id or "")
    if view is None or not secret or view.client.token_endpoint_auth_method != method:
        return None
    return view if view.check_client_secret(secret) else None


def issue_at_once(provider, request, state):
    """The token response for the common request, or None: then the caller runs authlib's
    grant, which answers the same for this request and also every error.

    The checks, in authlib's order: the client authenticated (s. 3.2.1), the grant is among
    its grant types (s. 5.2 ``unauthorized_client``), the scope (s. 3.3), the target (RFC 8707)."""
    if state.dpop_jkt is not None or state.assertion_client is not None:
        return None
    view = _secret_holder(request, state)
    if view is None or GRANT_TYPE not in view.client.grant_types:
        return None
    try:
        scope = granted_scope(view.client, request.first(request.form, "scope"))
        state.audience = target_audience(view.client, request.form.get("resource", []))
    except OAuth2Error:
        return None
    token = provider.server.issue_tokens(_Minting(state), client=view, owner=None, scope=scope,
                                         include_refresh_token=False)
    return WireResponse(200, token, list(TOKEN_RESPONSE_HEADERS))


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    def validate_token_request(self) -> None:
        super().validate_token_request()
        client = self.request.client.client
        self.request.scope = granted_scope(client, self.request.payload.scope)
        self.request.mtlid.audience = target_audience(client, self.request.wire.form.get("resource", []))

    def create_token_response(self) -> Any:
        token = self.generate_token(scope=self.request.scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER

    def generate_token(self, user=None, scope=None, grant_type=None, expires_in=None,
                       include_refresh_token=True) -> dict[str, Any]:
        return self.server.issue_tokens(self.request, client=self.request.client, owner=None,
                                        scope=scope or "", include_refresh_token=False)
