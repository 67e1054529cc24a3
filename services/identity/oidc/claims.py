"""Claims released per scope (OIDC Core s. 5.4), for userinfo and the ID token.

The identity service holds few attributes: names and addresses live in the accounts service
and are released there, per purpose and under consent. Here: the subject, the email and its
verification, the preferred language.
"""

from __future__ import annotations

from typing import Any

SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "openid": ("sub",),
    "email": ("email", "email_verified"),
    "profile": ("locale",),
}

CLAIMS_SUPPORTED = ("sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp",
                    "at_hash", "sid", "email", "email_verified", "locale")


def claims_for_scope(resident: Any, subject: str, scope: str) -> dict[str, Any]:
    """The claims the granted ``scope`` releases about ``resident`` (CORE's ``Resident``)."""
    scopes = set(scope.split())
    claims: dict[str, Any] = {"sub": subject}
    if resident is None:
        return claims
    if "email" in scopes and resident.email:  # a resident enrolled at a counter may have none
        claims["email"] = resident.email
        claims["email_verified"] = bool(resident.email_verified)
    if "profile" in scopes:
        claims["locale"] = "fr-CA" if getattr(resident, "preferred_language", "fr") == "fr" else "en-CA"
    return claims
