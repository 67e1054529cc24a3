"""Recovery codes and what a passkey sign-in is worth (issue 20): the domain rules alone."""

from __future__ import annotations

import datetime as dt

from services.identity.domain import recovery_codes
from services.identity.domain.assurance import LevelOfAssurance
from services.identity.domain.passkeys import Passkey, amr_for, clean_name
from services.identity.oidc.sessions import acr_for
from services.identity.service_layer.passkeys import RelyingParty


def test_recovery_codes_are_ten_distinct_codes_without_look_alikes():
    codes = recovery_codes.new_codes()
    assert len(codes) == 10 and len(set(codes)) == 10
    for code in codes:
        assert len(code) == 11 and code[5] == "-"
        assert not set(code.replace("-", "")) & set("01OIL")


def test_a_recovery_code_is_typed_forgivingly_and_hashed_with_a_key_bound_to_the_resident():
    assert recovery_codes.normalized(" k7qx4 mzp2d ") == "K7QX4MZP2D"
    assert recovery_codes.normalized("K7QX4-MZP2D") == "K7QX4MZP2D"
    for bad in ("", "1234", "K7QX4-MZP2O", "K7QX4-MZP2DD", None):
        assert recovery_codes.normalized(bad) is None
    one = recovery_codes.code_hash(b"k" * 32, "A", "K7QX4MZP2D")
    assert one != recovery_codes.code_hash(b"k" * 32, "B", "K7QX4MZP2D")
    assert one != recovery_codes.code_hash(b"x" * 32, "A", "K7QX4MZP2D")
    assert "K7QX4MZP2D" not in one


def _key(multi_device: bool) -> Passkey:
    return Passkey("id", "resident", "A", b"", 0, multi_device, "Clé", dt.datetime.now(dt.timezone.utc))


def test_a_passkeys_amr_says_where_the_key_lives_and_whether_the_user_was_verified():
    assert amr_for(_key(False), True) == ("hwk", "user", "mfa")
    assert amr_for(_key(True), True) == ("swk", "user", "mfa")
    assert amr_for(_key(False), False) == ("hwk", "user")


def test_a_user_verified_passkey_lifts_a_verified_resident_to_level_3_only():
    assert acr_for(int(LevelOfAssurance.VERIFIED), ("hwk", "user", "mfa")) == "urn:mtlid:loa:3"
    assert acr_for(int(LevelOfAssurance.VERIFIED), ("hwk", "user")) == "urn:mtlid:loa:2"
    assert acr_for(int(LevelOfAssurance.SELF_ASSERTED), ("swk", "user", "mfa")) == "urn:mtlid:loa:1"


def test_the_relying_party_is_the_issuers_host_and_origin():
    rp = RelyingParty.of_issuer("https://id.montreal.ca/")
    assert (rp.rp_id, rp.origin) == ("id.montreal.ca", "https://id.montreal.ca")
    rp = RelyingParty.of_issuer("http://localhost:8000")
    assert (rp.rp_id, rp.origin) == ("localhost", "http://localhost:8000")


def test_a_passkey_name_is_short_and_printable():
    assert clean_name("  Téléphone   de  Gabrielle ") == "Téléphone de Gabrielle"
    assert clean_name("") is None and clean_name("x" * 61) is None and clean_name("a\x00b") is None
