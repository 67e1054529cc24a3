"""Mandates (issue 22) through the handlers on a migrated SQLite or PostgreSQL database: the
lifecycle as ledger entries, the decision "may X act for Y", and every refusal writing nothing."""

from __future__ import annotations

import datetime as dt

import pytest

from services.common.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from services.consent.domain.catalogue import Recipient
from services.consent.domain.ledger import EntryType
from services.consent.service_layer import commands, handlers
from services.consent.service_layer import mandates as mh

PARENT, CHILD, GRANDMA, CAREGIVER, ELDER = "2345678ABCDE", "3456789BCDEF", "456789ACDEFG", "56789ABDEFGH", \
    "6789ABCEFGHJ"
NOW = dt.datetime(2026, 12, 5, 12, tzinfo=dt.timezone.utc)
YEAR = dt.timedelta(days=365)


@pytest.fixture(scope="module", autouse=True)
async def recipients(store):
    from services.consent.adapters.uow import ConsentUnitOfWork
    await handlers.register_recipient(Recipient("montreal-library", "library-client", "Bibliothèques",
                                                "Libraries", kind="culture"), ConsentUnitOfWork(store))
    await handlers.register_recipient(Recipient("montreal-taxes", "taxes-client", "Taxes", "Taxes",
                                                kind="finances"), ConsentUnitOfWork(store))


def give(represented, mandatary, *, grantor=None, scope=(("montreal-library", ("view", "request")),),
         until=NOW + YEAR, basis="resident_consent", **kw):
    return commands.GiveMandate(represented_id=represented, mandatary_id=mandatary,
                                grantor_id=grantor or represented, basis=basis, scope=scope,
                                valid_until=until, **kw)


def ask(mandatary, represented, service="montreal-library", action="view"):
    return commands.MandateQuestion(mandatary, represented, service, action)


async def size(uow):
    async with uow() as u:
        return await u.ledger.size()


async def test_a_resident_mandate_is_pending_until_accepted_then_used_then_revoked(uow):
    mandate = await mh.give(give(ELDER, CAREGIVER), uow(), now=NOW)
    assert mandate.state.value == "pending" and mandate.valid_until == NOW + YEAR

    [pending] = await mh.decide([ask(CAREGIVER, ELDER)], uow(), now=NOW)
    assert (pending.allowed, pending.reason) == (False, "MANDATE_PENDING")

    accepted = await mh.accept(commands.AcceptMandate(mandate.mandate_id, CAREGIVER), uow(), now=NOW)
    assert accepted.state.value == "active"
    view, pay, other, stranger = await mh.decide(
        [ask(CAREGIVER, ELDER), ask(CAREGIVER, ELDER, action="pay"), ask(CAREGIVER, ELDER, "montreal-taxes"),
         ask(GRANDMA, ELDER)], uow(), now=NOW + dt.timedelta(minutes=1))
    assert (view.allowed, view.mandate_id) == (True, mandate.mandate_id)
    assert (pay.allowed, pay.reason) == (False, "ACTION_NOT_COVERED")
    assert (other.allowed, other.reason) == (False, "ACTION_NOT_COVERED")
    assert (stranger.allowed, stranger.reason) == (False, "NO_MANDATE")

    revoked = await mh.end(commands.EndMandate(mandate.mandate_id, by=ELDER), uow(), now=NOW + dt.timedelta(minutes=2))
    assert (revoked.state.value, revoked.end_reason) == ("revoked", "represented")
    [after] = await mh.decide([ask(CAREGIVER, ELDER)], uow(), now=NOW + dt.timedelta(minutes=2))
    assert (after.allowed, after.reason) == (False, "MANDATE_REVOKED")

    # Both sides see it, with its whole history; the ledger holds the three facts.
    elder, caregiver = await mh.list_mandates(ELDER, uow()), await mh.list_mandates(CAREGIVER, uow())
    assert [m.mandate_id for m in elder.given] == [mandate.mandate_id] and not elder.received
    assert [m.mandate_id for m in caregiver.received] == [mandate.mandate_id] and not caregiver.given
    async with uow() as u:
        entries = [e for e in await u.ledger.mandate_entries() if e.body["mandate_id"] == mandate.mandate_id]
    assert [e.entry_type for e in entries] == [EntryType.MANDATE_GRANTED, EntryType.MANDATE_ACCEPTED,
                                               EntryType.MANDATE_REVOKED]
    assert all(e.resident_id == ELDER for e in entries)
    assert entries[0].body["mandatary_id"] == CAREGIVER and entries[0].body["scope"] == [
        {"service": "montreal-library", "actions": ["request", "view"]}]


