"""Mandates (procurations): one resident acting for another, as a reduction of ledger entries.

A mandate says who represents whom (``mandatary_id`` for ``represented_id``), for what (a
scope: services or service families × actions), from when to when, and on what basis. It
lives only in the ledger, as entries of the represented resident's log (``resident_id`` is the
represented resident), so the proof of who may act for whom is the same Merkle log as consents
(docs/mandates.md states the legal choices; LEDGER.md the leaf formats).

Lifecycle::

    granted ──accepted──▶ active ──suspended──▶ suspended
       │                    │  ▲                    │
       │                    │  └──── (none) ────────┘
       └──────revoked / declined / expired (any state before) ──▶ ended

- basis ``resident_consent`` (Civil Code of Québec art. 2130: a mandate given by the
  resident, in Mon compte): pending until the mandatary accepts it (art. 2132: acceptance may
  be express), at most one year;
- ``parental_authority`` (CCQ arts. 192, 597–600) and ``tutorship_minor`` (CCQ arts. 177 ff.),
  for a minor: recorded at the counter on documents; active at once; the validity a legal
  document gives (at most the 18th birthday: CCQ art. 153);
- ``protection_mandate`` (CCQ arts. 2166 ff., acts only once homologated: art. 2166 al. 2) and
  ``court_tutorship`` (CCQ arts. 268 ff.), for an adult: recorded at the counter on the court's
  judgment; active at once; the validity the judgment gives (may be open-ended).

A mandate past ``valid_until`` is expired at that instant, whether or not its
``mandate_expired`` entry is written yet (``Mandate.state_at``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
from collections.abc import Iterable, Mapping, Sequence

from services.consent.domain.ledger import EntryType, LedgerEntry, parse_time

#: One year: the longest mandate a resident may give without a legal document.
MAX_CONSENT_VALIDITY = dt.timedelta(days=366)
#: Scope ``service`` values: a recipient (service) id, ``family:<kind>`` (every service whose
#: recipient is registered with that kind), or ``*`` (every service of the city).
SERVICE_PATTERN = re.compile(r"^(\*|family:[a-z0-9][a-z0-9-]{0,62}|[a-z0-9][a-z0-9-]{1,62})$")


class MandateBasis(str, enum.Enum):
    RESIDENT_CONSENT = "resident_consent"
    PARENTAL_AUTHORITY = "parental_authority"
    TUTORSHIP_MINOR = "tutorship_minor"
    PROTECTION_MANDATE = "protection_mandate"
    COURT_TUTORSHIP = "court_tutorship"
    #: A resident named as an organization's representative on the enterprise register's
    #: statement (docs/mandates.md, "Organizations"): recorded at the counter, one year at most.
    ORGANIZATION_REPRESENTATIVE = "organization_representative"

    @property
    def at_counter(self) -> bool:
        """Legal bases are established only at the counter, on documents an agent checked."""
        return self is not MandateBasis.RESIDENT_CONSENT

    @property
    def for_minor(self) -> bool:
        return self in (MandateBasis.PARENTAL_AUTHORITY, MandateBasis.TUTORSHIP_MINOR)


class Action(str, enum.Enum):
    VIEW = "view"
    REQUEST = "request"
    PAY = "pay"
    CONSENT = "consent"


class MandateState(str, enum.Enum):
    PENDING = "pending"      # granted, not yet accepted by the mandatary
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    EXPIRED = "expired"


#: Why a mandate ended (``mandate_revoked.reason``).
REVOKE_REASONS = ("represented", "grantor", "mandatary_renounced", "declined", "counter")


@dataclasses.dataclass(frozen=True)
class ScopeItem:
    service: str
    actions: frozenset[Action]

    def as_leaf(self) -> dict:
        return {"service": self.service, "actions": sorted(a.value for a in self.actions)}

    def covers(self, service: str, family: str | None, action: Action) -> bool:
        if action not in self.actions:
            return False
        return self.service in ("*", service) or (family is not None and self.service == f"family:{family}")


def scope_covers(scope: Sequence[ScopeItem], service: str, family: str | None, action: Action) -> bool:
    return any(item.covers(service, family, action) for item in scope)


def scope_within(inner: Sequence[ScopeItem], outer: Sequence[ScopeItem]) -> bool:
    """Is every (service, action) of ``inner`` covered by ``outer``? A family or ``*`` in
    ``inner`` is covered only by the same family or ``*`` (a sub-mandate never widens)."""
    for item in inner:
        for action in item.actions:
            covered = False
            for o in outer:
                if action not in o.actions:
                    continue
                if o.service == "*" or o.service == item.service:
                    covered = True
                    break
            if not covered:
                return False
    return True


@dataclasses.dataclass(frozen=True)
class Document:
    """The legal document an agent checked: its kind, a SHA-256 of its reference (the number
    itself is personal data and stays out of the log) and the agent's pseudonymous id."""

    kind: str
    reference_sha256: str
    checked_by: str

    def as_leaf(self) -> dict:
        return {"kind": self.kind, "reference_sha256": self.reference_sha256, "checked_by": self.checked_by}


