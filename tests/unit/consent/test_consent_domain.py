"""Consent domain: catalogue, biometric rules, ledger entries, reduction, Check, signatures."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from services.common.errors import FailedPrecondition, InvalidArgument
from services.consent.domain import ledger
from services.consent.domain.canonical import canonical_json, parse_canonical
from services.consent.domain.catalogue import (DEFAULT_CATEGORIES, DEFAULT_PURPOSES, LegalBasis,
                                               Recipient, validate_purpose)
from services.consent.domain.consents import ConsentState, decide, reduce
from services.consent.domain.grant_rules import HowGiven, RequestedConsent, validate_grant
from services.consent.domain.merkle import leaf_hash
from services.consent.domain.receipt import build_receipt
from services.consent.domain.signing import (LogSigner, SignatureInvalid, verify_receipt,
                                             verify_tree_head)

NOW = dt.datetime(2026, 11, 27, 23, 0, tzinfo=dt.timezone.utc)
PURPOSES = {p.purpose_id: p for p in DEFAULT_PURPOSES}
CATEGORIES = {c.category_id: c for c in DEFAULT_CATEGORIES}
LIBRARY = Recipient("montreal-library", "montreal-library", "Bibliothèques", "Libraries", "municipal",
                    "Service de la culture",
                    purposes=("service-provision", "communication", "biometric-identity-verification",
                              "statistics"),
                    data_categories=("given_name", "family_name", "email", "date_of_birth", "biometric_face"))


def lookup(purpose_id, version):
    p = PURPOSES.get(purpose_id)
    return p if p and version in (0, p.version) else None


FRESH = HowGiven("account_page", "resident", NOW - dt.timedelta(minutes=1))


def grant(*items, explicit=False, recipient=LIBRARY, how=FRESH):
    return validate_grant(list(items), recipient=recipient, purpose_lookup=lookup,
                          explicit_act=explicit, now=NOW, how=how)


BIO = RequestedConsent("biometric-identity-verification", expires_at=NOW + dt.timedelta(days=30),
                       non_biometric_alternative_id="in-person-verification",
                       data_categories=("biometric_face",))


# --- catalogue -------------------------------------------------------------------------
def test_default_catalogue_is_valid_and_matches_contracts():
    for p in DEFAULT_PURPOSES:
        assert validate_purpose(p, CATEGORIES) == [], p.purpose_id
    assert PURPOSES["service-provision"].legal_basis is LegalBasis.PUBLIC_TASK
    assert PURPOSES["identity-verification"].legal_basis is LegalBasis.LEGAL_OBLIGATION
    assert [p.purpose_id for p in DEFAULT_PURPOSES if p.biometric] == ["biometric-identity-verification"]
    assert CATEGORIES["biometric_face"].biometric


def test_purpose_validation_refuses_incomplete_biometric_purpose():
    bad = dataclasses.replace(PURPOSES["biometric-identity-verification"], max_validity_days=0,
                              non_biometric_alternative_id="", legal_basis=LegalBasis.PUBLIC_TASK)
    fields = {f for f, _ in validate_purpose(bad, CATEGORIES)}
    assert {"purpose.max_validity_days", "purpose.non_biometric_alternative_id", "purpose.legal_basis"} <= fields
    sneaky = dataclasses.replace(PURPOSES["communication"], data_categories=("email", "biometric_face"))
    assert ("purpose.data_categories" in {f for f, _ in validate_purpose(sneaky, CATEGORIES)})


def test_wording_hash_changes_with_the_text():
    p = PURPOSES["communication"]
    assert p.text_sha256 != dataclasses.replace(p, description_fr=p.description_fr + "!").text_sha256
    assert p.same_wording(dataclasses.replace(p, version=7))


# --- grant rules -----------------------------------------------------------------------
def test_ordinary_grant_defaults_to_declared_categories():
    [given] = grant(RequestedConsent("communication"))
    assert given.data_categories == ("email", "family_name", "given_name")
    assert given.expires_at is None
    [stats] = grant(RequestedConsent("statistics", data_categories=("date_of_birth",)))
    assert stats.expires_at == NOW + dt.timedelta(days=730)


def test_unknown_purpose_and_categories_are_invalid_arguments():
    with pytest.raises(InvalidArgument) as err:
        grant(RequestedConsent("marketing"), RequestedConsent("communication", data_categories=("shoe_size",)))
    assert [f for f, _ in err.value.violations] == ["items[0].purpose_id", "items[1].data_categories"]
    with pytest.raises(InvalidArgument):
        grant(RequestedConsent("communication", purpose_version=9))
    with pytest.raises(InvalidArgument) as err:
        grant(RequestedConsent("communication"), recipient=None)
    assert err.value.violations[0][0] == "recipient_id"


def test_biometric_purpose_bundled_is_refused():
    with pytest.raises(FailedPrecondition) as err:
        grant(BIO, RequestedConsent("communication"), explicit=True)
    assert err.value.reason == "BIOMETRIC_PURPOSE_BUNDLED"


@pytest.mark.parametrize("change,explicit,reason", [
    ({}, False, "BIOMETRIC_EXPLICIT_ACT_REQUIRED"),
    ({"expires_at": None}, True, "BIOMETRIC_EXPIRY_REQUIRED"),
    ({"non_biometric_alternative_id": ""}, True, "BIOMETRIC_ALTERNATIVE_REQUIRED"),
])
def test_biometric_requirements(change, explicit, reason):
    with pytest.raises(FailedPrecondition) as err:
        grant(dataclasses.replace(BIO, **change), explicit=explicit)
    assert err.value.reason == reason


def test_biometric_expiry_is_bounded_and_valid_grant_passes():
    with pytest.raises(InvalidArgument):
        grant(dataclasses.replace(BIO, expires_at=NOW + dt.timedelta(days=400)), explicit=True)
    [given] = grant(BIO, explicit=True)
    assert given.purpose.biometric and given.expires_at == NOW + dt.timedelta(days=30)


@pytest.mark.parametrize("how, reason", [
    (HowGiven("login_consent_screen", "resident", NOW), "BIOMETRIC_ACCOUNT_PAGE_ONLY"),
    (HowGiven("counter", "resident", NOW), "BIOMETRIC_ACCOUNT_PAGE_ONLY"),
    (HowGiven("account_page", "agent:agent-7", NOW), "BIOMETRIC_RESIDENT_ONLY"),
    (HowGiven("account_page", "client:some-service", NOW), "BIOMETRIC_RESIDENT_ONLY"),
    (HowGiven("account_page", "resident", None), "BIOMETRIC_REAUTHENTICATION_REQUIRED"),
    (HowGiven("account_page", "resident", NOW - dt.timedelta(minutes=5, seconds=1)),
     "BIOMETRIC_REAUTHENTICATION_REQUIRED"),
])
def test_a_biometric_consent_only_from_the_resident_in_their_account_just_after_signing_in_again(how, reason):
    with pytest.raises(FailedPrecondition) as err:
        grant(BIO, explicit=True, how=how)
    assert err.value.reason == reason
    assert grant(BIO, explicit=True, how=HowGiven("account_page", "resident", NOW - dt.timedelta(minutes=5)))


def test_consent_to_a_public_task_or_undeclared_purpose_is_refused():
    with pytest.raises(FailedPrecondition) as err:
        grant(RequestedConsent("service-provision"))
    assert err.value.reason == "PURPOSE_NOT_CONSENT_BASED"
    with pytest.raises(FailedPrecondition) as err:
        grant(RequestedConsent("service-personalisation"))
    assert err.value.reason == "PURPOSE_NOT_DECLARED"


# --- ledger entries and reduction ------------------------------------------------------
def given_entry(consent_id="c1", purpose="communication", categories=("email",), expires=None,
                at=NOW, biometric=False):
    return ledger.consent_given(
        consent_id=consent_id, resident_id="R1", recipient_id="montreal-library", purpose_id=purpose,
        purpose_version=1, purpose_text_sha256=PURPOSES[purpose].text_sha256,
        data_categories=list(categories), time=at, expires_at=expires, biometric=biometric,
        non_biometric_alternative_id="in-person-verification" if biometric else "",
        collection_method="account_page", explicit_act=biometric, language="fr", actor="resident")


def test_leaf_bytes_are_canonical_and_round_trip():
    entry = given_entry().at(3)
    data = entry.leaf_data()
    assert data == canonical_json(parse_canonical(data))
    assert b" " not in data.replace(b"Biblioth", b"")  # no insignificant whitespace
    back = ledger.LedgerEntry.from_leaf_data(data, 3)
    assert back == entry and back.leaf_hash() == leaf_hash(data)
    with pytest.raises(ValueError):
        parse_canonical(b'{"b":1, "a":2}')
    with pytest.raises(ValueError):
        canonical_json({"x": 1.5})


def test_reduce_withdrawal_and_expiry_at_the_instant():
    e1 = given_entry("c1").at(0)
    e2 = given_entry("c2", expires=NOW + dt.timedelta(hours=1)).at(1)
    e3 = ledger.consent_withdrawn(consent_id="c1", resident_id="R1", time=NOW + dt.timedelta(minutes=5),
                                  reason="resident", actor="resident").at(2)
    consents = reduce([e1, e2, e3])
    assert consents["c1"].state is ConsentState.WITHDRAWN and consents["c1"].end_index == 2
    c2 = consents["c2"]
    assert c2.state is ConsentState.GIVEN
    assert c2.is_active(NOW + dt.timedelta(minutes=59, seconds=59))
    # No consent_expired entry has been written: it is expired at its instant all the same.
    assert c2.state_at(NOW + dt.timedelta(hours=1)) is ConsentState.EXPIRED
    # A second withdrawal changes nothing.
    again = ledger.consent_withdrawn(consent_id="c1", resident_id="R1", time=NOW + dt.timedelta(hours=2),
                                     reason="resident", actor="resident").at(3)
    assert reduce([e1, e2, e3, again])["c1"].ended_at == e3.time


# --- Check -----------------------------------------------------------------------------
def test_check_decisions():
    cats = [CATEGORIES[c] for c in ("email", "given_name", "phone")]
    comm = PURPOSES["communication"]
    none = decide(purpose=comm, recipient=LIBRARY, categories=cats, consents=[], now=NOW)
    assert [d.reason for d in none] == ["NO_CONSENT"] * 3
    consents = reduce([given_entry("c1", categories=("email", "given_name")).at(0)]).values()
    out = decide(purpose=comm, recipient=LIBRARY, categories=cats, consents=consents, now=NOW)
    assert [(d.allowed, d.basis, d.consent_id, d.reason) for d in out] == [
        (True, LegalBasis.CONSENT, "c1", ""), (True, LegalBasis.CONSENT, "c1", ""),
        (False, None, None, "CATEGORY_NOT_COVERED")]
    withdrawn = reduce([given_entry("c1").at(0), ledger.consent_withdrawn(
        consent_id="c1", resident_id="R1", time=NOW, reason="resident", actor="resident").at(1)]).values()
    assert decide(purpose=comm, recipient=LIBRARY, categories=cats[:1], consents=withdrawn,
                  now=NOW)[0].reason == "CONSENT_WITHDRAWN"
    expiring = reduce([given_entry("c1", expires=NOW + dt.timedelta(seconds=1)).at(0)]).values()
    assert decide(purpose=comm, recipient=LIBRARY, categories=cats[:1], consents=expiring, now=NOW)[0].allowed
    assert decide(purpose=comm, recipient=LIBRARY, categories=cats[:1], consents=expiring,
                  now=NOW + dt.timedelta(seconds=1))[0].reason == "CONSENT_EXPIRED"
    assert decide(purpose=comm, recipient=None, categories=cats[:1], consents=[], now=NOW)[0].reason \
        == "RECIPIENT_UNKNOWN"


def test_check_public_task_covers_declared_categories_only():
    out = decide(purpose=PURPOSES["service-provision"], recipient=LIBRARY,
                 categories=[CATEGORIES["email"], CATEGORIES["phone"]], consents=[], now=NOW)
    assert (out[0].allowed, out[0].basis) == (True, LegalBasis.PUBLIC_TASK)
    assert out[1].reason == "CATEGORY_NOT_DECLARED"
    undeclared = decide(purpose=PURPOSES["identity-verification"], recipient=LIBRARY,
                        categories=[CATEGORIES["email"]], consents=[], now=NOW)
    assert undeclared[0].reason == "PURPOSE_NOT_DECLARED"


def test_check_biometric_always_needs_a_biometric_consent():
    bio = PURPOSES["biometric-identity-verification"]
    face = [CATEGORIES["biometric_face"]]
    never = decide(purpose=bio, recipient=LIBRARY, categories=face, consents=[], now=NOW)[0]
    assert never.reason == "BIOMETRIC_CONSENT_NEVER_GIVEN"
    assert never.alternative[0] == bio.non_biometric_alternative_id and never.alternative[1] and never.alternative[2]
    # Not even a public-task purpose reaches biometric data.
    assert decide(purpose=PURPOSES["service-provision"], recipient=LIBRARY, categories=face,
                  consents=[], now=NOW)[0].reason == "BIOMETRIC_CONSENT_REQUIRED"
    consents = reduce([given_entry("b1", "biometric-identity-verification", ("biometric_face",),
                                   expires=NOW + dt.timedelta(days=1), biometric=True).at(0)]).values()
    ok = decide(purpose=bio, recipient=LIBRARY, categories=face, consents=consents, now=NOW)[0]
    assert (ok.allowed, ok.consent_id) == (True, "b1")
    expired = decide(purpose=bio, recipient=LIBRARY, categories=face, consents=consents,
                     now=NOW + dt.timedelta(days=1))[0]
    assert (expired.allowed, expired.reason) == (False, "BIOMETRIC_CONSENT_EXPIRED")
    assert expired.alternative[0] == bio.non_biometric_alternative_id
    withdrawn = reduce([given_entry("b1", "biometric-identity-verification", ("biometric_face",),
                                    expires=NOW + dt.timedelta(days=1), biometric=True).at(0),
                        ledger.consent_withdrawn(consent_id="b1", resident_id="R1", time=NOW, reason="resident",
                                                 actor="resident").at(1)]).values()
    assert decide(purpose=bio, recipient=LIBRARY, categories=face, consents=withdrawn,
                  now=NOW + dt.timedelta(hours=1))[0].reason == "BIOMETRIC_CONSENT_WITHDRAWN"


# --- signatures and receipts -----------------------------------------------------------
def test_signed_tree_head_verifies_and_tampering_fails():
    signer = LogSigner.generate()
    sth = signer.sign_tree_head(7, bytes(range(32)), NOW)
    back = verify_tree_head(sth.jws, signer.jwks())
    assert (back.tree_size, back.root_hash, back.timestamp, back.key_id) == (7, bytes(range(32)), NOW, signer.key_id)
    header, payload, sig = sth.jws.split(".")
    forged = signer.sign_tree_head(8, bytes(32), NOW).jws.split(".")[1]
    with pytest.raises(SignatureInvalid):
        verify_tree_head(".".join([header, forged, sig]), signer.jwks())
    with pytest.raises(SignatureInvalid):
        verify_tree_head(sth.jws, LogSigner.generate().jwks())
    with pytest.raises(SignatureInvalid):  # a receipt is not a tree head
        verify_tree_head(signer.sign_receipt({"tree_size": 1}), signer.jwks())
    assert LogSigner(signer.private_jwk()).key_id == signer.key_id


def test_receipt_has_the_27560_elements_and_is_signed():
    signer = LogSigner.generate()
    entry = given_entry("b1", "biometric-identity-verification", ("biometric_face",),
                        expires=NOW + dt.timedelta(days=30), biometric=True).at(4)
    consent = reduce([entry])["b1"]
    receipt = build_receipt(consent=consent, purpose=PURPOSES["biometric-identity-verification"],
                            recipient=LIBRARY, categories=CATEGORIES, leaf_hash_hex=entry.leaf_hash().hex(),
                            issued_at=NOW)
    for key in ("schema_version", "record_id", "pii_principal_id", "processing", "events"):
        assert key in receipt
    for key in ("privacy_notice", "language", "purposes", "pii_categories", "controllers",
                "storage_locations", "retention", "jurisdiction", "recipients", "withdrawal_method"):
        assert key in receipt["processing"]
    assert {"time", "validity_duration", "entity", "type", "state"} <= set(receipt["events"][0])
    assert receipt["events"][0]["validity_duration"] == "P30D"
    assert receipt["biometric"]["non_biometric_alternative"]["id"] == "in-person-verification"
    assert verify_receipt(signer.sign_receipt(receipt), signer.jwks()) == receipt


# --- organizations (issue 22, docs/mandates.md "Organizations") -------------------------------
def test_who_may_stand_on_each_side_of_an_organizations_mandate():
    import datetime as _dt

    from services.common.organization_number import OrganizationNumber
    from services.consent.domain.mandates import (Action, Document, MandateBasis, Refusal, ScopeItem,
                                                  check_new_mandate)
    from services.identity.domain.citizen_number import CitizenNumber

    now = _dt.datetime(2026, 12, 6, tzinfo=_dt.timezone.utc)
    condo = OrganizationNumber.new().canonical
    person, other = CitizenNumber.new().canonical, CitizenNumber.new().canonical
    scope = (ScopeItem("*", frozenset({Action.VIEW})),)
    statement = Document("registry_statement", "0" * 64, "AG0123456789")

    def refusal(**changes):
        args = dict(represented_id=condo, mandatary_id=person, grantor_id=person,
                    basis=MandateBasis.ORGANIZATION_REPRESENTATIVE, scope=scope, valid_from=now,
                    valid_until=now + _dt.timedelta(days=365), document=statement, under=None, existing={}, now=now)
        args.update(changes)
        try:
            check_new_mandate(**args)
        except Refusal as refused:
            return refused.reason
        return None

    assert refusal() is None
    assert refusal(valid_until=now + _dt.timedelta(days=400)) == "TOO_LONG"
    assert refusal(valid_until=None) == "TOO_LONG"
    assert refusal(represented_id=other) == "NOT_AN_ORGANIZATION"
    assert refusal(mandatary_id=OrganizationNumber.new().canonical) == "MANDATARY_NOT_RESIDENT"
    assert refusal(document=None) == "DOCUMENT_REQUIRED"
    assert refusal(basis=MandateBasis.PARENTAL_AUTHORITY,
                   document=Document("birth_certificate", "0" * 64, "AG0123456789")) == "NOT_AN_ORGANIZATION_BASIS"
