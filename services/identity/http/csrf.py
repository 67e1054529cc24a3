"""CSRF protection for every form: the double-submit token.

A random token in an HttpOnly, SameSite=Lax cookie and the same value in a hidden field; a
POST whose field does not match the cookie (constant-time) is refused. SameSite=Lax already
stops cross-site POSTs in current browsers; the token covers the others.
"""

from __future__ import annotations

import hmac
import secrets

CSRF_COOKIE = "mtlid_csrf"
CSRF_FIELD = "csrf_token"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def valid(cookie_value: str | None, form_value: str | None) -> bool:
    if not cookie_value or not form_value or len(form_value) > 100:
        return False
    return hmac.compare_digest(cookie_value.encode(), form_value.encode())
