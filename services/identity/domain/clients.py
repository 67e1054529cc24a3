"""OAuth 2.0 clients (RFC 6749 s. 2; OIDC Dynamic Client Registration 1.0 s. 2 metadata).

Rules of the registry (RFC 9700, the OAuth 2.0 Security BCP):

* grant types are a subset of ``authorization_code``, ``refresh_token`` and
  ``client_credentials`` — no implicit grant, no resource-owner password grant;
* redirect URIs are compared exactly; they must be absolute, without fragment, and use
  https except for loopback hosts (RFC 8252 s. 7.3) during development;
* a ``client_credentials`` client holds no resident scope (``RESIDENT_SCOPES``): its tokens
  have no resident behind them;
* ``subject_type`` is ``pairwise`` unless the client is one of the city's own frontends
  (``is_city_client``), the only ones allowed the universal identifier;
* client secrets are 256-bit random strings, so a fast hash (SHA-256) protects them as well
  as a slow KDF would (there is nothing to brute-force) without costing every
  client-credentials grant tens of milliseconds; comparison is constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlsplit

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # RFC 8693 s. 2.1
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials", TOKEN_EXCHANGE)
#: Scopes that stand for a resident (OIDC Core s. 5.4, s. 11): meaningless without one, so a
#: client_credentials client (a system acting for itself, RFC 6749 s. 4.4) may not hold them.
RESIDENT_SCOPES = ("openid", "profile", "email", "offline_access")
SUBJECT_TYPES = ("public", "pairwise")
SIGNING_ALGS = ("ES256", "RS256")
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
_SECRET_PREFIX = "sha256$"
_CLIENT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$")
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def new_client_secret() -> str:
    """A 256-bit random secret, shown once to the operator and then only stored hashed."""
    return secrets.token_urlsafe(32)


def hash_client_secret(secret: str) -> str:
    digest = hashlib.sha256(secret.encode()).digest()
    return _SECRET_PREFIX + base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass
class OAuthClient:
    client_id: str
    name: str
    secret_hash: str | None            # None = public client (PKCE only)
    redirect_uris: tuple[str, ...] = ()
    post_logout_redirect_uris: tuple[str, ...] = ()
    grant_types: tuple[str, ...] = ("authorization_code", "refresh_token")
    scopes: tuple[str, ...] = ("openid",)
    audiences: tuple[str, ...] = ()
    subject_type: str = "pairwise"
    sector_identifier: str = ""
    id_token_signed_response_alg: str = "ES256"
    token_endpoint_auth_method: str = "client_secret_basic"
    is_city_client: bool = False
    purposes: tuple[str, ...] = ()
    disabled: bool = False
    created_at: object = field(default=None, compare=False)
    #: OpenID Connect Back-Channel Logout 1.0 s. 2.2 / Front-Channel Logout 1.0 s. 2 ("" = none)
    backchannel_logout_uri: str = ""
    frontchannel_logout_uri: str = ""
    #: private_key_jwt (RFC 7523 s. 2.2; OIDC Core s. 9): the public keys its assertions are
    #: signed with, registered (a JWK Set) or published at ``jwks_uri`` (fetched, cached)
    jwks: dict | None = None
    jwks_uri: str = ""
    #: RFC 9126 s. 6: authorization requests only through the pushed-request endpoint
    require_pushed_authorization_requests: bool = False
    #: A borough system's own staff directory (issue 17; RFC 8693 s. 2.1 subject token from
    #: another issuer): its issuer URL and its public keys, registered (a JWK Set) or at a
    #: ``jwks_uri``. Its signed statements about its staff stand for our agent session tokens.
    staff_directory_issuer: str = ""
    staff_directory_jwks: dict | None = None
    staff_directory_jwks_uri: str = ""
    #: RFC 9449 s. 5.2: token requests only with a DPoP proof (sender-constrained tokens)
    dpop_bound_access_tokens: bool = False
    #: Issue 22: the relying party accepts residents signing in on someone's behalf under a
    #: mandate (tokens with ``act``; docs/mandates.md). Without it, never a represented resident.
    accepts_mandates: bool = False

    def check_secret(self, secret: str) -> bool:
        """Constant-time comparison of ``secret`` with the stored hash; False for public clients."""
        if self.secret_hash is None or not isinstance(secret, str) or not secret:
            return False
        return hmac.compare_digest(hash_client_secret(secret).encode(), self.secret_hash.encode())

    @property
    def is_public(self) -> bool:
        return self.secret_hash is None

    def allows_scopes(self, requested: tuple[str, ...] | list[str]) -> bool:
        return set(requested) <= set(self.scopes)

    def to_public_dict(self) -> dict:
        """Metadata safe to print or return (never the secret hash)."""
        return {
            "client_id": self.client_id, "name": self.name,
            "redirect_uris": list(self.redirect_uris),
            "post_logout_redirect_uris": list(self.post_logout_redirect_uris),
            "grant_types": list(self.grant_types), "scopes": list(self.scopes),
            "audiences": list(self.audiences), "subject_type": self.subject_type,
            "sector_identifier": self.sector_identifier,
            "id_token_signed_response_alg": self.id_token_signed_response_alg,
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
            "is_city_client": self.is_city_client, "purposes": list(self.purposes),
            "disabled": self.disabled,
            "backchannel_logout_uri": self.backchannel_logout_uri,
            "frontchannel_logout_uri": self.frontchannel_logout_uri,
            "jwks": self.jwks, "jwks_uri": self.jwks_uri,
            "require_pushed_authorization_requests": self.require_pushed_authorization_requests,
            "accepts_mandates": self.accepts_mandates,
            "staff_directory": ({"issuer": self.staff_directory_issuer, "jwks": self.staff_directory_jwks,
                                 "jwks_uri": self.staff_directory_jwks_uri}
                                if self.staff_directory_issuer else None),
            "dpop_bound_access_tokens": self.dpop_bound_access_tokens,
        }


def _check_redirect_uri(uri: str, allow_http_loopback: bool) -> str | None:
    parts = urlsplit(uri)
    if not parts.scheme or not parts.hostname:
        return f"{uri!r} is not an absolute URI"
    if parts.fragment or "#" in uri:
        return f"{uri!r} has a fragment (RFC 6749 s. 3.1.2)"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and allow_http_loopback and parts.hostname in _LOOPBACK:
        return None
    return f"{uri!r} must use https (http only for loopback in development)"


def _jwks_problem(jwks: object) -> str | None:
    """A JWK Set of public signing keys (RFC 7517 s. 5), or what is wrong with it."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys:
        return "must be a JWK Set with at least one key"
    for key in keys:
        if not isinstance(key, dict) or key.get("kty") not in ("EC", "RSA", "OKP"):
            return "keys must be EC, RSA or OKP JWKs"
        if any(private in key for private in ("d", "p", "q")):
            return "must hold public keys only"
    return None