DOCUMENT_KINDS = {
    MandateBasis.PARENTAL_AUTHORITY: ("birth_certificate", "adoption_judgment", "custody_judgment"),
    MandateBasis.TUTORSHIP_MINOR: ("tutorship_judgment", "tutorship_declaration"),
    MandateBasis.PROTECTION_MANDATE: ("homologation_judgment",),
    MandateBasis.COURT_TUTORSHIP: ("tutorship_judgment",),
    MandateBasis.ORGANIZATION_REPRESENTATIVE: ("registry_statement",),
}


@dataclasses.dataclass(frozen=True)
class Mandate:
    mandate_id: str
    represented_id: str
    mandatary_id: str
    grantor_id: str
    basis: MandateBasis
    scope: tuple[ScopeItem, ...]
    valid_from: dt.datetime
    valid_until: dt.datetime | None
    granted_at: dt.datetime
    granted_index: int | None
    under_mandate_id: str | None = None
    document: Document | None = None
    state: MandateState = MandateState.PENDING
    accepted_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    end_reason: str = ""
    suspended_at: dt.datetime | None = None
    acts: tuple[Act, ...] = ()
    #: ``mandate_narrowed`` (issue 22): the actions it no longer covers, and since when
    narrowed_actions: frozenset[Action] = frozenset()
    narrowed_at: dt.datetime | None = None
    narrowed_reason: str = ""

    @property
    def fourteenth_birthday(self) -> dt.datetime | None:
        """For a minor's mandate: the instant the minor turns 14, four years before the end
        the counter recorded from the birth certificate (the 18th birthday, CCQ art. 153)
        *(choice: no birth date in the log)*; None otherwise or without an end."""
        if not self.basis.for_minor or self.valid_until is None:
            return None
        end = self.valid_until
        try:
            return end.replace(year=end.year - 4)
        except ValueError:  # the end recorded on a 29 February
            return end.replace(year=end.year - 4, day=28)

    def scope_at(self, now: dt.datetime) -> tuple[ScopeItem, ...]:
        """What the mandate covers at ``now``: its scope, less what it was narrowed of, and —
        from the minor's 14th birthday — less ``consent`` (Law 25: from 14 the minor consents
        alone), whether or not the ``mandate_narrowed`` entry is written yet."""
        removed = set(self.narrowed_actions)
        fourteen = self.fourteenth_birthday
        if fourteen is not None and now >= fourteen:
            removed.add(Action.CONSENT)
        if not removed:
            return self.scope
        return tuple(ScopeItem(i.service, i.actions - removed) for i in self.scope if i.actions - removed)

    def state_at(self, now: dt.datetime) -> MandateState:
        if self.state in (MandateState.PENDING, MandateState.ACTIVE, MandateState.SUSPENDED) \
                and self.valid_until is not None and now >= self.valid_until:
            return MandateState.EXPIRED
        return self.state

    def in_force(self, now: dt.datetime) -> bool:
        return self.state_at(now) is MandateState.ACTIVE and now >= self.valid_from

    def was_in_force_at(self, when: dt.datetime) -> bool:
        """In force at ``when``: accepted before, not ended, suspended nor expired then."""
        if self.accepted_at is None or when < self.accepted_at or when < self.valid_from:
            return False
        if self.valid_until is not None and when >= self.valid_until:
            return False
        if self.suspended_at is not None and when >= self.suspended_at:
            return False
        return self.ended_at is None or when < self.ended_at


