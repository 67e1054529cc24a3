"""The refresh token grant with rotation and reuse detection (RFC 6749 s. 6; RFC 9700 s. 4.14.2).

Every use of a refresh token returns a new one of the same *family* and marks the used one
``rotated``. A rotated (or revoked) token presented again means a copy leaked: ``token.py``
revokes the whole family before answering ``invalid_grant``, so neither the thief nor the
legitimate client keeps a working token, and the resident logs in again.

Lifetimes: a family never outlives the first link's expiry (rotation does not slide it), and
ends when the resident withdraws the client's grant or signs out everywhere. Without
``offline_access`` it also ends with the SSO session it was issued in (logout, session
expiry: ``token.py`` refuses it once the session is over). With ``offline_access`` — granted
only when the client is registered for it and the resident ticked it on the consent page
(OIDC Core s. 11; a standing consent recorded as a grant counts, so ``prompt=consent`` is not
demanded each time) — it outlives the session, and so do the access tokens it mints
(``tokens.bound_session``).
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import grants

from services.identity.oidc.authorization_code import TOKEN_ENDPOINT_AUTH_METHODS
from services.identity.oidc.records import RefreshTokenState, utcnow


class RefreshTokenView:
    """authlib's ``TokenMixin`` over our stored record."""

    def __init__(self, record: Any) -> None:
        self.record = record

    def check_client(self, client: Any) -> bool:
        return self.record.client_id == client.client_id

    def get_scope(self) -> str:
        return self.record.scope

    def is_expired(self) -> bool:
        return self.record.is_expired(utcnow())

    def is_revoked(self) -> bool:
        return self.record.state != RefreshTokenState.ACTIVE


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_ENDPOINT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshTokenView | None:
        record = self.request.mtlid.refresh_token
        if record is None:
            return None
        view = RefreshTokenView(record)
        if view.is_revoked() or view.is_expired():
            return None
        return view

    def authenticate_user(self, refresh_token: RefreshTokenView) -> Any:
        return self.request.mtlid.owner

    def revoke_old_credential(self, refresh_token: RefreshTokenView) -> None:
        self.request.mtlid.rotate_refresh = refresh_token.record.token_hash

    def generate_token(self, user=None, scope=None, grant_type=None, expires_in=None,
                       include_refresh_token=True) -> dict[str, Any]:
        record = self.request.mtlid.refresh_token
        return self.server.issue_tokens(self.request, client=self.request.client, owner=user,
                                        scope=scope or "", include_refresh_token=include_refresh_token,
                                        family_id=record.family_id, family_expires_at=record.expires_at)