async def test_a_mandate_expires_at_its_end_and_a_declined_one_never_starts(uow):
    mandate = await mh.give(give(ELDER, GRANDMA, until=NOW + dt.timedelta(days=1)), uow(), now=NOW)
    await mh.accept(commands.AcceptMandate(mandate.mandate_id, GRANDMA), uow(), now=NOW)
    [later] = await mh.decide([ask(GRANDMA, ELDER)], uow(), now=NOW + dt.timedelta(days=1))
    assert (later.allowed, later.reason) == (False, "MANDATE_EXPIRED")

    other = await mh.give(give(PARENT, GRANDMA), uow(), now=NOW)
    declined = await mh.end(commands.EndMandate(other.mandate_id, by=GRANDMA), uow(), now=NOW)
    assert declined.end_reason == "declined"
    with pytest.raises(FailedPrecondition) as err:
        await mh.accept(commands.AcceptMandate(other.mandate_id, GRANDMA), uow(), now=NOW)
    assert err.value.reason == "MANDATE_REVOKED"


async def test_parental_authority_is_recorded_at_the_counter_on_a_document_and_active_at_once(uow):
    cmd = give(CHILD, PARENT, grantor=PARENT, basis="parental_authority", until=NOW + 10 * YEAR,
               scope=(("*", ("view", "request", "pay", "consent")),), document_kind="birth_certificate",
               document_reference="QC-1234-5678", agent="AG7K2M", actor="agent:AG7K2M")
    mandate = await mh.give(cmd, uow(), now=NOW)
    assert mandate.state.value == "active" and mandate.document.checked_by == "AG7K2M"
    # The document's number is not in the log: only its hash.
    async with uow() as u:
        leaf = next(e for e in await u.ledger.mandate_entries() if e.body["mandate_id"] == mandate.mandate_id)
    assert b"QC-1234-5678" not in leaf.leaf_data() and leaf.body["document"]["kind"] == "birth_certificate"
    [taxes] = await mh.decide([ask(PARENT, CHILD, "montreal-taxes", "consent")], uow(), now=NOW)
    assert taxes.allowed

    # No document, the wrong document, or a resident's own session: refused, nothing written.
    before = await size(uow)
    with pytest.raises(InvalidArgument) as err:
        await mh.give(give(CHILD, PARENT, basis="parental_authority", until=NOW + YEAR, agent="AG7K2M"), uow(), now=NOW)
    assert err.value.violations[0][0] == "document_kind"
    with pytest.raises(PermissionDenied):
        await mh.give(give(CHILD, PARENT, basis="parental_authority", document_kind="birth_certificate",
                           document_reference="x"), uow(), now=NOW)
    assert await size(uow) == before


async def test_a_family_scope_covers_the_services_of_that_kind(uow):
    mandate = await mh.give(give(PARENT, GRANDMA, scope=(("family:culture", ("view",)),)), uow(), now=NOW)
    await mh.accept(commands.AcceptMandate(mandate.mandate_id, GRANDMA), uow(), now=NOW)
    library, taxes = await mh.decide([ask(GRANDMA, PARENT), ask(GRANDMA, PARENT, "montreal-taxes")], uow(), now=NOW)
    assert library.allowed and (taxes.allowed, taxes.reason) == (False, "ACTION_NOT_COVERED")


@pytest.mark.parametrize("case, reason", [
    ("self", "SELF_MANDATE"),
    ("expired", "MANDATE_EXPIRED"),
    ("too_long", "TOO_LONG"),
    ("beyond_scope", "BEYOND_GRANTOR_RIGHTS"),
    ("no_mandate", "BEYOND_GRANTOR_RIGHTS"),
    ("outlasts", "BEYOND_GRANTOR_RIGHTS"),
    ("circular", "CIRCULAR"),
])
async def test_bad_mandates_are_refused_with_a_reason_and_nothing_is_recorded(uow, case, reason):
    # The parent holds parental authority for the child for the library only, view+request.
    base = await mh.give(give(CHILD, PARENT, grantor=PARENT, basis="parental_authority", until=NOW + 2 * YEAR,
                              document_kind="birth_certificate", document_reference="QC-1", agent="AG7K2M",
                              actor="agent:AG7K2M"), uow(), now=NOW)
    sub = await mh.give(give(CHILD, GRANDMA, grantor=PARENT, under_mandate_id=base.mandate_id,
                             scope=(("montreal-library", ("view",)),)), uow(), now=NOW)
    await mh.accept(commands.AcceptMandate(sub.mandate_id, GRANDMA), uow(), now=NOW)
    cmd = {
        "self": give(ELDER, ELDER),
        "expired": give(ELDER, CAREGIVER, until=NOW - dt.timedelta(seconds=1)),
        "too_long": give(ELDER, CAREGIVER, until=NOW + YEAR + dt.timedelta(days=2)),
        "beyond_scope": give(CHILD, CAREGIVER, grantor=PARENT, under_mandate_id=base.mandate_id,
                             scope=(("montreal-library", ("pay",)),)),
        "no_mandate": give(ELDER, CAREGIVER, grantor=PARENT),
        # Grandma's own mandate ends a year from now: hers cannot run a day longer.
        "outlasts": give(CHILD, CAREGIVER, grantor=GRANDMA, under_mandate_id=sub.mandate_id,
                         until=NOW + YEAR + dt.timedelta(days=1), scope=(("montreal-library", ("view",)),)),
        "circular": give(CHILD, PARENT, grantor=GRANDMA, under_mandate_id=sub.mandate_id,
                         scope=(("montreal-library", ("view",)),)),
    }[case]
    before = await size(uow)
    with pytest.raises(FailedPrecondition) as err:
        await mh.give(cmd, uow(), now=NOW)
    assert err.value.reason == reason, err.value.message
    assert err.value.message
    assert await size(uow) == before