def validate_client(client: OAuthClient, *, allow_http_loopback: bool = True) -> list[tuple[str, str]]:
    """Every violation of the registry's rules as ``(field, description)``; empty when valid."""
    errors: list[tuple[str, str]] = []
    if not _CLIENT_ID.match(client.client_id or ""):
        errors.append(("client_id", "must be 3-64 lower-case letters, digits or dashes"))
    if not client.name or len(client.name) > 200:
        errors.append(("name", "must be 1-200 characters"))
    if not client.grant_types:
        errors.append(("grant_types", "at least one grant type is required"))
    for grant in client.grant_types:
        if grant not in GRANT_TYPES:
            errors.append(("grant_types", f"{grant!r} is not allowed (only {', '.join(GRANT_TYPES)})"))
    if "refresh_token" in client.grant_types and "authorization_code" not in client.grant_types:
        errors.append(("grant_types", "refresh_token needs authorization_code"))
    if "authorization_code" in client.grant_types and not client.redirect_uris:
        errors.append(("redirect_uris", "authorization_code needs at least one redirect URI"))
    for uri in (*client.redirect_uris, *client.post_logout_redirect_uris):
        problem = _check_redirect_uri(uri, allow_http_loopback)
        if problem:
            errors.append(("redirect_uris" if uri in client.redirect_uris else "post_logout_redirect_uris", problem))
    for name in ("backchannel_logout_uri", "frontchannel_logout_uri"):
        uri = getattr(client, name)
        if uri and (problem := _check_redirect_uri(uri, allow_http_loopback)):
            errors.append((name, problem))
        if uri and "authorization_code" not in client.grant_types:
            errors.append((name, "only a client residents sign in to can be told they signed out"))
    if client.subject_type not in SUBJECT_TYPES:
        errors.append(("subject_type", "must be public or pairwise"))
    if client.subject_type == "public" and not client.is_city_client:
        errors.append(("subject_type", "only the city's own clients may receive the public identifier"))
    if client.subject_type == "pairwise" and not client.sector_identifier:
        hosts = {urlsplit(u).hostname for u in client.redirect_uris}
        if len(hosts) > 1:
            errors.append(("sector_identifier", "redirect URIs on several hosts need a sector identifier (OIDC Core 8.1)"))
    if client.id_token_signed_response_alg not in SIGNING_ALGS:
        errors.append(("id_token_signed_response_alg", "must be ES256 or RS256"))
    if client.token_endpoint_auth_method not in AUTH_METHODS:
        errors.append(("token_endpoint_auth_method", f"must be one of {', '.join(AUTH_METHODS)}"))
    if client.token_endpoint_auth_method == "none":
        if client.secret_hash is not None:
            errors.append(("token_endpoint_auth_method", "a client with a secret cannot use 'none'"))
        if "client_credentials" in client.grant_types:
            errors.append(("grant_types", "client_credentials needs a confidential client"))
        if TOKEN_EXCHANGE in client.grant_types:
            errors.append(("grant_types", "token exchange needs a confidential client"))
    elif client.token_endpoint_auth_method == "private_key_jwt":
        # the registered method is the only one accepted (OIDC Registration s. 2): no secret
        if client.secret_hash is not None:
            errors.append(("token_endpoint_auth_method", "a private_key_jwt client has no secret"))
        if bool(client.jwks) == bool(client.jwks_uri):
            errors.append(("jwks", "private_key_jwt needs the client's public keys: jwks or jwks_uri, not both"))
        elif client.jwks_uri and (problem := _check_redirect_uri(client.jwks_uri, allow_http_loopback)):
            errors.append(("jwks_uri", problem))
        elif client.jwks and (problem := _jwks_problem(client.jwks)):
            errors.append(("jwks", problem))
    elif client.secret_hash is None:
        errors.append(("token_endpoint_auth_method", "a public client must use 'none'"))
    if "client_credentials" in client.grant_types and not client.audiences:
        errors.append(("audiences", "client_credentials needs at least one audience"))
    if TOKEN_EXCHANGE in client.grant_types and not client.audiences:
        errors.append(("audiences", "token exchange needs at least one audience"))
    if "client_credentials" in client.grant_types:
        resident = [s for s in client.scopes if s in RESIDENT_SCOPES]
        if resident:
            errors.append(("scopes", f"{', '.join(resident)} stand for a resident: a client_credentials "
                                     "client acts for itself (register the frontend as its own client)"))
    errors += _staff_directory_problems(client, allow_http_loopback)
    for scope in client.scopes:
        if not re.fullmatch(r"[\x21\x23-\x5b\x5d-\x7e]+", scope):  # RFC 6749 s. 3.3 scope-token
            errors.append(("scopes", f"{scope!r} is not a valid scope token"))
    return errors


