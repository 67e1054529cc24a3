"""Bearer-token authentication of gRPC calls: who is calling, with which scopes.

Every call to a protected method carries ``authorization: Bearer <JWT>``, a JWT access token
(RFC 9068) issued by the identity service and verified here, locally, against identity's
JWKS (RFC 7517): no network round trip per call. ``method_policies`` maps each full method
name to the scope it needs (or to a set of scopes any one of which suffices) or to
``PUBLIC``; a method missing from the table is refused (fail closed).

Inside a handler, ``current_principal()`` says who called.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry, Key

from services.common.errors import PermissionDenied, Unauthenticated, Unavailable
from services.common.revocations import RevokedTokens

logger = logging.getLogger(__name__)

ALGORITHMS = ("ES256", "RS256")  # RFC 9068 s.2.1 makes RS256 mandatory; identity signs ES256
LEEWAY_SECONDS = 30
REFETCH_INTERVAL_SECONDS = 1.0  # at most one JWKS refetch per interval for an unknown kid


class _Public(str):
    """The policy of a method anyone may call (health, reflection, public tree heads)."""

    __slots__ = ()


# Compared by identity: the *string* "PUBLIC" in a table is an (unobtainable) scope name, so a
# typo fails closed instead of opening the method.
PUBLIC: str = _Public("PUBLIC")

ALWAYS_PUBLIC_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.v1alpha.ServerReflection/",
                          "/grpc.reflection.v1.ServerReflection/")


def _mandate_ids(claims: dict) -> tuple[str, ...]:
    """The ``mandate_id`` of each ``urn:mtlid:mandate`` authorization detail (RFC 9396 s. 2)."""
    details = claims.get("authorization_details")
    if not isinstance(details, list):
        return ()
    return tuple(dict.fromkeys(d["mandate_id"] for d in details if isinstance(d, dict)
                               and d.get("type") == "urn:mtlid:mandate" and isinstance(d.get("mandate_id"), str)))


def _auth_time(claims: dict) -> int | None:
    value = claims.get("auth_time")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return int(value)


@dataclass(frozen=True)
class Principal:
    """The verified caller of the current RPC.

    ``client_id`` is the OAuth client; ``subject`` the token's ``sub`` (the client itself for
    client credentials, the citizen identifier for a resident's own session token);
    ``acting_for`` is the ``act.sub`` claim (RFC 8693 s.4.1), the person operating the client,
    e.g. the counter agent, when there is one.
    """

    client_id: str
    subject: str
    scopes: frozenset[str]
    audience: str
    token_id: str
    acting_for: str | None = None
    #: the agent's office (claim ``office`` of a token-exchange token), for the agents' journal
    office: str | None = None
    #: issue 22: the mandates named by the token's ``authorization_details`` (RFC 9396, type
    #: ``urn:mtlid:mandate``): ``act.sub`` is then a mandatary acting for ``sub``, not a
    #: counter agent operating the client
    mandate_ids: tuple[str, ...] = ()
    #: ``cnf.jkt`` of a DPoP-bound token (RFC 9449 s. 6.1): calls need a proof by that key
    #: (``dpop_binding.py``)
    key_thumbprint: str | None = None
    #: ``auth_time`` (OIDC Core s. 2; RFC 9068 s. 2.2.1): when the person last proved who they
    #: are, signed by identity. A biometric consent reads its freshness here, never from the
    #: request (issue 18: the consent service checks it on its own).
    auth_time: int | None = None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def require_scope(self, scope: str) -> None:
        if scope not in self.scopes:
            raise PermissionDenied("MISSING_SCOPE", f"this call needs the scope {scope}")


_principal_var: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "mtlid_principal", default=None)


def current_principal() -> Principal:
    """The verified caller; raises ``Unauthenticated`` when the method had no token (PUBLIC)."""
    principal = _principal_var.get()
    if principal is None:
        raise Unauthenticated("this call carries no verified access token")
    return principal


def optional_principal() -> Principal | None:
    return _principal_var.get()


class TokenRejected(Unauthenticated):
    """A missing or invalid access token (RFC 6750 s.3.1 ``invalid_token``), with a stable
    ``reason`` the error mapping puts in ``ErrorInfo``. Never carries the token."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class JwksProvider(Protocol):
    async def get_key(self, kid: str | None) -> Key | None:
        """The verification key for ``kid`` (None: the only key), or None if unknown."""


