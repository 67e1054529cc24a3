"""DPoP (RFC 9449) through the real HTTP server: a test client that builds its proofs with
joserfc (a library we did not write) gets sender-constrained tokens from the token endpoint
and uses them at userinfo; every wrong proof is refused with the RFC's error."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey

from services.common.testing.dpop import ProofMaker
from services.identity.domain.clients import OAuthClient, hash_client_secret
from tests.integration.identity_oidc.conftest import RP_REDIRECT, SECRET
from tests.integration.identity_oidc.flows import code_for, introspect, rp_client
from tests.integration.identity_oidc.test_logout_everywhere import add_client


class DpopClient(ProofMaker):
    """A client holding one key pair that talks to the token endpoint."""

    async def token(self, front, data: dict, auth=None, **proof_options) -> httpx.Response:
        """POST /token with a proof; on ``use_dpop_nonce``, once more with the nonce (s. 8)."""
        async with httpx.AsyncClient() as http:
            for _attempt in range(2):
                response = await http.post(front.base + "/token", data=data, auth=auth, headers={
                    "DPoP": self.proof("POST", front.base + "/token", **proof_options)})
                self.nonce = response.headers.get("dpop-nonce", self.nonce)
                if response.status_code != 400 or response.json().get("error") != "use_dpop_nonce":
                    return response
        return response


async def public_code(front, browser, **params) -> dict:
    """A code of the public client ``permits-spa`` (a single-page app), ready to exchange."""
    client = rp_client("permits-spa", secret=None, scope="openid email offline_access")
    callback, verifier = await code_for(front, browser, client, scopes=["email", "offline_access"], **params)
    code = httpx.URL(callback).params["code"]
    return {"grant_type": "authorization_code", "code": code, "redirect_uri": RP_REDIRECT,
            "client_id": "permits-spa", "code_verifier": verifier}


async def userinfo(front, token: str, proof: str | None, scheme: str = "DPoP") -> httpx.Response:
    headers = {"Authorization": f"{scheme} {token}"}
    if proof is not None:
        headers["DPoP"] = proof
    async with httpx.AsyncClient() as http:
        return await http.get(front.base + "/userinfo", headers=headers)


def claims_of(front, token: str) -> dict:
    return jwt.decode(token, KeySet.import_key_set(front.provider.keys.jwks())).claims


@pytest.fixture
async def bound(front, browser):
    """A public client's DPoP-bound tokens, and the client that holds the key."""
    client = DpopClient()
    response = await client.token(front, await public_code(front, browser))
    assert response.status_code == 200, response.text
    return client, response.json()


async def test_the_token_endpoint_asks_for_a_nonce_then_binds_the_tokens(front, browser):
    client = DpopClient()
    data = await public_code(front, browser)
    async with httpx.AsyncClient() as http:
        first = await http.post(front.base + "/token", data=data,
                                headers={"DPoP": client.proof("POST", front.base + "/token")})
    assert first.status_code == 400 and first.json()["error"] == "use_dpop_nonce"
    client.nonce = first.headers["DPoP-Nonce"]
    response = await client.token(front, data)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "DPoP"
    assert claims_of(front, body["access_token"])["cnf"] == {"jkt": client.jkt}
    assert response.headers["DPoP-Nonce"]

    token = body["access_token"]
    ok = await userinfo(front, token, client.proof("GET", front.base + "/userinfo", access_token=token))
    assert ok.status_code == 200, ok.text
    assert ok.json()["email"] == front.resident.email
    # introspection tells a resource server which key the token is bound to (s. 6.2)
    seen = (await introspect(front, token)).json()
    assert seen["active"] and seen["token_type"] == "DPoP" and seen["cnf"] == {"jkt": client.jkt}


async def test_a_bound_token_presented_as_bearer_is_refused(front, bound):
    client, tokens = bound
    token = tokens["access_token"]
    as_bearer = await userinfo(front, token, None, scheme="Bearer")
    assert as_bearer.status_code == 401
    assert as_bearer.headers["WWW-Authenticate"].startswith('DPoP error="invalid_token"')
    # the proof alongside does not make the Bearer scheme acceptable either
    with_proof = await userinfo(front, token, client.proof("GET", front.base + "/userinfo", access_token=token),
                                scheme="Bearer")
    assert with_proof.status_code == 401


@pytest.mark.parametrize("wrong", ["htm", "htu", "ath", "stale iat", "future iat", "other key", "no proof",
                                   "typ", "private jwk"])