def _staff_directory_problems(client: OAuthClient, allow_http_loopback: bool) -> list[tuple[str, str]]:
    """A trusted staff directory: only for a token-exchange client with an agent scope, an
    absolute https issuer, and its keys given one way (registered, or at an https URL)."""
    directory = (client.staff_directory_issuer, client.staff_directory_jwks, client.staff_directory_jwks_uri)
    if not any(directory):
        return []
    errors = []
    if TOKEN_EXCHANGE not in client.grant_types or not any(s.endswith(":agent") for s in client.scopes):
        errors.append(("staff_directory_issuer", "a staff directory serves token exchange: the client needs the "
                                                 "token-exchange grant and an agent scope"))
    if not client.staff_directory_issuer:
        errors.append(("staff_directory_issuer", "is required with the directory's keys"))
    elif (problem := _check_redirect_uri(client.staff_directory_issuer, allow_http_loopback)):
        errors.append(("staff_directory_issuer", problem))
    if bool(client.staff_directory_jwks) == bool(client.staff_directory_jwks_uri):
        errors.append(("staff_directory_jwks", "the directory's public keys: a JWK Set or a jwks_uri, not both"))
    elif client.staff_directory_jwks_uri and (
            problem := _check_redirect_uri(client.staff_directory_jwks_uri, allow_http_loopback)):
        errors.append(("staff_directory_jwks_uri", problem))
    elif client.staff_directory_jwks and (problem := _jwks_problem(client.staff_directory_jwks)):
        errors.append(("staff_directory_jwks", problem))
    return errors
