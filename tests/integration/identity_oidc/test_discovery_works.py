"""Discovery advertises exactly what works (issue 20; OpenID Connect Discovery 1.0 s. 3,
RFC 8414 s. 2): the test reads ``/.well-known/openid-configuration`` and exercises each
advertised grant type, response type and mode, client authentication method and signing
algorithm, PKCE method, DPoP algorithm, subject type, ID token algorithm, acr, amr and claim,
prompt and locale, and each endpoint, with a minimal real request on the real HTTP front.

``CHECKED`` names every metadata member: a member added to the discovery document without a
check here fails ``test_every_advertised_member_is_checked_here``; a value added to one of
the lists fails the check that walks that list (it does not know how to exercise it)."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid

import httpx
from authlib.common.security import generate_token
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey

from services.common.testing.dpop import ProofMaker
from services.identity.domain import totp
from services.identity.domain.assurance import LevelOfAssurance
from services.identity.domain.clients import OAuthClient, hash_client_secret
from tests.integration.identity_oidc.conftest import PURPOSES, RP_REDIRECT, SECRET, add_resident, hidden_fields
from tests.integration.identity_oidc.flows import code_for, rp_client
from tests.integration.identity_oidc.test_logout_everywhere import add_client

ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

CHECKED = {
    "issuer", "authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
    "introspection_endpoint", "revocation_endpoint", "end_session_endpoint",
    "pushed_authorization_request_endpoint", "require_pushed_authorization_requests",
    "scopes_supported", "response_types_supported", "response_modes_supported", "grant_types_supported",
    "code_challenge_methods_supported", "subject_types_supported", "id_token_signing_alg_values_supported",
    "token_endpoint_auth_methods_supported", "token_endpoint_auth_signing_alg_values_supported",
    "introspection_endpoint_auth_methods_supported", "introspection_endpoint_auth_signing_alg_values_supported",
    "revocation_endpoint_auth_methods_supported", "revocation_endpoint_auth_signing_alg_values_supported",
    "acr_values_supported", "amr_values_supported", "claims_supported", "prompt_values_supported",
    "ui_locales_supported", "claims_parameter_supported", "request_parameter_supported",
    "request_uri_parameter_supported", "authorization_response_iss_parameter_supported",
    "access_token_issuer", "resource_indicators_supported", "backchannel_logout_supported",
    "backchannel_logout_session_supported", "frontchannel_logout_supported",
    "frontchannel_logout_session_supported", "dpop_signing_alg_values_supported",
}


async def _metadata(front) -> dict:
    async with httpx.AsyncClient() as http:
        response = await http.get(front.base + "/.well-known/openid-configuration")
    assert response.status_code == 200
    return response.json()


def _keys(front) -> KeySet:
    return KeySet.import_key_set(front.provider.keys.jwks())


def _claims(front, token: str) -> dict:
    return jwt.decode(token, _keys(front)).claims


def _key_for(alg: str):
    if alg == "ES256":
        return ECKey.generate_key("P-256", parameters={"kid": f"k-{alg}"})
    if alg in ("RS256", "PS256"):
        return RSAKey.generate_key(2048, parameters={"kid": f"k-{alg}"})
    if alg == "EdDSA":
        return OKPKey.generate_key("Ed25519", parameters={"kid": f"k-{alg}"})
    raise AssertionError(f"advertised algorithm this test cannot exercise: {alg}")


def _assertion(front, client_id: str, key, alg: str, audience: str) -> str:
    now = int(time.time())
    return jwt.encode({"alg": alg, "kid": key.kid}, {"iss": client_id, "sub": client_id, "aud": audience,
                                                     "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())},
                      key, algorithms=[alg])


async def _post(url: str, data: dict, auth=None, headers=None) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(url, data=data, auth=auth, headers=headers)


async def test_every_advertised_member_is_checked_here(front):
    meta = await _metadata(front)
    assert set(meta) == CHECKED, set(meta) ^ CHECKED
    assert meta["issuer"] == front.base
    assert meta["access_token_issuer"] == front.base
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
                 "introspection_endpoint", "revocation_endpoint", "end_session_endpoint",
                 "pushed_authorization_request_endpoint"):
        assert meta[name].startswith(front.base + "/"), name
    async with httpx.AsyncClient() as http:
        jwks = (await http.get(meta["jwks_uri"])).json()
    assert {k["alg"] for k in jwks["keys"]} >= set(meta["id_token_signing_alg_values_supported"])


async def test_the_code_flow_works_as_advertised_in_query_and_form_post(front, browser):
    """response_types ``code``; response modes ``query`` and ``form_post``; PKCE ``S256`` (and
    ``plain``, not advertised, refused); the ``iss`` authorization response parameter;
    grant types ``authorization_code`` and ``refresh_token``; client_secret_basic;
    ``access_token_issuer``; userinfo, introspection, revocation."""
    meta = await _metadata(front)
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    unknown = set(meta["response_modes_supported"]) - {"query", "form_post"}
    assert not unknown, f"advertised response modes this test cannot exercise: {unknown}"
    # query: the code and iss in the redirect's query
    client = rp_client(scope="openid email")
    callback, verifier = await code_for(front, browser, client, response_mode="query", scopes=["email"],
                                        purposes=["service-provision"])
    assert httpx.URL(callback).params["iss"] == meta["issuer"]
    token = await client.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    assert _claims(front, token["access_token"])["iss"] == meta["access_token_issuer"]
    await client.aclose()
    # form_post: the provider answers with a self-posting form instead of a redirect
    verifier = generate_token(48)
    url = httpx.URL(meta["authorization_endpoint"], params={
        "response_type": "code", "client_id": "montreal-ca", "redirect_uri": RP_REDIRECT, "scope": "openid",
        "state": "d1", "code_challenge": _s256(verifier), "code_challenge_method": "S256",
        "response_mode": "form_post"})
    page = await browser.follow(await browser.get(str(url)))
    assert page.status_code == 200 and hidden_fields(page.text)["iss"] == meta["issuer"]
    form_code = hidden_fields(page.text)["code"]
    tokens = await _post(meta["token_endpoint"], {"grant_type": "authorization_code", "code": form_code,
                                                  "redirect_uri": RP_REDIRECT, "code_verifier": verifier},
                         auth=("montreal-ca", SECRET))
    assert tokens.status_code == 200, tokens.text
    # plain PKCE is not advertised and is refused
    plain = httpx.URL(meta["authorization_endpoint"], params={
        "response_type": "code", "client_id": "montreal-ca", "redirect_uri": RP_REDIRECT, "scope": "openid",
        "code_challenge": "p" * 43, "code_challenge_method": "plain"})
    refused = await browser.get(str(plain))
    assert refused.status_code == 302 and httpx.URL(refused.headers["location"]).params["error"] == "invalid_request"
    # refresh_token
    assert "refresh_token" in meta["grant_types_supported"] and "authorization_code" in meta["grant_types_supported"]
    client = rp_client(scope="openid offline_access")
    callback, verifier = await code_for(front, browser, client, scopes=["offline_access"])
    first = await client.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    assert first.get("refresh_token"), first
    again = await _post(meta["token_endpoint"], {"grant_type": "refresh_token",
                                                 "refresh_token": first["refresh_token"]}, auth=("montreal-ca", SECRET))
    assert again.status_code == 200, again.text
    await client.aclose()
    access = again.json()["access_token"]
    async with httpx.AsyncClient() as http:
        info = await http.get(meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {access}"})
    assert info.status_code == 200 and info.json()["sub"]


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


async def test_every_advertised_client_authentication_method_and_algorithm_works(front):
    """At the token, introspection and revocation endpoints: client_secret_basic,
    client_secret_post, private_key_jwt with each advertised algorithm, and ``none`` for a
    public client where advertised; grant type ``client_credentials`` and RFC 8707
    ``resource`` (the audience it names)."""
    meta = await _metadata(front)
    keys = {alg: _key_for(alg) for alg in meta["token_endpoint_auth_signing_alg_values_supported"]}
    assert set(meta["introspection_endpoint_auth_signing_alg_values_supported"]) <= set(keys)
    assert set(meta["revocation_endpoint_auth_signing_alg_values_supported"]) <= set(keys)
    await add_client(front, OAuthClient(
        client_id="discovery-jwt", name="discovery-jwt", secret_hash=None, grant_types=("client_credentials",),
        scopes=("accounts:release",), audiences=("urn:mtlid:accounts", "urn:mtlid:consent"),
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [k.as_dict(private=False) | {"alg": alg} for alg, k in keys.items()]}))
    await add_client(front, OAuthClient(
        client_id="discovery-post", name="discovery-post", secret_hash=hash_client_secret(SECRET),
        grant_types=("client_credentials",), scopes=("accounts:release",), audiences=("urn:mtlid:accounts",),
        token_endpoint_auth_method="client_secret_post"))
    assert "client_credentials" in meta["grant_types_supported"]
    assert set(meta["scopes_supported"]) >= {"openid", "accounts:release"}
    assert meta["resource_indicators_supported"] is True

    def with_method(method: str, alg: str | None = None, audience: str | None = None) -> tuple[dict, object]:
        if method == "client_secret_basic":
            return {}, ("borough-system", SECRET)
        if method == "client_secret_post":
            return {"client_id": "discovery-post", "client_secret": SECRET}, None
        if method == "private_key_jwt":
            return {"client_assertion_type": ASSERTION,
                    "client_assertion": _assertion(front, "discovery-jwt", keys[alg], alg, audience)}, None
        raise AssertionError(f"advertised method this test cannot exercise: {method}")

    issued = []
    for method in meta["token_endpoint_auth_methods_supported"]:
        if method == "none":
            continue  # a public client at the token endpoint: the code flow of permits-spa below
        for alg in (keys if method == "private_key_jwt" else [None]):
            extra, auth = with_method(method, alg, meta["token_endpoint"])
            response = await _post(meta["token_endpoint"], {"grant_type": "client_credentials",
                                                            "scope": "accounts:release",
                                                            "resource": "urn:mtlid:accounts", **extra}, auth=auth)
            assert response.status_code == 200, (method, alg, response.text)
            assert _claims(front, response.json()["access_token"])["aud"] in ("urn:mtlid:accounts",
                                                                              ["urn:mtlid:accounts"])
            issued.append(response.json()["access_token"])
    for endpoint, methods in (("introspection_endpoint", "introspection_endpoint_auth_methods_supported"),
                              ("revocation_endpoint", "revocation_endpoint_auth_methods_supported")):
        for method in meta[methods]:
            if method == "none":
                continue  # public clients revoke their own tokens: below
            for alg in (meta[methods.replace("methods", "signing_alg_values")] if method == "private_key_jwt"
                        else [None]):
                extra, auth = with_method(method, alg, meta[endpoint])
                response = await _post(meta[endpoint], {"token": issued[0], **extra}, auth=auth)
                assert response.status_code == 200, (endpoint, method, alg, response.text)
                if endpoint == "introspection_endpoint":
                    assert "active" in response.json()


async def test_a_public_client_with_dpop_and_each_advertised_algorithm(front, browser):
    """``none`` at the token and revocation endpoints (a public client, PKCE), and DPoP
    (RFC 9449) with each advertised algorithm: the tokens are bound (``cnf.jkt``) and
    userinfo accepts them with a proof."""
    meta = await _metadata(front)
    assert "none" in meta["token_endpoint_auth_methods_supported"]
    for alg in meta["dpop_signing_alg_values_supported"]:
        maker = ProofMaker(_key_for(alg), alg=alg)
        client = rp_client("permits-spa", secret=None, scope="openid offline_access")
        callback, verifier = await code_for(front, browser, client, scopes=["offline_access"])
        await client.aclose()
        data = {"grant_type": "authorization_code", "code": httpx.URL(callback).params["code"],
                "redirect_uri": RP_REDIRECT, "client_id": "permits-spa", "code_verifier": verifier}
        response = None
        for _attempt in range(2):
            response = await _post(meta["token_endpoint"], data, headers={
                "DPoP": maker.proof("POST", meta["token_endpoint"])})
            maker.nonce = response.headers.get("dpop-nonce", maker.nonce)
            if response.status_code != 400 or response.json().get("error") != "use_dpop_nonce":
                break
        assert response.status_code == 200 and response.json()["token_type"] == "DPoP", (alg, response.text)
        access = response.json()["access_token"]
        assert _claims(front, access)["cnf"]["jkt"] == maker.jkt
        async with httpx.AsyncClient() as http:
            info = await http.get(meta["userinfo_endpoint"], headers={
                "Authorization": f"DPoP {access}", "DPoP": maker.proof("GET", meta["userinfo_endpoint"],
                                                                       access_token=access)})
        assert info.status_code == 200, (alg, info.text)
        if "none" in meta["revocation_endpoint_auth_methods_supported"]:
            revoked = await _post(meta["revocation_endpoint"], {"token": response.json()["refresh_token"],
                                                                "client_id": "permits-spa"})
            assert revoked.status_code == 200, revoked.text


async def _id_token(front, browser, client_id: str, redirect_uri: str, *, email: str, scope: str = "openid",
                    secret_post: bool = False, second_factor: bytes | None = None, **params) -> tuple[dict, dict, str]:
    """One sign-in in ``browser`` for ``client_id``; returns (ID token claims, header, access token)."""
    verifier = generate_token(48)
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope,
             "state": "d", "code_challenge": _s256(verifier), "code_challenge_method": "S256", **params}
    page = await browser.follow(await browser.get(str(httpx.URL(front.base + "/authorize", params=query))))
    if "/login?" in str(page.url) or str(page.url).endswith("/login"):
        page = await browser.login(page, email)
    if "/login/second-factor" in str(page.url):
        assert second_factor is not None, "a second step this test did not expect"
        page = await browser.follow(await browser.submit(page, "/login/second-factor",
                                                         code=totp.totp(second_factor, time.time())))
    if "/consent" in str(page.url):
        page = await browser.consent(page, scope.split(), list(PURPOSES))
    assert page.status_code == 302, (page.status_code, str(page.url), page.text[-1500:])
    code = httpx.URL(page.headers["location"]).params["code"]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier}
    if secret_post:
        response = await _post(front.base + "/token", {**data, "client_id": client_id, "client_secret": SECRET})
    else:
        response = await _post(front.base + "/token", data, auth=(client_id, SECRET))
    assert response.status_code == 200, response.text
    token = jwt.decode(response.json()["id_token"], _keys(front))
    return token.claims, token.header, response.json()["access_token"]


async def test_id_tokens_carry_each_advertised_algorithm_subject_type_acr_amr_and_claim(front):
    """Each ``id_token_signing_alg_values_supported`` (a client registered for it), each
    subject type (``public``: the resident's identifier; ``pairwise``: another per sector),
    each ``acr`` (a resident who reaches it; ``claims`` with an essential acr), each ``amr``
    (password, TOTP, a device-bound and a synced passkey) and each claim in
    ``claims_supported`` (in the ID token or at userinfo)."""
    from tests.integration.identity_oidc.conftest import Browser
    from tests.integration.identity_oidc.test_passkeys_oidc import _finish, _options, _resident_with_a_passkey

    meta = await _metadata(front)
    assert meta["claims_parameter_supported"] is True
    await add_client(front, OAuthClient(
        client_id="discovery-public", name="Service de la Ville", secret_hash=hash_client_secret(SECRET),
        redirect_uris=("http://127.0.0.1:9/public",), grant_types=("authorization_code",),
        scopes=("openid", "email", "profile"), subject_type="public", is_city_client=True))
    seen_claims: set[str] = set()
    seen_amr: set[str] = set()
    seen_acr: set[str] = set()
    seen_alg: set[str] = set()
    seen_subjects: dict[str, str] = {}

    async def sign_in(client_id, redirect_uri, email, **options):
        browser = Browser(front.base)
        try:
            claims, header, access = await _id_token(front, browser, client_id, redirect_uri, email=email, **options)
        finally:
            await browser.close()
        seen_claims.update(claims)
        seen_amr.update(claims.get("amr", ()))
        seen_acr.add(claims["acr"])
        seen_alg.add(header["alg"])
        async with httpx.AsyncClient() as http:
            info = await http.get(meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {access}"})
        assert info.status_code == 200, info.text
        seen_claims.update(info.json())
        return claims

    # level 1, a password (pwd), montreal-ca (ES256, pairwise), every claim a scope releases
    # (a resident of this test only: an earlier grant would skip the consent screen)
    level1 = await add_resident(front.uow, "discovery.niveau1@example.ca", LevelOfAssurance.SELF_ASSERTED, False)
    camille = await sign_in("montreal-ca", RP_REDIRECT, level1.email, scope="openid email profile",
                            nonce="n-1", acr_values="urn:mtlid:loa:1")
    assert camille["acr"] == "urn:mtlid:loa:1" and camille["nonce"] == "n-1"
    seen_subjects["pairwise"] = camille["sub"]
    # the same resident at a public client: their identifier
    public = await sign_in("discovery-public", "http://127.0.0.1:9/public", level1.email)
    assert public["sub"] == level1.resident_id != camille["sub"]
    seen_subjects["public"] = public["sub"]
    # RS256, for a client registered for it (client_secret_post)
    await sign_in("rs256-app", "http://127.0.0.1:9/rs256", front.resident.email, secret_post=True)
    # level 2 without a second factor
    verified = await add_resident(front.uow, "discovery.niveau2@example.ca", LevelOfAssurance.VERIFIED, False)
    level2 = await sign_in("montreal-ca", RP_REDIRECT, verified.email, acr_values="urn:mtlid:loa:2")
    assert level2["acr"] == "urn:mtlid:loa:2"
    # level 3 asked as an essential acr (the claims parameter): password and TOTP (otp, mfa)
    level3 = await sign_in("montreal-ca", RP_REDIRECT, front.verified.email, second_factor=front.verified.totp_secret,
                           claims='{"id_token": {"acr": {"essential": true, "values": ["urn:mtlid:loa:3"]}}}')
    assert level3["acr"] == "urn:mtlid:loa:3" and {"otp", "mfa"} <= set(level3["amr"])
    # passkeys: device-bound (hwk) alone, with user verification (user); synced (swk)
    for email, kind in (("discovery.cle@example.ca", {}), ("discovery.sync@example.ca", {"synced": True})):
        _resident_id, soft = await _resident_with_a_passkey(front, email, **kind)
        browser = Browser(front.base)
        client = rp_client(scope="openid")
        url, _ = client.create_authorization_url(front.base + "/authorize", code_verifier="k" * 50)
        login = await browser.follow(await browser.get(url))
        page = await browser.http.post("/login/passkey", data={
            **hidden_fields(login.text), "credential": soft.get(_options(login.text, "sign-in"))})
        claims = await _finish(front, browser, client, page, "k" * 50)
        await client.aclose()
        await browser.close()
        seen_amr.update(claims["amr"])
        seen_acr.add(claims["acr"])

    assert set(meta["id_token_signing_alg_values_supported"]) == seen_alg
    assert set(meta["subject_types_supported"]) == set(seen_subjects)
    assert set(meta["acr_values_supported"]) == seen_acr
    assert set(meta["amr_values_supported"]) == seen_amr
    assert set(meta["claims_supported"]) <= seen_claims, set(meta["claims_supported"]) - seen_claims


def _authorize_url(front, verifier: str, **extra) -> str:
    return str(httpx.URL(front.base + "/authorize", params={
        "response_type": "code", "client_id": "montreal-ca", "redirect_uri": RP_REDIRECT, "scope": "openid",
        "state": "p", "code_challenge": _s256(verifier), "code_challenge_method": "S256", **extra}))


async def test_prompts_locales_scopes_and_pushed_requests_work_as_advertised(front):
    """Each prompt value; each page locale; each advertised scope granted; PAR (RFC 9126)
    and a client's requirement to push; request objects, advertised as unsupported, refused
    with OIDC Core's errors (s. 6.1, 6.2)."""
    from tests.integration.identity_oidc.conftest import Browser

    meta = await _metadata(front)
    verifier = generate_token(48)
    browser = Browser(front.base)
    try:
        for prompt in meta["prompt_values_supported"]:
            if prompt == "none":          # no session: the answer, not a page
                answer = await browser.get(_authorize_url(front, verifier, prompt="none"))
                assert httpx.URL(answer.headers["location"]).params["error"] == "login_required"
            elif prompt not in ("login", "consent"):
                raise AssertionError(f"advertised prompt this test cannot exercise: {prompt}")
        for locale in meta["ui_locales_supported"]:
            page = await browser.follow(await browser.get(_authorize_url(front, verifier, ui_locales=locale)))
            assert f'lang="{locale.split("-")[0]}' in page.text, locale
        page = await browser.follow(await browser.get(_authorize_url(
            front, verifier, scope=" ".join(s for s in meta["scopes_supported"] if s != "accounts:release"))))
        # (a resident of this test only: an earlier grant would change the consent screen)
        newcomer = await add_resident(front.uow, "discovery.portees@example.ca", LevelOfAssurance.SELF_ASSERTED, False)
        page = await browser.login(page, newcomer.email)
        page = await browser.consent(page, meta["scopes_supported"], list(PURPOSES))
        assert page.status_code == 302
        tokens = await _post(meta["token_endpoint"], {
            "grant_type": "authorization_code", "code": httpx.URL(page.headers["location"]).params["code"],
            "redirect_uri": RP_REDIRECT, "code_verifier": verifier}, auth=("montreal-ca", SECRET))
        granted = set(tokens.json()["scope"].split())
        assert granted == set(meta["scopes_supported"]) - {"accounts:release"}, granted
        assert tokens.json().get("refresh_token")          # offline_access granted
        # with a session: prompt=login asks for the password again, prompt=consent shows the screen
        again = await browser.follow(await browser.get(_authorize_url(front, verifier, prompt="login")))
        assert "/login" in str(again.url)
        consent = await browser.follow(await browser.get(_authorize_url(front, verifier, prompt="consent")))
        assert "/consent" in str(consent.url)
        # request objects: not advertised, refused
        assert meta["request_parameter_supported"] is False and meta["request_uri_parameter_supported"] is False
        by_value = await browser.get(_authorize_url(front, verifier, request="eyJhbGciOiJub25lIn0.e30."))
        assert httpx.URL(by_value.headers["location"]).params["error"] == "request_not_supported"
        by_reference = await browser.get(_authorize_url(front, verifier, request_uri="https://rp.example.ca/req/1"))
        assert httpx.URL(by_reference.headers["location"]).params["error"] == "request_uri_not_supported"
        # PAR: a pushed request runs the flow
        assert meta["require_pushed_authorization_requests"] is False   # per client, not for all
        pushed = await _post(meta["pushed_authorization_request_endpoint"], dict(httpx.URL(
            _authorize_url(front, verifier)).params), auth=("montreal-ca", SECRET))
        assert pushed.status_code == 201, pushed.text
        done = await browser.get(str(httpx.URL(meta["authorization_endpoint"], params={
            "client_id": "montreal-ca", "request_uri": pushed.json()["request_uri"]})))
        assert done.status_code == 302 and "code" in httpx.URL(done.headers["location"]).params
    finally:
        await browser.close()


async def test_token_exchange_is_a_known_grant(front):
    """RFC 8693 token exchange is advertised: the token endpoint knows it (a client not
    registered for it is ``unauthorized_client``, never ``unsupported_grant_type``); the full
    exchange by a counter agent is tests/integration/counter/test_token_exchange.py."""
    meta = await _metadata(front)
    unknown = set(meta["grant_types_supported"]) - {"authorization_code", "refresh_token", "client_credentials",
                                                    "urn:ietf:params:oauth:grant-type:token-exchange"}
    assert not unknown, f"advertised grant types this test cannot exercise: {unknown}"
    response = await _post(meta["token_endpoint"], {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "subject_token": "x",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt"}, auth=("montreal-ca", SECRET))
    assert response.status_code == 400 and response.json()["error"] == "unauthorized_client"
    invented = await _post(meta["token_endpoint"], {"grant_type": "urn:example:invented"},
                           auth=("montreal-ca", SECRET))
    assert invented.json()["error"] == "unsupported_grant_type"


async def test_rp_initiated_logout_reaches_back_and_front_channel_clients_with_sid(front):
    """The end-session endpoint (RP-initiated logout) with one client of each channel:
    Back-Channel Logout 1.0 (a logout token with ``sid``, as ``backchannel_logout_session_supported``
    says) reaches the first; Front-Channel Logout 1.0 frames the second with ``iss`` and
    ``sid`` (``frontchannel_logout_session_supported``)."""
    import asyncio

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from tests.integration.identity_oidc.conftest import Browser
    from tests.integration.identity_oidc.flows import tokens_for
    from tests.integration.identity_oidc.test_logout_everywhere import eventually, sender, served

    meta = await _metadata(front)
    for flag in ("backchannel_logout_supported", "backchannel_logout_session_supported",
                 "frontchannel_logout_supported", "frontchannel_logout_session_supported"):
        assert meta[flag] is True, flag
    received: list[str] = []

    async def receiver(request: Request) -> Response:
        received.append((await request.form()).get("logout_token"))
        return Response(status_code=200)

    browser = Browser(front.base)
    try:
        async with served(Starlette(routes=[Route("/bcl", receiver, methods=["POST"])])) as (rp, _port):
            await add_client(front, OAuthClient(
                client_id="discovery-back", name="Arrière", secret_hash=hash_client_secret(SECRET),
                redirect_uris=("http://127.0.0.1:9/back",), grant_types=("authorization_code",), scopes=("openid",),
                backchannel_logout_uri=rp + "/bcl"))
            await add_client(front, OAuthClient(
                client_id="discovery-front", name="Avant", secret_hash=hash_client_secret(SECRET),
                redirect_uris=("http://127.0.0.1:9/front",), post_logout_redirect_uris=("http://127.0.0.1:9/bye",),
                grant_types=("authorization_code",), scopes=("openid",),
                frontchannel_logout_uri="https://avant.example.ca/logout"))
            back = rp_client(client_id="discovery-back", scope="openid", redirect_uri="http://127.0.0.1:9/back")
            await tokens_for(front, browser, back)
            await back.aclose()
            front_rp = rp_client(client_id="discovery-front", scope="openid", redirect_uri="http://127.0.0.1:9/front")
            tokens = await tokens_for(front, browser, front_rp)
            await front_rp.aclose()
            sid = _claims(front, tokens["id_token"])["sid"]
            async with sender(front):
                page = await browser.get(str(httpx.URL(meta["end_session_endpoint"], params={
                    "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "http://127.0.0.1:9/bye"})))
                assert page.status_code == 200
                frame = httpx.URL(page.text.split('class="frontchannel-logout" src="', 1)[1].split('"', 1)[0]
                                  .replace("&amp;", "&"))
                assert frame.host == "avant.example.ca" and dict(frame.params) == {"iss": meta["issuer"], "sid": sid}
                await eventually(lambda: asyncio.sleep(0, len(received) >= 1))
        logout = _claims(front, received[0])
        assert logout["aud"] == "discovery-back" and logout["sid"] == sid
        assert "http://schemas.openid.net/event/backchannel-logout" in logout["events"]
    finally:
        await browser.close()