async def test_userinfo_refuses_a_wrong_proof(front, bound, wrong):
    client, tokens = bound
    token = tokens["access_token"]
    url = front.base + "/userinfo"
    proofs = {
        "htm": lambda: client.proof("POST", url, access_token=token),
        "htu": lambda: client.proof("GET", front.base + "/token", access_token=token),
        "ath": lambda: client.proof("GET", url, access_token=token + "x"),
        "stale iat": lambda: client.proof("GET", url, access_token=token, iat=int(time.time()) - 600),
        "future iat": lambda: client.proof("GET", url, access_token=token, iat=int(time.time()) + 600),
        "other key": lambda: DpopClient().proof("GET", url, access_token=token),
        "no proof": lambda: None,
        "typ": lambda: client.proof("GET", url, access_token=token, typ="JWT"),
        "private jwk": lambda: _with_private_jwk(client, url, token),
    }
    response = await userinfo(front, token, proofs[wrong]())
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith('DPoP error="invalid_dpop_proof"')
    assert 'algs="ES256' in response.headers["WWW-Authenticate"]


def _with_private_jwk(client: DpopClient, url: str, token: str, htm: str = "GET") -> str:
    claims = {"htm": htm, "htu": url, "iat": int(time.time()), "jti": str(uuid.uuid4()),
              "ath": base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()}
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": client.key.as_dict(private=True)}
    return jwt.encode(header, claims, client.key)


async def test_a_replayed_proof_is_refused(front, bound):
    client, tokens = bound
    token = tokens["access_token"]
    proof = client.proof("GET", front.base + "/userinfo", access_token=token)
    assert (await userinfo(front, token, proof)).status_code == 200
    again = await userinfo(front, token, proof)
    assert again.status_code == 401
    assert again.headers["WWW-Authenticate"].startswith('DPoP error="invalid_dpop_proof"')


async def test_an_unbound_token_under_the_dpop_scheme_is_refused(front, browser):
    client = rp_client("montreal-ca", scope="openid email")
    from tests.integration.identity_oidc.flows import tokens_for

    tokens = await tokens_for(front, browser, client, scopes=["email"])
    assert tokens["token_type"] == "Bearer"
    token = tokens["access_token"]
    response = await userinfo(front, token, DpopClient().proof("GET", front.base + "/userinfo", access_token=token))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('DPoP error="invalid_token"')
    await client.aclose()


@pytest.mark.parametrize("wrong", ["htm", "htu", "stale iat", "typ", "alg", "private jwk", "replayed jti",
                                   "missing nonce", "forged nonce", "bad signature", "two proofs"])