async def test_malformed_mandates_name_the_field(uow):
    before = await size(uow)
    for cmd, field in [
        (give("nope", CAREGIVER), "represented_id"),
        (give(ELDER, CAREGIVER, basis="friendship"), "basis"),
        (give(ELDER, CAREGIVER, scope=()), "scope"),
        (give(ELDER, CAREGIVER, scope=(("Library!", ("view",)),)), "scope[0].service"),
        (give(ELDER, CAREGIVER, scope=(("montreal-library", ("steal",)),)), "scope[0].actions[0]"),
    ]:
        with pytest.raises(InvalidArgument) as err:
            await mh.give(cmd, uow(), now=NOW)
        assert err.value.violations[0][0] == field
    with pytest.raises(InvalidArgument) as err:
        await mh.decide([ask(CAREGIVER, ELDER, service="*", action="fly")], uow(), now=NOW)
    assert [f for f, _ in err.value.violations] == ["questions[0].service", "questions[0].action"]
    assert await size(uow) == before


async def test_a_sub_mandate_ends_with_its_source(uow):
    """A parent hands the library to a grandparent; when the parent's authority is revoked at
    the counter, the grandparent may no longer act either, at once."""
    source = await mh.give(give(CHILD, PARENT, grantor=PARENT, basis="parental_authority", until=NOW + 2 * YEAR,
                                document_kind="birth_certificate", document_reference="QC-9", agent="AG7K2M",
                                actor="agent:AG7K2M"), uow(), now=NOW)
    handed = await mh.give(give(CHILD, CAREGIVER, grantor=PARENT, under_mandate_id=source.mandate_id,
                                scope=(("montreal-library", ("view",)),)), uow(), now=NOW)
    await mh.accept(commands.AcceptMandate(handed.mandate_id, CAREGIVER), uow(), now=NOW)
    [before] = await mh.decide([ask(CAREGIVER, CHILD)], uow(), now=NOW)
    assert before.allowed and before.mandate_id == handed.mandate_id
    await mh.end(commands.EndMandate(source.mandate_id, by="", actor="agent:AG7K2M"), uow(), now=NOW)
    [after] = await mh.decide([ask(CAREGIVER, CHILD)], uow(), now=NOW)
    assert (after.allowed, after.reason) == (False, "SOURCE_MANDATE_ENDED")


async def test_the_expiry_sweep_writes_one_ending_per_mandate_past_its_end(uow):
    soon = await mh.give(give(GRANDMA, CAREGIVER, until=NOW + dt.timedelta(hours=1)), uow(), now=NOW)
    later = NOW + dt.timedelta(hours=2)
    assert await mh.expire_due(uow(), now=later) >= 1
    assert await mh.expire_due(uow(), now=later) == 0          # idempotent
    async with uow() as u:
        endings = [e for e in await u.ledger.mandate_entries()
                   if e.body["mandate_id"] == soon.mandate_id and e.entry_type is EntryType.MANDATE_EXPIRED]
    assert len(endings) == 1 and endings[0].resident_id == GRANDMA
    listing = await mh.list_mandates(GRANDMA, uow(), now=later)
    [ended] = [m for m in listing.given if m.mandate_id == soon.mandate_id]
    assert (ended.state.value, ended.end_reason) == ("expired", "expired")


async def test_a_child_cannot_revoke_parental_authority_but_the_counter_can(uow):
    authority = await mh.give(give(CHILD, ELDER, grantor=ELDER, basis="parental_authority", until=NOW + YEAR,
                                   document_kind="adoption_judgment", document_reference="J-77", agent="AG7K2M",
                                   actor="agent:AG7K2M"), uow(), now=NOW)
    before = await size(uow)
    with pytest.raises(PermissionDenied) as err:
        await mh.end(commands.EndMandate(authority.mandate_id, by=CHILD), uow(), now=NOW)
    assert err.value.reason == "COUNTER_ONLY" and await size(uow) == before
    ended = await mh.end(commands.EndMandate(authority.mandate_id, by="", actor="agent:AG7K2M"), uow(), now=NOW)
    assert (ended.state.value, ended.end_reason) == ("revoked", "counter")
