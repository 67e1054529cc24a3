"""CORE's ``OAuthClient`` seen through authlib's ``ClientMixin`` (RFC 6749 s. 2).

Exact redirect-URI matching (RFC 9700 s. 4.1.3): a string comparison, no patterns, no
prefix, no default when the request names none (OIDC Core s. 3.1.2.1 makes it REQUIRED).
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin, scope_to_list


class ClientView(ClientMixin):
    def __init__(self, client: Any) -> None:
        self.client = client

    @property
    def client_id(self) -> str:
        return self.client.client_id

    @property
    def id_token_signed_response_alg(self) -> str:
        return self.client.id_token_signed_response_alg or "ES256"

    def get_client_id(self) -> str:
        return self.client.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = set(self.client.scopes)
        return " ".join(s for s in scope_to_list(scope or "") or [] if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.client.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        if not self.client.secret_hash:
            return False
        return bool(self.client.check_secret(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        # One registered method per client (OIDC Registration s. 2, token_endpoint_auth_method),
        # used for the token, introspection and revocation endpoints alike.
        return method == self.client.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.client.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.client.grant_types

    @property
    def is_public(self) -> bool:
        return self.client.token_endpoint_auth_method == "none"
