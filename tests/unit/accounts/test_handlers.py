"""Unit tests of the accounts service layer, with in-memory fakes of every port."""

from __future__ import annotations

import pytest

from services.accounts.domain.catalogue import ServiceKind, ServiceState
from services.accounts.domain.counter import DocumentType
from services.accounts.domain.events import AttributesReleased
from services.accounts.domain.release import Basis, ConsentDecision, WithheldReason
from services.accounts.domain.service_account import AccountState
from services.accounts.service_layer import commands as c
from services.accounts.service_layer.bootstrap import AccountsApplication
from services.accounts.service_layer.ports import Caller
from services.common.errors import (AlreadyExists, FailedPrecondition, InvalidArgument, NotFound,
                                    PermissionDenied, Unavailable)
from services.identity.domain.citizen_number import CitizenNumber

from .fakes import FakeConsent, FakeResolver, FakeUnitOfWork, _Store

ADMIN = Caller("ops", "ops", frozenset({"accounts:admin"}))
PLATEAU = Caller("plateau-permits", "plateau-permits", frozenset({"accounts:link", "accounts:release"}))
VERDUN = Caller("verdun-permits", "verdun-permits", frozenset({"accounts:link", "accounts:release"}))
BIXI = Caller("bixi", "bixi", frozenset({"accounts:link", "accounts:release"}))
AGENT = Caller("counter-app", "counter-app", frozenset({"accounts:agent"}), agent_id="agent-7")


def resident_caller(resident_id: str) -> Caller:
    return Caller("montreal-ca", resident_id, frozenset({"resident"}))


@pytest.fixture
async def world():
    store = _Store()
    consent = FakeConsent()
    resolver = FakeResolver()
    app = AccountsApplication(lambda: FakeUnitOfWork(store), consent=consent, resolver=resolver)
    for sid, client, kind, borough in (("plateau-mont-royal-permits", "plateau-permits", ServiceKind.BOROUGH, "Le Plateau-Mont-Royal"),
                                       ("verdun-permits", "verdun-permits", ServiceKind.BOROUGH, "Verdun"),
                                       ("bixi", "bixi", ServiceKind.PARTNER, None)):
        await app.handle(c.RegisterService(service_id=sid, name_fr=sid, name_en=sid, kind=kind, owner="o",
                                           client_id=client, borough=borough,
                                           attributes=("given_name", "family_name", "email", "postal_address", "biometric_face"),
                                           purposes=("service-provision", "communication")))
    resident = CitizenNumber.new().canonical
    await app.handle(c.EnrollResident(AGENT, resident, (("given_name", "Marie"), ("family_name", "Tremblay"),
                                                         ("email", "marie@example.ca"))))
    store.outbox.clear()
    return app, store, consent, resolver, resident


async def _linked(app, caller, service_id, resident_ref, ref="REF-1"):
    return (await app.handle(c.LinkAccount(caller, service_id, resident_ref, ref))).account


async def test_partial_consent_releases_part_and_names_the_withheld(world):
    app, store, consent, _, resident = world
    await _linked(app, PLATEAU, "plateau-mont-royal-permits", resident)
    consent.allowed[(resident, "plateau-mont-royal-permits", "communication", "email")] = \
        ConsentDecision("email", True, Basis.CONSENT, "consent-1")
    result = await app.handle(c.ReleaseAttributes(PLATEAU, "plateau-mont-royal-permits", resident, "communication",
                                                  ("email", "given_name", "phone", "biometric_face")))
    assert [r.name for r in result.decision.released] == ["email"]
    assert result.decision.released[0].attribute.value == "marie@example.ca"
    assert [(w.name, w.reason) for w in result.decision.withheld] == [
        ("given_name", WithheldReason.NO_CONSENT), ("phone", WithheldReason.NOT_ALLOWED_FOR_SERVICE),
        ("biometric_face", WithheldReason.NOT_STORED)]
    [record] = consent.records
    assert record["access_id"] == result.access_id and record["categories"] == ("email",)
    assert record["withheld"] == ["given_name", "phone", "biometric_face"]
    [event] = [e for e in store.outbox if isinstance(e, AttributesReleased)]
    assert event.access_id == result.access_id and event.consent_ids == ("consent-1",)
    assert "marie@example.ca" not in str(event.to_payload())


