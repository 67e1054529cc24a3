"""``private_key_jwt`` client authentication (RFC 7523; OIDC Core s. 9) through the real
HTTP server, with authlib's client-side ``PrivateKeyJWT`` building the assertions: keys
registered or published at a ``jwks_uri``, replayed ``jti`` refused, a client registered for
it cannot fall back to anything else."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.identity.domain.clients import OAuthClient
from tests.integration.identity_oidc.conftest import SECRET
from tests.integration.identity_oidc.flows import post_token
from tests.integration.identity_oidc.test_logout_everywhere import add_client, served

TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
EC_KEY = ECKey.generate_key("P-256", parameters={"kid": "permits-1"})
RSA_KEY = RSAKey.generate_key(2048, parameters={"kid": "taxes-1"})


def public_jwks(*keys) -> dict:
    return {"keys": [k.as_dict(private=False) for k in keys]}


def system(client_id: str, **extra) -> OAuthClient:
    return OAuthClient(client_id=client_id, name=client_id, secret_hash=None, grant_types=("client_credentials",),
                       scopes=("identity:validate",), audiences=("urn:mtlid:identity",),
                       token_endpoint_auth_method="private_key_jwt", **extra)


def assertion(front, client_id: str, key, *, aud: str | None = None, jti: str | None = None,
              exp_in: int = 60, alg: str = "ES256") -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": aud or front.base + "/token", "iat": now,
              "exp": now + exp_in, "jti": jti or str(uuid.uuid4())}
    return jwt.encode({"alg": alg, "kid": key.kid}, claims, key)


async def by_assertion(front, value: str, **data) -> httpx.Response:
    return await post_token(front, {"grant_type": "client_credentials", "client_assertion_type": TYPE,
                                    "client_assertion": value, **data}, auth=None)


async def test_authlib_client_authenticates_with_a_registered_key(front):
    await add_client(front, system("permits-system", jwks=public_jwks(EC_KEY)))
    client = AsyncOAuth2Client(client_id="permits-system", client_secret=EC_KEY,
                               token_endpoint_auth_method="private_key_jwt")
    client.register_client_auth_method(PrivateKeyJWT(front.base + "/token", alg="ES256"))
    token = await client.fetch_token(front.base + "/token", grant_type="client_credentials")
    claims = jwt.decode(token["access_token"], KeySet.import_key_set(front.provider.keys.jwks())).claims
    assert claims["client_id"] == claims["sub"] == "permits-system" and claims["scope"] == "identity:validate"
    await client.aclose()


async def test_a_jwks_uri_is_fetched_and_rotation_is_followed(front):
    published = {"jwks": public_jwks(RSA_KEY)}

    async def jwks(_request):
        return JSONResponse(published["jwks"])

    async with served(Starlette(routes=[Route("/jwks.json", jwks)])) as (base, _port):
        await add_client(front, system("taxes-system", jwks_uri=base + "/jwks.json"))
        ok = await by_assertion(front, assertion(front, "taxes-system", RSA_KEY, alg="RS256"))
        assert ok.status_code == 200, ok.text
        rotated = RSAKey.generate_key(2048, parameters={"kid": "taxes-2"})
        published["jwks"] = public_jwks(rotated)
        front.provider.client_keys.MIN_REFETCH = 0.0     # the rate limit on refetches, for the test
        after = await by_assertion(front, assertion(front, "taxes-system", rotated, alg="RS256"))
        assert after.status_code == 200, after.text          # the unknown kid made us fetch again


async def test_bad_or_replayed_assertions_are_invalid_client(front):
    await add_client(front, system("parking-system", jwks=public_jwks(EC_KEY)))
    other = ECKey.generate_key("P-256", parameters={"kid": "permits-1"})
    replayed = assertion(front, "parking-system", EC_KEY, jti="once-only")
    assert (await by_assertion(front, replayed)).status_code == 200
    cases = {
        "replayed jti": replayed,
        "someone else's key": assertion(front, "parking-system", other),
        "another audience": assertion(front, "parking-system", EC_KEY, aud="https://elsewhere.example/token"),
        "expired": assertion(front, "parking-system", EC_KEY, exp_in=-120),
        "valid for a day": assertion(front, "parking-system", EC_KEY, exp_in=86400),
        "unsigned": "eyJhbGciOiJub25lIn0.eyJpc3MiOiJwYXJraW5nLXN5c3RlbSIsInN1YiI6InBhcmtpbmctc3lzdGVtIn0.",
    }
    for name, value in cases.items():
        refused = await by_assertion(front, value, client_id="parking-system")
        assert refused.status_code in (400, 401) and refused.json()["error"] == "invalid_client", name
    # a private_key_jwt client cannot fall back to a secret, and a secret client cannot send assertions
    basic = await post_token(front, {"grant_type": "client_credentials"}, auth=("parking-system", SECRET))
    assert basic.json()["error"] == "invalid_client"
    foreign = await by_assertion(front, assertion(front, "single-aud", EC_KEY), client_id="single-aud")
    assert foreign.json()["error"] == "invalid_client"


async def test_introspection_accepts_private_key_jwt(front):
    await add_client(front, system("audit-system", jwks=public_jwks(EC_KEY)))
    issued = (await by_assertion(front, assertion(front, "audit-system", EC_KEY))).json()["access_token"]
    async with httpx.AsyncClient() as http:
        response = await http.post(front.base + "/introspect", data={
            "token": issued, "client_assertion_type": TYPE,
            "client_assertion": assertion(front, "audit-system", EC_KEY, aud=front.base + "/introspect")})
    assert response.status_code == 200 and response.json()["active"] is True


async def test_discovery_advertises_private_key_jwt(front):
    async with httpx.AsyncClient() as http:
        meta = (await http.get(front.base + "/.well-known/openid-configuration")).json()
    assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"]
    assert "ES256" in meta["token_endpoint_auth_signing_alg_values_supported"]
    assert "none" not in meta["token_endpoint_auth_signing_alg_values_supported"]


async def test_a_registered_secret_client_can_be_required_to_use_private_key_jwt(front):
    """Issue 20: the city's confidential clients can be required to use private_key_jwt (the
    flag is the client's registered method). A client that authenticated with its secret is
    switched by the operator (``mtlid client require-private-key-jwt``): the running provider
    then refuses the secret and accepts only assertions signed by the registered key."""
    # PostgreSQL: run the client cache's change feed, as ``mtlid serve identity`` does, so the
    # switch must reach a provider that holds the client in memory (SQLite keeps nothing)
    feed = getattr(front.provider.reads, "feed", None)
    stop_feed = asyncio.Event()
    feed_task = asyncio.create_task(feed.run(stop_feed)) if feed is not None else None
    try:
        await _registered_client_switched_to_private_key_jwt(front, feed)
    finally:
        stop_feed.set()
        if feed_task is not None:
            await asyncio.wait_for(feed_task, 10)


async def _registered_client_switched_to_private_key_jwt(front, feed) -> None:
    from services.common.errors import InvalidArgument, NotFound
    from services.identity.service_layer.clients import (RegisterClient, RequirePrivateKeyJwt, register_client,
                                                         require_private_key_jwt)

    if feed is not None:
        for _ in range(100):
            if feed.live:
                break
            await asyncio.sleep(0.05)
        assert feed.live
    _, secret = await register_client(RegisterClient(OAuthClient(
        client_id="snow-removal-system", name="Déneigement", secret_hash=None, grant_types=("client_credentials",),
        scopes=("identity:validate",), audiences=("urn:mtlid:identity",),
        token_endpoint_auth_method="client_secret_basic")), front.uow())
    basic = await post_token(front, {"grant_type": "client_credentials"}, auth=("snow-removal-system", secret))
    assert basic.status_code == 200, basic.text
    if feed is not None:
        assert "snow-removal-system" in front.provider.reads.clients.cached     # the provider holds it
    # bad requests name what is wrong, and change nothing
    for command, field in ((RequirePrivateKeyJwt("snow-removal-system"), "jwks"),
                           (RequirePrivateKeyJwt("snow-removal-system", jwks={"keys": [EC_KEY.as_dict(private=True)]}),
                            "jwks")):
        try:
            await require_private_key_jwt(command, front.uow())
        except InvalidArgument as error:
            assert field in {f for f, _ in error.violations}, error.violations
        else:
            raise AssertionError("accepted")
    try:
        await require_private_key_jwt(RequirePrivateKeyJwt("no-such-client", jwks=public_jwks(EC_KEY)), front.uow())
    except NotFound:
        pass
    else:
        raise AssertionError("accepted")
    assert (await post_token(front, {"grant_type": "client_credentials"},
                             auth=("snow-removal-system", secret))).status_code == 200
    changed = await require_private_key_jwt(RequirePrivateKeyJwt("snow-removal-system", jwks=public_jwks(EC_KEY)),
                                            front.uow())
    assert changed.token_endpoint_auth_method == "private_key_jwt" and changed.secret_hash is None

    async def secret_refused():
        refused = await post_token(front, {"grant_type": "client_credentials"}, auth=("snow-removal-system", secret))
        return refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    # PostgreSQL: the running provider's client cache forgets the row when the change is announced
    for _ in range(50):
        if await secret_refused():
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the secret still authenticates the client")
    signed = await by_assertion(front, assertion(front, "snow-removal-system", EC_KEY))
    assert signed.status_code == 200, signed.text
    posted = await post_token(front, {"grant_type": "client_credentials", "client_id": "snow-removal-system",
                                      "client_secret": secret}, auth=None)
    assert posted.json()["error"] == "invalid_client"
