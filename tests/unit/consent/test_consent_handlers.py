"""Consent handlers against an in-memory unit of work."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from tests.unit.consent.consent_fakes import FakeStore, FakeUnitOfWork, snapshot

from services.common.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from services.consent.domain import merkle
from services.consent.domain.catalogue import Recipient
from services.consent.domain.consents import ConsentState
from services.consent.domain.grant_rules import RequestedConsent
from services.consent.domain.signing import verify_receipt, verify_tree_head
from services.consent.service_layer import commands, handlers

RES = "23456789ABCD"
OTHER = "3456789ABCDE"
NOW = dt.datetime(2026, 11, 27, 23, 0, tzinfo=dt.timezone.utc)
LIB = Recipient("montreal-library", "library-client", "Bibliothèques", "Libraries", "municipal", "Culture",
                ("service-provision", "communication", "biometric-identity-verification"),
                ("given_name", "family_name", "email", "date_of_birth", "biometric_face"))


@pytest.fixture
def store():
    s = FakeStore()
    s.recipients[LIB.recipient_id] = LIB
    return s


def uow_factory(store):
    return lambda: FakeUnitOfWork(store)


async def give(store, *items, explicit=False, resident=RES, now=NOW):
    return await handlers.grant(commands.GiveConsent(resident, "montreal-library", tuple(items),
                                                     explicit_act=explicit, reauthenticated_at=now,
                                                     reauthentication_method="password"),
                                FakeUnitOfWork(store), now=now)


async def check(store, categories=("email",), purpose="communication", now=NOW, for_client=None):
    return await handlers.check(commands.CheckConsent(RES, "montreal-library", purpose, tuple(categories),
                                                      for_client=for_client), FakeUnitOfWork(store), now=now)


async def test_grant_check_withdraw_check(store):
    [consent] = await give(store, RequestedConsent("communication", data_categories=("email",)))
    assert consent.ledger_index == 0 and consent.state is ConsentState.GIVEN
    [d] = await check(store)
    assert d.allowed and d.consent_id == consent.consent_id
    withdrawn, index = await handlers.withdraw(commands.WithdrawConsent(RES, consent.consent_id),
                                               FakeUnitOfWork(store), now=NOW)
    assert withdrawn.state is ConsentState.WITHDRAWN and index == 1
    [d] = await check(store)
    assert not d.allowed and d.reason == "CONSENT_WITHDRAWN"
    assert [type(e).__name__ for e in store.events] == ["ConsentGiven", "ConsentWithdrawn"]
    # A second withdrawal writes nothing.
    again, _ = await handlers.withdraw(commands.WithdrawConsent(RES, consent.consent_id),
                                       FakeUnitOfWork(store), now=NOW)
    assert again.state is ConsentState.WITHDRAWN and len(store.entries) == 2


async def test_regrant_supersedes(store):
    [first] = await give(store, RequestedConsent("communication", data_categories=("email",)))
    [second] = await give(store, RequestedConsent("communication", data_categories=("email", "given_name")))
    current = await handlers.list_consents(commands.ListPage(RES), FakeUnitOfWork(store), now=NOW)
    assert [c.consent_id for c in current] == [second.consent_id]
    everything = await handlers.list_consents(commands.ListPage(RES, include_inactive=True),
                                              FakeUnitOfWork(store), now=NOW)
    assert {c.consent_id: c.state for c in everything}[first.consent_id] is ConsentState.WITHDRAWN


async def test_bad_grants_write_nothing(store):
    before = snapshot(store)
    bio = RequestedConsent("biometric-identity-verification", expires_at=NOW + dt.timedelta(days=10),
                           non_biometric_alternative_id="in-person-verification")
    with pytest.raises(FailedPrecondition) as err:
        await give(store, bio, RequestedConsent("communication"), explicit=True)
    assert err.value.reason == "BIOMETRIC_PURPOSE_BUNDLED"
    with pytest.raises(InvalidArgument):
        await give(store, RequestedConsent("marketing"))
    with pytest.raises(InvalidArgument) as err:
        await give(store, RequestedConsent("communication"), resident="not-a-resident")
    assert err.value.violations[0][0] == "resident_id"
    assert snapshot(store) == before


async def test_biometric_consent_and_expiry_at_the_instant(store):
    bio = RequestedConsent("biometric-identity-verification", expires_at=NOW + dt.timedelta(hours=1),
                           non_biometric_alternative_id="in-person-verification",
                           data_categories=("biometric_face",))
    [d] = await check(store, ("biometric_face",), "biometric-identity-verification")
    assert d.reason == "BIOMETRIC_CONSENT_NEVER_GIVEN" and d.alternative
    [c] = await give(store, bio, explicit=True)
    [d] = await check(store, ("biometric_face",), "biometric-identity-verification")
    assert d.allowed and d.consent_id == c.consent_id
    later = NOW + dt.timedelta(hours=1)
    [d] = await check(store, ("biometric_face",), "biometric-identity-verification", now=later)
    assert not d.allowed
    assert await handlers.expire_due(FakeUnitOfWork(store), now=later) == 1
    assert await handlers.expire_due(FakeUnitOfWork(store), now=later) == 0
    assert store.entries[-1].entry_type.value == "consent_expired"
    assert type(store.events[-1]).__name__ == "ConsentExpired"


async def test_check_for_another_recipient_is_refused(store):
    with pytest.raises(PermissionDenied):
        await check(store, for_client="someone-else")
    [d] = await check(store, for_client="library-client")
    assert d.reason == "NO_CONSENT"
    with pytest.raises(InvalidArgument):
        await check(store, ("shoe_size",))
    with pytest.raises(InvalidArgument):
        await check(store, purpose="marketing")


async def test_record_access_is_idempotent_and_coherent(store):
    [c] = await give(store, RequestedConsent("communication", data_categories=("email",)))
    access_id = str(uuid.uuid4())
    cmd = commands.RecordAccess(access_id, RES, "montreal-library", "communication", ("email",),
                                {"email": "consent"}, (c.consent_id,), ("phone",))
    index, again = await handlers.record_access(cmd, FakeUnitOfWork(store), now=NOW)
    assert (index, again) == (1, False)
    assert await handlers.record_access(cmd, FakeUnitOfWork(store), now=NOW) == (1, True)
    # accounts' own opaque ids are accepted too.
    acs = commands.RecordAccess("acs_019abc0123ff8e2d4c6b1a0f9e8d", RES, "montreal-library", "service-provision",
                                ("email",), {"email": "public_task"})
    assert (await handlers.record_access(acs, FakeUnitOfWork(store), now=NOW))[1] is False
    before = snapshot(store)
    bad = [
        commands.RecordAccess("nope", RES, "montreal-library", "communication", ("email",), {"email": "consent"}),
        commands.RecordAccess(str(uuid.uuid4()), RES, "montreal-library", "communication", ("email",), {}),
        commands.RecordAccess(str(uuid.uuid4()), RES, "montreal-library", "communication", ("email",),
                              {"email": "consent"}),  # consent basis without a consent
        commands.RecordAccess(str(uuid.uuid4()), RES, "montreal-library", "communication", ("email",),
                              {"email": "consent"}, (str(uuid.uuid4()),)),
    ]
    for b in bad:
        with pytest.raises(InvalidArgument):
            await handlers.record_access(b, FakeUnitOfWork(store), now=NOW)
    with pytest.raises(PermissionDenied):
        await handlers.record_access(commands.RecordAccess(
            str(uuid.uuid4()), RES, "montreal-library", "service-provision", ("email",),
            {"email": "public_task"}, for_client="other"), FakeUnitOfWork(store), now=NOW)
    assert snapshot(store) == before


async def test_accesses_recorded_together_are_each_judged_on_their_own(store):
    """A group commit (handlers.record_accesses) records the good records and refuses the bad
    ones, each in its place, in one transaction."""
    [c] = await give(store, RequestedConsent("communication", data_categories=("email",)))
    done = commands.RecordAccess(str(uuid.uuid4()), RES, "montreal-library", "service-provision", ("email",),
                                 {"email": "public_task"})
    assert await handlers.record_access(done, FakeUnitOfWork(store), now=NOW) == (1, False)
    twice = str(uuid.uuid4())
    group = [
        commands.RecordAccess(twice, RES, "montreal-library", "communication", ("email",),
                              {"email": "consent"}, (c.consent_id,)),
        commands.RecordAccess(str(uuid.uuid4()), RES, "montreal-library", "marketing", ("email",),
                              {"email": "public_task"}),                       # unknown purpose
        done,                                                                  # already recorded
        commands.RecordAccess(twice, RES, "montreal-library", "communication", ("email",),
                              {"email": "consent"}, (c.consent_id,)),          # same access, same group
        commands.RecordAccess(twice, "3456789ABCDE", "montreal-library", "service-provision", ("email",),
                              {"email": "public_task"}),                       # its id, another access
        commands.RecordAccess(str(uuid.uuid4()), "3456789ABCDE", "montreal-library", "communication",
                              ("email",), {"email": "consent"}, (c.consent_id,)),  # not this resident's consent
        commands.RecordAccess(str(uuid.uuid4()), RES, "montreal-library", "service-provision", ("email",),
                              {"email": "public_task"}),
    ]
    uow = FakeUnitOfWork(store)
    results = await handlers.record_accesses(group, uow, now=NOW)
    assert results[0] == (2, False) and results[6] == (3, False)
    assert isinstance(results[1], InvalidArgument) and results[1].violations[0][0] == "purpose_id"
    assert results[2] == (1, True)
    assert results[3] == (2, True)
    assert isinstance(results[4], FailedPrecondition) and results[4].reason == "ACCESS_ID_REUSED"
    assert isinstance(results[5], InvalidArgument) and results[5].violations[0][0] == "consent_ids[0]"
    assert uow.committed
    assert [e.access_id for e in store.entries[2:]] == [twice, group[6].access_id]
    # A group with nothing new writes nothing.
    before = snapshot(store)
    again = FakeUnitOfWork(store)
    repeated, refused = await handlers.record_accesses([done, group[1]], again, now=NOW)
    assert repeated == (1, True) and isinstance(refused, InvalidArgument)
    assert snapshot(store) == before and not again.committed


async def test_a_group_that_fails_in_the_database_records_none_of_its_accesses(store):
    class FailingLedger:
        def __init__(self, ledger):
            self._ledger = ledger

        def __getattr__(self, name):
            return getattr(self._ledger, name)

        async def append(self, entries):
            raise ConnectionError("the database went away")

    class FailingUnitOfWork(FakeUnitOfWork):
        async def __aenter__(self):
            await super().__aenter__()
            self.ledger = FailingLedger(self.ledger)
            return self

    before = snapshot(store)
    group = [commands.RecordAccess(str(uuid.uuid4()), RES, "montreal-library", "service-provision", ("email",),
                                   {"email": "public_task"}) for _ in range(3)]
    with pytest.raises(ConnectionError):
        await handlers.record_accesses(group, FailingUnitOfWork(store), now=NOW)
    assert snapshot(store) == before


async def test_access_log_pages_and_refuses_tampered_tokens(store):
    for _ in range(5):
        await handlers.record_access(commands.RecordAccess(
            str(uuid.uuid4()), RES, "montreal-library", "service-provision", ("email",),
            {"email": "public_task"}), FakeUnitOfWork(store), now=NOW)
    page1, token = await handlers.access_log(commands.ListPage(RES, page_size=2), FakeUnitOfWork(store))
    assert [e.index for e in page1] == [4, 3] and token
    page2, token2 = await handlers.access_log(commands.ListPage(RES, page_size=2, page_token=token),
                                              FakeUnitOfWork(store))
    page3, token3 = await handlers.access_log(commands.ListPage(RES, page_size=2, page_token=token2),
                                              FakeUnitOfWork(store))
    assert [e.index for e in page2 + page3] == [2, 1, 0] and token3 == ""
    data, mac = token.split(".")
    for forged in (data[:-2] + ("AA" if data[-2:] != "AA" else "BB") + "." + mac, "garbage", token + "x"):
        with pytest.raises(InvalidArgument) as err:
            await handlers.access_log(commands.ListPage(RES, page_size=2, page_token=forged), FakeUnitOfWork(store))
        assert err.value.violations[0][0] == "page_token"
    with pytest.raises(InvalidArgument):  # another resident's listing
        await handlers.access_log(commands.ListPage(OTHER, page_size=2, page_token=token), FakeUnitOfWork(store))


async def test_proofs_verify_against_signed_heads(store):
    for i in range(9):
        await give(store, RequestedConsent("communication", data_categories=("email",)),
                   resident=RES if i % 2 else OTHER)
    head = await handlers.signed_tree_head(0, FakeUnitOfWork(store), now=NOW)
    jwks = await handlers.log_keys(FakeUnitOfWork(store))
    assert verify_tree_head(head.jws, jwks).tree_size == len(store.entries)
    path, entry, head = await handlers.inclusion_proof(3, 0, FakeUnitOfWork(store), now=NOW)
    assert merkle.verify_inclusion(merkle.leaf_hash(entry.leaf_data()), 3, head.tree_size, path, head.root_hash)
    with pytest.raises(NotFound):  # someone else's entry
        await handlers.inclusion_proof(0, 0, FakeUnitOfWork(store), resident_id=RES)
    old = await handlers.signed_tree_head(4, FakeUnitOfWork(store), now=NOW)
    first, second, proof, new = await handlers.consistency_proof(4, 0, FakeUnitOfWork(store), now=NOW)
    assert merkle.verify_consistency(4, second, old.root_hash, new.root_hash, proof)
    with pytest.raises(InvalidArgument):
        await handlers.consistency_proof(0, 0, FakeUnitOfWork(store))
    with pytest.raises(InvalidArgument):
        await handlers.inclusion_proof(99, 0, FakeUnitOfWork(store))


async def test_receipt_and_export(store):
    [c] = await give(store, RequestedConsent("communication", data_categories=("email",)))
    token, document, kid = await handlers.receipt(c.consent_id, FakeUnitOfWork(store), resident_id=RES, now=NOW)
    assert verify_receipt(token, store.signer.jwks()) == document and document["record_id"] == c.consent_id
    with pytest.raises(NotFound):
        await handlers.receipt(c.consent_id, FakeUnitOfWork(store), resident_id=OTHER)
    raw, index = await handlers.export(commands.RequestExport(RES), FakeUnitOfWork(store), now=NOW)
    exported = json.loads(raw)
    assert exported["resident_id"] == RES and exported["consents"][0]["consent_id"] == c.consent_id
    assert [e["entry"]["type"] for e in exported["ledger_entries"]] == ["consent_given", "export_requested"]
    assert index == 1


async def test_define_purpose_versions(store):
    from dataclasses import replace

    current = await FakeUnitOfWork(store).__aenter__()
    comm = await current.catalogue.purpose("communication")
    same = await handlers.define_purpose(comm, FakeUnitOfWork(store), now=NOW)
    assert same.version == 1
    v2 = await handlers.define_purpose(replace(comm, description_fr="Nouveau texte."), FakeUnitOfWork(store), now=NOW)
    assert v2.version == 2
    [c] = await give(store, RequestedConsent("communication", purpose_version=1, data_categories=("email",)))
    assert c.purpose_version == 1
    with pytest.raises(InvalidArgument):
        await handlers.define_purpose(replace(comm, title_fr=""), FakeUnitOfWork(store))


async def test_list_consents_pages(store):
    for _ in range(3):  # each supersedes the previous: one current, three in all
        await give(store, RequestedConsent("communication", data_categories=("email",)))
    page, token = await handlers.list_consents_page(commands.ListPage(RES, page_size=2, include_inactive=True),
                                                    FakeUnitOfWork(store), now=NOW)
    rest, end = await handlers.list_consents_page(commands.ListPage(RES, page_size=2, include_inactive=True,
                                                                    page_token=token), FakeUnitOfWork(store), now=NOW)
    assert len(page) == 2 and len(rest) == 1 and end == ""
    assert [c.state for c in page + rest] == [ConsentState.WITHDRAWN, ConsentState.WITHDRAWN, ConsentState.GIVEN]
    with pytest.raises(InvalidArgument):  # a token of the "current only" listing is not this one's
        await handlers.list_consents_page(commands.ListPage(RES, page_size=2, page_token=token),
                                          FakeUnitOfWork(store), now=NOW)


async def test_access_under_a_withdrawn_consent_is_recorded_and_flagged(store):
    [c] = await give(store, RequestedConsent("communication", data_categories=("email",)))
    await handlers.withdraw(commands.WithdrawConsent(RES, c.consent_id), FakeUnitOfWork(store),
                            now=NOW + dt.timedelta(minutes=1))
    index, _ = await handlers.record_access(commands.RecordAccess(
        str(uuid.uuid4()), RES, "montreal-library", "communication", ("email",), {"email": "consent"},
        (c.consent_id,), accessed_at=NOW + dt.timedelta(minutes=2)), FakeUnitOfWork(store),
        now=NOW + dt.timedelta(minutes=2))
    assert store.entries[index].body["unsupported_categories"] == ["email"]
    index, _ = await handlers.record_access(commands.RecordAccess(
        str(uuid.uuid4()), RES, "montreal-library", "communication", ("email",), {"email": "consent"},
        (c.consent_id,), accessed_at=NOW + dt.timedelta(seconds=30)), FakeUnitOfWork(store),
        now=NOW + dt.timedelta(minutes=2))
    assert store.entries[index].body["unsupported_categories"] == []


async def test_a_service_records_only_for_its_own_purposes(store):
    cmd = commands.RecordAccess(str(uuid.uuid4()), RES, "montreal-library", "identity-verification", ("email",),
                                {"email": "legal_obligation"}, for_client="library-client")
    with pytest.raises(PermissionDenied) as err:
        await handlers.record_access(cmd, FakeUnitOfWork(store), now=NOW)
    assert err.value.reason == "PURPOSE_NOT_DECLARED"
    import dataclasses
    index, _ = await handlers.record_access(dataclasses.replace(cmd, for_client=None), FakeUnitOfWork(store), now=NOW)
    assert store.entries[index].purpose_id == "identity-verification"


async def _answer_alone(store, cmd, now):
    try:
        return await handlers.check(cmd, FakeUnitOfWork(store), now=now)
    except (InvalidArgument, PermissionDenied) as error:
        return type(error), getattr(error, "violations", None), getattr(error, "reason", None)


async def test_check_many_answers_each_question_as_check_at_every_instant(store):
    """CheckMany (issue 24) against Check, question by question: a biometric consent before
    and after its expiry, an ordinary one, one withdrawn, categories not covered, legal-basis
    purposes, unknown names, another recipient's client, malformed questions."""
    bio = RequestedConsent("biometric-identity-verification", expires_at=NOW + dt.timedelta(hours=1),
                           non_biometric_alternative_id="in-person-verification", data_categories=("biometric_face",))
    await give(store, bio, explicit=True)
    [kept] = await give(store, RequestedConsent("communication", data_categories=("email",),
                                                expires_at=NOW + dt.timedelta(minutes=30)))
    [gone] = await give(store, RequestedConsent("communication", data_categories=("given_name",)), resident=OTHER)
    await handlers.withdraw(commands.WithdrawConsent(OTHER, gone.consent_id), FakeUnitOfWork(store), now=NOW)
    questions = [commands.CheckConsent(resident, "montreal-library", purpose, categories, for_client=client)
                 for resident in (RES, OTHER, "456789ABCDEF")
                 for purpose in ("communication", "biometric-identity-verification", "service-provision", "nope")
                 for categories in (("email",), ("biometric_face",), ("email", "given_name", "date_of_birth"),
                                    ("unknown",), ())
                 for client in (None, "library-client", "pools-client")]
    questions += [commands.CheckConsent("bad", "montreal-library", "communication", ("email",)),
                  commands.CheckConsent(RES, "Bad Slug", "communication", ("email",)),
                  commands.CheckConsent("", "", "", ())]
    reasons = set()
    for now in (NOW, NOW + dt.timedelta(minutes=45), NOW + dt.timedelta(hours=2)):
        batch = await handlers.check_many(questions, FakeUnitOfWork(store), now=now)
        for cmd, got in zip(questions, batch, strict=True):
            alone = await _answer_alone(store, cmd, now)
            if isinstance(got, list):
                assert got == alone, cmd
                reasons |= {d.reason for d in got}
            else:
                assert (type(got), getattr(got, "violations", None), getattr(got, "reason", None)) == alone, cmd
    assert {"BIOMETRIC_CONSENT_EXPIRED", "CONSENT_EXPIRED", "CONSENT_WITHDRAWN", "CATEGORY_NOT_COVERED",
            "BIOMETRIC_CONSENT_REQUIRED", "NO_CONSENT", ""} <= reasons


