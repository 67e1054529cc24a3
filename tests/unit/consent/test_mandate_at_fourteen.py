"""Issue 22, Law 25 (domain): the 14th birthday of a minor's mandate, and what it covers then."""

from __future__ import annotations

import datetime as dt

from services.consent.domain import ledger
from services.consent.domain.mandates import Action, MandateBasis, ScopeItem, decide_act, reduce_mandates

UTC = dt.timezone.utc
ALL = frozenset(Action)


def _granted(basis: str, until: dt.datetime | None, *, when=dt.datetime(2020, 1, 1, tzinfo=UTC)):
    grant = ledger.mandate_granted(
        mandate_id="11111111-1111-4111-8111-111111111111", represented_id="CDEFGHJKMNPQ", mandatary_id="BCDEFGHJKMNP",
        grantor_id="BCDEFGHJKMNP", basis=basis, scope=[{"service": "*", "actions": sorted(a.value for a in ALL)}],
        valid_from=when, valid_until=until, time=when, actor="agent:AG1", under_mandate_id=None, document=None)
    accept = ledger.mandate_accepted(mandate_id="11111111-1111-4111-8111-111111111111", represented_id="CDEFGHJKMNPQ",
                                     mandatary_id="BCDEFGHJKMNP", time=when, actor="agent:AG1")
    return [grant.at(0), accept.at(1)]


def test_the_fourteenth_birthday_is_four_years_before_the_recorded_end():
    [m] = reduce_mandates(_granted("parental_authority", dt.datetime(2031, 3, 2, 5, tzinfo=UTC))).values()
    assert m.fourteenth_birthday == dt.datetime(2027, 3, 2, 5, tzinfo=UTC)
    [leap] = reduce_mandates(_granted("tutorship_minor", dt.datetime(2032, 2, 29, 5, tzinfo=UTC))).values()
    assert leap.fourteenth_birthday == dt.datetime(2028, 2, 29, 5, tzinfo=UTC)
    # An adult's mandate, or a minor's without an end, has none.
    [adult] = reduce_mandates(_granted("court_tutorship", dt.datetime(2031, 3, 2, tzinfo=UTC))).values()
    [open_ended] = reduce_mandates(_granted("parental_authority", None)).values()
    assert adult.fourteenth_birthday is None and open_ended.fourteenth_birthday is None
    assert MandateBasis.TUTORSHIP_MINOR.for_minor


def test_consent_is_not_covered_from_the_birthday_and_the_narrowed_entry_says_so():
    entries = _granted("parental_authority", dt.datetime(2031, 3, 2, 5, tzinfo=UTC))
    birthday = dt.datetime(2027, 3, 2, 5, tzinfo=UTC)
    [m] = reduce_mandates(entries).values()
    ask = dict(mandatary_id="BCDEFGHJKMNP", represented_id="CDEFGHJKMNPQ", service="montreal-camps", family=None)
    assert decide_act([m], **ask, action=Action.CONSENT, now=birthday - dt.timedelta(seconds=1)).allowed
    refused = decide_act([m], **ask, action=Action.CONSENT, now=birthday)
    assert (refused.allowed, refused.reason) == (False, "ACTION_NOT_COVERED")
    assert decide_act([m], **ask, action=Action.PAY, now=birthday).allowed
    assert m.scope_at(birthday) == (ScopeItem("*", ALL - {Action.CONSENT}),)

    narrowed = ledger.mandate_narrowed(mandate_id=m.mandate_id, represented_id=m.represented_id,
                                       mandatary_id=m.mandatary_id, removed_actions=["consent"],
                                       reason="minor_turned_14", effective_at=birthday,
                                       time=birthday + dt.timedelta(hours=3)).at(2)
    [after] = reduce_mandates([*entries, narrowed]).values()
    assert (after.narrowed_at, after.narrowed_reason, after.narrowed_actions) == (
        birthday, "minor_turned_14", frozenset({Action.CONSENT}))
    assert after.scope_at(birthday) == m.scope_at(birthday)
