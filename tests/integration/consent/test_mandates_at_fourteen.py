"""Issue 22, Law 25: on a minor's 14th birthday the parental-authority mandate stops covering
``consent`` — refused from that day in every decision, recorded by the daily round as a
``mandate_narrowed`` ledger fact both sides see, with one ``minor_turned_fourteen`` event for
the minor's notice. A clock we control (``now=``), a real migrated database."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import text

from services.common.errors import FailedPrecondition
from services.consent.domain.catalogue import Recipient
from services.consent.domain.grant_rules import RequestedConsent
from services.consent.domain.ledger import EntryType
from services.consent.domain.mandates import MandateState
from services.consent.service_layer import commands, handlers
from services.consent.service_layer import mandates as mh

PARENT, CHILD, OTHER_PARENT, ELDER, CARER = "BCDEFGHJKMNP", "CDEFGHJKMNPQ", "DEFGHJKMNPQR", "EFGHJKMNPQRS", "FGHJKMNPQRST"
NOW = dt.datetime(2026, 12, 5, 17, tzinfo=dt.timezone.utc)
EIGHTEEN = dt.datetime(2031, 3, 2, 5, tzinfo=dt.timezone.utc)   # midnight in Montréal, the 18th birthday
FOURTEEN = dt.datetime(2027, 3, 2, 5, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module", autouse=True)
async def recipients(store):
    from services.consent.adapters.uow import ConsentUnitOfWork
    await handlers.register_recipient(Recipient("montreal-camps", "camps-client", "Camps de jour", "Day camps",
                                                kind="sports", purposes=("communication",),
                                                data_categories=("email",)), ConsentUnitOfWork(store))


def parental(mandatary, scope=(("*", ("view", "request", "pay", "consent")),)):
    return commands.GiveMandate(represented_id=CHILD, mandatary_id=mandatary, grantor_id=mandatary,
                                basis="parental_authority", scope=scope, valid_until=EIGHTEEN,
                                document_kind="birth_certificate", document_reference="QC-1234", agent="AG0000000001",
                                actor="agent:AG0000000001")


def ask(mandatary, action, service="montreal-camps"):
    return commands.MandateQuestion(mandatary, CHILD, service, action)


async def events(engine, name):
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT envelope FROM outbox WHERE subject = :s"),
                                        {"s": f"montreal.consent.v1.{name}"})
        return [json.loads(r[0])["data"] for r in rows]


async def test_consent_stops_at_fourteen_and_the_round_records_it_once(uow, engine):
    both = await mh.give(parental(PARENT), uow(), now=NOW)
    view_only = await mh.give(parental(OTHER_PARENT, (("*", ("view",)),)), uow(), now=NOW)
    # A resident's own mandate for an adult is not a minor's: untouched.
    adult = await mh.give(commands.GiveMandate(represented_id=ELDER, mandatary_id=CARER, grantor_id=ELDER,
                                               basis="resident_consent", valid_until=NOW + dt.timedelta(days=300),
                                               scope=(("*", ("view", "consent")),)), uow(), now=NOW)
    await mh.accept(commands.AcceptMandate(adult.mandate_id, CARER), uow(), now=NOW)

    the_day_before = FOURTEEN - dt.timedelta(milliseconds=1)
    [consent, view] = await mh.decide([ask(PARENT, "consent"), ask(PARENT, "view")], uow(), now=the_day_before)
    assert consent.allowed and view.allowed
    assert await mh.narrow_at_fourteen(uow(), now=the_day_before) == 0

    # From the birthday, before the round has run: consent refused, the rest still allowed.
    [consent, view, pay] = await mh.decide([ask(PARENT, "consent"), ask(PARENT, "view"), ask(PARENT, "pay")],
                                           uow(), now=FOURTEEN)
    assert (consent.allowed, consent.reason, view.allowed, pay.allowed) == (False, "ACTION_NOT_COVERED", True, True)
    grant = commands.GiveConsent(resident_id=CHILD, recipient_id="montreal-camps", items=(RequestedConsent(
        purpose_id="communication", data_categories=("email",)),), collection_method="account_page",
        explicit_act=True, language="fr")
    with pytest.raises(FailedPrecondition) as refused:
        await mh.grant_on_behalf(grant, PARENT, uow(), now=FOURTEEN + dt.timedelta(hours=1))
    assert refused.value.reason == "ACTION_NOT_COVERED"
    [carer_consents] = await mh.decide([commands.MandateQuestion(CARER, ELDER, "montreal-camps", "consent")], uow(),
                                       now=FOURTEEN)
    assert carer_consents.allowed

    # The round: one entry per mandate of the minor, once; one event for the minor.
    later = FOURTEEN + dt.timedelta(hours=6)
    assert await mh.narrow_at_fourteen(uow(), now=later) == 2
    assert await mh.narrow_at_fourteen(uow(), now=later + dt.timedelta(days=1)) == 0
    async with uow() as u:
        narrowed = [e for e in await u.ledger.mandate_entries_of([CHILD]) if e.entry_type is EntryType.MANDATE_NARROWED]
    assert sorted((e.body["mandate_id"], tuple(e.body["removed_actions"]), e.body["reason"]) for e in narrowed) == \
        sorted([(both.mandate_id, ("consent",), "minor_turned_14"), (view_only.mandate_id, (), "minor_turned_14")])
    [event] = await events(engine, "minor_turned_fourteen")
    assert event["resident_id"] == CHILD
    assert dict(zip(event["mandate_ids"], event["mandates"])) == {
        both.mandate_id: "parental_authority:view+request+pay", view_only.mandate_id: "parental_authority:view"}

    # Both sides see it: the minor's listing and the parent's; the scope shown is what holds now.
    child_side = await mh.list_mandates(CHILD, uow(), now=later)
    parent_side = await mh.list_mandates(PARENT, uow(), now=later)
    [shown] = [m for m in child_side.given if m.mandate_id == both.mandate_id]
    [held] = [m for m in parent_side.received if m.mandate_id == both.mandate_id]
    assert shown.narrowed_at == held.narrowed_at == FOURTEEN
    assert {a.value for i in shown.scope_at(later) for a in i.actions} == {"view", "request", "pay"}
    assert shown.state is MandateState.ACTIVE
