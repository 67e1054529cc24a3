"""CSRF protection for every form: a signed double-submit token bound to the session.

OWASP CSRF Prevention Cheat Sheet, "signed double-submit cookie": a random nonce lives in an
HttpOnly, SameSite=Lax cookie; the form's hidden field carries ``nonce.MAC`` where the MAC
(HMAC-SHA-256 under a key derived from the provider's) covers the nonce *and* the resident's
session (the hash of the session cookie, or nothing before sign-in). A POST is refused unless
the field's nonce is the cookie's and its MAC verifies for the session the request carries.

So a cookie planted by a sibling subdomain (what ``__Host-`` cookies stop in production, see
``cookies.py``) still cannot be paired with a token: the attacker cannot compute the MAC, and
a token shown to one session is worthless in another (after sign-in, sign-out, or for
another resident). SameSite=Lax already stops cross-site POSTs in current browsers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from starlette.requests import Request

from services.identity.oidc.sessions import SESSION_COOKIE

CSRF_COOKIE = "mtlid_csrf"
CSRF_FIELD = "csrf_token"
MAX_TOKEN_LENGTH = 200


def new_token() -> str:
    """A fresh nonce for the CSRF cookie."""
    return secrets.token_urlsafe(32)


def _mac(key: bytes, nonce: str, session_secret: str | None) -> str:
    binding = hashlib.sha256(session_secret.encode()).hexdigest() if session_secret else ""
    digest = hmac.new(key, f"mtlid/csrf|{nonce}|{binding}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def form_token(key: bytes, nonce: str, session_secret: str | None) -> str:
    """The hidden field's value for a page answering a request with this nonce and session."""
    return nonce + "." + _mac(key, nonce, session_secret)


def valid(key: bytes, cookie_nonce: str | None, session_secret: str | None, form_value: str | None) -> bool:
    if not cookie_nonce or not form_value or len(form_value) > MAX_TOKEN_LENGTH or "." not in form_value:
        return False
    nonce, _, mac = form_value.partition(".")
    return (hmac.compare_digest(nonce.encode(), cookie_nonce.encode())
            and hmac.compare_digest(mac.encode(), _mac(key, nonce, session_secret).encode()))


def key_for(request: Request) -> bytes:
    """The CSRF key, separate from the interaction key it is derived from."""
    return hmac.new(request.app.state.provider.config.interaction_key, b"mtlid/csrf-key", hashlib.sha256).digest()


def request_valid(request: Request, form_value: str | None) -> bool:
    """The posted ``csrf_token`` matches this request's cookie nonce and session."""
    return valid(key_for(request), request.cookies.get(CSRF_COOKIE), request.cookies.get(SESSION_COOKIE), form_value)
