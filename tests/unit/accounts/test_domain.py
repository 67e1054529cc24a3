"""Unit tests of the accounts domain: pure Python, no I/O."""

from __future__ import annotations

import datetime as dt

import pytest

from services.accounts.domain import attributes as A
from services.accounts.domain.attributes import AttributeRejected, Provenance, normalize
from services.accounts.domain.catalogue import BOROUGHS, CatalogueService, ServiceKind
from services.accounts.domain.counter import check_last_digits, require_agent
from services.accounts.domain.events import ServiceAccountStateChanged
from services.accounts.domain.profile import Profile
from services.accounts.domain.release import Basis, ConsentDecision, WithheldReason, categories_to_check, decide_release
from services.accounts.domain.service_account import AccountState, ServiceAccount
from services.common.errors import FailedPrecondition, InvalidArgument, PermissionDenied

T0 = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.timezone.utc)
T1 = T0 + dt.timedelta(hours=1)
TODAY = T0.date()


# ---- attributes ------------------------------------------------------------------------

@pytest.mark.parametrize("name,raw,expected", [
    ("email", "Marie.Tremblay@Example.QC.CA", "Marie.Tremblay@example.qc.ca"),
    ("phone", "(514) 555-1234", "+15145551234"),
    ("phone", "1 514 555 1234", "+15145551234"),
    ("phone", "+33 1 23 45 67 89", "+33123456789"),
    ("date_of_birth", "1984-03-07", "1984-03-07"),
    ("preferred_language", "FR", "fr"),
    ("preferred_channels", "phone, digital", "digital,phone"),
    ("given_name", "  Marie   Ève ", "Marie Ève"),
])
def test_normalize_gives_the_canonical_form(name, raw, expected):
    assert normalize(name, raw, today=TODAY) == expected


@pytest.mark.parametrize("name,raw", [
    ("email", "not-an-email"),
    ("phone", "555-12"),
    ("date_of_birth", "07/03/1984"),
    ("date_of_birth", "2027-01-01"),
    ("preferred_language", "de"),
    ("preferred_channels", "fax"),
    ("preferred_channels", ""),
    ("given_name", "   "),
    ("given_name", "x" * 201),
    ("biometric_face", "anything"),
    ("shoe_size", "42"),
])
def test_normalize_refuses_bad_values_without_echoing_them(name, raw):
    with pytest.raises(AttributeRejected) as caught:
        normalize(name, raw, today=TODAY)
    if len(raw) > 3:
        assert raw not in str(caught.value)


# ---- profile ---------------------------------------------------------------------------

def _profile() -> Profile:
    return Profile.register("4K7Q9QXB2BCW", T0, preferred_language="fr")


def test_registered_profile_keeps_the_language_from_identity():
    profile = _profile()
    assert profile.get("preferred_language").value == "fr"
    assert profile.get("preferred_language").provenance is Provenance.SELF_DECLARED


def test_changing_a_verified_attribute_drops_its_verification():
    profile = _profile()
    profile.declare({"family_name": "Tremblay"}, T0)
    profile.verify("family_name", Provenance.VERIFIED_FROM_DOCUMENT, T0, agent_id="agent-7", document_check_id="c1")
    assert profile.get("family_name").is_verified

    profile.declare({"family_name": "Tremblay"}, T1)  # same value: verification stays
    assert profile.get("family_name").is_verified

    profile.declare({"family_name": "Gagnon"}, T1)
    attribute = profile.get("family_name")
    assert attribute.provenance is Provenance.SELF_DECLARED
    assert attribute.verified_at is None and attribute.verified_by is None


def test_declare_emits_profile_changed_with_names_only():
    profile = _profile()
    changed = profile.declare({"email": "marie@example.ca", "phone": None}, T0)
    assert changed == ["email"]
    event = profile.events[-1]
    assert event.to_payload() == {"resident_id": "4K7Q9QXB2BCW", "attributes": ["email"]}
    assert "marie@example.ca" not in str(event.to_payload())


def test_clearing_removes_the_attribute():
    profile = _profile()
    profile.declare({"phone": "+15145551234"}, T0)
    assert profile.declare({"phone": None}, T1) == ["phone"]
    assert profile.get("phone") is None


