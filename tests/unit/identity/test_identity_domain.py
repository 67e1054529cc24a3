"""Levels of assurance, OAuth clients, pairwise subjects, residents."""

import pytest

from services.identity.domain.assurance import LevelOfAssurance, session_level
from services.identity.domain.citizen_number import CitizenNumber
from services.identity.domain.clients import (
    OAuthClient, hash_client_secret, new_client_secret, validate_client)
from services.identity.domain.pairwise import pairwise_subject, sector_of, subject_for
from services.identity.domain.residents import Resident, email_problem

SECRET = b"s" * 32


def test_acr_round_trip():
    for level in LevelOfAssurance:
        assert LevelOfAssurance.from_acr(level.acr) is level
    assert LevelOfAssurance.VERIFIED.acr == "urn:mtlid:loa:2"
    for bad in ["urn:mtlid:loa:4", "urn:mtlid:loa:x", "loa:1", ""]:
        with pytest.raises(ValueError):
            LevelOfAssurance.from_acr(bad)


def test_second_factor_lifts_only_verified_residents():
    assert session_level(LevelOfAssurance.VERIFIED, True) is LevelOfAssurance.VERIFIED_MFA
    assert session_level(LevelOfAssurance.SELF_ASSERTED, True) is LevelOfAssurance.SELF_ASSERTED
    assert session_level(LevelOfAssurance.VERIFIED, False) is LevelOfAssurance.VERIFIED


def _client(**overrides) -> OAuthClient:
    values = dict(client_id="montreal-library", name="Bibliothèques de Montréal",
                  secret_hash=hash_client_secret("s3cret-" + "x" * 30),
                  redirect_uris=("https://biblio.montreal.ca/callback",),
                  grant_types=("authorization_code", "refresh_token"), scopes=("openid", "profile"))
    values.update(overrides)
    return OAuthClient(**values)


def test_check_secret_is_exact():
    secret = new_client_secret()
    client = _client(secret_hash=hash_client_secret(secret))
    assert client.check_secret(secret)
    assert not client.check_secret(secret + "x")
    assert not client.check_secret("")
    assert not _client(secret_hash=None, token_endpoint_auth_method="none").check_secret(secret)
    assert secret not in client.secret_hash


def test_a_valid_client_has_no_violations():
    assert validate_client(_client()) == []


@pytest.mark.parametrize("overrides, field", [
    (dict(client_id="Bad Id"), "client_id"),
    (dict(grant_types=("implicit",)), "grant_types"),
    (dict(grant_types=("password",)), "grant_types"),
    (dict(redirect_uris=("http://example.org/cb",)), "redirect_uris"),
    (dict(redirect_uris=("https://example.org/cb#frag",)), "redirect_uris"),
    (dict(redirect_uris=()), "redirect_uris"),
    (dict(subject_type="public"), "subject_type"),
    (dict(id_token_signed_response_alg="HS256"), "id_token_signed_response_alg"),
    (dict(redirect_uris=("https://a.example/cb", "https://b.example/cb")), "sector_identifier"),
    (dict(grant_types=("client_credentials",), redirect_uris=()), "audiences"),
    (dict(secret_hash=None), "token_endpoint_auth_method"),
    (dict(grant_types=("client_credentials",), redirect_uris=(), audiences=("urn:mtlid:accounts",),
          scopes=("accounts:release", "openid")), "scopes"),
    (dict(grant_types=("authorization_code", "client_credentials"), audiences=("urn:mtlid:accounts",),
          scopes=("email",)), "scopes"),
    (dict(backchannel_logout_uri="http://example.org/logout"), "backchannel_logout_uri"),
    (dict(frontchannel_logout_uri="https://biblio.montreal.ca/logout#x"), "frontchannel_logout_uri"),
    (dict(grant_types=("client_credentials",), redirect_uris=(), audiences=("urn:mtlid:accounts",), scopes=("x",),
          backchannel_logout_uri="https://biblio.montreal.ca/bcl"), "backchannel_logout_uri"),
])
def test_registry_rules(overrides, field):
    assert field in [f for f, _ in validate_client(_client(**overrides))]


def test_loopback_http_is_allowed_for_development_only():
    client = _client(redirect_uris=("http://127.0.0.1:8001/callback",))
    assert validate_client(client) == []
    assert validate_client(client, allow_http_loopback=False) != []


def test_pairwise_subjects_are_stable_distinct_and_keyed():
    rid = CitizenNumber.new().canonical
    a1 = pairwise_subject(rid, "biblio.montreal.ca", SECRET)
    assert a1 == pairwise_subject(rid, "BIBLIO.montreal.ca", SECRET)
    assert a1 != pairwise_subject(rid, "permis.plateau.ca", SECRET)
    assert a1 != pairwise_subject(CitizenNumber.new().canonical, "biblio.montreal.ca", SECRET)
    assert a1 != pairwise_subject(rid, "biblio.montreal.ca", b"t" * 32)
    assert rid not in a1 and rid.lower() not in a1


def test_subject_for_public_and_pairwise_clients():
    rid = CitizenNumber.new().canonical
    city = _client(subject_type="public", is_city_client=True)
    partner = _client()
    assert subject_for(city, rid, SECRET) == rid
    assert subject_for(partner, rid, SECRET) == pairwise_subject(rid, "biblio.montreal.ca", SECRET)
    # Two clients of one sector (same host) see the same subject.
    other = _client(client_id="montreal-library-app", redirect_uris=("https://biblio.montreal.ca/app",))
    assert subject_for(other, rid, SECRET) == subject_for(partner, rid, SECRET)
    assert sector_of(_client(sector_identifier="Biblio.example")) == "biblio.example"


def test_resident_level_is_never_lowered_and_stored_at_most_verified():
    resident = Resident(resident_id=CitizenNumber.new().canonical, email="a@b.ca", password_hash=None)
    assert resident.raise_level(LevelOfAssurance.VERIFIED_MFA)
    assert resident.level is LevelOfAssurance.VERIFIED
    assert not resident.raise_level(LevelOfAssurance.SELF_ASSERTED)
    assert resident.level is LevelOfAssurance.VERIFIED


@pytest.mark.parametrize("email, ok", [
    ("marie@example.ca", True), ("Marie.Tremblay+x@ville.montreal.qc.ca", True),
    ("", False), ("no-at-sign", False), ("a@b", False), ("a b@c.ca", False)])
def test_email_rules(email, ok):
    assert (email_problem(email) is None) is ok


def test_pairwise_subjects_resolve_back_only_for_their_sector_and_secret():
    from services.identity.domain.pairwise import resolve_pairwise_subject

    rid = CitizenNumber.new().canonical
    sub = pairwise_subject(rid, "biblio.montreal.ca", SECRET)
    assert resolve_pairwise_subject(sub, "biblio.montreal.ca", SECRET) == rid
    assert resolve_pairwise_subject(sub.upper(), "BIBLIO.montreal.ca", SECRET) == rid
    assert resolve_pairwise_subject(sub, "permis.plateau.ca", SECRET) is None
    assert resolve_pairwise_subject(sub, "biblio.montreal.ca", b"t" * 32) is None
    tampered = sub[:-3] + ("a" if sub[-3] != "a" else "b") + sub[-2:]
    assert resolve_pairwise_subject(tampered, "biblio.montreal.ca", SECRET) is None
    for junk in ["", "!!!", "x" * 300, rid]:
        assert resolve_pairwise_subject(junk, "biblio.montreal.ca", SECRET) is None