def _import_keys(jwks: Mapping[str, Any]) -> dict[str | None, Key]:
    keys: dict[str | None, Key] = {}
    for entry in jwks.get("keys", ()):
        if entry.get("use", "sig") != "sig" or entry.get("kty") not in ("EC", "RSA"):
            continue
        try:
            key = JWKRegistry.import_key(dict(entry))
        except (JoseError, ValueError, TypeError) as error:
            logger.warning("ignoring a JWKS key that does not import: %s", type(error).__name__)
            continue
        keys[entry.get("kid")] = key
    return keys


def _pick(keys: dict[str | None, Key], kid: str | None) -> Key | None:
    if kid is None:
        # RFC 9068 does not require kid; without one, only an unambiguous key set will do.
        return next(iter(keys.values())) if len(keys) == 1 else None
    return keys.get(kid)


class StaticJwks:
    """A fixed key set (tests, or a JWKS file mounted into the pod)."""

    def __init__(self, jwks: Mapping[str, Any]) -> None:
        self._keys = _import_keys(jwks)

    async def get_key(self, kid: str | None) -> Key | None:
        return _pick(self._keys, kid)


class HttpJwks:
    """Identity's published JWKS (RFC 7517), fetched over HTTP and cached.

    - ``load()`` fetches before the service reports SERVING (``Runtime`` retries it until it
      succeeds), so the first calls after a start find the keys in place.
    - Single flight: while a fetch is under way, every caller that needs it waits for that
      one fetch instead of seeing an empty key set (a start used to refuse 3-7 of 50
      concurrent calls with "unknown key") or starting fetches of its own.
    - An unknown ``kid`` (a rotation: identity publishes the next key before it signs with it,
      services/identity/domain/keys.py) triggers one refetch, at most one per
      ``min_refetch_interval`` (1 s): a caller arriving inside the interval waits for the
      next slot and is answered from that fetch, so a token whose key is published is never
      refused, and a stream of made-up kids costs identity one request a second at most.
    - Keys older than ``max_age`` are refreshed in the background while the known keys keep
      serving. A failed fetch keeps the keys it had.
    - Before the first successful fetch, a token cannot be judged: ``KeysUnavailable``
      (gRPC UNAVAILABLE, retryable), never UNAUTHENTICATED for a token that may be valid.
    """

    def __init__(self, url: str, *, max_age: float = 600.0, timeout: float = 5.0,
                 min_refetch_interval: float = REFETCH_INTERVAL_SECONDS,
                 client: httpx.AsyncClient | None = None) -> None:
        self.url = url
        self._interval = min_refetch_interval
        self._max_age = max_age
        self._timeout = timeout
        self._client = client
        self._keys: dict[str | None, Key] = {}
        self._loaded = False
        self._fetched_at = 0.0  # monotonic time of the last successful fetch
        self._attempted_at = float("-inf")  # monotonic time the last fetch started
        self._inflight: asyncio.Future[bool] | None = None
        self._background: asyncio.Task | None = None
        self.fetches = 0  # HTTP requests made (observability, tests)

    @property
    def loaded(self) -> bool:
        return self._loaded

    async def load(self) -> bool:
        """Fetch now (joining a fetch under way); True when keys are loaded."""
        await self._fetch_once()
        return self._loaded

    async def get_key(self, kid: str | None) -> Key | None:
        key = _pick(self._keys, kid)
        if key is not None:
            if (time.monotonic() - self._fetched_at > self._max_age
                    and (self._background is None or self._background.done())):
                self._background = asyncio.create_task(self._fetch_once(), name="jwks-refresh")
            return key
        if self._inflight is None:
            # Rate limit: wait for the next slot rather than refuse (see the class docstring).
            wait = self._attempted_at + self._interval - time.monotonic()
            if wait > 0:
                if not self._loaded:
                    raise KeysUnavailable()  # identity away: no request per call to it
                await asyncio.sleep(wait)
                key = _pick(self._keys, kid)  # another caller's fetch may have brought it
                if key is not None:
                    return key
        await self._fetch_once()
        if not self._loaded:
            raise KeysUnavailable()
        return _pick(self._keys, kid)

    async def _fetch_once(self) -> bool:
        """One fetch for every concurrent caller: join the one under way, else start it."""
        if self._inflight is None:
            self._inflight = asyncio.get_running_loop().create_future()
            fetch = asyncio.ensure_future(self._fetch())
            fetch.add_done_callback(self._settle)
        return await asyncio.shield(self._inflight)

    def _settle(self, fetch: asyncio.Future) -> None:
        inflight, self._inflight = self._inflight, None
        if inflight is not None and not inflight.done():
            inflight.set_result(not fetch.cancelled() and fetch.exception() is None and fetch.result())

    async def _fetch(self) -> bool:
        self._attempted_at = time.monotonic()
        self.fetches += 1
        try:
            if self._client is None:
                self._client = httpx.AsyncClient(timeout=self._timeout)
            response = await self._client.get(self.url, headers={"accept": "application/json"})
            response.raise_for_status()
            keys = _import_keys(response.json())
        except (httpx.HTTPError, ValueError) as error:
            # before the first keys the runtime says so (NOT_SERVING, warned after its start
            # window); once keys are held, a failed refresh is the operator's concern
            logger.log(logging.WARNING if self._loaded else logging.DEBUG,
                       "JWKS fetch from %s failed: %s", self.url, type(error).__name__)
            return False
        self._keys = keys
        self._loaded = True
        self._fetched_at = time.monotonic()
        return True

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