async def test_the_token_endpoint_refuses_a_wrong_proof(front, browser, wrong):
    client = DpopClient()
    url = front.base + "/token"
    # a first exchange teaches the client the nonce and gives a refresh token to spend
    granted = await client.token(front, await public_code(front, browser))
    assert granted.status_code == 200, granted.text
    data = {"grant_type": "refresh_token", "refresh_token": granted.json()["refresh_token"],
            "client_id": "permits-spa"}
    used = client.proof("POST", url)
    async with httpx.AsyncClient() as http:
        if wrong == "replayed jti":
            await http.post(url, data={"grant_type": "refresh_token", "refresh_token": "unknown",
                                       "client_id": "permits-spa"}, headers={"DPoP": used})
        hs256 = DpopClient(OctKey.generate_key(256), alg="HS256")
        proof = {
            "htm": lambda: client.proof("PUT", url),
            "htu": lambda: client.proof("POST", front.base + "/userinfo"),
            "stale iat": lambda: client.proof("POST", url, iat=int(time.time()) - 3600),
            "typ": lambda: client.proof("POST", url, typ="at+jwt"),
            "alg": lambda: _symmetric(hs256, url, client.nonce),
            "private jwk": lambda: _with_private_jwk(client, url, "x", htm="POST"),
            "replayed jti": lambda: used,
            "missing nonce": lambda: _without_nonce(client, url),
            "forged nonce": lambda: client.proof("POST", url, nonce="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            "bad signature": lambda: _tampered(client.proof("POST", url)),
            "two proofs": lambda: [client.proof("POST", url), client.proof("POST", url)],
        }[wrong]()
        headers = [("DPoP", p) for p in proof] if isinstance(proof, list) else [("DPoP", proof)]
        response = await http.post(url, data=data, headers=headers)
    assert response.status_code == 400, response.text
    expected = "use_dpop_nonce" if wrong in ("missing nonce", "forged nonce") else "invalid_dpop_proof"
    assert response.json()["error"] == expected
    if expected == "use_dpop_nonce":
        assert response.headers["DPoP-Nonce"] == client.nonce
    # nothing was spent: the refresh token still works with a good proof
    assert (await client.token(front, data)).status_code == 200


def _symmetric(client: DpopClient, url: str, nonce: str | None) -> str:
    header = {"typ": "dpop+jwt", "alg": "HS256", "jwk": client.key.as_dict(private=False)}
    claims = {"htm": "POST", "htu": url, "iat": int(time.time()), "jti": str(uuid.uuid4()), "nonce": nonce}
    return jwt.encode(header, claims, client.key, algorithms=["HS256"])


def _without_nonce(client: DpopClient, url: str) -> str:
    kept, client.nonce = client.nonce, None
    try:
        return client.proof("POST", url)
    finally:
        client.nonce = kept


def _tampered(proof: str) -> str:
    head, payload, signature = proof.split(".")
    return ".".join((head, payload, ("A" if signature[0] != "A" else "B") + signature[1:]))


async def test_a_public_clients_refresh_token_answers_only_to_its_key(front, bound):
    client, tokens = bound
    data = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "permits-spa"}
    thief = DpopClient()
    stolen = await thief.token(front, data)
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant", stolen.text
    async with httpx.AsyncClient() as http:
        as_bearer = await http.post(front.base + "/token", data=data)
    assert as_bearer.status_code == 400 and as_bearer.json()["error"] == "invalid_dpop_proof"
    # the holder of the key refreshes; the new refresh token is bound to the same key
    rotated = await client.token(front, data)
    assert rotated.status_code == 200, rotated.text
    assert claims_of(front, rotated.json()["access_token"])["cnf"] == {"jkt": client.jkt}
    again = {**data, "refresh_token": rotated.json()["refresh_token"]}
    assert (await thief.token(front, again)).json()["error"] == "invalid_grant"
    assert (await client.token(front, again)).status_code == 200


async def test_a_client_registered_for_dpop_must_send_a_proof(front):
    await add_client(front, OAuthClient(
        client_id="mobile-311", name="311 (mobile)", secret_hash=hash_client_secret(SECRET),
        grant_types=("client_credentials",), scopes=("identity:validate",), audiences=("urn:mtlid:identity",),
        dpop_bound_access_tokens=True))
    data = {"grant_type": "client_credentials"}
    async with httpx.AsyncClient() as http:
        refused = await http.post(front.base + "/token", data=data, auth=("mobile-311", SECRET))
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_dpop_proof"
    client = DpopClient(RSAKey.generate_key(2048), alg="PS256")
    granted = await client.token(front, data, auth=("mobile-311", SECRET))
    assert granted.status_code == 200, granted.text
    assert granted.json()["token_type"] == "DPoP"
    assert claims_of(front, granted.json()["access_token"])["cnf"] == {"jkt": client.jkt}


async def test_discovery_lists_the_dpop_algorithms(front):
    async with httpx.AsyncClient() as http:
        metadata = (await http.get(front.base + "/.well-known/openid-configuration")).json()
    assert metadata["dpop_signing_alg_values_supported"] == ["ES256", "PS256", "RS256", "EdDSA"]


async def test_a_browser_app_may_send_a_proof_and_read_the_nonce(front):
    """CORS for single-page apps: the preflight allows the DPoP header, and the answers let
    the page's script read ``DPoP-Nonce`` and the ``WWW-Authenticate`` challenge."""
    async with httpx.AsyncClient() as http:
        for path in ("/token", "/userinfo"):
            preflight = await http.options(front.base + path, headers={
                "origin": "https://permis.montreal.ca", "access-control-request-method": "POST",
                "access-control-request-headers": "dpop, content-type"})
            assert "DPoP" in preflight.headers["access-control-allow-headers"]
        answer = await http.post(front.base + "/token", data={"grant_type": "client_credentials"},
                                 headers={"origin": "https://permis.montreal.ca",
                                          "DPoP": DpopClient().proof("POST", front.base + "/token")})
        assert answer.json()["error"] == "use_dpop_nonce"
        assert "DPoP-Nonce" in answer.headers["access-control-expose-headers"]
        refused = await http.get(front.base + "/userinfo", headers={"origin": "https://permis.montreal.ca",
                                                                    "Authorization": "DPoP x.y.z"})
        assert refused.status_code == 401 and "WWW-Authenticate" in refused.headers["access-control-expose-headers"]