async def test_no_release_without_a_record(world):
    app, store, consent, _, resident = world
    await _linked(app, PLATEAU, "plateau-mont-royal-permits", resident)
    consent.allowed[(resident, "plateau-mont-royal-permits", "communication", "email")] = \
        ConsentDecision("email", True, Basis.CONSENT, "consent-1")
    consent.record_down = True
    store.outbox.clear()
    with pytest.raises(Unavailable):
        await app.handle(c.ReleaseAttributes(PLATEAU, "plateau-mont-royal-permits", resident, "communication", ("email",)))
    assert store.outbox == [] and consent.records == []


async def test_each_release_asks_consent_so_a_withdrawal_stops_the_next_one(world):
    app, _, consent, _, resident = world
    await _linked(app, PLATEAU, "plateau-mont-royal-permits", resident)
    key = (resident, "plateau-mont-royal-permits", "communication", "email")
    consent.allowed[key] = ConsentDecision("email", True, Basis.CONSENT, "consent-1")
    cmd = c.ReleaseAttributes(PLATEAU, "plateau-mont-royal-permits", resident, "communication", ("email",))
    assert (await app.handle(cmd)).decision.categories == ("email",)
    consent.allowed[key] = ConsentDecision("email", False, reason="CONSENT_WITHDRAWN")
    second = await app.handle(cmd)
    assert second.decision.released == () and second.access_id == ""
    assert second.decision.withheld[0].reason is WithheldReason.CONSENT_WITHDRAWN
    assert consent.checks == 2 and len(consent.records) == 1


async def test_release_refuses_other_services_undeclared_purposes_and_unlinked_residents(world):
    app, _, _, _, resident = world
    with pytest.raises(PermissionDenied):
        await app.handle(c.ReleaseAttributes(VERDUN, "plateau-mont-royal-permits", resident, "communication", ("email",)))
    with pytest.raises(FailedPrecondition) as caught:
        await app.handle(c.ReleaseAttributes(PLATEAU, "plateau-mont-royal-permits", resident, "statistics", ("email",)))
    assert caught.value.reason == "PURPOSE_NOT_DECLARED"
    with pytest.raises(FailedPrecondition) as caught:
        await app.handle(c.ReleaseAttributes(PLATEAU, "plateau-mont-royal-permits", resident, "communication", ("email",)))
    assert caught.value.reason == "NO_LIVE_ACCOUNT"
    with pytest.raises(InvalidArgument) as caught:
        await app.handle(c.ReleaseAttributes(PLATEAU, "plateau-mont-royal-permits", resident, "communication",
                                             ("email", "shoe_size")))
    assert caught.value.violations == [("attributes[1]", "not a data category (docs/contracts.md)")]


async def test_bad_release_requests_name_every_bad_field(world):
    app, _, consent, _, resident = world
    with pytest.raises(InvalidArgument) as caught:
        await app.handle(c.ReleaseAttributes(PLATEAU, "", resident, "", ()))
    assert [field for field, _ in caught.value.violations] == ["attributes", "purpose_id", "service_id"]
    with pytest.raises(NotFound):
        await app.handle(c.ReleaseAttributes(PLATEAU, "no-such-service", resident, "communication", ("email",)))
    assert consent.checks == 0


class RecordingReleaseReads:
    """The unit-of-work reads, noting which services the application said it changed."""

    def __init__(self, uow_factory):
        from services.accounts.service_layer.handlers import UnitOfWorkReleaseReads

        self._inner = UnitOfWorkReleaseReads(uow_factory)
        self.service = self._inner.service
        self.live_account_and_profile = self._inner.live_account_and_profile
        self.changed: list[str] = []

    def catalogue_changed(self, service_id):
        self.changed.append(service_id)


async def test_catalogue_writes_forget_the_process_copy_of_the_service():
    store = _Store()
    reads = RecordingReleaseReads(lambda: FakeUnitOfWork(store))
    app = AccountsApplication(lambda: FakeUnitOfWork(store), consent=FakeConsent(), resolver=FakeResolver(),
                              release_reads=reads)
    await app.handle(c.RegisterService(service_id="library", name_fr="B", name_en="L", kind=ServiceKind.MUNICIPAL,
                                       owner="o", client_id="library", attributes=("email",), purposes=("communication",)))
    await app.handle(c.UpdateService(service_id="library", name_fr="B", name_en="L", owner="o",
                                     attributes=("email",), purposes=("communication",), state=ServiceState.RETIRED))
    with pytest.raises(InvalidArgument):
        await app.handle(c.UpdateService(service_id="library", name_fr="", name_en="L", owner="o"))
    assert reads.changed == ["library", "library", "library"]
    assert (await reads.service("library")).state is ServiceState.RETIRED