MANDATE_TYPES = (EntryType.MANDATE_GRANTED, EntryType.MANDATE_ACCEPTED, EntryType.MANDATE_SUSPENDED,
                 EntryType.MANDATE_REVOKED, EntryType.MANDATE_EXPIRED, EntryType.MANDATE_USED,
                 EntryType.MANDATE_NARROWED)


@dataclasses.dataclass(frozen=True)
class Act:
    """One act done under a mandate (``mandate_used``), as the service recorded it."""

    act_id: str
    service: str
    action: str
    time: dt.datetime
    actor: str
    index: int | None


def _scope(items: Iterable[Mapping]) -> tuple[ScopeItem, ...]:
    return tuple(ScopeItem(i["service"], frozenset(Action(a) for a in i["actions"])) for i in items)


def reduce_mandates(entries: Iterable[LedgerEntry]) -> dict[str, Mandate]:
    """The mandates, by id, that a sequence of entries (in log order) leaves behind. The first
    ending wins; an entry for an unknown or ended mandate changes nothing."""
    mandates: dict[str, Mandate] = {}
    for entry in entries:
        body = entry.body
        if entry.entry_type is EntryType.MANDATE_GRANTED:
            document = body.get("document")
            mandates[body["mandate_id"]] = Mandate(
                mandate_id=body["mandate_id"], represented_id=entry.resident_id,
                mandatary_id=body["mandatary_id"], grantor_id=body["grantor_id"],
                basis=MandateBasis(body["basis"]), scope=_scope(body["scope"]),
                valid_from=parse_time(body["valid_from"]),
                valid_until=parse_time(body["valid_until"]) if body.get("valid_until") else None,
                granted_at=entry.time, granted_index=entry.index,
                under_mandate_id=body.get("under_mandate_id"),
                document=Document(**document) if document else None)
            continue
        if entry.entry_type not in MANDATE_TYPES:
            continue
        current = mandates.get(body["mandate_id"])
        if entry.entry_type is EntryType.MANDATE_USED:
            # An act is a fact whatever the state: it was checked when recorded.
            if current is not None:
                mandates[current.mandate_id] = dataclasses.replace(current, acts=(*current.acts, Act(
                    body["act_id"], body["service"], body["action"], entry.time, body["actor"], entry.index)))
            continue
        if current is None or current.state in (MandateState.REVOKED, MandateState.EXPIRED):
            continue
        if entry.entry_type is EntryType.MANDATE_NARROWED:
            if current.narrowed_at is None or body["reason"] != "minor_turned_14":
                mandates[current.mandate_id] = dataclasses.replace(
                    current, narrowed_actions=current.narrowed_actions | {Action(a) for a in body["removed_actions"]},
                    narrowed_at=parse_time(body["effective_at"]), narrowed_reason=body["reason"])
            continue
        if entry.entry_type is not EntryType.MANDATE_EXPIRED and current.state_at(entry.time) is MandateState.EXPIRED:
            # Past its end nothing revives or changes it: it had expired then.
            mandates[current.mandate_id] = dataclasses.replace(current, state=MandateState.EXPIRED,
                                                               ended_at=current.valid_until, end_reason="expired")
            continue
        if entry.entry_type is EntryType.MANDATE_ACCEPTED and current.state is MandateState.PENDING:
            mandates[current.mandate_id] = dataclasses.replace(current, state=MandateState.ACTIVE,
                                                               accepted_at=entry.time)
        elif entry.entry_type is EntryType.MANDATE_SUSPENDED and current.state is MandateState.ACTIVE:
            mandates[current.mandate_id] = dataclasses.replace(current, state=MandateState.SUSPENDED,
                                                               suspended_at=entry.time)
        elif entry.entry_type is EntryType.MANDATE_REVOKED:
            mandates[current.mandate_id] = dataclasses.replace(current, state=MandateState.REVOKED,
                                                               ended_at=entry.time, end_reason=body["reason"])
        elif entry.entry_type is EntryType.MANDATE_EXPIRED:
            mandates[current.mandate_id] = dataclasses.replace(current, state=MandateState.EXPIRED,
                                                               ended_at=parse_time(body["expired_at"]),
                                                               end_reason="expired")
    return mandates


