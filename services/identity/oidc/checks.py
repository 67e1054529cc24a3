"""Validation of an authorization request, as one ordered, visible table of small checks.

The order matters (RFC 6749 s. 4.1.2.1): until the client and its redirect URI are verified,
an error must NOT be sent to the redirect URI — those first checks raise
:class:`UntrustedRedirect` (the resident sees an error page). Every later check raises one
typed OAuth error that the authorization endpoint redirects to the verified URI, with
``state`` and ``iss`` (RFC 9207).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from typing import Any

from services.identity.oidc.errors import (
    InvalidRequest, InvalidScope, RequestNotSupported, RequestUriNotSupported,
    UnauthorizedClient, UnmetAuthenticationRequirements, UnsupportedResponseType, UntrustedRedirect,
)

PKCE_CHALLENGE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")  # RFC 7636 s. 4.2
SINGLE_VALUED = ("response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "prompt",
                 "max_age", "acr_values", "code_challenge", "code_challenge_method", "ui_locales",
                 "login_hint", "response_mode", "claims", "dpop_jkt")
PROMPTS = {"none", "login", "consent"}
MAX_PARAMETER_LENGTH = 2048


@dataclasses.dataclass
class AuthorizationContext:
    """The request being checked and what the checks learn from it."""

    params: dict[str, list[str]]
    client: Any | None                       # CORE's OAuthClient, looked up before the checks
    acr_supported: tuple[str, ...]
    redirect_uri: str | None = None          # set once verified
    scopes: tuple[str, ...] = ()
    prompts: frozenset[str] = frozenset()
    max_age: int | None = None
    acr_values: tuple[str, ...] = ()
    #: the parameters came from a pushed request (RFC 9126), not from the URL
    pushed: bool = False
    #: ``claims`` parameter: the acr values asked for the ID token, and whether essential (OIDC Core s. 5.5.1.1)
    claims_acr: tuple[str, ...] = ()
    acr_essential: bool = False

    def get(self, name: str) -> str | None:
        values = self.params.get(name)
        return values[0] if values else None


# -- before the redirect URI is trusted: error page ----------------------------------------

def check_client(ctx: AuthorizationContext) -> None:
    """The client exists (RFC 6749 s. 4.1.2.1: never redirect for an unknown client)."""
    if len(ctx.params.get("client_id", [])) > 1:
        raise UntrustedRedirect("invalid_client", "client_id is repeated")
    if not ctx.get("client_id"):
        raise UntrustedRedirect("missing_client", "client_id is missing")
    if ctx.client is None:
        raise UntrustedRedirect("invalid_client", "unknown client_id")


def check_redirect_uri(ctx: AuthorizationContext) -> None:
    """``redirect_uri`` present and exactly one registered (OIDC Core s. 3.1.2.1; RFC 9700 s. 4.1.3)."""
    values = ctx.params.get("redirect_uri", [])
    if len(values) != 1 or not values[0]:
        raise UntrustedRedirect("invalid_redirect_uri", "redirect_uri is missing or repeated")
    if values[0] not in ctx.client.redirect_uris:
        raise UntrustedRedirect("invalid_redirect_uri", "redirect_uri is not registered for this client")
    ctx.redirect_uri = values[0]


# -- after: redirect with an OAuth error ---------------------------------------------------

def check_single_values(ctx: AuthorizationContext) -> None:
    """No parameter twice (RFC 6749 s. 3.1), none absurdly long."""
    for name in SINGLE_VALUED:
        if len(ctx.params.get(name, [])) > 1:
            raise InvalidRequest(f"Parameter '{name}' is repeated.")
    for name, values in ctx.params.items():
        if any(len(v) > MAX_PARAMETER_LENGTH for v in values):
            raise InvalidRequest(f"Parameter '{name}' is too long.")


def check_no_request_object(ctx: AuthorizationContext) -> None:
    """Request objects are not supported (OIDC Core s. 6; advertised in discovery)."""
    if "request" in ctx.params:
        raise RequestNotSupported()
    if "request_uri" in ctx.params:
        raise RequestUriNotSupported()


def check_pushed_if_required(ctx: AuthorizationContext) -> None:
    """A client registered with ``require_pushed_authorization_requests`` sends its
    parameters only through the pushed-request endpoint (RFC 9126 s. 6)."""
    if getattr(ctx.client, "require_pushed_authorization_requests", False) and not ctx.pushed:
        raise InvalidRequest("This client must push its authorization requests (RFC 9126).")


def check_response_type(ctx: AuthorizationContext) -> None:
    """``response_type=code`` only: no implicit or hybrid flow (RFC 9700 s. 2.1.2)."""
    response_type = ctx.get("response_type")
    if not response_type:
        raise InvalidRequest("Missing 'response_type'.")
    if response_type != "code":
        raise UnsupportedResponseType("Only response_type=code is supported.")
    if "authorization_code" not in ctx.client.grant_types:
        raise UnauthorizedClient("The client is not registered for the authorization code grant.")
    mode = ctx.get("response_mode")
    if mode not in (None, "query", "form_post"):
        raise InvalidRequest("Only response_mode=query or form_post is supported.")


def check_scope(ctx: AuthorizationContext) -> None:
    """Every scope known and registered for the client (RFC 6749 s. 3.3); ``openid`` required (OIDC Core s. 3.1.2.1)."""
    scopes = tuple(dict.fromkeys((ctx.get("scope") or "").split()))
    if "openid" not in scopes:
        raise InvalidScope("The 'openid' scope is required.")
    if not set(scopes) <= set(ctx.client.scopes):
        raise InvalidScope("The client is not registered for one of the requested scopes.")
    ctx.scopes = scopes


def check_pkce(ctx: AuthorizationContext) -> None:
    """PKCE with ``S256`` for every client (RFC 7636 s. 4.3; RFC 9700 s. 2.1.1)."""
    challenge = ctx.get("code_challenge")
    if not challenge:
        raise InvalidRequest("PKCE is required: missing 'code_challenge'.")
    if ctx.get("code_challenge_method") != "S256":
        raise InvalidRequest("code_challenge_method must be S256.")
    if not PKCE_CHALLENGE.match(challenge):
        raise InvalidRequest("Invalid 'code_challenge'.")


DPOP_JKT = re.compile(r"^[A-Za-z0-9_-]{43}$")   # base64url SHA-256, RFC 7638


def check_dpop_jkt(ctx: AuthorizationContext) -> None:
    """``dpop_jkt`` (RFC 9449 s. 10): the thumbprint of the key the client will prove at the
    token endpoint; the code is then redeemable only with a proof by that key."""
    jkt = ctx.get("dpop_jkt")
    if jkt is not None and not DPOP_JKT.match(jkt):
        raise InvalidRequest("Invalid 'dpop_jkt'.")


def check_state(ctx: AuthorizationContext) -> None:
    """``state`` is opaque and returned unchanged (RFC 6749 s. 4.1.1); bounded in size."""
    state = ctx.get("state")
    if state is not None and len(state) > 512:
        raise InvalidRequest("'state' is too long.")


def check_nonce(ctx: AuthorizationContext) -> None:
    """``nonce`` is optional in the code flow, bounded in size (OIDC Core s. 3.1.2.1)."""
    nonce = ctx.get("nonce")
    if nonce is not None and (not nonce or len(nonce) > 512):
        raise InvalidRequest("Invalid 'nonce'.")


def check_prompt(ctx: AuthorizationContext) -> None:
    """``prompt`` among none, login, consent; ``none`` alone (OIDC Core s. 3.1.2.1)."""
    prompts = frozenset((ctx.get("prompt") or "").split())
    if not prompts <= PROMPTS:
        raise InvalidRequest("Unsupported 'prompt' value.")
    if "none" in prompts and len(prompts) > 1:
        raise InvalidRequest("'prompt=none' cannot be combined with another value.")
    ctx.prompts = prompts


def check_max_age(ctx: AuthorizationContext) -> None:
    """``max_age`` a non-negative number of seconds (OIDC Core s. 3.1.2.1)."""
    raw = ctx.get("max_age")
    if raw is None:
        return
    if not raw.isdigit() or len(raw) > 10:
        raise InvalidRequest("'max_age' must be a non-negative integer.")
    ctx.max_age = int(raw)


def check_acr_values(ctx: AuthorizationContext) -> None:
    """``acr_values`` is a voluntary claim request (OIDC Core s. 3.1.2.1 and s. 5.5.1.1): the
    values we do not know are ignored, the known ones drive step-up; the ID token's ``acr``
    says what was reached and the client decides. (An *essential* acr goes through the
    ``claims`` parameter.)"""
    values = tuple((ctx.get("acr_values") or "").split())
    ctx.acr_values = tuple(v for v in values if v in ctx.acr_supported)


def check_claims(ctx: AuthorizationContext) -> None:
    """The ``claims`` parameter (OIDC Core s. 5.5): a JSON object whose ``id_token`` and
    ``userinfo`` members are objects. ``id_token.acr`` with ``value``/``values`` and
    ``essential`` is honoured (s. 5.5.1.1): an essential acr none of whose values we know
    cannot be met (``unmet_authentication_requirements``). Other individual claims are
    voluntary and answered per granted scope (s. 5.5: the OP may not return them)."""
    raw = ctx.get("claims")
    if raw is None:
        return
    try:
        claims = json.loads(raw)
    except ValueError:
        raise InvalidRequest("'claims' must be a JSON object.") from None
    if not isinstance(claims, dict) or any(not isinstance(claims.get(m, {}), (dict, type(None)))
                                           for m in ("id_token", "userinfo")):
        raise InvalidRequest("'claims' must be a JSON object of objects.")
    acr = (claims.get("id_token") or {}).get("acr")
    if acr is None:
        return
    if not isinstance(acr, dict):
        raise InvalidRequest("'claims.id_token.acr' must be an object or null.")
    values = acr.get("values") if "values" in acr else ([acr["value"]] if "value" in acr else [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise InvalidRequest("'claims.id_token.acr' values must be strings.")
    ctx.claims_acr = tuple(v for v in values if v in ctx.acr_supported)
    ctx.acr_essential = acr.get("essential") is True
    if ctx.acr_essential and values and not ctx.claims_acr:
        raise UnmetAuthenticationRequirements("None of the essential acr values is supported.")


#: The table, in order. Read it top to bottom to know what an authorization request must satisfy.
UNTRUSTED_CHECKS: tuple[Callable[[AuthorizationContext], None], ...] = (
    check_client,
    check_redirect_uri,
)
CHECKS: tuple[Callable[[AuthorizationContext], None], ...] = (
    check_single_values,
    check_no_request_object,
    check_pushed_if_required,
    check_response_type,
    check_scope,
    check_pkce,
    check_dpop_jkt,
    check_state,
    check_nonce,
    check_prompt,
    check_max_age,
    check_acr_values,
    check_claims,
)


def run_checks(ctx: AuthorizationContext) -> None:
    for check in UNTRUSTED_CHECKS:
        check(ctx)
    for check in CHECKS:
        check(ctx)
