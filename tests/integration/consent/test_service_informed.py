"""Issue 21, "what linked services are told": accounts' ``service_account_suspended`` /
``service_account_reactivated`` become a ``service_informed`` entry in the resident's
history and export, once, on a real database (SQLite, or PostgreSQL with
MTLID_TEST_DATABASE=postgres) through the foundation's EventConsumer (inbox + handler in one
transaction)."""

from __future__ import annotations

import json
import logging
import uuid

from montreal.consent.v1 import consent_pb2 as pb
from services.common.consumer import EventConsumer
from services.common.events import CloudEvent
from services.consent.adapters.uow import ConsentUnitOfWork
from services.consent.domain.ledger import EntryType
from services.consent.entrypoints.grpc import _entry as wire_entry
from services.consent.service_layer import commands, handlers
from services.consent.service_layer.event_handlers import ACCOUNTS_SUBJECTS, dispatcher

RES = "6789ABCDEFGH"
SERVICE = "bixi-abonnements"
SUSPENDED = "montreal.accounts.v1.service_account_suspended"
REACTIVATED = "montreal.accounts.v1.service_account_reactivated"


def consumer(store, durable="consent-accounts-informed"):
    return EventConsumer(jetstream=lambda: None, uow_factory=lambda: ConsentUnitOfWork(store), durable=durable,
                         stream_service="accounts", subjects=list(ACCOUNTS_SUBJECTS),
                         handler=dispatcher(ACCOUNTS_SUBJECTS))


def event(type_, resident_id, reason, **extra):
    return CloudEvent(id=str(uuid.uuid4()), type=type_, source="mtlid/accounts", time="2026-12-05T21:00:00Z",
                      data={"account_id": str(uuid.uuid4()), "resident_id": resident_id, "service_id": SERVICE,
                            "reason": reason, **extra})


async def register_service(accounts):
    await accounts.apply(CloudEvent(
        id=str(uuid.uuid4()), type="montreal.accounts.v1.service_registered", source="mtlid/accounts",
        time="2026-12-05T20:00:00Z", data={
            "service_id": SERVICE, "client_id": "bixi-client", "name_fr": "BIXI Montréal",
            "name_en": "BIXI Montréal", "kind": "partner", "owner": "BIXI Montréal (OBNL)",
            "purposes": ["service-provision"], "attributes": ["email"]}))


async def told(store, resident_id):
    async with ConsentUnitOfWork(store) as uow:
        return await uow.ledger.resident_entries(resident_id, types=[EntryType.SERVICE_INFORMED])


async def size(store):
    return (await handlers.signed_tree_head(0, ConsentUnitOfWork(store))).tree_size


async def test_a_suspension_for_the_closing_is_one_entry_in_the_history_however_often_it_arrives(store):
    accounts = consumer(store)
    await register_service(accounts)
    # A stray value a producer should never send: it must not reach the ledger either.
    suspended = event(SUSPENDED, RES, "resident_closed", email="ferme@example.ca")
    before = await size(store)
    assert await accounts.apply(suspended)
    assert not await accounts.apply(suspended)          # redelivered: the inbox has it
    # Replayed past the inbox (a dead letter sent again by another consumer name): the
    # handler itself finds the entry by notice_id.
    assert await consumer(store, "consent-accounts-replay").apply(suspended)
    assert await size(store) == before + 1

    [entry] = await told(store, RES)
    assert entry.body == {"notice_id": suspended.id, "recipient_id": SERVICE,
                          "account_id": suspended.data["account_id"], "informed_of": "resident_closed",
                          "source": "event:mtlid/accounts"}
    assert b"ferme@example.ca" not in entry.leaf_data()
    # The resident's history over gRPC names it by its own type.
    rows, _ = await handlers.history(commands.ListPage(RES), ConsentUnitOfWork(store))
    assert [r.entry_type for r in rows][-1] is EntryType.SERVICE_INFORMED
    assert wire_entry(rows[-1]).type == pb.ENTRY_TYPE_SERVICE_INFORMED
    assert wire_entry(rows[-1]).recipient_id == SERVICE


async def test_the_reopening_is_its_own_entry_and_the_export_lists_both_with_the_service_named(store):
    resident = "789ABCDEFGHJ"
    accounts = consumer(store)
    await register_service(accounts)
    await accounts.apply(event(SUSPENDED, resident, "resident_closed"))
    await accounts.apply(event(REACTIVATED, resident, "resident_reopened"))
    assert [e.body["informed_of"] for e in await told(store, resident)] == ["resident_closed", "resident_reopened"]

    document, _ = await handlers.export(commands.RequestExport(resident), ConsentUnitOfWork(store))
    exported = json.loads(document)
    informed = [e["entry"] for e in exported["ledger_entries"] if e["entry"]["type"] == "service_informed"]
    assert [(e["recipient_id"], e["informed_of"]) for e in informed] == [
        (SERVICE, "resident_closed"), (SERVICE, "resident_reopened")]
    assert {"recipient_id": SERVICE, "name_fr": "BIXI Montréal", "name_en": "BIXI Montréal", "kind": "partner",
            "owner": "BIXI Montréal (OBNL)"} in exported["recipients"]


async def test_an_event_that_breaks_a_rule_is_logged_by_its_identifiers_and_appends_nothing(store, caplog):
    accounts = consumer(store)
    before = await size(store)
    caplog.set_level(logging.WARNING, logger="services.consent.service_layer.event_handlers")
    for bad in (event(SUSPENDED, "not-a-citizen", "resident_closed"),
                event(SUSPENDED, RES, "the service felt like it"),
                CloudEvent(id=str(uuid.uuid4()), type=SUSPENDED, source="mtlid/accounts",
                           time="2026-12-05T21:00:00Z", data={"resident_id": RES, "service_id": "Not A Slug",
                                                              "reason": "resident_closed"})):
        assert await accounts.apply(bad)                 # acknowledged, not redelivered forever
    assert await size(store) == before
    skipped = [r for r in caplog.records if r.getMessage() == "consent: event not applied"]
    assert len(skipped) == 3 and all(r.event_type == SUSPENDED for r in skipped)