async def test_a_partner_sees_pairwise_ids_only(world):
    app, _, consent, resolver, resident = world
    pairwise = await resolver.subject_for("bixi", resident)
    with pytest.raises(InvalidArgument) as caught:
        await _linked(app, BIXI, "bixi", resident)
    assert caught.value.violations[0][0] == "resident_id"
    account = await app.handle(c.LinkAccount(BIXI, "bixi", pairwise, "BIXI-9"))
    assert account.resident_id == pairwise and account.account.resident_id == resident
    listed = await app.handle(c.ListAccounts(BIXI, service_id="bixi"))
    assert [v.resident_id for v in listed.items] == [pairwise]
    consent.allowed[(resident, "bixi", "service-provision", "given_name")] = ConsentDecision("given_name", True, Basis.CONSENT, "k")
    result = await app.handle(c.ReleaseAttributes(BIXI, "bixi", pairwise, "service-provision", ("given_name",)))
    assert result.resident_id == pairwise
    assert consent.records[0]["resident_id"] == resident  # the ledger keeps the universal id


async def test_a_borough_cannot_touch_another_boroughs_accounts(world):
    app, store, _, _, resident = world
    account = await _linked(app, PLATEAU, "plateau-mont-royal-permits", resident)
    with pytest.raises(PermissionDenied) as caught:
        await app.handle(c.ChangeAccountState(VERDUN, account.account_id, "suspend", "no reason"))
    assert caught.value.reason == "NOT_YOUR_SERVICE"
    with pytest.raises(PermissionDenied):
        await app.handle(c.LinkAccount(VERDUN, "plateau-mont-royal-permits", resident, "X-1"))
    with pytest.raises(PermissionDenied):
        await app.handle(c.ListAccounts(VERDUN, service_id="plateau-mont-royal-permits"))
    assert store.accounts[account.account_id].state is AccountState.PENDING


async def test_lifecycle_through_handlers_keeps_history_and_refuses_illegal_moves(world):
    app, _, _, _, resident = world
    account = await _linked(app, PLATEAU, "plateau-mont-royal-permits", resident)
    with pytest.raises(InvalidArgument) as caught:
        await app.handle(c.ChangeAccountState(PLATEAU, account.account_id, "suspend", " "))
    assert caught.value.violations[0][0] == "reason"
    with pytest.raises(FailedPrecondition):
        await app.handle(c.ChangeAccountState(PLATEAU, account.account_id, "suspend", "unpaid"))
    await app.handle(c.ChangeAccountState(PLATEAU, account.account_id, "activate"))
    await app.handle(c.ChangeAccountState(PLATEAU, account.account_id, "close", "moved"))
    view, history = await app.handle(c.GetAccountHistory(resident_caller(resident), account.account_id))
    assert [t.to_state for t in history] == [AccountState.PENDING, AccountState.ACTIVE, AccountState.CLOSED]
    assert history[-1].actor == "client:plateau-permits"
    # closed: a new link is possible again
    await _linked(app, PLATEAU, "plateau-mont-royal-permits", resident, "REF-2")
    with pytest.raises(AlreadyExists):
        await _linked(app, PLATEAU, "plateau-mont-royal-permits", resident, "REF-3")


async def test_resident_updates_own_profile_and_bad_input_writes_nothing(world):
    app, store, _, _, resident = world
    me = resident_caller(resident)
    with pytest.raises(InvalidArgument) as caught:
        await app.handle(c.UpdateProfile(me, resident, (("phone", "5145551234"), ("email", "nope"), ("biometric_face", "x"))))
    assert [f for f, _ in caught.value.violations] == ["changes[1].value", "changes[2].name"]
    assert store.profiles[resident].get("phone") is None and store.outbox == []
    profile = await app.handle(c.UpdateProfile(me, resident, (("family_name", "Gagnon"), ("phone", "514 555 1234"))))
    assert profile.get("family_name").verified_at is None  # was verified at the counter, changed: dropped
    assert profile.get("given_name").verified_at is not None
    assert profile.get("phone").value == "+15145551234"
    with pytest.raises(PermissionDenied):
        await app.handle(c.GetProfile(resident_caller(CitizenNumber.new().canonical), resident))


