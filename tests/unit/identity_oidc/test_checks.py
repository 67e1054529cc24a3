"""The authorization request checks, one by one and in their order (no I/O)."""

from __future__ import annotations

import pytest

from services.identity.domain.clients import OAuthClient
from services.identity.oidc import checks
from services.identity.oidc.authorize import ACR_VALUES_SUPPORTED
from services.identity.oidc.errors import (
    InvalidRequest, InvalidScope, RequestNotSupported, UnauthorizedClient, UnsupportedResponseType,
    UntrustedRedirect,
)

REDIRECT = "https://permis.montreal.ca/callback"
CLIENT = OAuthClient(client_id="permits", name="Permis", secret_hash=None, redirect_uris=(REDIRECT,),
                     scopes=("openid", "email"), token_endpoint_auth_method="none")


def ctx(client=CLIENT, **overrides) -> checks.AuthorizationContext:
    params = {"response_type": "code", "client_id": "permits", "redirect_uri": REDIRECT, "scope": "openid email",
              "state": "s", "code_challenge": "c" * 43, "code_challenge_method": "S256"}
    params.update(overrides)
    return checks.AuthorizationContext(
        params={k: (v if isinstance(v, list) else [v]) for k, v in params.items() if v is not None},
        client=client, acr_supported=ACR_VALUES_SUPPORTED)


def test_a_good_request_passes_and_is_understood():
    c = ctx(prompt="login", max_age="300", acr_values="urn:mtlid:loa:2")
    checks.run_checks(c)
    assert c.redirect_uri == REDIRECT and c.scopes == ("openid", "email")
    assert c.prompts == {"login"} and c.max_age == 300 and c.acr_values == ("urn:mtlid:loa:2",)


def test_unknown_acr_values_are_voluntary_and_ignored():
    """OIDC Core s. 3.1.2.1: acr_values is a voluntary claim; the known ones still count."""
    c = ctx(acr_values="urn:other:gold urn:mtlid:loa:2 urn:mtlid:loa:9")
    checks.run_checks(c)
    assert c.acr_values == ("urn:mtlid:loa:2",)
    only_unknown = ctx(acr_values="urn:other:gold")
    checks.run_checks(only_unknown)
    assert only_unknown.acr_values == ()


def test_the_claims_parameter_carries_an_essential_acr():
    import json

    from services.identity.oidc.errors import UnmetAuthenticationRequirements

    c = ctx(claims=json.dumps({"id_token": {"acr": {"essential": True, "values": ["urn:x", "urn:mtlid:loa:2"]}},
                               "userinfo": {"email": None}}))
    checks.run_checks(c)
    assert c.claims_acr == ("urn:mtlid:loa:2",) and c.acr_essential is True
    voluntary = ctx(claims=json.dumps({"id_token": {"acr": {"value": "urn:mtlid:loa:1"}}}))
    checks.run_checks(voluntary)
    assert voluntary.claims_acr == ("urn:mtlid:loa:1",) and voluntary.acr_essential is False
    for bad in ("[]", "{", json.dumps({"id_token": []}), json.dumps({"id_token": {"acr": {"values": [1]}}})):
        with pytest.raises(InvalidRequest):
            checks.run_checks(ctx(claims=bad))
    with pytest.raises(UnmetAuthenticationRequirements):
        checks.run_checks(ctx(claims=json.dumps({"id_token": {"acr": {"essential": True, "values": ["urn:x"]}}})))


def test_the_table_checks_client_and_redirect_first():
    assert checks.UNTRUSTED_CHECKS == (checks.check_client, checks.check_redirect_uri)
    assert checks.CHECKS[0] is checks.check_single_values


@pytest.mark.parametrize("client, overrides", [
    (None, {}),
    (CLIENT, {"client_id": None}),
    (CLIENT, {"redirect_uri": None}),
    (CLIENT, {"redirect_uri": REDIRECT + "/"}),
    (CLIENT, {"redirect_uri": "https://permis.montreal.ca/callback?x=1"}),
    (CLIENT, {"redirect_uri": [REDIRECT, REDIRECT]}),
])
def test_untrusted_client_or_redirect_is_never_redirected_to(client, overrides):
    with pytest.raises(UntrustedRedirect):
        checks.run_checks(ctx(client=client, **overrides))


def test_untrusted_checks_win_over_any_other_error():
    with pytest.raises(UntrustedRedirect):
        checks.run_checks(ctx(redirect_uri="https://evil.example/", response_type="token", code_challenge=None))


@pytest.mark.parametrize("overrides, error", [
    ({"response_type": "token"}, UnsupportedResponseType),
    ({"response_type": None}, InvalidRequest),
    ({"response_mode": "fragment"}, InvalidRequest),
    ({"scope": "email"}, InvalidScope),
    ({"scope": "openid profile"}, InvalidScope),
    ({"code_challenge": None}, InvalidRequest),
    ({"code_challenge_method": None}, InvalidRequest),
    ({"code_challenge_method": "plain"}, InvalidRequest),
    ({"code_challenge": "x" * 42}, InvalidRequest),
    ({"state": "s" * 513}, InvalidRequest),
    ({"nonce": ""}, InvalidRequest),
    ({"prompt": "none consent"}, InvalidRequest),
    ({"prompt": "create"}, InvalidRequest),
    ({"max_age": "ten"}, InvalidRequest),
    ({"request": "x"}, RequestNotSupported),
    ({"scope": ["openid", "openid email"]}, InvalidRequest),
])
def test_each_check_raises_its_typed_error(overrides, error):
    with pytest.raises(error):
        checks.run_checks(ctx(**overrides))


def test_client_without_the_code_grant_is_unauthorized():
    client = OAuthClient(client_id="system", name="S", secret_hash="x", redirect_uris=(REDIRECT,),
                         grant_types=("client_credentials",), scopes=("openid",))
    with pytest.raises(UnauthorizedClient):
        checks.run_checks(ctx(client=client, scope="openid"))