class KeysUnavailable(Unavailable):
    """The issuer's keys have never been fetched (identity unreachable since the start):
    UNAVAILABLE, retryable — the token may well be valid."""

    reason = "KEYS_UNAVAILABLE"

    def __init__(self) -> None:
        super().__init__("the token-signing keys are not loaded yet; retry")


def _b64json(segment: bytes) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4)))


def _key_thumbprint(claims: dict[str, Any]) -> str | None:
    """``cnf.jkt`` (RFC 9449 s. 6.1); a ``cnf`` that is there but unreadable binds to no key
    anyone holds, so the token is refused rather than treated as a bearer token."""
    if "cnf" not in claims:
        return None
    cnf = claims["cnf"]
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    if not isinstance(jkt, str) or not jkt:
        raise TokenRejected("TOKEN_CLAIMS", "access token cnf names no DPoP key")
    return jkt


class TokenVerifier:
    """Verifies RFC 9068 JWT access tokens for one resource server (one audience).

    Checks (RFC 9068 s.4): ``typ`` is ``at+jwt``; ``alg`` is ES256 or RS256 (never ``none``,
    never HMAC); the signature against the issuer's key; ``iss`` equals the issuer; ``aud``
    contains our audience; ``exp``, ``iat`` (and ``nbf`` if present) within a 30 s leeway;
    ``sub``, ``client_id`` and ``jti`` present.

    A client reuses its token for many calls, so the signature of a token is verified once and
    the principal it gives is remembered until the token's ``exp`` (plus the leeway): a repeat
    costs a dictionary lookup, the key-set lookup and the time checks instead of an ECDSA
    verification (~70 µs). Why this lets nothing pass that verifying every time would refuse:
    - the cache is keyed by the whole compact JWS, signature included, so a token with another
      signature (a forgery of a cached token's claims) is a miss and is verified;
    - everything checked depends only on the token's bytes, the key and the clock: ``exp`` and
      ``nbf`` are checked again on every hit, and a hit also requires the key set to still give
      the very key that verified the token, so a key removed from identity's JWKS (a compromise)
      stops its cached tokens at the next JWKS refresh, as it would stop them uncached;
    - revocation (issue 15) is checked on every call, hit or miss, against ``revoked``: the
      token ids and grant families identity announced in ``tokens_revoked``
      (services/common/revocations.py), so a cached token stops at the next call once the
      event arrives (milliseconds after identity's commit, through the outbox).
    The cache is a bounded LRU (``CACHE_SIZE`` tokens), so a stream of distinct tokens costs
    memory only up to that bound.
    """

    CACHE_SIZE = 4096

    def __init__(self, issuer: str, audience: str, jwks_provider: JwksProvider, *,
                 leeway: int = LEEWAY_SECONDS, revoked: RevokedTokens | None = None) -> None:
        #: what ``tokens_revoked`` announced (the runtime's listener fills it)
        self.revoked = revoked if revoked is not None else RevokedTokens()
        self.issuer = issuer
        self.audience = audience
        self._jwks = jwks_provider
        self._leeway = leeway
        self._registry = jws.JWSRegistry(algorithms=list(ALGORITHMS))
        # token -> (principal, exp, not-before, kid, key) of tokens that verified
        self._verified: OrderedDict[str, tuple[Principal, float, float, str | None, Key]] = OrderedDict()

    async def load_keys(self) -> bool:
        """Fetch the issuer's keys now when they come from the network (``HttpJwks.load``);
        True when tokens can be verified. ``Runtime`` reports SERVING only after this."""
        load = getattr(self._jwks, "load", None)
        return True if load is None else await load()

    async def verify(self, token: str) -> Principal:
        """The principal the token names; raises ``TokenRejected`` (never echoing the token)."""
        hit = self._verified.get(token)
        if hit is not None:
            principal, exp, not_before, kid, key = hit
            now = time.time()
            if exp + self._leeway < now:
                del self._verified[token]
                raise TokenRejected("TOKEN_EXPIRED", "access token expired")
            if not_before - self._leeway <= now and await self._jwks.get_key(kid) is key:
                self._verified.move_to_end(token)
                if self.revoked.contains(principal.token_id):
                    raise TokenRejected("TOKEN_REVOKED", "access token revoked")
                return principal
            del self._verified[token]  # verified again below, against today's key set
        principal, exp, not_before, kid, key = await self._verify_uncached(token)
        self._verified[token] = (principal, exp, not_before, kid, key)
        if len(self._verified) > self.CACHE_SIZE:
            self._verified.popitem(last=False)
        if self.revoked.contains(principal.token_id):
            raise TokenRejected("TOKEN_REVOKED", "access token revoked")
        return principal

    async def _verify_uncached(self, token: str) -> tuple[Principal, float, float, str | None, Key]:
        try:
            raw = token.encode("ascii")
            header = _b64json(raw.split(b".", 1)[0])
            if not isinstance(header, dict):
                raise ValueError("header is not an object")
        except (ValueError, UnicodeError, IndexError):
            raise TokenRejected("TOKEN_MALFORMED", "the access token is not a JWS") from None
        if str(header.get("typ", "")).lower() not in ("at+jwt", "application/at+jwt"):
            raise TokenRejected("TOKEN_TYPE", "not an RFC 9068 access token (typ must be at+jwt)")
        if header.get("alg") not in ALGORITHMS:
            raise TokenRejected("TOKEN_ALGORITHM", "access token algorithm not accepted")
        kid = header.get("kid")
        kid = kid if isinstance(kid, str) else None
        key = await self._jwks.get_key(kid)
        if key is None:
            raise TokenRejected("UNKNOWN_KEY", "access token signed by an unknown key")
        try:
            obj = jws.extract_compact(raw)
            if not jws.validate_compact(obj, key, registry=self._registry):
                raise TokenRejected("BAD_SIGNATURE", "access token signature does not verify")
            claims = json.loads(obj.payload)
        except TokenRejected:
            raise
        except (JoseError, ValueError, TypeError):
            raise TokenRejected("BAD_SIGNATURE", "access token signature does not verify") from None
        if not isinstance(claims, dict):
            raise TokenRejected("TOKEN_MALFORMED", "access token claims are not an object")
        return (*self._check_claims(claims), kid, key)

    def _check_claims(self, claims: dict[str, Any]) -> tuple[Principal, float, float]:
        now = time.time()
        for name in ("iss", "exp", "aud", "sub", "client_id", "iat", "jti"):
            if name not in claims:
                raise TokenRejected("TOKEN_CLAIMS", f"access token lacks the {name} claim")
        if claims["iss"] != self.issuer:
            raise TokenRejected("WRONG_ISSUER", "access token from another issuer")
        audience = claims["aud"]
        if not (audience == self.audience or (isinstance(audience, list) and self.audience in audience)):
            raise TokenRejected("WRONG_AUDIENCE", f"access token not meant for {self.audience}")
        times = [claims["exp"], claims["iat"], claims.get("nbf", 0)]
        # NumericDate (RFC 7519 s.2): a finite number; Python's json accepts NaN, which would
        # never compare as expired.
        if not all(isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t) for t in times):
            raise TokenRejected("TOKEN_CLAIMS", "access token time claims are not numbers")
        exp, iat = float(claims["exp"]), float(claims["iat"])
        nbf = float(claims["nbf"]) if "nbf" in claims else None
        if exp + self._leeway < now:
            raise TokenRejected("TOKEN_EXPIRED", "access token expired")
        if iat - self._leeway > now or (nbf is not None and nbf - self._leeway > now):
            raise TokenRejected("TOKEN_NOT_YET_VALID", "access token not valid yet")
        scope = claims.get("scope", "")
        if not isinstance(scope, str):
            raise TokenRejected("TOKEN_CLAIMS", "access token scope is not a string")
        act = claims.get("act")
        acting_for = act.get("sub") if isinstance(act, dict) else None
        subject, client_id, token_id = claims["sub"], claims["client_id"], claims["jti"]
        if not all(isinstance(v, str) and v for v in (subject, client_id, token_id)):
            raise TokenRejected("TOKEN_CLAIMS", "access token sub, client_id and jti must be strings")
        principal = Principal(client_id=client_id, subject=subject, scopes=frozenset(scope.split()),
                              audience=self.audience, token_id=token_id,
                              acting_for=acting_for if isinstance(acting_for, str) else None,
                              office=office if isinstance(office := claims.get("office"), str) else None,
                              key_thumbprint=_key_thumbprint(claims), mandate_ids=_mandate_ids(claims),
                              auth_time=_auth_time(claims))
        return principal, exp, max(iat, nbf or iat)