async def test_counter_actions_are_journaled_under_the_agent(world):
    app, store, _, _, resident = world
    anonymous = Caller("counter-app", "counter-app", frozenset({"accounts:agent"}))
    with pytest.raises(PermissionDenied):
        await app.handle(c.RecordDocumentCheck(anonymous, resident, DocumentType.PASSPORT, "4821"))
    with pytest.raises(InvalidArgument) as caught:
        await app.handle(c.RecordDocumentCheck(AGENT, resident, None, "123456789"))
    assert [f for f, _ in caught.value.violations] == ["document_type", "last_digits"]
    check = await app.handle(c.RecordDocumentCheck(AGENT, resident, DocumentType.DRIVER_LICENCE, "4821"))
    attribute = await app.handle(c.VerifyAttribute(AGENT, resident, "postal_address", "from_document",
                                                   "275 rue Notre-Dame Est, Montréal, QC, H2Y 1C6", check.check_id))
    assert attribute.document_check_id == check.check_id and attribute.verified_by == "agent-7"
    other = CitizenNumber.new().canonical
    await app.handle(c.EnrollResident(AGENT, other))
    with pytest.raises(FailedPrecondition):
        await app.handle(c.VerifyAttribute(AGENT, other, "given_name", "from_document", "Luc", check.check_id))
    actions = [a.action for a in store.actions if a.resident_id == resident]
    assert {"enroll_resident", "record_document_check", "verify_attribute"} <= set(actions)
    assert all(a.agent_id == "agent-7" for a in store.actions)
    found = await app.handle(c.FindResident(AGENT, email="MARIE@example.ca".lower()))
    assert [p.resident_id for p in found] == [resident]
    with pytest.raises(InvalidArgument):
        await app.handle(c.FindResident(AGENT, given_name="Marie"))


async def test_link_in_person_and_the_residents_view(world):
    app, _, _, _, resident = world
    view = await app.handle(c.LinkAccountInPerson(AGENT, resident, "verdun-permits", "V-77"))
    assert view.account.transitions[0].actor == "agent:agent-7"
    with pytest.raises(InvalidArgument):  # an agent does not list a whole service
        await app.handle(c.ListAccounts(AGENT, service_id="verdun-permits"))
    assert len((await app.handle(c.ListAccounts(AGENT, service_id="verdun-permits", resident_id=resident))).items) == 1
    mine = await app.handle(c.ListAccounts(resident_caller(resident), resident_id=resident))
    assert [v.account.service_id for v in mine.items] == ["verdun-permits"]
    unlinked = await app.handle(c.RequestUnlink(resident_caller(resident), view.account.account_id))
    assert unlinked.account.unlink_requested_at is not None
    with pytest.raises(NotFound):
        await app.handle(c.LinkAccountInPerson(AGENT, CitizenNumber.new().canonical, "verdun-permits", "V-78"))


class _Directory:
    def __init__(self, contact=None, down=False):
        self._contact, self._down = contact, down

    async def contact(self, resident_id):
        if self._down:
            raise Unavailable("identity down")
        return self._contact


async def test_registration_waits_for_identity_rather_than_losing_the_email(world):
    from services.accounts.service_layer.handlers import register_resident
    from services.accounts.service_layer.ports import ResidentContact

    _, store, _, _, _ = world
    resident = CitizenNumber.new().canonical
    uow = FakeUnitOfWork(store)
    async with uow:
        with pytest.raises(Unavailable):  # the consumer naks: the event is redelivered later
            await register_resident(c.RegisterResident(resident, "fr"), uow, directory=_Directory(down=True))
    assert resident not in store.profiles
    async with uow:
        assert await register_resident(c.RegisterResident(resident, "fr"), uow,
                                       directory=_Directory(ResidentContact("luc@example.ca", True, "fr")))
        await uow.commit()
    email = store.profiles[resident].get("email")
    assert email.value == "luc@example.ca" and email.source_service_id == "identity"


async def test_pages_walk_the_whole_list_and_tokens_are_checked(world):
    app, _, _, _, _ = world
    seen, token = [], ""
    while True:
        page = await app.handle(c.ListServices(page_size=2, page_token=token))
        seen += [s.service_id for s in page.items]
        token = page.next_page_token
        if not token:
            break
    assert seen == sorted(["plateau-mont-royal-permits", "verdun-permits", "bixi"])
    for bad in ("%%%", "YWNjOng"):  # not base64; a token of another list ("acc:x")
        with pytest.raises(InvalidArgument) as caught:
            await app.handle(c.ListServices(page_token=bad))
        assert caught.value.violations[0][0] == "page_token"
    with pytest.raises(InvalidArgument):
        await app.handle(c.ListServices(page_size=-1))
