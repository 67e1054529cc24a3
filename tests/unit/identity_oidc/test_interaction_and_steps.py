"""Sealed interaction state and the decision of what the resident must still do (no I/O)."""

from __future__ import annotations

import datetime as dt

import pytest

from services.identity.domain.assurance import LevelOfAssurance
from services.identity.oidc import interaction
from services.identity.oidc.authorize import CONSENT, LOGIN, SECOND_FACTOR, next_step
from services.identity.oidc.checks import AuthorizationContext, run_checks
from services.identity.oidc.records import Grant, SsoSession
from tests.unit.identity_oidc.test_checks import ctx

KEY = b"k" * 32
NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.timezone.utc)


def test_interaction_round_trip_and_tampering():
    token = interaction.seal(KEY, {"scope": ["openid"]}, 100, ttl=60)
    assert interaction.unseal(KEY, token) == ({"scope": ["openid"]}, 100)
    body, mac = token.split(".")
    forged = interaction.seal(b"x" * 32, {"scope": ["openid email"]}, 100, ttl=60).split(".")[0] + "." + mac
    for bad in (forged, token + "x", "", None, "no-dot", body + ".AAAA"):
        with pytest.raises(interaction.InteractionInvalid):
            interaction.unseal(KEY, bad)
    with pytest.raises(interaction.InteractionInvalid):
        interaction.unseal(KEY, interaction.seal(KEY, {}, 100, ttl=-1))


class FakeResident:
    def __init__(self, level=LevelOfAssurance.VERIFIED, has_totp=True):
        self.level, self.has_totp, self.resident_id = level, has_totp, "R1"


def session(acr="urn:mtlid:loa:2", created=None) -> SsoSession:
    created = NOW - dt.timedelta(seconds=60) if created is None else created
    return SsoSession(session_id="s", secret_hash="h", resident_id="R1", auth_time=int(created.timestamp()),
                      amr=("pwd",), acr=acr, created_at=created, expires_at=NOW + dt.timedelta(hours=1))


def grant(created=NOW - dt.timedelta(days=1), scopes=("openid", "email"), refused=()) -> Grant:
    return Grant(grant_id="g", resident_id="R1", client_id="permits", scopes=scopes, purposes_accepted=(),
                 purposes_refused=(), created_at=created, scopes_refused=refused)


def checked(**overrides) -> AuthorizationContext:
    c = ctx(**overrides)
    run_checks(c)
    return c


def test_no_session_means_login():
    assert next_step(checked(), None, None, grant(), NOW, None) == LOGIN


def test_everything_satisfied_means_issue():
    assert next_step(checked(), session(), FakeResident(), grant(), NOW, None) is None


def test_prompt_login_is_satisfied_only_by_a_login_during_the_interaction():
    started = NOW.timestamp() - 10.5
    assert next_step(checked(prompt="login"), session(), FakeResident(), grant(), NOW, started) == LOGIN
    same_second_before = session(created=dt.datetime.fromtimestamp(started - 0.2, dt.timezone.utc))
    assert next_step(checked(prompt="login"), same_second_before, FakeResident(), grant(), NOW, started) == LOGIN
    fresh = session(created=dt.datetime.fromtimestamp(started + 0.1, dt.timezone.utc))
    assert next_step(checked(prompt="login"), fresh, FakeResident(), grant(), NOW, started) is None


def test_max_age():
    assert next_step(checked(max_age="30"), session(), FakeResident(), grant(), NOW, None) == LOGIN
    assert next_step(checked(max_age="3600"), session(), FakeResident(), grant(), NOW, None) is None


def test_step_up_only_when_the_second_factor_can_reach_the_level():
    c = checked(acr_values="urn:mtlid:loa:3")
    assert next_step(c, session(), FakeResident(), grant(), NOW, None) == SECOND_FACTOR
    assert next_step(c, session(), FakeResident(has_totp=False), grant(), NOW, None) is None
    assert next_step(c, session("urn:mtlid:loa:1"), FakeResident(LevelOfAssurance.SELF_ASSERTED), grant(),
                     NOW, None) is None
    assert next_step(c, session("urn:mtlid:loa:3"), FakeResident(), grant(), NOW, None) is None


def test_consent_needed_for_an_unanswered_scope_or_prompt_consent():
    assert next_step(checked(), session(), FakeResident(), None, NOW, None) == CONSENT
    assert next_step(checked(), session(), FakeResident(), grant(scopes=("openid",)), NOW, None) == CONSENT
    refused = grant(scopes=("openid",), refused=("email",))
    assert next_step(checked(), session(), FakeResident(), refused, NOW, None) is None   # refusal is an answer
    assert next_step(checked(prompt="consent"), session(), FakeResident(), grant(), NOW, None) == CONSENT
