"""The client credentials grant for borough and municipal systems (RFC 6749 s. 4.4).

Access tokens are JWTs (RFC 9068). The audience is the ``resource`` the client names
(RFC 8707 s. 2; it must be one of the client's registered audiences, else ``invalid_target``),
or the client's single audience when it names none. Scopes are limited to the client's
registered scopes (``invalid_scope`` otherwise); no scope asked means all of them. No refresh
token (RFC 6749 s. 4.4.3).

Resident scopes (``openid``, ``profile``, ``email``, ``offline_access``) are refused with
``invalid_scope`` even if a client row holds them (the registry refuses them since issue 20,
older rows may not): a token with no resident behind it must not look like a resident's.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import grants

from services.identity.domain.clients import RESIDENT_SCOPES
from services.identity.oidc.errors import InvalidScope, InvalidTarget


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    def validate_token_request(self) -> None:
        super().validate_token_request()
        client = self.request.client
        registered = tuple(s for s in client.client.scopes if s not in RESIDENT_SCOPES)
        asked = (self.request.payload.scope or "").split()
        if set(asked) & set(RESIDENT_SCOPES):
            raise InvalidScope("Resident scopes need a resident: use the authorization code grant.")
        if not asked:
            self.request.scope = " ".join(registered)
        elif not set(asked) <= set(registered):
            raise InvalidScope("The client is not registered for one of the requested scopes.")
        else:
            self.request.scope = " ".join(asked)
        self.request.mtlid.audience = self.resolve_audience(client)

    def resolve_audience(self, client: Any) -> str | list[str]:
        resources = self.request.wire.form.get("resource", [])
        audiences = tuple(client.client.audiences)
        if resources:
            if not set(resources) <= set(audiences):
                raise InvalidTarget("The requested resource is not allowed for this client.")
            return resources[0] if len(resources) == 1 else list(resources)
        if len(audiences) == 1:
            return audiences[0]
        raise InvalidTarget("Name the target with the 'resource' parameter (RFC 8707).")

    def create_token_response(self) -> Any:
        token = self.generate_token(scope=self.request.scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER

    def generate_token(self, user=None, scope=None, grant_type=None, expires_in=None,
                       include_refresh_token=True) -> dict[str, Any]:
        return self.server.issue_tokens(self.request, client=self.request.client, owner=None,
                                        scope=scope or "", include_refresh_token=False)