async def test_check_many_refuses_an_empty_or_oversized_call(store):
    with pytest.raises(InvalidArgument):
        await handlers.check_many([], FakeUnitOfWork(store), now=NOW)
    many = [commands.CheckConsent(RES, "montreal-library", "communication", ("email",))] * 1001
    with pytest.raises(InvalidArgument):
        await handlers.check_many(many, FakeUnitOfWork(store), now=NOW)


async def test_check_and_record_decides_as_check_and_records_what_it_releases(store):
    """CheckAndRecord (issue 24) against Check at the same instant: the same decisions; the
    allowed and available categories recorded as one data_accessed entry, nothing recorded
    when nothing is released, refusals per call."""
    [consent] = await give(store, RequestedConsent("communication", data_categories=("email", "given_name")))
    cmd = commands.CheckAndRecord("acs_0123456789", RES, "montreal-library", "communication",
                                  ("email", "given_name", "family_name"), available_categories=("email",),
                                  withheld_categories=("date_of_birth",))
    nothing = commands.CheckAndRecord("acs_nothing-0001", OTHER, "montreal-library", "communication", ("email",),
                                      available_categories=("email",))
    bad = commands.CheckAndRecord("short", RES, "montreal-library", "communication", ("email",))
    size = len(store.entries)
    first, second, third = await handlers.check_and_record([cmd, nothing, bad], FakeUnitOfWork(store), now=NOW)
    assert first.decisions == await check(store, ("email", "given_name", "family_name"))
    assert first.released == ("email",) and first.ledger_index == size and not first.already_recorded
    entry = store.entries[size]
    assert entry.body["data_categories"] == ["email"] and entry.body["consent_ids"] == [consent.consent_id]
    assert sorted(entry.body["withheld_categories"]) == ["date_of_birth", "family_name", "given_name"]
    assert second.released == () and second.ledger_index is None and len(store.entries) == size + 1
    assert isinstance(third, InvalidArgument) and third.violations[0][0] == "access_id"
    [again] = await handlers.check_and_record([cmd], FakeUnitOfWork(store), now=NOW)
    assert again.already_recorded and again.ledger_index == size and len(store.entries) == size + 1
