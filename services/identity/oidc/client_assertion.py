"""Client authentication with ``private_key_jwt`` (RFC 7523 s. 2.2 and 3; OIDC Core s. 9).

The client proves itself with a JWT it signed with its private key, sent as
``client_assertion`` with ``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer``.
No shared secret exists, so none can leak from the client's configuration or our database.
A client registered with this method (``token_endpoint_auth_method: private_key_jwt``) can
authenticate in no other way (OIDC Registration s. 2: one registered method): that is the
flag that requires it.

Checked, in this order, before authlib's grant runs (this step is async: the keys may have
to be fetched, and the ``jti`` is recorded):

1. the client exists, is enabled and registered for ``private_key_jwt``;
2. the signature verifies with one of its keys — its registered JWK Set, or the one at its
   ``jwks_uri`` (fetched, cached 5 minutes, fetched again once on an unknown ``kid``);
   algorithms ES256, RS256, PS256, EdDSA (never ``none`` or HMAC);
3. ``iss`` and ``sub`` are the client id (RFC 7523 s. 3 items 1-2);
4. ``aud`` names us: the issuer, the token endpoint, or the endpoint called (item 3);
5. ``exp`` in the future and at most one hour ahead, ``nbf``/``iat`` not in the future
   (items 4-6, with 30 s of clock skew);
6. ``jti`` present and never seen before for this client: recorded until ``exp``
   (item 7, replay protection; a second use is ``invalid_client``).

Then authlib's client authentication accepts the request for this method (``authenticated``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from services.identity.oidc import es256
from services.identity.oidc.wire import WireRequest

log = logging.getLogger(__name__)

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
METHOD = "private_key_jwt"
ALGORITHMS = ["ES256", "RS256", "PS256", "EdDSA"]
MAX_LIFETIME = 3600              # authlib and most client libraries sign for one hour
SKEW = 30


def assertion_of(request: WireRequest) -> str | None:
    """The request's single client assertion of the JWT-bearer type, if any."""
    types, assertions = request.form.get("client_assertion_type", []), request.form.get("client_assertion", [])
    if types != [ASSERTION_TYPE] or len(assertions) != 1 or not assertions[0] or len(assertions[0]) > 8192:
        return None
    return assertions[0]


def claimed_client_id(assertion: str) -> str | None:
    """``sub`` of an assertion not yet verified: only to look the client up (RFC 7523 s. 3:
    ``client_id`` is optional in the request)."""
    try:
        payload = json.loads(es256.b64url_decode(assertion.split(".")[1]))
    except (ValueError, IndexError, UnicodeError, TypeError):
        return None
    sub = payload.get("sub") if isinstance(payload, dict) else None
    # a JSON escape may decode to a NUL or a lone surrogate, which no client id holds (issue 16)
    return sub if isinstance(sub, str) and len(sub) <= 64 and sub.isprintable() else None


async def verify_assertion(provider, request: WireRequest, client: Any) -> bool:
    """True when ``request`` carries a valid, unused assertion of ``client`` (checks 1-6)."""
    assertion = assertion_of(request)
    if assertion is None or client is None or getattr(client, "disabled", False):
        return False
    if client.token_endpoint_auth_method != METHOD:
        return False
    claims = await _verified_claims(provider, client, assertion)
    if claims is None:
        return False
    now = time.time()
    config = provider.config
    audiences = claims.get("aud")
    audiences = [audiences] if isinstance(audiences, str) else audiences if isinstance(audiences, list) else []
    accepted = {config.issuer, config.endpoint("/token"), config.endpoint(request.path)}
    exp, jti = claims.get("exp"), claims.get("jti")
    problems = [
        ("iss/sub", claims.get("iss") != client.client_id or claims.get("sub") != client.client_id),
        ("aud", not accepted & set(a for a in audiences if isinstance(a, str))),
        ("exp", not isinstance(exp, (int, float)) or exp <= now - SKEW or exp > now + MAX_LIFETIME + SKEW),
        ("nbf/iat", any(isinstance(claims.get(c), (int, float)) and claims[c] > now + SKEW for c in ("nbf", "iat"))),
        ("jti", not isinstance(jti, str) or not jti or len(jti) > 200),
    ]
    failed = [name for name, bad in problems if bad]
    if failed:
        log.info("client assertion refused", extra={"client_id": client.client_id, "reason": failed[0]})
        return False
    first_use = await provider.single_use.client_assertion(
        client.client_id, jti, dt.datetime.fromtimestamp(exp + SKEW, dt.timezone.utc))
    if not first_use:
        log.warning("client assertion replayed", extra={"client_id": client.client_id})
    return first_use


async def _verified_claims(provider, client: Any, assertion: str) -> dict | None:
    for refresh in (False, True):
        keys = await provider.client_keys.key_set(client, refresh=refresh)
        if keys is None:
            return None
        try:
            return jwt.decode(assertion, keys, algorithms=ALGORITHMS).claims
        except (JoseError, ValueError, TypeError, KeyError) as error:
            # the client may have rotated its keys: fetch its jwks_uri again, once (rate-limited)
            if refresh or not client.jwks_uri:
                log.info("client assertion refused", extra={"client_id": client.client_id,
                                                            "reason": type(error).__name__})
                return None
    return None


def authenticated(query_client, request) -> Any:
    """authlib's client-authentication function for ``private_key_jwt``: the client whose
    assertion ``verify_assertion`` accepted for this request (``request.mtlid``)."""
    return getattr(request.mtlid, "assertion_client", None)


class RegisteredKeys:
    """The key sets of clients: registered ones parsed, ``jwks_uri`` ones fetched through
    ``fetch(uri) -> dict`` and cached (``provider.client_keys``)."""

    TTL = 300.0
    MIN_REFETCH = 10.0

    def __init__(self, fetch=None) -> None:
        self._fetch = fetch
        self._cache: dict[str, tuple[float, KeySet]] = {}
        self._registered: dict[str, tuple[str, KeySet]] = {}

    async def key_set(self, client: Any, *, refresh: bool = False) -> KeySet | None:
        if client.jwks:
            # parsed once per registered key set (importing a JWK costs more than verifying)
            registered = json.dumps(client.jwks, sort_keys=True)
            cached = self._registered.get(client.client_id)
            if cached is not None and cached[0] == registered:
                return cached[1]
            try:
                keys = KeySet.import_key_set(client.jwks)
            except (JoseError, ValueError, TypeError, KeyError):
                return None
            self._registered[client.client_id] = (registered, keys)
            return keys
        if not client.jwks_uri or self._fetch is None:
            return None
        cached = self._cache.get(client.jwks_uri)
        now = time.monotonic()
        if cached and (now - cached[0] < self.TTL) and not (refresh and now - cached[0] > self.MIN_REFETCH):
            return cached[1]
        try:
            keys = KeySet.import_key_set(await self._fetch(client.jwks_uri))
        except Exception as error:  # noqa: BLE001 - an unreachable or bad JWKS fails this authentication only
            log.warning("client jwks_uri unavailable", extra={"client_id": client.client_id,
                                                              "error": type(error).__name__})
            return cached[1] if cached else None
        self._cache[client.jwks_uri] = (now, keys)
        return keys
