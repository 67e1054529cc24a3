"""RFC 9068 access-token verification, JWKS providers, and the caller's principal."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from services.common import errors
from services.common.grpc import auth
from services.common.grpc.auth import HttpJwks, StaticJwks, TokenRejected, TokenVerifier, current_principal
from services.common.testing.tokens import TokenMinter

AUDIENCE = "urn:mtlid:consent"


@pytest.fixture(scope="module")
def minter():
    return TokenMinter()


@pytest.fixture
def verifier(minter):
    return TokenVerifier(minter.issuer, AUDIENCE, StaticJwks(minter.jwks()))


async def rejected(verifier, token) -> str:
    with pytest.raises(TokenRejected) as caught:
        await verifier.verify(token)
    assert not token or token not in caught.value.message
    return caught.value.reason


def b64(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


async def test_a_valid_token_gives_its_principal(minter, verifier):
    token = minter.mint("counter-app", ["accounts:agent", "consent:check"], AUDIENCE, acting_for="agent-7")
    principal = await verifier.verify(token)
    assert principal == auth.Principal(client_id="counter-app", subject="counter-app",
                                       scopes=frozenset({"accounts:agent", "consent:check"}), audience=AUDIENCE,
                                       token_id=principal.token_id, acting_for="agent-7")
    assert principal.token_id


async def test_an_audience_list_containing_ours_is_accepted(minter, verifier):
    token = minter.mint("c", ["s"], ["urn:mtlid:accounts", AUDIENCE])
    assert (await verifier.verify(token)).client_id == "c"


@pytest.mark.parametrize("claims, reason", [
    ({"iss": "http://evil.example"}, "WRONG_ISSUER"),
    ({"aud": "urn:mtlid:accounts"}, "WRONG_AUDIENCE"),
    ({"jti": None}, "TOKEN_CLAIMS"),
    ({"omit": ["client_id"]}, "TOKEN_CLAIMS"),
    ({"omit": ["sub"]}, "TOKEN_CLAIMS"),
    ({"exp": None}, "TOKEN_CLAIMS"),
    ({"exp": "tomorrow"}, "TOKEN_CLAIMS"),
    ({"exp": float("nan")}, "TOKEN_CLAIMS"),
    ({"exp": True}, "TOKEN_CLAIMS"),
    ({"scope": ["a", "b"]}, "TOKEN_CLAIMS"),
    # A day ahead, not minutes: the times are computed when pytest collects, and a whole
    # suite on a loaded machine runs for more than ten minutes before these run.
    ({"nbf": int(time.time()) + 86400}, "TOKEN_NOT_YET_VALID"),
    ({"iat": int(time.time()) + 86400}, "TOKEN_NOT_YET_VALID"),
    ({"iat": int(time.time()) - 900, "exp": int(time.time()) - 60}, "TOKEN_EXPIRED"),
])
async def test_claims_are_checked(minter, verifier, claims, reason):
    assert await rejected(verifier, minter.mint("c", ["s"], AUDIENCE, **claims)) == reason


async def test_clock_skew_within_the_leeway_is_tolerated(minter, verifier):
    now = int(time.time())
    token = minter.mint("c", ["s"], AUDIENCE, iat=now - 300, exp=now - 10, nbf=now + 10)
    assert (await verifier.verify(token)).client_id == "c"


async def test_the_header_must_be_an_rfc9068_access_token(minter, verifier):
    assert await rejected(verifier, minter.mint("c", ["s"], AUDIENCE, header={"typ": "JWT"})) == "TOKEN_TYPE"
    assert (await verifier.verify(minter.mint("c", ["s"], AUDIENCE, header={"typ": "application/at+jwt"})))


async def test_alg_none_and_hmac_are_refused(minter, verifier):
    claims = {"iss": minter.issuer, "sub": "c", "client_id": "c", "aud": AUDIENCE, "scope": "s",
              "iat": int(time.time()), "exp": int(time.time()) + 60, "jti": "j"}
    none_token = f"{b64({'alg': 'none', 'typ': 'at+jwt'})}.{b64(claims)}."
    assert await rejected(verifier, none_token) == "TOKEN_ALGORITHM"
    secret = OctKey.generate_key(256)
    hmac_token = jwt.encode({"alg": "HS256", "typ": "at+jwt", "kid": minter.kid}, claims, secret)
    assert await rejected(verifier, hmac_token) == "TOKEN_ALGORITHM"


async def test_rs256_is_accepted(minter):
    rsa = RSAKey.generate_key(2048, parameters={"kid": "rsa-1", "use": "sig"}, private=True)
    verifier = TokenVerifier(minter.issuer, AUDIENCE, StaticJwks({"keys": [rsa.as_dict(private=False)]}))
    claims = {"iss": minter.issuer, "sub": "c", "client_id": "c", "aud": AUDIENCE, "scope": "s",
              "iat": int(time.time()), "exp": int(time.time()) + 60, "jti": "j"}
    token = jwt.encode({"alg": "RS256", "typ": "at+jwt", "kid": "rsa-1"}, claims, rsa)
    assert (await verifier.verify(token)).scopes == {"s"}
    # a key of another type under the same kid does not verify an ES256 token
    es = minter.mint("c", ["s"], AUDIENCE, header={"kid": "rsa-1"})
    assert await rejected(verifier, es) == "BAD_SIGNATURE"


async def test_signatures_are_checked(minter, verifier):
    other = TokenMinter(minter.issuer, kid=minter.kid)
    assert await rejected(verifier, other.mint("c", ["s"], AUDIENCE)) == "BAD_SIGNATURE"
    stranger = TokenMinter(minter.issuer)
    assert await rejected(verifier, stranger.mint("c", ["s"], AUDIENCE)) == "UNKNOWN_KEY"


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c", "....", "é.b.c"])
async def test_garbage_is_refused(verifier, token):
    assert await rejected(verifier, token) in {"TOKEN_MALFORMED", "TOKEN_TYPE"}


async def test_a_cached_token_still_expires(minter, verifier, monkeypatch):
    token = minter.mint("c", ["s"], AUDIENCE, ttl=60)
    assert await verifier.verify(token) is await verifier.verify(token)  # the second one is a cache hit
    later = time.time() + 120
    monkeypatch.setattr(auth.time, "time", lambda: later)
    assert await rejected(verifier, token) == "TOKEN_EXPIRED"


async def test_the_signature_of_a_token_is_verified_once(minter, verifier, monkeypatch):
    real = auth.jws.validate_compact
    verified = []
    monkeypatch.setattr(auth.jws, "validate_compact", lambda *a, **k: verified.append(1) or real(*a, **k))
    token = minter.mint("c", ["s"], AUDIENCE)
    for _ in range(5):
        assert (await verifier.verify(token)).client_id == "c"
    assert len(verified) == 1
    await verifier.verify(minter.mint("c", ["s"], AUDIENCE))  # another token: verified
    assert len(verified) == 2


async def test_a_cached_tokens_claims_under_another_signature_are_not_a_cache_hit(minter, verifier):
    token = minter.mint("c", ["s"], AUDIENCE)
    await verifier.verify(token)
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"
    assert await rejected(verifier, forged) == "BAD_SIGNATURE"


class SwappableJwks:
    """A key set an operator can change (identity's JWKS after a key is withdrawn)."""

    def __init__(self, jwks) -> None:
        self.static = StaticJwks(jwks)

    async def get_key(self, kid):
        return await self.static.get_key(kid)


async def test_a_cached_token_stops_when_its_key_leaves_the_key_set(minter):
    jwks = SwappableJwks(minter.jwks())
    verifier = TokenVerifier(minter.issuer, AUDIENCE, jwks)
    token = minter.mint("c", ["s"], AUDIENCE)
    await verifier.verify(token)
    jwks.static = StaticJwks({"keys": []})
    assert await rejected(verifier, token) == "UNKNOWN_KEY"
    jwks.static = StaticJwks(minter.jwks())  # the same key, imported again: verified again
    assert (await verifier.verify(token)).client_id == "c"


async def test_the_cache_is_bounded(minter, verifier):
    verifier.CACHE_SIZE = 3
    tokens = [minter.mint(f"c{n}", ["s"], AUDIENCE) for n in range(5)]
    for token in tokens:
        await verifier.verify(token)
    assert len(verifier._verified) == 3
    assert list(verifier._verified) == tokens[2:]  # least recently used out first


def test_the_principal_is_absent_outside_an_authenticated_call():
    assert auth.optional_principal() is None
    with pytest.raises(errors.Unauthenticated):
        current_principal()


def test_require_scope_raises_missing_scope():
    principal = auth.Principal("c", "c", frozenset({"a"}), AUDIENCE, "j")
    principal.require_scope("a")
    with pytest.raises(errors.PermissionDenied) as caught:
        principal.require_scope("b")
    assert caught.value.reason == "MISSING_SCOPE"


def test_public_is_a_marker_not_a_scope_name():
    assert auth.PUBLIC == "PUBLIC" and auth.PUBLIC is not "PUBLIC".lower().upper()  # noqa: F632


class FakeIdentity:
    """Serves a JWKS over httpx's MockTransport and counts fetches."""

    def __init__(self, *minters: TokenMinter) -> None:
        self.minters = list(minters)
        self.fetches = 0
        self.down = False

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        if self.down:
            return httpx.Response(503)
        return httpx.Response(200, json={"keys": [k for m in self.minters for k in m.jwks()["keys"]]})

    def jwks(self, **kwargs) -> HttpJwks:
        client = httpx.AsyncClient(transport=httpx.MockTransport(self.handler))
        return HttpJwks("http://identity.test/jwks", client=client, **kwargs)


async def test_http_jwks_is_fetched_once_and_cached(minter):
    identity = FakeIdentity(minter)
    verifier = TokenVerifier(minter.issuer, AUDIENCE, identity.jwks())
    for _ in range(5):
        await verifier.verify(minter.mint("c", ["s"], AUDIENCE))
    assert identity.fetches == 1


async def test_an_unknown_kid_refetches_at_most_once_per_interval(minter):
    identity = FakeIdentity(minter)
    provider = identity.jwks(min_refetch_interval=30)
    verifier = TokenVerifier(minter.issuer, AUDIENCE, provider)
    await verifier.verify(minter.mint("c", ["s"], AUDIENCE))
    rotated = TokenMinter(minter.issuer)
    for _ in range(5):  # made-up or not-yet-published kids do not hammer identity
        assert await rejected(verifier, rotated.mint("c", ["s"], AUDIENCE)) == "UNKNOWN_KEY"
    assert identity.fetches == 1


async def test_a_rotated_key_is_found_by_refetching(minter):
    identity = FakeIdentity(minter)
    verifier = TokenVerifier(minter.issuer, AUDIENCE, identity.jwks(min_refetch_interval=0))
    await verifier.verify(minter.mint("c", ["s"], AUDIENCE))
    rotated = TokenMinter(minter.issuer)
    identity.minters.append(rotated)
    assert (await verifier.verify(rotated.mint("c", ["s"], AUDIENCE))).client_id == "c"
    assert identity.fetches == 2


async def test_a_failed_fetch_keeps_the_keys_it_had(minter):
    identity = FakeIdentity(minter)
    provider = identity.jwks(min_refetch_interval=0, max_age=0)
    verifier = TokenVerifier(minter.issuer, AUDIENCE, provider)
    await verifier.verify(minter.mint("c", ["s"], AUDIENCE))
    identity.down = True
    assert (await verifier.verify(minter.mint("c", ["s"], AUDIENCE))).client_id == "c"  # served at once
    await asyncio.sleep(0.05)  # the background refresh runs, and fails
    assert identity.fetches == 2
    assert (await verifier.verify(minter.mint("c", ["s"], AUDIENCE))).client_id == "c"