def test_agent_verification_records_agent_and_emits_attribute_verified():
    profile = _profile()
    attribute = profile.verify("postal_address", Provenance.VERIFIED_AT_COUNTER, T1, agent_id="agent-7",
                               value="275 rue Notre-Dame Est, Montréal, QC, H2Y 1C6")
    assert attribute.verified_at == T1 and attribute.verified_by == "agent-7"
    payload = profile.events[-1].to_payload()
    assert payload == {"resident_id": "4K7Q9QXB2BCW", "attribute": "postal_address",
                       "provenance": "verified_at_counter", "agent_id": "agent-7"}


def test_verifying_an_absent_attribute_without_a_value_is_refused():
    with pytest.raises(FailedPrecondition) as caught:
        _profile().verify("email", Provenance.VERIFIED_AT_COUNTER, T0, agent_id="agent-7")
    assert caught.value.reason == "ATTRIBUTE_NOT_ON_PROFILE"


# ---- catalogue -------------------------------------------------------------------------

def _service(**overrides) -> CatalogueService:
    args = dict(service_id="plateau-mont-royal-permits", name_fr="Permis du Plateau", name_en="Plateau permits",
                kind=ServiceKind.BOROUGH, owner="Arrondissement du Plateau-Mont-Royal", client_id="plateau-permits",
                at=T0, borough="Le Plateau-Mont-Royal", attributes=["given_name", "family_name", "email", "postal_address"],
                purposes=["service-provision", "communication"])
    args.update(overrides)
    return CatalogueService.register(**args)


def test_there_are_nineteen_boroughs():
    assert len(BOROUGHS) == len(set(BOROUGHS)) == 19


def test_register_service_emits_service_registered():
    service = _service()
    assert service.events[-1].NAME == "service_registered"
    assert service.events[-1].to_payload()["purposes"] == ["service-provision", "communication"]
    assert not service.sees_pairwise_ids
    assert _service(kind=ServiceKind.PARTNER, borough=None, service_id="bixi").sees_pairwise_ids


def test_register_service_names_every_bad_field():
    with pytest.raises(InvalidArgument) as caught:
        _service(service_id="Plateau Permits", borough="Plateau", attributes=["given_name", "shoe_size"],
                 purposes=["Not Kebab"], name_fr=" ")
    fields = [f for f, _ in caught.value.violations]
    assert fields == ["service_id", "borough", "name_fr", "attributes[1]", "purposes[0]"]


# ---- service accounts -------------------------------------------------------------------

def _account() -> ServiceAccount:
    return ServiceAccount.link(account_id="acc-1", resident_id="4K7Q9QXB2BCW", service_id="plateau-mont-royal-permits",
                               account_reference="PMR-2026-0042", actor="client:plateau-permits", at=T0)


def test_lifecycle_pending_active_suspended_active_closed_keeps_history():
    account = _account()
    account.activate("client:plateau-permits", "", T0)
    account.suspend("client:plateau-permits", "unpaid fees", T1)
    account.activate("client:plateau-permits", "paid", T1)
    account.close("client:plateau-permits", "moved out", T1)
    assert account.state is AccountState.CLOSED
    assert [(t.from_state, t.to_state) for t in account.transitions] == [
        (None, AccountState.PENDING), (AccountState.PENDING, AccountState.ACTIVE),
        (AccountState.ACTIVE, AccountState.SUSPENDED), (AccountState.SUSPENDED, AccountState.ACTIVE),
        (AccountState.ACTIVE, AccountState.CLOSED)]
    assert account.transitions[2].reason == "unpaid fees"
    changes = [e for e in account.events if isinstance(e, ServiceAccountStateChanged)]
    assert changes[0].to_payload() == {"account_id": "acc-1", "from": "pending", "to": "active"}


@pytest.mark.parametrize("steps,illegal,reason", [
    ([], "suspend", "ILLEGAL_ACCOUNT_TRANSITION"),
    (["activate"], "activate", "ACCOUNT_ALREADY_ACTIVE"),
    (["close"], "activate", "ACCOUNT_CLOSED"),
    (["close"], "close", "ACCOUNT_CLOSED"),
    (["activate", "suspend"], "suspend", "ACCOUNT_ALREADY_SUSPENDED"),
])
def test_illegal_transitions_are_refused_and_change_nothing(steps, illegal, reason):
    account = _account()
    for step in steps:
        getattr(account, step)("client:x", "r", T0)
    before = (account.state, len(account.transitions), len(account.events))
    with pytest.raises(FailedPrecondition) as caught:
        getattr(account, illegal)("client:x", "r", T1)
    assert caught.value.reason == reason
    assert (account.state, len(account.transitions), len(account.events)) == before


