"""The authorization code grant with PKCE (RFC 6749 s. 4.1, RFC 7636) and the ID token (OIDC Core s. 3.1).

- PKCE ``S256`` is required of every client, public or confidential (RFC 9700 s. 2.1.1): the
  authorization endpoint refuses a request without ``code_challenge`` (``checks.check_pkce``),
  so every code carries one and the token endpoint always demands the verifier.
- A code is single-use and short-lived (RFC 6749 s. 4.1.2). A code presented a second time is
  refused and the tokens it produced are revoked (``token.py`` revokes the family).
- ``resource`` (RFC 8707 s. 2.2) at the token request: the resident's access token may also
  be meant for one of the client's registered ``audiences`` (e.g. ``urn:mtlid:accounts``),
  besides identity; anything else is ``invalid_target``. The services verify such a token
  themselves, and learn its revocation from ``tokens_revoked`` (issue 15).
- The ID token is added by :class:`IdTokenExtension` (authlib's hook after the token response),
  signed with the client's registered algorithm (ES256 by default, RS256 on request).
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc7636 import CodeChallenge

from services.identity.oidc.errors import InvalidRequest, InvalidTarget
from services.identity.oidc.tokens import mint_id_token
from services.identity.oidc.records import utcnow

TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]


class CodeView:
    """authlib's ``AuthorizationCodeMixin`` over our stored record."""

    def __init__(self, record: Any) -> None:
        self.record = record
        self.code_challenge = record.code_challenge
        self.code_challenge_method = record.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.record.redirect_uri

    def get_scope(self) -> str:
        return self.record.scope

    def get_nonce(self) -> str | None:
        return self.record.nonce


class S256CodeChallenge(CodeChallenge):
    """RFC 7636 with ``S256`` only: ``plain`` offers no protection if the request leaks."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            # required of confidential clients too, not only of public ones (RFC 9700 s. 2.1.1)
            raise InvalidRequest("Missing 'code_verifier'.")
        super().validate_code_verifier(grant, result)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_ENDPOINT_AUTH_METHODS

    def validate_token_request(self) -> None:
        super().validate_token_request()
        resources = self.request.wire.form.get("resource", [])
        if resources:
            if not set(resources) <= set(self.request.client.client.audiences):
                raise InvalidTarget("The requested resource is not allowed for this client.")
            self.request.mtlid.audience = list(dict.fromkeys(resources))

    def query_authorization_code(self, code: str, client: Any) -> CodeView | None:
        record = self.request.mtlid.code
        if record is None or record.client_id != client.client_id:
            return None
        if record.consumed_at is not None or record.is_expired(utcnow()):
            return None
        return CodeView(record)

    def delete_authorization_code(self, authorization_code: CodeView) -> None:
        self.request.mtlid.consume_code = authorization_code.record.code_hash

    def authenticate_user(self, authorization_code: CodeView) -> Any:
        return self.request.mtlid.owner

    def save_authorization_code(self, code: str, request: Any) -> None:
        raise RuntimeError("codes are issued by authorize.py")

    def generate_token(self, user=None, scope=None, grant_type=None, expires_in=None,
                       include_refresh_token=True) -> dict[str, Any]:
        return self.server.issue_tokens(self.request, client=self.request.client, owner=user,
                                        scope=scope or "", include_refresh_token=include_refresh_token)


class IdTokenExtension:
    """Adds ``id_token`` to the code grant's token response when ``openid`` was granted (OIDC Core s. 3.1.3.3)."""

    def __call__(self, grant: Any) -> None:
        grant.register_hook("after_create_token_response", self.add_id_token)

    def add_id_token(self, grant: Any, response: Any) -> None:
        _status, token, _headers = response
        if "openid" not in (token.get("scope") or "").split():
            return
        request = grant.request
        owner = request.mtlid.owner
        code = request.mtlid.code
        token["id_token"] = mint_id_token(
            grant.server.keys, grant.server.config, alg=request.client.id_token_signed_response_alg,
            client_id=request.client.client_id, subject=owner.subject, auth_time=owner.auth_time,
            acr=owner.acr, amr=owner.amr, nonce=code.nonce if code else None,
            access_token=token.get("access_token"), claims=owner.claims(token["scope"]),
            sid=owner.session_id)
