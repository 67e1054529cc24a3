"""Events consumed by the consent register, applied through the foundation's EventConsumer
(inbox + handler in one transaction) on a real database."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from services.common.consumer import EventConsumer
from services.common.events import CloudEvent
from services.consent.adapters.uow import ConsentUnitOfWork
from services.consent.domain.consents import ConsentState
from services.consent.service_layer import commands, handlers
from services.consent.service_layer.event_handlers import (ACCOUNTS_SUBJECTS, IDENTITY_SUBJECTS, dispatcher,
                                                           released_settled)

RES = "56789ABCDEFG"


def consumer(store, table, durable):
    return EventConsumer(jetstream=lambda: None, uow_factory=lambda: ConsentUnitOfWork(store), durable=durable,
                         stream_service="accounts", subjects=list(table), handler=dispatcher(table))


def event(type_, data):
    return CloudEvent(id=str(uuid.uuid4()), type=type_, source="mtlid/accounts", time="2026-11-27T23:00:00Z",
                      data=data)


@pytest.fixture(scope="module")
def accounts(store):
    return consumer(store, ACCOUNTS_SUBJECTS, "consent-accounts")


@pytest.fixture(scope="module")
def identity(store):
    return consumer(store, IDENTITY_SUBJECTS, "consent-identity")


async def size(store):
    return (await handlers.signed_tree_head(0, ConsentUnitOfWork(store))).tree_size


async def test_service_registered_then_release_recorded_once(store, accounts):
    await accounts.apply(event("montreal.accounts.v1.service_registered", {
        "service_id": "plateau-permits", "client_id": "plateau-client", "name_fr": "Permis du Plateau",
        "name_en": "Plateau permits", "kind": "borough", "owner": "Arrondissement du Plateau-Mont-Royal",
        "purposes": ["service-provision", "communication", "not-a-purpose"],
        "attributes": ["given_name", "email", "shoe_size"]}))
    async with ConsentUnitOfWork(store) as uow:
        recipient = await uow.catalogue.recipient("plateau-permits")
    assert recipient.purposes == ("service-provision", "communication")
    assert recipient.data_categories == ("given_name", "email")

    access_id = str(uuid.uuid4())
    released = event("montreal.accounts.v1.attributes_released", {
        "access_id": access_id, "resident_id": RES, "service_id": "plateau-permits",
        "purpose_id": "service-provision", "categories": ["given_name"], "withheld": ["email"],
        "bases": {"given_name": "public_task"}, "consent_ids": []})
    before = await size(store)
    assert await accounts.apply(released)
    assert not await accounts.apply(released)  # same event twice: one entry
    # The same access reported over gRPC as well: still one entry.
    index, already = await handlers.record_access(commands.RecordAccess(
        access_id, RES, "plateau-permits", "service-provision", ("given_name",), {"given_name": "public_task"}),
        ConsentUnitOfWork(store))
    assert already
    # A different event id for the same access_id: still one entry.
    assert await accounts.apply(event(released.type, released.data))
    assert await size(store) == before + 1
    entries, _ = await handlers.access_log(commands.ListPage(RES), ConsentUnitOfWork(store))
    assert [e.access_id for e in entries] == [access_id]
    assert entries[0].body["withheld_categories"] == ["email"]


async def inbox_has(store, durable, event_id):
    from sqlalchemy import select

    from services.common.uow import INBOX

    async with ConsentUnitOfWork(store) as uow:
        return await uow.session.scalar(select(INBOX.c.event_id).where(
            INBOX.c.consumer == durable, INBOX.c.event_id == event_id)) is not None


async def test_a_release_already_recorded_by_record_access_is_acknowledged_without_a_transaction(store, accounts):
    """The common order: accounts' RecordAccess call records the access, then its
    ``attributes_released`` event arrives; the consumer's ``settled`` check finds the access
    and acknowledges the event without opening a unit of work (no inbox row, nothing
    appended). An event the log does not settle still goes to the handler."""
    settling = EventConsumer(jetstream=lambda: None, uow_factory=lambda: ConsentUnitOfWork(store),
                             durable="consent-accounts-settled", stream_service="accounts",
                             subjects=list(ACCOUNTS_SUBJECTS), handler=dispatcher(ACCOUNTS_SUBJECTS),
                             settled=released_settled(store.reads))
    await accounts.apply(event("montreal.accounts.v1.service_registered", {
        "service_id": "plateau-permits", "client_id": "plateau-client", "name_fr": "Permis du Plateau",
        "name_en": "Plateau permits", "kind": "borough", "owner": "Arrondissement du Plateau-Mont-Royal",
        "purposes": ["service-provision", "communication"], "attributes": ["given_name", "email"]}))
    access_id = str(uuid.uuid4())
    await handlers.record_access(commands.RecordAccess(
        access_id, RES, "plateau-permits", "service-provision", ("given_name",), {"given_name": "public_task"}),
        ConsentUnitOfWork(store))
    before = await size(store)
    data = {"access_id": access_id, "resident_id": RES, "service_id": "plateau-permits",
            "purpose_id": "service-provision", "categories": ["given_name"],
            "bases": {"given_name": "public_task"}, "consent_ids": []}
    recorded = event("montreal.accounts.v1.attributes_released", data)
    assert not await settling.apply(recorded)
    assert settling.already_settled == 1 and settling.applied == 0
    assert not await inbox_has(store, "consent-accounts-settled", recorded.id)

    # The same access id reported for another resident is not settled: the handler sees it
    # (and refuses it: ACCESS_ID_REUSED is logged, nothing appended).
    other = event(recorded.type, {**data, "resident_id": "23456789ABCD"})
    assert await settling.apply(other)
    assert settling.already_settled == 1
    assert await inbox_has(store, "consent-accounts-settled", other.id)

    # An access nobody recorded yet is recorded by the handler, once.
    fresh = event(recorded.type, {**data, "access_id": str(uuid.uuid4())})
    assert await settling.apply(fresh)
    assert not await settling.apply(fresh)
    assert settling.already_settled == 2  # the second delivery: recorded by the first
    assert await size(store) == before + 1


async def test_malformed_release_is_skipped_not_recorded(store, accounts):
    before = await size(store)
    assert await accounts.apply(event("montreal.accounts.v1.attributes_released", {
        "access_id": "nope", "resident_id": RES, "service_id": "plateau-permits",
        "purpose_id": "service-provision", "categories": ["given_name"], "bases": {"given_name": "public_task"}}))
    assert await size(store) == before


async def test_login_grant_given_and_withdrawn(store, identity):
    grant_id = str(uuid.uuid4())
    await identity.apply(event("montreal.identity.v1.grant_given", {
        "grant_id": grant_id, "resident_id": RES, "client_id": "plateau-client", "scopes": ["openid"],
        "purposes_accepted": ["communication", "biometric-identity-verification"], "purposes_refused": []}))
    consents = await handlers.list_consents(commands.ListPage(RES), ConsentUnitOfWork(store))
    assert [(c.purpose_id, c.collection_method) for c in consents] == [("communication", "login_consent_screen")]
    [d] = await handlers.check(commands.CheckConsent(RES, "plateau-permits", "communication", ("email",)),
                               ConsentUnitOfWork(store))
    assert d.allowed
    await identity.apply(event("montreal.identity.v1.grant_withdrawn",
                               {"grant_id": grant_id, "resident_id": RES, "client_id": "plateau-client"}))
    everything = await handlers.list_consents(commands.ListPage(RES, include_inactive=True), ConsentUnitOfWork(store))
    assert [c.state for c in everything] == [ConsentState.WITHDRAWN]


async def test_service_suspended_then_every_check_denies(store, accounts):
    base = {"service_id": "pools-lachine", "client_id": "pools-lachine-client", "name_fr": "Piscines",
            "name_en": "Pools", "kind": "borough", "owner": "Arrondissement de Lachine",
            "purposes": ["service-provision"], "attributes": ["given_name"]}
    await accounts.apply(event("montreal.accounts.v1.service_registered", base))
    check = commands.CheckConsent(RES, "pools-lachine", "service-provision", ("given_name",))
    [d] = await handlers.check(check, ConsentUnitOfWork(store))
    assert d.allowed
    await accounts.apply(event("montreal.accounts.v1.service_updated", {**base, "state": "suspended"}))
    [d] = await handlers.check(check, ConsentUnitOfWork(store))
    assert (d.allowed, d.reason) == (False, "PURPOSE_NOT_DECLARED")


def now_event(type_, data):
    """An event written now (identity's release time decides which consents were in force)."""
    import datetime as dt

    return dataclasses.replace(event(type_, data), time=dt.datetime.now(dt.timezone.utc).isoformat())


async def test_identity_release_recorded_per_purpose_on_its_consent_and_once(store, accounts, identity):
    """A sign-in at a catalogue service: the identifier on the public task, the email on the
    consent the resident gave at login (named in the entry); a redelivered event, or the same
    release under another event id, writes nothing more."""
    resident = "6789ABCDEFGH"
    await accounts.apply(event("montreal.accounts.v1.service_registered", {
        "service_id": "montreal-ca", "client_id": "demo-montreal-ca", "name_fr": "montreal.ca",
        "name_en": "montreal.ca", "kind": "municipal", "owner": "Ville de Montréal",
        "purposes": ["service-provision", "communication"], "attributes": ["email", "given_name"]}))
    await identity.apply(event("montreal.identity.v1.grant_given", {
        "grant_id": str(uuid.uuid4()), "resident_id": resident, "client_id": "demo-montreal-ca",
        "scopes": ["openid", "email"], "purposes_accepted": ["communication"], "purposes_refused": []}))
    [consent] = await handlers.list_consents(commands.ListPage(resident), ConsentUnitOfWork(store))
    before = await size(store)
    release_id = str(uuid.uuid4())
    data = {"release_id": release_id, "resident_id": resident, "client_id": "demo-montreal-ca",
            "client_name": "montreal.ca (démo)", "channel": "token",
            "categories": ["email", "sign_in_identifier"], "repeat_window_seconds": 0}
    released = now_event("montreal.identity.v1.data_released", data)
    assert await identity.apply(released)
    assert not await identity.apply(released)                      # redelivered: the inbox
    await identity.apply(now_event("montreal.identity.v1.data_released", data))  # same release, new event id
    assert await size(store) == before + 2
    entries, _ = await handlers.access_log(commands.ListPage(resident), ConsentUnitOfWork(store))
    by_purpose = {e.body["purpose_id"]: e.body for e in entries}
    assert set(by_purpose) == {"communication", "service-provision"}
    assert by_purpose["communication"]["data_categories"] == ["email"]
    assert by_purpose["communication"]["bases"] == {"email": "consent"}
    assert by_purpose["communication"]["consent_ids"] == [consent.consent_id]
    assert by_purpose["service-provision"]["data_categories"] == ["sign_in_identifier"]
    assert by_purpose["service-provision"]["bases"] == {"sign_in_identifier": "public_task"}
    assert {e.recipient_id for e in entries} == {"montreal-ca"}


async def test_identity_release_to_a_client_outside_the_catalogue_names_the_client(store, identity):
    resident = "789ABCDEFGHJ"
    await identity.apply(event("montreal.identity.v1.data_released", {
        "release_id": str(uuid.uuid4()), "resident_id": resident, "client_id": "Partner_App.01",
        "client_name": "Application partenaire", "channel": "userinfo", "categories": ["sign_in_identifier"]}))
    entries, _ = await handlers.access_log(commands.ListPage(resident), ConsentUnitOfWork(store))
    assert [e.recipient_id for e in entries] == ["client-partner-app-01"]
    async with ConsentUnitOfWork(store) as uow:
        recipient = await uow.catalogue.recipient("client-partner-app-01")
    assert (recipient.client_id, recipient.name_fr) == ("Partner_App.01", "Application partenaire")
    # a malformed release is skipped, nothing appended
    before = await size(store)
    await identity.apply(event("montreal.identity.v1.data_released", {
        "release_id": "x", "resident_id": "not-a-resident", "client_id": "Partner_App.01",
        "categories": ["email"]}))
    assert await size(store) == before


async def test_login_consent_records_exactly_the_ticked_categories_and_ends_with_the_connection(store, identity):
    """Law 25: a category left unticked is never in the consent record; a later grant (a
    screen for the new part only) and the end of the connection end every login consent."""
    resident = "89ABCDEFGHJK"
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    await identity.apply(event("montreal.identity.v1.grant_given", {
        "grant_id": first, "resident_id": resident, "client_id": "plateau-client", "scopes": ["openid", "email"],
        "purposes_accepted": ["communication"], "purposes_refused": [],
        "purpose_categories": [{"purpose_id": "communication", "categories": ["email"]}]}))
    [consent] = await handlers.list_consents(commands.ListPage(resident), ConsentUnitOfWork(store))
    assert consent.data_categories == ("email",)
    # nothing ticked for a purpose: no consent
    await identity.apply(event("montreal.identity.v1.grant_given", {
        "grant_id": second, "resident_id": resident, "client_id": "plateau-client", "scopes": ["openid"],
        "purposes_accepted": ["service-provision"], "purposes_refused": [],
        "purpose_categories": [{"purpose_id": "service-provision", "categories": []}]}))
    assert len(await handlers.list_consents(commands.ListPage(resident), ConsentUnitOfWork(store))) == 1
    await identity.apply(event("montreal.identity.v1.grant_withdrawn",
                               {"grant_id": second, "resident_id": resident, "client_id": "plateau-client"}))
    assert await handlers.list_consents(commands.ListPage(resident), ConsentUnitOfWork(store)) == []


async def test_a_counter_look_up_is_a_data_access_by_the_office_naming_the_agent(store, identity):
    """Issue 17, point 3: identity's ``counter_file_accessed`` → one ``data_accessed`` entry by
    the office's counter (a recipient created on first use), on the city's public task, with
    the agent's reference in the leaf; a redelivery or a second event of the same access
    appends nothing; a malformed one is skipped."""
    resident = "9ABCDEFGHJKM"
    data = {"access_id": f"counter.{uuid.uuid4()}", "resident_id": resident, "office": "Accès Montréal — Lachine",
            "agent_reference": "AG0123456789", "action": "shown_in_name_search",
            "categories": ["given_name", "family_name", "date_of_birth"]}
    before = await size(store)
    looked_up = event("montreal.identity.v1.counter_file_accessed", data)
    assert await identity.apply(looked_up)
    assert not await identity.apply(looked_up)
    await identity.apply(event("montreal.identity.v1.counter_file_accessed", data))
    assert await size(store) == before + 1
    [entry], _ = await handlers.access_log(commands.ListPage(resident), ConsentUnitOfWork(store))
    assert entry.body["agent"] == "AG0123456789" and entry.body["purpose_id"] == "service-provision"
    assert entry.body["bases"] == {c: "public_task" for c in ("date_of_birth", "family_name", "given_name")}
    assert entry.body["source"] == "identity:counter"
    async with ConsentUnitOfWork(store) as uow:
        recipient = await uow.catalogue.recipient(entry.recipient_id)
    assert recipient.name_fr == "Comptoir Accès Montréal — bureau Accès Montréal — Lachine"
    assert recipient.kind == "counter"
    # the same office, another resident: the same recipient
    other = dict(data, access_id=f"counter.{uuid.uuid4()}", resident_id="ABCDEFGHJKMN", action="find_resident")
    await identity.apply(event("montreal.identity.v1.counter_file_accessed", other))
    [second], _ = await handlers.access_log(commands.ListPage("ABCDEFGHJKMN"), ConsentUnitOfWork(store))
    assert second.recipient_id == entry.recipient_id
    # no agent named: not a fact the ledger can record as a counter's access
    before = await size(store)
    await identity.apply(event("montreal.identity.v1.counter_file_accessed",
                               dict(data, access_id=f"counter.{uuid.uuid4()}", agent_reference="")))
    assert await size(store) == before


async def test_an_agent_action_through_accounts_is_a_data_access_by_the_office_or_the_calling_system(store, accounts):
    """Issue 17, point 5: accounts' ``counter_action_recorded`` → one ``data_accessed`` entry
    naming the agent (``source`` ``accounts:counter``): by the office's counter when the token
    named an office; without one (a borough's own staff directory, ``act.sub`` ``client:sub``)
    by the calling system, under a recipient derived from its client id. A redelivery appends
    nothing; no agent, nothing recorded."""
    resident = "BCDEFGHJKMNP"
    data = {"access_id": "accounts.act_0123456789ab0123456789abcdef", "resident_id": resident,
            "office": "Accès Montréal — Rosemont", "agent_reference": "AG0123456789", "action": "view_profile",
            "client_id": "counter-rosemont", "categories": ["given_name", "family_name"]}
    before = await size(store)
    viewed = event("montreal.accounts.v1.counter_action_recorded", data)
    assert await accounts.apply(viewed)
    assert not await accounts.apply(viewed)
    await accounts.apply(event("montreal.accounts.v1.counter_action_recorded", data))
    assert await size(store) == before + 1
    # a borough system's own staff member, no office
    borough = dict(data, access_id="accounts.act_0123456789ab0123456789abcdee", office="",
                   agent_reference="lasalle-desk:jdoe", client_id="lasalle-desk", action="link_account")
    await accounts.apply(event("montreal.accounts.v1.counter_action_recorded", borough))
    entries, _ = await handlers.access_log(commands.ListPage(resident), ConsentUnitOfWork(store))
    by_agent = {e.body["agent"]: e for e in entries}
    assert set(by_agent) == {"AG0123456789", "lasalle-desk:jdoe"}
    assert all(e.body["source"] == "accounts:counter" for e in entries)
    async with ConsentUnitOfWork(store) as uow:
        office = await uow.catalogue.recipient(by_agent["AG0123456789"].recipient_id)
        system = await uow.catalogue.recipient(by_agent["lasalle-desk:jdoe"].recipient_id)
    assert office.name_fr == "Comptoir Accès Montréal — bureau Accès Montréal — Rosemont"
    assert system.name_fr == "Système de comptoir — client lasalle-desk" and system.kind == "counter"
    before = await size(store)
    await accounts.apply(event("montreal.accounts.v1.counter_action_recorded",
                               dict(data, access_id="accounts.act_0123456789ab0123456789abcded", agent_reference="")))
    assert await size(store) == before


async def test_release_delivered_before_its_grant_rests_on_the_consent_and_the_grant_adds_nothing(store, accounts,
                                                                                                 identity):
    """Issue 15: ``data_released`` and ``grant_given`` travel on two subjects with no order
    between them. The release delivered first records at once (no redelivery, no wait) on the
    consent the resident ticked — the grant it carries —, and the late ``grant_given`` finds
    that consent recorded under the same grant and gives nothing twice."""
    resident = "9ABCDEFGHJKM"
    await accounts.apply(event("montreal.accounts.v1.service_registered", {
        "service_id": "montreal-ca", "client_id": "demo-montreal-ca", "name_fr": "montreal.ca",
        "name_en": "montreal.ca", "kind": "municipal", "owner": "Ville de Montréal",
        "purposes": ["service-provision", "communication"], "attributes": ["email", "given_name"]}))
    grant = {"grant_id": str(uuid.uuid4()), "purposes_accepted": ["communication"], "purposes_refused": [],
             "purpose_categories": [{"purpose_id": "communication", "categories": ["email"]}]}
    release_id = str(uuid.uuid4())
    released = now_event("montreal.identity.v1.data_released", {
        "release_id": release_id, "resident_id": resident, "client_id": "demo-montreal-ca",
        "client_name": "montreal.ca (démo)", "channel": "token", "categories": ["email", "sign_in_identifier"],
        "consented_categories": ["email"], "grant": grant})
    assert await identity.apply(released)  # applied on first delivery: nothing raised, nothing to redeliver
    [consent] = await handlers.list_consents(commands.ListPage(resident), ConsentUnitOfWork(store))
    assert consent.purpose_id == "communication" and consent.data_categories == ("email",)
    entries, _ = await handlers.access_log(commands.ListPage(resident), ConsentUnitOfWork(store))
    # this release's entries only (access ids ``<release_id>.<n>``): other tests of the module
    # record other accesses for the same resident
    by_purpose = {e.body["purpose_id"]: e.body for e in entries if e.access_id.startswith(release_id)}
    assert by_purpose["communication"]["bases"] == {"email": "consent"}
    assert by_purpose["communication"]["consent_ids"] == [consent.consent_id]
    assert by_purpose["service-provision"]["bases"] == {"sign_in_identifier": "public_task"}
    before = await size(store)
    # the grant's own event, late: already recorded under this grant, nothing given again
    await identity.apply(event("montreal.identity.v1.grant_given", {
        **grant, "resident_id": resident, "client_id": "demo-montreal-ca", "scopes": ["openid", "email"]}))
    assert await size(store) == before
    assert [c.consent_id for c in await handlers.list_consents(commands.ListPage(resident),
                                                               ConsentUnitOfWork(store))] == [consent.consent_id]


async def test_a_carte_citoyenne_issued_is_a_data_access_by_the_resident_s_wallet(store, identity):
    """Issue 23: identity's ``card_issued`` → one ``data_accessed`` entry, the recipient the
    resident's own wallet, on the city's public task; a redelivery appends nothing."""
    resident = "9ABCDEFGHJKP"
    card_id = str(uuid.uuid4())
    issued = event("montreal.identity.v1.card_issued",
                   {"resident_id": resident, "card_id": card_id, "expires_at": "2026-12-19T22:00:00Z"})
    before = await size(store)
    assert await identity.apply(issued)
    assert not await identity.apply(issued)
    assert await size(store) == before + 1
    [entry], _ = await handlers.access_log(commands.ListPage(resident), ConsentUnitOfWork(store))
    assert entry.recipient_id == "carte-citoyenne" and entry.body["source"] == "identity:card"
    assert set(entry.body["bases"]) == {"given_name", "family_name", "date_of_birth", "postal_address"}
    async with ConsentUnitOfWork(store) as uow:
        recipient = await uow.catalogue.recipient("carte-citoyenne")
    assert recipient.name_fr == "Votre portefeuille — carte citoyenne"


async def test_a_card_renewed_and_revoked_are_entries_of_their_own(store, identity):
    """Issue 23: a silent renewal (``card_issued`` with ``renewal``) is a ``card_renewed``
    entry, not a new data access; ``card_revoked`` is a ``card_revoked`` entry with its
    reason; redeliveries append nothing; a reason identity does not send is skipped."""
    from services.consent.domain.ledger import EntryType

    resident = "9ABCDEFGHJKQ"
    first, renewed = str(uuid.uuid4()), str(uuid.uuid4())
    assert await identity.apply(event("montreal.identity.v1.card_issued",
                                      {"resident_id": resident, "card_id": first, "expires_at": "2026-12-19T22:00:00Z"}))
    renewal = event("montreal.identity.v1.card_issued", {"resident_id": resident, "card_id": renewed,
                                                         "expires_at": "2027-01-02T22:00:00Z", "renewal": True})
    revoked = event("montreal.identity.v1.card_revoked",
                    {"resident_id": resident, "card_id": renewed, "reason": "lost_device"})
    before = await size(store)
    assert await identity.apply(renewal)
    assert await identity.apply(revoked)
    # the same facts again under other event ids (a replayed dead letter): nothing appended
    assert await identity.apply(event(renewal.type, renewal.data))
    assert await identity.apply(event(revoked.type, revoked.data))
    assert await identity.apply(event(revoked.type, {**revoked.data, "card_id": first, "reason": "stolen"}))
    assert await size(store) == before + 2
    entries, _ = await handlers.access_log(commands.ListPage(resident), ConsentUnitOfWork(store))
    assert [e.access_id for e in entries] == [f"card.{first}"]  # one data access: the first card
    async with ConsentUnitOfWork(store) as uow:
        card_entries = await uow.ledger.resident_entries(
            resident, types=[EntryType.CARD_RENEWED, EntryType.CARD_REVOKED])
    assert [(e.entry_type, e.body["card_id"]) for e in card_entries] == [
        (EntryType.CARD_RENEWED, renewed), (EntryType.CARD_REVOKED, renewed)]
    assert card_entries[0].body["expires_at"] == "2027-01-02T22:00:00Z"
    assert card_entries[1].body["reason"] == "lost_device"


async def test_a_release_on_someones_behalf_names_the_mandatary_and_the_mandate_or_is_skipped(store, identity):
    """Issue 22: identity's ``data_released`` for a client a mandatary signed in to on the
    resident's behalf carries both the mandatary and the mandate; the ``data_accessed`` entry
    keeps them ("par X, en vertu de la procuration M"). One without the other, or a mandatary
    that is no citizen identifier, is skipped: nothing appended."""
    resident, mandatary, mandate = "89ABCDEFGHJK", "9ABCDEFGHJKM", str(uuid.uuid4())
    release = {"release_id": str(uuid.uuid4()), "resident_id": resident, "client_id": "Demo_OnBehalf",
               "client_name": "montreal.ca (démo)", "channel": "token",
               "categories": ["family_name", "given_name", "sign_in_identifier"]}
    await identity.apply(event("montreal.identity.v1.data_released",
                               {**release, "mandatary_id": mandatary, "mandate_id": mandate}))
    [entry] = (await handlers.access_log(commands.ListPage(resident), ConsentUnitOfWork(store)))[0]
    assert (entry.body["mandatary_id"], entry.body["mandate_id"]) == (mandatary, mandate)
    assert sorted(entry.body["data_categories"]) == ["family_name", "given_name", "sign_in_identifier"]
    before = await size(store)
    for bad in ({"mandatary_id": mandatary}, {"mandate_id": mandate},
                {"mandatary_id": "not-a-resident", "mandate_id": mandate}):
        await identity.apply(event("montreal.identity.v1.data_released",
                                   {**release, "release_id": str(uuid.uuid4()), **bad}))
    assert await size(store) == before