def test_request_unlink_is_recorded_once():
    account = _account()
    account.request_unlink(T0)
    account.request_unlink(T1)
    assert account.unlink_requested_at == T0
    assert [e.NAME for e in account.events].count("service_account_unlink_requested") == 1


def test_account_reference_is_checked():
    with pytest.raises(InvalidArgument) as caught:
        ServiceAccount.link(account_id="a", resident_id="r", service_id="s", account_reference="has space",
                            actor="x", at=T0)
    assert caught.value.violations[0][0] == "account_reference"


# ---- release decision -------------------------------------------------------------------

def test_release_releases_only_what_every_gate_allows_and_names_the_rest():
    service = _service(attributes=["given_name", "family_name", "email", "postal_address", "biometric_face"])
    profile = _profile()
    profile.declare({"given_name": "Marie", "family_name": "Tremblay", "email": "marie@example.ca"}, T0)
    requested = ["given_name", "family_name", "email", "postal_address", "phone", "biometric_face", "given_name"]
    assert categories_to_check(service, requested) == ["given_name", "family_name", "email", "postal_address"]
    decisions = {
        "given_name": ConsentDecision("given_name", True, Basis.PUBLIC_TASK),
        "family_name": ConsentDecision("family_name", True, Basis.CONSENT, "consent-1"),
        "email": ConsentDecision("email", False, reason="CONSENT_WITHDRAWN"),
        "postal_address": ConsentDecision("postal_address", True, Basis.CONSENT, "consent-1"),
    }
    decision = decide_release(service, profile, requested, decisions)
    assert decision.categories == ("given_name", "family_name")
    assert decision.bases == {"given_name": Basis.PUBLIC_TASK, "family_name": Basis.CONSENT}
    assert decision.consent_ids == ("consent-1",)
    assert [(w.name, w.reason) for w in decision.withheld] == [
        ("email", WithheldReason.CONSENT_WITHDRAWN),
        ("postal_address", WithheldReason.NOT_ON_PROFILE),
        ("phone", WithheldReason.NOT_ALLOWED_FOR_SERVICE),
        ("biometric_face", WithheldReason.NOT_STORED),
    ]
    assert all(w.explanation for w in decision.withheld)


def test_release_fails_closed_without_a_decision_or_with_a_consent_basis_lacking_its_id():
    service = _service()
    profile = _profile()
    profile.declare({"given_name": "Marie", "email": "marie@example.ca"}, T0)
    decision = decide_release(service, profile, ["given_name", "email"],
                              {"email": ConsentDecision("email", True, Basis.CONSENT, None)})
    assert decision.released == ()
    assert [w.reason for w in decision.withheld] == [WithheldReason.NO_CONSENT, WithheldReason.NO_CONSENT]


# ---- counter ----------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["1", "12345", "4821-9", "", "4 82"])
def test_last_digits_refuses_anything_but_two_to_four_characters(text):
    with pytest.raises(InvalidArgument) as caught:
        check_last_digits(text)
    assert caught.value.violations[0][0] == "last_digits"


def test_last_digits_are_kept_upper_case():
    assert check_last_digits("ab12") == "AB12"


def test_counter_actions_need_a_named_agent():
    with pytest.raises(PermissionDenied):
        require_agent(None)
    assert require_agent("agent-7") == "agent-7"


def test_a_value_from_a_service_fills_gaps_and_upgrades_only_the_same_value():
    profile = Profile.register("4K7Q9QXB2BCW", T0)
    assert profile.receive_from_service("email", "a@example.ca", "identity", T0, verified=False)
    assert profile.get("email").provenance is Provenance.SELF_DECLARED
    assert profile.receive_from_service("email", "a@example.ca", "identity", T1, verified=True)
    email = profile.get("email")
    assert (email.provenance, email.verified_at, email.source_service_id) == (Provenance.RECEIVED_FROM_SERVICE, T1, "identity")
    profile.declare({"email": "b@example.ca"}, T1)  # the resident changed it here
    assert not profile.receive_from_service("email", "a@example.ca", "identity", T1, verified=True)
    assert profile.get("email").value == "b@example.ca"