class Refusal(Exception):
    """A mandate that may not be recorded: ``reason`` is stable, ``message`` says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def check_new_mandate(*, represented_id: str, mandatary_id: str, grantor_id: str, basis: MandateBasis,
                      scope: Sequence[ScopeItem], valid_from: dt.datetime, valid_until: dt.datetime | None,
                      document: Document | None, under: Mandate | None,
                      existing: Mapping[str, Mandate], now: dt.datetime) -> None:
    """Refuse, in this order, what must never be recorded (nothing is written on a refusal):

    1. ``SELF_MANDATE``: a resident cannot be their own mandatary; on a legal basis the holder
       of the authority is both grantor and mandatary (``GRANTOR_IS_HOLDER`` otherwise);
    2. ``MANDATE_EXPIRED``: the period has ended already, or ends before it starts;
    3. ``TOO_LONG``: more than one year on the resident's own consent (a legal document is
       needed beyond: docs/mandates.md);
    4. ``DOCUMENT_REQUIRED``: a legal basis with no document checked at the counter;
    5. ``BEYOND_GRANTOR_RIGHTS``: a grantor who is not the represented resident must hold a
       mandate for them in force now, and the new mandate stays within its scope and period
       (CCQ art. 2140: a mandatary can substitute another only for what they hold);
    6. ``CIRCULAR``: the new mandatary is already in the chain that authorizes the grantor (a
       mandate handed back up its own chain).
    """
    if mandatary_id == represented_id or (mandatary_id == grantor_id and not basis.at_counter):
        raise Refusal("SELF_MANDATE", "a resident cannot be their own mandatary")
    check_parties(represented_id=represented_id, mandatary_id=mandatary_id, basis=basis, under=under)
    if basis.at_counter and grantor_id != mandatary_id:
        # The authority comes from the law or the court, established on the document: its
        # holder (the mandatary) stands as grantor of what they may later hand on.
        raise Refusal("GRANTOR_IS_HOLDER", "a mandate on a legal basis names its holder as grantor")
    if (valid_until is not None and valid_until <= now) or (valid_until is not None and valid_until <= valid_from):
        raise Refusal("MANDATE_EXPIRED", "the mandate's period has already ended (valid_until)")
    if basis is MandateBasis.ORGANIZATION_REPRESENTATIVE and (
            valid_until is None or valid_until - valid_from > MAX_CONSENT_VALIDITY):
        raise Refusal("TOO_LONG", "an organization's representative is named for one year at most (renewable)")
    if not basis.at_counter:
        if valid_until is None or valid_until - valid_from > MAX_CONSENT_VALIDITY:
            raise Refusal("TOO_LONG", "a mandate given by a resident lasts one year at most")
        if document is not None:
            raise Refusal("DOCUMENT_NOT_EXPECTED", "a resident's own mandate has no legal document")
    elif document is None or document.kind not in DOCUMENT_KINDS[basis]:
        raise Refusal("DOCUMENT_REQUIRED",
                      f"a {basis.value} mandate needs one of {', '.join(DOCUMENT_KINDS[basis])}, checked at the counter")
    if basis.at_counter:
        if under is not None:
            raise Refusal("BEYOND_GRANTOR_RIGHTS", "a legal authority is not a sub-mandate")
    elif grantor_id != represented_id:
        if under is None or under.represented_id != represented_id or under.mandatary_id != grantor_id \
                or not under.in_force(now):
            raise Refusal("BEYOND_GRANTOR_RIGHTS", "the grantor holds no mandate in force for this resident")
        if not scope_within(scope, under.scope_at(now)):
            raise Refusal("BEYOND_GRANTOR_RIGHTS", "the scope goes beyond the grantor's own mandate")
        if under.valid_until is not None and (valid_until is None or valid_until > under.valid_until):
            raise Refusal("BEYOND_GRANTOR_RIGHTS", "the mandate would outlast the grantor's own mandate")
        chain, link = set(), under
        while link is not None and link.mandate_id not in chain:
            chain.add(link.mandate_id)
            if mandatary_id in (link.grantor_id, link.mandatary_id):
                raise Refusal("CIRCULAR", "the mandatary already stands in the chain of this mandate")
            link = existing.get(link.under_mandate_id) if link.under_mandate_id else None
    elif under is not None:
        raise Refusal("BEYOND_GRANTOR_RIGHTS", "under_mandate_id is only for a mandatary's sub-mandate")


def check_parties(*, represented_id: str, mandatary_id: str, basis: MandateBasis, under: Mandate | None) -> None:
    """Organizations (docs/mandates.md, "Organizations"): who may stand on each side.

    - a mandatary is always a resident: an organization acts only through its representatives
      (``MANDATARY_NOT_RESIDENT``);
    - an organization is represented by residents named on the register's statement
      (``organization_representative``) or, within such a mandate, by a sub-mandate its
      representative hands on (an accountant for the tax account); parental authority,
      tutorship or a protection mandate concern people only (``NOT_AN_ORGANIZATION_BASIS``);
    - ``organization_representative`` names an organization as the represented party
      (``NOT_AN_ORGANIZATION``).
    """
    from services.common.organization_number import is_organization_id

    if is_organization_id(mandatary_id):
        raise Refusal("MANDATARY_NOT_RESIDENT", "an organization acts only through its representatives (residents)")
    organization = is_organization_id(represented_id)
    if basis is MandateBasis.ORGANIZATION_REPRESENTATIVE and not organization:
        raise Refusal("NOT_AN_ORGANIZATION", "an organization_representative mandate represents an organization")
    if organization and basis is not MandateBasis.ORGANIZATION_REPRESENTATIVE and (
            basis is not MandateBasis.RESIDENT_CONSENT or under is None):
        raise Refusal("NOT_AN_ORGANIZATION_BASIS",
                      "an organization is represented by the residents its register statement names")


@dataclasses.dataclass(frozen=True)
class MandateDecision:
    """May ``mandatary_id`` act for ``represented_id`` on ``service`` for ``action`` now?"""

    allowed: bool
    mandate_id: str = ""
    reason: str = ""


def chain_in_force(mandate: Mandate, by_id: Mapping[str, Mandate], now: dt.datetime) -> bool:
    """A sub-mandate holds only while every mandate it was handed on from holds: revoking a
    parent's authority ends what the parent handed to a grandparent, at once (CCQ art. 2140,
    one cannot hold more than one's source)."""
    seen: set[str] = set()
    link: Mandate | None = mandate
    while link is not None:
        if link.mandate_id in seen or not link.in_force(now):
            return False
        seen.add(link.mandate_id)
        if not link.under_mandate_id:
            return True
        link = by_id.get(link.under_mandate_id)
    return False