async def test_a_code_asked_with_dpop_jkt_is_redeemable_only_with_that_key(front, browser):
    """RFC 9449 s. 10: the authorization request names the key; the code answers to it only."""
    client = DpopClient()
    data = await public_code(front, browser, dpop_jkt=client.jkt)
    thief = DpopClient()
    stolen = await thief.token(front, data)
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant", stolen.text
    async with httpx.AsyncClient() as http:
        without = await http.post(front.base + "/token", data=data)
    assert without.status_code == 400 and without.json()["error"] == "invalid_dpop_proof"
    granted = await client.token(front, data)
    assert granted.status_code == 200, granted.text
    assert claims_of(front, granted.json()["access_token"])["cnf"] == {"jkt": client.jkt}


async def test_a_malformed_dpop_jkt_is_refused_at_the_authorization_endpoint(front, browser):
    client = rp_client("permits-spa", secret=None, scope="openid")
    url, _ = client.create_authorization_url(front.base + "/authorize", code_verifier="v" * 50,
                                             dpop_jkt="not-a-thumbprint")
    answer = await browser.get(url)
    assert answer.status_code == 302
    assert httpx.URL(answer.headers["location"]).params["error"] == "invalid_request"


async def test_userinfo_checks_a_nonce_that_is_sent(front, bound):
    """Userinfo does not demand a nonce, but one that is not ours gets ``use_dpop_nonce`` and
    the nonce to use (RFC 9449 s. 9)."""
    client, tokens = bound
    token = tokens["access_token"]
    url = front.base + "/userinfo"
    stale = await userinfo(front, token, client.proof("GET", url, access_token=token, nonce="not-our-nonce"))
    assert stale.status_code == 401
    assert stale.headers["WWW-Authenticate"].startswith('DPoP error="use_dpop_nonce"')
    fresh = stale.headers["DPoP-Nonce"]
    ok = await userinfo(front, token, client.proof("GET", url, access_token=token, nonce=fresh))
    assert ok.status_code == 200, ok.text


async def test_used_proofs_are_kept_until_they_expire_then_purged(front):
    """The replay record (``oauth_dpop_proofs``) refuses a second use, and housekeeping
    removes it once the proof could not pass anyway."""
    import datetime as dt

    now = dt.datetime.now(dt.timezone.utc)
    async with front.uow() as uow:
        assert await uow.dpop_proofs.use("k" * 64, now - dt.timedelta(seconds=1))
        assert await uow.dpop_proofs.use("l" * 64, now + dt.timedelta(minutes=5))
        await uow.commit()
    async with front.uow() as uow:
        assert not await uow.dpop_proofs.use("k" * 64, now + dt.timedelta(minutes=5))
        await uow.housekeeping.purge(now)
        await uow.commit()
    async with front.uow() as uow:
        assert await uow.dpop_proofs.use("k" * 64, now + dt.timedelta(minutes=5))      # purged: gone
        assert not await uow.dpop_proofs.use("l" * 64, now + dt.timedelta(minutes=5))  # still kept
        await uow.commit()


async def test_a_proof_used_at_one_replica_is_refused_at_another(front, bound):
    """The replay record is in the database: another replica (here, another engine on the same
    database, as a second process would have) sees the proof as used."""
    import datetime as dt

    from services.common.db import create_engine, session_factory
    from services.common.dpop import check_proof, replay_key
    from services.identity.adapters.oauth_repositories import OAuthUnitOfWork
    from tests.integration.identity_oidc.conftest import KEK

    client, tokens = bound
    token = tokens["access_token"]
    proof = client.proof("GET", front.base + "/userinfo", access_token=token)
    assert (await userinfo(front, token, proof)).status_code == 200
    other = create_engine(front.sessions.kw["bind"].url)
    try:
        async with OAuthUnitOfWork(session_factory(other), kek=KEK) as uow:
            checked = check_proof(proof, htm="GET", htu=front.base + "/userinfo", access_token=token)
            until = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=2)
            assert not await uow.dpop_proofs.use(replay_key(checked), until)
    finally:
        await other.dispose()
