"""The synchronous authlib step of the token endpoint on prefetched state: what it answers and
which writes it records for the unit of work (no I/O)."""

from __future__ import annotations

import base64
import datetime as dt

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from services.identity.domain.clients import OAuthClient, hash_client_secret
from services.identity.oidc.clients import ClientView
from services.identity.oidc.records import AuthorizationCode, RefreshToken, utcnow
from services.identity.oidc.server import MtlidAuthorizationServer, TokenOwner, TokenRequestState
from services.identity.oidc.tokens import OidcConfig
from services.identity.oidc.wire import WireRequest

VERIFIER = "a" * 64
REDIRECT = "https://permis.montreal.ca/cb"


class FakeKeys:
    def __init__(self) -> None:
        self.keys = {"ES256": ("es", ECKey.generate_key("P-256", parameters={"kid": "es"})),
                     "RS256": ("rs", RSAKey.generate_key(2048, parameters={"kid": "rs"}))}

    def current(self, alg):
        return self.keys[alg]

    def jwks(self):
        return {"keys": [k.as_dict(private=False) for _, k in self.keys.values()]}


KEYS = FakeKeys()
CONFIG = OidcConfig(issuer="https://id.montreal.ca", pairwise_secret=b"p" * 32, interaction_key=b"i" * 32)
SERVER = MtlidAuthorizationServer(CONFIG, KEYS)
CLIENT = OAuthClient(client_id="permits", name="Permis", secret_hash=hash_client_secret("s3cret"),
                     redirect_uris=(REDIRECT,), scopes=("openid", "email"))


def basic(client_id="permits", secret="s3cret") -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def code_record(**overrides) -> AuthorizationCode:
    now = utcnow()
    values = dict(code_hash="h", client_id="permits", resident_id="R1", session_id="S1", redirect_uri=REDIRECT,
                  scope="openid email", code_challenge=create_s256_code_challenge(VERIFIER),
                  code_challenge_method="S256", nonce="n-1", auth_time=int(now.timestamp()),
                  acr="urn:mtlid:loa:1", amr=("pwd",), created_at=now, expires_at=now + dt.timedelta(seconds=60))
    values.update(overrides)
    return AuthorizationCode(**values)


def owner() -> TokenOwner:
    return TokenOwner(resident_id="R1", subject="pairwise-sub", session_id="S1", auth_time=1, acr="urn:mtlid:loa:1",
                      amr=("pwd",))


def exchange(record, verifier=VERIFIER, headers=None):
    state = TokenRequestState(clients={"permits": ClientView(CLIENT)}, code=record, owner=owner())
    wire = WireRequest("POST", "/token", form={"grant_type": ["authorization_code"], "code": ["c"],
                                               "redirect_uri": [REDIRECT], "code_verifier": [verifier]},
                       headers=headers if headers is not None else basic())
    return SERVER.create_token_response((wire, state)), state


def test_code_exchange_records_the_consumption_and_a_new_refresh_family():
    response, state = exchange(code_record())
    assert response.status == 200, response.body
    assert state.consume_code == "h"
    assert len(state.new_refresh_tokens) == 1 and state.new_refresh_tokens[0].resident_id == "R1"
    claims = jwt.decode(response.body["id_token"], KeySet.import_key_set(KEYS.jwks())).claims
    assert claims["sub"] == "pairwise-sub" and claims["nonce"] == "n-1" and claims["aud"] == "permits"
    assert claims["at_hash"] and claims["sid"] == "S1"
    access = jwt.decode(response.body["access_token"], KeySet.import_key_set(KEYS.jwks()))
    assert access.header["typ"] == "at+jwt" and access.claims["client_id"] == "permits"


def test_nothing_is_recorded_when_the_verifier_is_wrong():
    response, state = exchange(code_record(), verifier="b" * 64)
    assert response.status == 400 and response.body["error"] == "invalid_grant"
    assert state.consume_code is None and not state.new_refresh_tokens


def test_expired_or_consumed_codes_are_invalid_grant():
    now = utcnow()
    for record in (code_record(expires_at=now - dt.timedelta(seconds=1)), code_record(consumed_at=now)):
        response, state = exchange(record)
        assert response.body["error"] == "invalid_grant" and state.consume_code is None


def test_wrong_secret_is_401_with_www_authenticate():
    response, _ = exchange(code_record(), headers=basic(secret="nope"))
    assert response.status == 401
    assert dict(response.headers)["WWW-Authenticate"].startswith("Basic")


def test_refresh_records_rotation_in_the_same_family():
    now = utcnow()
    record = RefreshToken(token_hash="rt", family_id="F", client_id="permits", resident_id="R1", session_id="S1",
                          scope="openid email", auth_time=1, acr="urn:mtlid:loa:1", amr=("pwd",), issued_at=now,
                          expires_at=now + dt.timedelta(days=1))
    state = TokenRequestState(clients={"permits": ClientView(CLIENT)}, refresh_token=record, owner=owner())
    wire = WireRequest("POST", "/token", form={"grant_type": ["refresh_token"], "refresh_token": ["x"],
                                               "scope": ["openid"]}, headers=basic())
    response = SERVER.create_token_response((wire, state))
    assert response.status == 200, response.body
    assert state.rotate_refresh == "rt"
    assert [t.family_id for t in state.new_refresh_tokens] == ["F"]
    assert state.new_refresh_tokens[0].expires_at == record.expires_at   # rotation never extends the family
    assert response.body["scope"] == "openid"                   # narrowed, never widened


def test_development_issuer_on_a_container_host_is_not_refused_by_authlib():
    import dataclasses

    dev = MtlidAuthorizationServer(dataclasses.replace(CONFIG, issuer="http://identity:8000", secure_cookies=False), KEYS)
    state = TokenRequestState(clients={"permits": ClientView(CLIENT)}, code=code_record(), owner=owner())
    wire = WireRequest("POST", "/token", form={"grant_type": ["authorization_code"], "code": ["c"],
                                               "redirect_uri": [REDIRECT], "code_verifier": [VERIFIER]},
                       headers=basic())
    assert dev.create_token_response((wire, state)).status == 200