def decide_act(mandates: Iterable[Mandate], *, mandatary_id: str, represented_id: str, service: str,
               family: str | None, action: Action, now: dt.datetime) -> MandateDecision:
    """Allowed by the first mandate in force that covers the act (the newest first); otherwise
    the most telling refusal: ``NO_MANDATE``, ``MANDATE_PENDING``, ``MANDATE_SUSPENDED``,
    ``MANDATE_REVOKED``, ``MANDATE_EXPIRED``, ``NOT_YET_VALID``, ``ACTION_NOT_COVERED``,
    ``SOURCE_MANDATE_ENDED`` (a sub-mandate whose source no longer holds)."""
    mandates = list(mandates)
    by_id = {m.mandate_id: m for m in mandates}
    relevant = sorted((m for m in mandates if m.mandatary_id == mandatary_id and m.represented_id == represented_id),
                      key=lambda m: m.granted_at, reverse=True)
    if not relevant:
        return MandateDecision(False, reason="NO_MANDATE")
    for m in relevant:
        if chain_in_force(m, by_id, now) and scope_covers(m.scope_at(now), service, family, action):
            return MandateDecision(True, m.mandate_id)
    in_force = [m for m in relevant if m.in_force(now)]
    broken = [m for m in in_force if not chain_in_force(m, by_id, now)]
    if broken and len(broken) == len(in_force):
        return MandateDecision(False, broken[0].mandate_id, "SOURCE_MANDATE_ENDED")
    if in_force:
        return MandateDecision(False, in_force[0].mandate_id, "ACTION_NOT_COVERED")
    latest = relevant[0]
    state = latest.state_at(now)
    if state is MandateState.ACTIVE:
        return MandateDecision(False, latest.mandate_id, "NOT_YET_VALID")
    return MandateDecision(False, latest.mandate_id, f"MANDATE_{state.value.upper()}")
