"""Handlers: each takes a command (or plain arguments) and a unit of work.

Writes follow one pattern: ``uow.ledger.lock()`` first (appends are serialized across
replicas, and state is read under the lock so two concurrent withdrawals cannot both
succeed), then read, decide with the domain, append, add events, commit — or raise and
write nothing. Reads never cache: every Check reads the database, so a withdrawal is seen by
every replica as soon as it commits.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Sequence

from services.common.errors import (FailedPrecondition, InvalidArgument, NotFound, PermissionDenied,
                                   ResourceExhausted, ServiceError)
from services.consent.domain import ledger, merkle, signing, witness
from services.consent.domain.binding import Mismatch
from services.consent.domain.catalogue import (CATEGORY_ID, PURPOSE_ID, RECIPIENT_ID, DataCategory,
                                               LegalBasis, Purpose, Recipient, validate_purpose)
from services.consent.domain.consents import Consent, ConsentState, Decision, decide, reduce
from services.consent.domain.events import ConsentExpired, ConsentGiven, ConsentWithdrawn
from services.consent.domain.grant_rules import HowGiven, validate_grant
from services.consent.domain.ledger import EntryType, LedgerEntry
from services.consent.domain.mandates import Action, decide_act
from services.consent.domain.page_tokens import PageTokens
from services.consent.domain.receipt import build_receipt
from services.consent.domain.signing import SignedTreeHead
from services.consent.service_layer import commands, mandate_reads
from services.consent.service_layer.alarms import alarms

# The canonical universal citizen identifier (docs/contracts.md): upper-case symbols of the
# identity service's alphabet, no separators. Identity owns the check character.
RESIDENT_ID = re.compile(r"^[23456789ABCDEFGHJKMNPQRSTVWXY]{12}$")
# Caller-generated access ids: a UUID, or another opaque id such as accounts' ``acs_…``.
ACCESS_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{7,63}$")
DEFAULT_PAGE_SIZE = 50
logger = logging.getLogger(__name__)
MAX_PAGE_SIZE = 500
# Check's reason when the rows it read do not match their leaves (it fails closed).
LEDGER_MISMATCH = "LEDGER_MISMATCH"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


# --- validation helpers ------------------------------------------------------------------
def check_resident_id(value: str, field: str = "resident_id") -> None:
    if not RESIDENT_ID.match(value or ""):
        raise InvalidArgument(field, "must be a canonical citizen identifier (12 symbols, no separators)")


def check_uuid(value: str, field: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        raise InvalidArgument(field, "must be a UUID") from None


def check_slug(value: str, field: str, pattern: re.Pattern = RECIPIENT_ID) -> None:
    if not pattern.match(value or ""):
        raise InvalidArgument(field, "must be a lower-kebab identifier")


def page_size(value: int) -> int:
    if value < 0:
        raise InvalidArgument("page_size", "must not be negative")
    return min(value or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


async def _categories(uow, names: Sequence[str], field: str) -> list[DataCategory]:
    return _known_categories(await uow.catalogue.categories(), names, field)


def _known_categories(known: dict[str, DataCategory], names: Sequence[str], field: str) -> list[DataCategory]:
    bad = [(f"{field}[{i}]", "unknown data category") for i, n in enumerate(names) if n not in known]
    if bad:
        raise InvalidArgument.many(bad)
    if len(set(names)) != len(names):
        raise InvalidArgument(field, "a category appears twice")
    return [known[n] for n in names]


async def _purpose(uow, purpose_id: str, field: str = "purpose_id") -> Purpose:
    check_slug(purpose_id, field, PURPOSE_ID)
    purpose = await uow.catalogue.purpose(purpose_id)
    if purpose is None:
        raise InvalidArgument(field, "unknown purpose")
    return purpose


async def _own_recipient(uow, recipient_id: str, for_client: str | None) -> Recipient | None:
    check_slug(recipient_id, "recipient_id")
    recipient = await uow.catalogue.recipient(recipient_id)
    _check_own_recipient(recipient, for_client)
    return recipient


def _check_own_recipient(recipient: Recipient | None, for_client: str | None) -> None:
    if for_client is not None and (recipient is None or recipient.client_id != for_client):
        raise PermissionDenied("NOT_OWN_RECIPIENT", "a service may act only for its own recipient id")


async def _consents(uow, resident_id: str) -> dict[str, Consent]:
    return reduce(await uow.ledger.consent_entries(resident_id))


# --- consents ----------------------------------------------------------------------------
async def grant(cmd: commands.GiveConsent, uow, *, now: dt.datetime | None = None) -> list[Consent]:
    """Give one consent per item (A-2.1 s. 53.1), after the rules of ``grant_rules``.

    A new consent to the same recipient and purpose supersedes the active one (recorded as
    a withdrawal with reason ``superseded``), so at most one is active per purpose.
    """
    now = ledger.utc_ms(now or utcnow())
    _check_grant_shape(cmd)
    async with uow:
        consents = await give_in(cmd, uow, now)
        await uow.commit()
    return consents


def _check_grant_shape(cmd: commands.GiveConsent) -> None:
    check_resident_id(cmd.resident_id)
    check_slug(cmd.recipient_id, "recipient_id")
    for i, item in enumerate(cmd.items):
        check_slug(item.purpose_id, f"items[{i}].purpose_id", PURPOSE_ID)
        for j, cat in enumerate(item.data_categories):
            if not CATEGORY_ID.match(cat):
                raise InvalidArgument(f"items[{i}].data_categories[{j}]", "malformed category id")
    if cmd.language not in ("fr", "en"):
        raise InvalidArgument("language", "fr or en")


async def give_in(cmd: commands.GiveConsent, uow, now: dt.datetime) -> list[Consent]:
    """``grant`` inside an open unit of work (the caller commits)."""
    _check_grant_shape(cmd)
    await uow.ledger.lock()
    purposes: dict[tuple[str, int], Purpose | None] = {}
    for item in cmd.items:
        purposes[(item.purpose_id, item.purpose_version)] = await uow.catalogue.purpose(
            item.purpose_id, item.purpose_version)
    recipient = await uow.catalogue.recipient(cmd.recipient_id)
    to_give = validate_grant(cmd.items, recipient=recipient,
                             purpose_lookup=lambda pid, v: purposes.get((pid, v)),
                             explicit_act=cmd.explicit_act, now=now,
                             how=HowGiven(cmd.collection_method, cmd.actor, cmd.reauthenticated_at))
    existing = await _consents(uow, cmd.resident_id)
    entries: list[LedgerEntry] = []
    events = []
    for item, give in zip(cmd.items, to_give):
        consent_id = str(uuid.uuid4())
        for old in existing.values():
            if (old.recipient_id, old.purpose_id) == (cmd.recipient_id, give.purpose.purpose_id) \
                    and old.is_active(now):
                entries.append(ledger.consent_withdrawn(
                    consent_id=old.consent_id, resident_id=cmd.resident_id, time=now,
                    reason="superseded", actor=cmd.actor, superseded_by=consent_id))
                events.append(ConsentWithdrawn(old.consent_id, cmd.resident_id))
        entries.append(ledger.consent_given(
            consent_id=consent_id, resident_id=cmd.resident_id, recipient_id=cmd.recipient_id,
            purpose_id=give.purpose.purpose_id, purpose_version=give.purpose.version,
            purpose_text_sha256=give.purpose.text_sha256, data_categories=list(give.data_categories),
            time=now, expires_at=give.expires_at, biometric=give.purpose.biometric,
            non_biometric_alternative_id=item.non_biometric_alternative_id if give.purpose.biometric else "",
            collection_method=cmd.collection_method, explicit_act=cmd.explicit_act,
            language=cmd.language, actor=cmd.actor,
            reauthentication=(cmd.reauthenticated_at, cmd.reauthentication_method) if give.purpose.biometric else None,
            mandate_id=cmd.mandate_id))
        events.append(ConsentGiven(consent_id, cmd.resident_id, cmd.recipient_id, give.purpose.purpose_id,
                                   give.purpose.version, give.data_categories, give.expires_at))
    placed = await uow.ledger.append(entries)
    for event in events:
        uow.add_event(event)
    consents = reduce(placed)
    return [consents[e.consent_id] for e in placed if e.entry_type is EntryType.CONSENT_GIVEN]


async def withdraw(cmd: commands.WithdrawConsent, uow, *, now: dt.datetime | None = None
                   ) -> tuple[Consent, int | None]:
    """Withdraw a consent: a new entry, effective at once. Withdrawing an ended consent
    writes nothing and answers its current state (a retry is harmless)."""
    now = ledger.utc_ms(now or utcnow())
    check_resident_id(cmd.resident_id)
    check_uuid(cmd.consent_id, "consent_id")
    async with uow:
        result = await withdraw_in(cmd, uow, now)
        await uow.commit()
    return result


async def withdraw_in(cmd: commands.WithdrawConsent, uow, now: dt.datetime) -> tuple[Consent, int | None]:
    """``withdraw`` inside an open unit of work (the caller commits)."""
    consent_id = check_uuid(cmd.consent_id, "consent_id")
    await uow.ledger.lock()
    consent = reduce(await uow.ledger.consent_entries_by_id(consent_id)).get(consent_id)
    if consent is None or consent.resident_id != cmd.resident_id:
        raise NotFound("consent")
    if not consent.is_active(now):
        return dataclasses.replace(consent, state=consent.state_at(now)), consent.end_index
    [entry] = await uow.ledger.append([ledger.consent_withdrawn(
        consent_id=consent_id, resident_id=cmd.resident_id, time=now, reason=cmd.reason,
        actor=cmd.actor)])
    uow.add_event(ConsentWithdrawn(consent_id, cmd.resident_id))
    return dataclasses.replace(consent, state=ConsentState.WITHDRAWN, ended_at=now,
                               end_index=entry.index), entry.index


async def check(cmd: commands.CheckConsent, uow, *, now: dt.datetime | None = None) -> list[Decision]:
    """Per-category decision (``consents.decide``; A-2.1 s. 53.1).

    One read outside any transaction (``uow.reads.consent_state``): the resident's consent
    entries come from the database on every call, never from a cache, so a withdrawal
    committed through any replica denies the next Check; the catalogue comes from memory,
    checked against the catalogue version read in that same statement.
    """
    now = now or utcnow()
    _check_question(cmd)
    catalogue, entries, mismatches = await uow.reads.consent_state(
        cmd.resident_id, cmd.recipient_id, cmd.purpose_id)
    return decide_check(cmd, catalogue, entries, mismatches, now)


def _check_question(cmd: commands.CheckConsent) -> None:
    """The shape of one Check question (before anything is read). Missing fields first,
    all of them, as the wire validation of a single Check names them (a CheckMany question
    is checked here only)."""
    missing = [(name, "is required") for name in ("resident_id", "recipient_id", "purpose_id", "data_categories")
               if not getattr(cmd, name)]
    if missing:
        raise InvalidArgument.many(missing)
    check_resident_id(cmd.resident_id)
    if not cmd.data_categories:
        raise InvalidArgument("data_categories", "at least one category")
    check_slug(cmd.purpose_id, "purpose_id", PURPOSE_ID)
    check_slug(cmd.recipient_id, "recipient_id")


# CheckMany's limit per call (issue 24): 1,000 questions keep one call's read and answer
# within a few milliseconds and a few hundred kilobytes.
MAX_CHECK_MANY = 1000


async def check_many(cmds: Sequence[commands.CheckConsent], uow, *, now: dt.datetime | None = None
                     ) -> list[list[Decision] | ServiceError]:
    """Many Check questions in one read (issue 24), each answered exactly as ``check``
    answers it alone (A-2.1 s. 53.1): the same shape rules, the same decision
    (``decide_check``: biometric rules, expiry, withdrawal, recipient and purpose
    declarations, fail-closed binding) on the same rows — every consent entry of every
    resident asked about, read from the database in one statement for this call (never from
    a cache) and bound to its leaf.

    Returns one result per question, in order: its decisions, or the error the single
    Check would have raised for it (the caller reports it for that item alone).
    """
    if not cmds:
        raise InvalidArgument("items", "at least one question")
    if len(cmds) > MAX_CHECK_MANY:
        raise InvalidArgument("items", f"at most {MAX_CHECK_MANY} questions")
    now = now or utcnow()
    results: list[list[Decision] | ServiceError | None] = [None] * len(cmds)
    # The checks of one question depend on few of its fields, and a batch repeats them (the
    # same recipient, purpose and categories for many residents): each distinct part is
    # checked once per batch, in the single Check's order, with the single Check's error.
    residents_seen: dict[str, ServiceError | None] = {}
    slugs_seen: dict[tuple[str, str], ServiceError | None] = {}
    for i, cmd in enumerate(cmds):
        if not (cmd.resident_id and cmd.recipient_id and cmd.purpose_id and cmd.data_categories):
            results[i] = _shape_error(_check_question, cmd)
            continue
        error = residents_seen.get(cmd.resident_id, _UNSEEN)
        if error is _UNSEEN:
            error = residents_seen[cmd.resident_id] = _shape_error(check_resident_id, cmd.resident_id)
        if error is None:
            key = (cmd.purpose_id, cmd.recipient_id)
            error = slugs_seen.get(key, _UNSEEN)
            if error is _UNSEEN:
                error = slugs_seen[key] = _shape_error(_check_slugs, *key)
        results[i] = error
    asked = {cmd.resident_id for cmd, result in zip(cmds, results) if result is None}
    if asked:
        catalogue, states = await uow.reads.consent_states(asked)
        reduced: dict[str, dict[str, Consent]] = {}  # a resident's consents, folded once per batch
        terms_seen: dict[tuple, tuple | ServiceError] = {}
        answered: dict[tuple, list[Decision]] = {}  # the same question twice: the same answer
        for i, cmd in enumerate(cmds):
            if results[i] is not None:
                continue
            question = (cmd.resident_id, cmd.recipient_id, cmd.purpose_id, cmd.data_categories, cmd.for_client)
            if question in answered:
                results[i] = list(answered[question])
                continue
            key = question[1:]
            terms = terms_seen.get(key)
            if terms is None:
                try:
                    terms = terms_seen[key] = check_terms(cmd, catalogue)
                except ServiceError as error:
                    terms = terms_seen[key] = error
            if isinstance(terms, ServiceError):
                results[i] = terms
                continue
            entries, mismatches = states[cmd.resident_id]
            consents = reduced.get(cmd.resident_id)
            if consents is None:
                consents = reduced[cmd.resident_id] = {} if mismatches else reduce(entries)
            decisions = answered[question] = decided(terms, mismatches, now, consents)
            results[i] = list(decisions)
    return results  # type: ignore[return-value]  # every slot is filled above


_UNSEEN = object()


def _check_slugs(purpose_id: str, recipient_id: str) -> None:
    check_slug(purpose_id, "purpose_id", PURPOSE_ID)
    check_slug(recipient_id, "recipient_id")


def _shape_error(check, *args) -> ServiceError | None:
    try:
        check(*args)
    except ServiceError as error:
        return error
    return None


def check_terms(cmd: commands.CheckConsent, catalogue) -> tuple:
    """What a Check question asks, in the catalogue's terms — (purpose, categories,
    recipient) — or the error the single Check raises for it; the same for every resident."""
    purpose = catalogue.purposes.get(cmd.purpose_id)
    if purpose is None:
        raise InvalidArgument("purpose_id", "unknown purpose")
    categories = _known_categories(catalogue.categories, cmd.data_categories, "data_categories")
    recipient = catalogue.recipients.get(cmd.recipient_id)
    _check_own_recipient(recipient, cmd.for_client)
    return purpose, categories, recipient


def decided(terms: tuple, mismatches: Sequence[Mismatch], now: dt.datetime,
            consents: dict[str, Consent]) -> list[Decision]:
    """Check's decision for a question's ``terms`` (``check_terms``) and one resident's
    consents. Rows that do not match their leaves fail it closed (``decide_check``)."""
    purpose, categories, recipient = terms
    if mismatches:
        alarms.binding(mismatches)
        return [Decision(c.category_id, False, reason=LEDGER_MISMATCH) for c in categories]
    return decide(purpose=purpose, recipient=recipient, categories=categories, consents=consents.values(), now=now)


def decide_check(cmd: commands.CheckConsent, catalogue, entries: Sequence[LedgerEntry],
                 mismatches: Sequence[Mismatch], now: dt.datetime, *,
                 consents: dict[str, Consent] | None = None) -> list[Decision]:
    """Check's decision from what one read returned (a batch of Checks calls it per request).

    Rows that do not match their leaves (``domain/binding.py``) fail the Check closed: every
    category is denied with ``LEDGER_MISMATCH`` and the alarm is raised, rather than
    answering from a history someone rewrote behind the triggers.
    """
    terms = check_terms(cmd, catalogue)
    if mismatches:  # failed closed before anything is folded
        return decided(terms, mismatches, now, {})
    return decided(terms, (), now, reduce(entries) if consents is None else consents)


async def list_consents(cmd: commands.ListPage, uow, *, now: dt.datetime | None = None) -> list[Consent]:
    """The resident's consents in the order given, each in its state at ``now``."""
    consents, _ = await list_consents_page(dataclasses.replace(cmd, page_size=MAX_PAGE_SIZE), uow, now=now)
    return consents


async def list_consents_page(cmd: commands.ListPage, uow, *, now: dt.datetime | None = None
                             ) -> tuple[list[Consent], str]:
    now = now or utcnow()
    check_resident_id(cmd.resident_id)
    size = page_size(cmd.page_size)
    listing = {"m": "consents", "r": cmd.resident_id, "inactive": cmd.include_inactive}
    async with uow:
        tokens = await _tokens(uow)
        after = tokens.decode(cmd.page_token, listing)
        consents = (await _consents(uow, cmd.resident_id)).values()
    out = [dataclasses.replace(c, state=c.state_at(now)) for c in consents]
    if not cmd.include_inactive:
        out = [c for c in out if c.state is ConsentState.GIVEN]
    out = sorted((c for c in out if after is None or (c.ledger_index or 0) > after),
                 key=lambda c: c.ledger_index or 0)
    more = len(out) > size
    out = out[:size]
    return out, tokens.encode(listing, out[-1].ledger_index or 0) if more else ""


# --- data access -------------------------------------------------------------------------
_BASES = {b.value for b in LegalBasis}


async def record_access(cmd: commands.RecordAccess, uow, *, now: dt.datetime | None = None
                        ) -> tuple[int, bool]:
    """Record that a recipient received data (idempotent by ``access_id``).

    The record states what happened; it must be coherent: every released category has a
    basis, a consent basis names consents of this resident that cover the category.
    Returns (ledger index, already recorded).
    """
    now = ledger.utc_ms(now or utcnow())
    async with uow:
        result = await record_access_in(cmd, uow, now)
        if not result[1]:
            await uow.commit()
    return result


async def record_accesses(cmds: Sequence[commands.RecordAccess], uow, *, now: dt.datetime | None = None
                          ) -> list[tuple[int, bool] | ServiceError]:
    """``record_access`` for several accesses in one transaction: a group commit.

    Every append takes the ledger's single head lock (city-wide, across replicas), so the
    accesses recorded concurrently in one process share one hold of it, one statement per
    step and one COMMIT, instead of queueing for it one by one. Each access is judged on its
    own: one that is refused gets its error in its place and the others are recorded. A
    failure of the database fails all of them, with nothing written.
    Returns, per command and in order, (ledger index, already recorded) or the refusal.
    """
    now = ledger.utc_ms(now or utcnow())
    results: list[tuple[int, bool] | ServiceError | None] = [None] * len(cmds)
    async with uow:
        catalogue = await uow.catalogue.current()
        admitted = []
        for i, cmd in enumerate(cmds):
            try:
                _check_access(cmd, catalogue)
                admitted.append(i)
            except ServiceError as refusal:
                results[i] = refusal
        if admitted:
            recorded = await _record_locked([cmds[i] for i in admitted], uow, now)
            for i, result in zip(admitted, recorded):
                results[i] = result
            if any(isinstance(r, tuple) and not r[1] for r in recorded):
                await uow.commit()
    return results


async def record_access_in(cmd: commands.RecordAccess, uow, now: dt.datetime) -> tuple[int, bool]:
    """``record_access`` inside an open unit of work (the caller commits)."""
    _check_access(cmd, await uow.catalogue.current())
    # An access already recorded (a retried RecordAccess; its attributes_released event when
    # it came first) is final once committed: answered after one read-only statement outside
    # the transaction, without queueing for the head lock. Otherwise the lookup is repeated
    # under the lock, where it is decisive. (The common duplicate, the event after
    # RecordAccess, does not even open a transaction: event_handlers.released_settled.)
    recorded = await uow.reads.access_recorded(cmd.access_id)
    if recorded is not None:
        index, resident_id, recipient_id = recorded
        if (resident_id, recipient_id) != (cmd.resident_id, cmd.recipient_id):
            raise _access_id_reused()
        return index, True
    [result] = await _record_locked([cmd], uow, now)
    if isinstance(result, ServiceError):
        raise result
    return result


@dataclasses.dataclass(frozen=True)
class CheckedAndRecorded:
    """CheckAndRecord's answer: Check's decisions, what the access records as released, and
    the ledger entry (index None: nothing released, nothing recorded)."""

    decisions: list[Decision]
    released: tuple[str, ...]
    ledger_index: int | None
    already_recorded: bool
    at: dt.datetime
    #: the mandate a release to a mandatary was made under (issue 22), else ""
    mandate_id: str = ""


async def check_and_record(cmds: Sequence[commands.CheckAndRecord], uow, *, now: dt.datetime | None = None
                           ) -> list[CheckedAndRecorded | ServiceError]:
    """Decide and record under one hold of the ledger's head lock (issue 24; A-2.1 s. 53.1
    and the access log of s. 84 read together): what Check would answer and what
    RecordAccess would record, with no window between them.

    The head lock serializes every append, withdrawals and expiries included, so the consent
    entries read once it is held (``consent_states``, the Check statement, each row bound to
    its leaf) stay current until the access is appended and committed: a withdrawal either
    committed before (the decision denies) or waits until after (the release happened
    before it). Categories allowed and available are recorded as released with their
    decisions' bases and consents; the rest as withheld; nothing is recorded when nothing is
    released. Several calls arriving together share one hold and one COMMIT (group commit,
    as ``record_accesses``); each is judged on its own and gets its result or its refusal.
    """
    now = ledger.utc_ms(now or utcnow())
    results: list[CheckedAndRecorded | ServiceError | None] = [None] * len(cmds)
    for i, cmd in enumerate(cmds):
        try:
            _check_question(cmd.question)
            if not ACCESS_ID.match(cmd.access_id or ""):
                raise InvalidArgument("access_id", "8 to 64 characters of A-Z a-z 0-9 _ . : - (a UUID will do)")
            stray = [(f"available_categories[{j}]", "not one of data_categories")
                     for j, c in enumerate(cmd.available_categories) if c not in cmd.data_categories]
            if stray:
                raise InvalidArgument.many(stray)
            if cmd.mandatary_id:
                check_resident_id(cmd.mandatary_id, "mandatary_id")
        except ServiceError as refusal:
            results[i] = refusal
    pending = [i for i, r in enumerate(results) if r is None]
    if not pending:
        return results  # type: ignore[return-value]
    async with uow:
        await uow.ledger.lock()
        catalogue, states = await uow.reads.consent_states({cmds[i].resident_id for i in pending},
                                                           in_transaction=uow.catalogue.current)
        records: list[commands.RecordAccess] = []
        slots: list[int] = []
        reduced: dict[str, dict[str, Consent]] = {}
        # Issue 22: releases asked by a mandatary are decided on the represented residents'
        # mandates, read under the same hold of the lock (a revocation committed first refuses).
        represented = {cmds[i].resident_id for i in pending if cmds[i].mandatary_id}
        mandates = await mandate_reads.mandates_of(uow, represented) if represented else {}
        for i in pending:
            cmd = cmds[i]
            entries, mismatches = states[cmd.resident_id]
            consents = reduced.get(cmd.resident_id)
            if consents is None:
                consents = reduced[cmd.resident_id] = reduce(entries)
            try:
                mandate_id = ""
                if cmd.mandatary_id:
                    recipient = catalogue.recipients.get(cmd.recipient_id)
                    allowed = decide_act(
                        [m for m in mandates.values() if m.represented_id == cmd.resident_id],
                        mandatary_id=cmd.mandatary_id, represented_id=cmd.resident_id, service=cmd.recipient_id,
                        family=recipient.kind if recipient is not None and recipient.kind else None,
                        action=Action.VIEW, now=now)
                    if not allowed.allowed:
                        raise FailedPrecondition(allowed.reason, "the mandate does not allow this release now")
                    mandate_id = allowed.mandate_id
                decisions = decide_check(cmd.question, catalogue, entries, mismatches, now, consents=consents)
                if cmd.withheld_categories:  # refused the same whether or not anything is released
                    _known_categories(catalogue.categories, cmd.withheld_categories, "withheld_categories")
                released = [d for d in decisions if d.allowed and d.data_category in cmd.available_categories]
                results[i] = CheckedAndRecorded(decisions, tuple(d.data_category for d in released), None, False, now,
                                                mandate_id)
                if not released:
                    continue
                names = {d.data_category for d in released}
                record = commands.RecordAccess(
                    access_id=cmd.access_id, resident_id=cmd.resident_id, recipient_id=cmd.recipient_id,
                    purpose_id=cmd.purpose_id, data_categories=tuple(d.data_category for d in released),
                    bases={d.data_category: d.basis.value for d in released},
                    consent_ids=tuple(dict.fromkeys(d.consent_id for d in released if d.consent_id)),
                    withheld_categories=tuple(dict.fromkeys(  # the decided ones first, then the caller's
                        [*(c for c in cmd.data_categories if c not in names), *cmd.withheld_categories])),
                    accessed_at=now, for_client=cmd.for_client, source=cmd.source,
                    mandatary_id=cmd.mandatary_id if mandate_id else "", mandate_id=mandate_id)
                _check_access(record, catalogue)
            except ServiceError as refusal:
                results[i] = refusal
                continue
            records.append(record)
            slots.append(i)
        if records:
            every = {cid: c for consents in reduced.values() for cid, c in consents.items()}
            recorded = await _record_locked(records, uow, now, known=every)
            # Each new release to a mandatary is also an act under the mandate (both sides see
            # it: "by X, under mandate M"), appended in the same transaction.
            acts = [ledger.mandate_used(
                mandate_id=r.mandate_id, represented_id=r.resident_id, mandatary_id=r.mandatary_id,
                act_id=f"release:{r.access_id}", service=r.recipient_id, action=Action.VIEW.value, time=now,
                actor="client:" + (r.source.removeprefix("grpc:") or "accounts")) for r, outcome in zip(records, recorded)
                if r.mandate_id and isinstance(outcome, tuple) and not outcome[1]]
            if acts:
                await uow.ledger.append(acts)
            for i, outcome in zip(slots, recorded):
                if isinstance(outcome, ServiceError):
                    results[i] = outcome
                else:
                    results[i] = dataclasses.replace(results[i], ledger_index=outcome[0], already_recorded=outcome[1])
            if any(isinstance(r, tuple) and not r[1] for r in recorded):
                await uow.commit()
    return results  # type: ignore[return-value]


def _check_access(cmd: commands.RecordAccess, catalogue) -> None:
    """What a record must say to be recorded at all, judged before the head lock."""
    if not ACCESS_ID.match(cmd.access_id or ""):
        raise InvalidArgument("access_id", "8 to 64 characters of A-Z a-z 0-9 _ . : - (a UUID will do)")
    check_resident_id(cmd.resident_id)
    if not cmd.data_categories:
        raise InvalidArgument("data_categories", "at least one category")
    for i, c in enumerate(cmd.consent_ids):
        check_uuid(c, f"consent_ids[{i}]")
    check_slug(cmd.purpose_id, "purpose_id", PURPOSE_ID)
    if cmd.purpose_id not in catalogue.purposes:
        raise InvalidArgument("purpose_id", "unknown purpose")
    _known_categories(catalogue.categories, cmd.data_categories, "data_categories")
    if cmd.withheld_categories:
        _known_categories(catalogue.categories, cmd.withheld_categories, "withheld_categories")
    check_slug(cmd.recipient_id, "recipient_id")
    recipient = catalogue.recipients.get(cmd.recipient_id)
    _check_own_recipient(recipient, cmd.for_client)
    if recipient is None:
        raise InvalidArgument("recipient_id", "unknown recipient")
    if cmd.for_client is not None and cmd.purpose_id not in recipient.purposes:
        # A service records only for its own purposes; the broker (accounts) records every
        # release as it happened, whatever it was.
        raise PermissionDenied("PURPOSE_NOT_DECLARED", "a service records accesses for its own purposes only")
    problems = []
    for cat in cmd.data_categories:
        basis = cmd.bases.get(cat)
        if basis not in _BASES:
            problems.append((f"bases[{cat}]", "every released category needs a legal basis"))
    extra = set(cmd.bases) - set(cmd.data_categories)
    if extra:
        problems.append(("bases", f"basis for a category not released: {', '.join(sorted(extra))}"))
    if problems:
        raise InvalidArgument.many(problems)


def _access_id_reused() -> FailedPrecondition:
    return FailedPrecondition("ACCESS_ID_REUSED", "this access_id records another access")


async def _record_locked(cmds: Sequence[commands.RecordAccess], uow, now: dt.datetime, *,
                         known: dict[str, Consent] | None = None) -> list[tuple[int, bool] | ServiceError]:
    """Under the head lock: what is already recorded, the consents the records name, then one
    append of every new entry. Checked commands only (``_check_access``). ``known``: the
    consents of the residents concerned, already read under this hold of the lock
    (CheckAndRecord): not read again."""
    await uow.ledger.lock()
    previous = {e.access_id: e for e in await uow.ledger.access_entries([c.access_id for c in cmds])}
    # Only the consents the records name matter (read under the lock: a withdrawal that
    # commits first is what the entry must say).
    named = [_consent_ids(cmd) for cmd in cmds]
    every = sorted({cid for ids in named for cid in ids})
    if known is not None and all(cid in known for cid in every):
        consents = known
    else:
        consents = reduce(await uow.ledger.consent_entries_of(every)) if every else {}
    results: list[tuple[int, bool] | ServiceError | None] = []
    new_entries: list[LedgerEntry] = []
    slots: list[int] = []                       # where each new entry's result goes
    firsts: dict[str, tuple[int, commands.RecordAccess]] = {}  # access id -> its slot, command
    repeats: list[tuple[int, int]] = []         # (slot, slot of the same access earlier here)
    for cmd, consent_ids in zip(cmds, named):
        earlier, first = previous.get(cmd.access_id), firsts.get(cmd.access_id)
        if earlier is not None or first is not None:
            same = earlier if earlier is not None else first[1]
            if (same.resident_id, same.recipient_id) != (cmd.resident_id, cmd.recipient_id):
                results.append(_access_id_reused())
            elif earlier is not None:
                results.append((earlier.index, True))
            else:
                repeats.append((len(results), first[0]))
                results.append(None)
            continue
        try:
            new_entries.append(_access_entry(cmd, consent_ids, consents, now))
        except ServiceError as refusal:
            results.append(refusal)
            continue
        firsts[cmd.access_id] = (len(results), cmd)
        slots.append(len(results))
        results.append(None)
    placed = await uow.ledger.append(new_entries) if new_entries else []
    for slot, entry in zip(slots, placed):
        results[slot] = (entry.index, False)
    for slot, first_slot in repeats:
        results[slot] = (results[first_slot][0], True)
    return results


def _consent_ids(cmd: commands.RecordAccess) -> tuple[str, ...]:
    """The consents a checked record names, in canonical form."""
    return tuple(str(uuid.UUID(c)) for c in cmd.consent_ids)


def _access_entry(cmd: commands.RecordAccess, consent_ids: tuple[str, ...], consents: dict[str, Consent],
                  now: dt.datetime) -> LedgerEntry:
    """The ``data_accessed`` entry of a checked record, given the consents it names
    (``consent_ids``, canonical) as read under the lock."""
    mine = {cid: consents[cid] for cid in consent_ids
            if cid in consents and consents[cid].resident_id == cmd.resident_id}
    for i, cid in enumerate(consent_ids):
        if cid not in mine:
            raise InvalidArgument(f"consent_ids[{i}]", "no such consent for this resident")
    for cat in cmd.data_categories:
        if cmd.bases[cat] == LegalBasis.CONSENT.value and not any(
                cat in mine[c].data_categories and mine[c].recipient_id == cmd.recipient_id
                for c in consent_ids):
            raise InvalidArgument(f"bases[{cat}]", "a consent basis names a consent covering the category")
    # The access happened: it is recorded whatever it was based on. If a consent it relied
    # on was not active then (withdrawn, expired), the entry says so.
    accessed_at = cmd.accessed_at or now
    unsupported = [cat for cat in cmd.data_categories if cmd.bases[cat] == LegalBasis.CONSENT.value and not any(
        cat in mine[c].data_categories and mine[c].recipient_id == cmd.recipient_id
        and mine[c].was_active_at(accessed_at) for c in consent_ids)]
    if unsupported:
        logger.warning("consent: access recorded without an active consent", extra={
            "access_id": cmd.access_id, "recipient_id": cmd.recipient_id, "categories": unsupported})
    return ledger.data_accessed(
        access_id=cmd.access_id, resident_id=cmd.resident_id, recipient_id=cmd.recipient_id,
        purpose_id=cmd.purpose_id, data_categories=list(cmd.data_categories),
        withheld_categories=list(cmd.withheld_categories), bases=dict(cmd.bases),
        consent_ids=list(consent_ids), accessed_at=accessed_at, time=now,
        source=cmd.source, unsupported_categories=unsupported, agent=cmd.agent,
        mandatary_id=cmd.mandatary_id, mandate_id=cmd.mandate_id)


async def request_rectification(cmd: commands.RequestRectification, uow, *,
                                now: dt.datetime | None = None) -> LedgerEntry:
    now = ledger.utc_ms(now or utcnow())
    check_resident_id(cmd.resident_id)
    if not cmd.data_categories:
        raise InvalidArgument("data_categories", "at least one category")
    async with uow:
        await _categories(uow, cmd.data_categories, "data_categories")
        if cmd.recipient_id:
            check_slug(cmd.recipient_id, "recipient_id")
            if await uow.catalogue.recipient(cmd.recipient_id) is None:
                raise InvalidArgument("recipient_id", "unknown recipient")
        await uow.ledger.lock()
        [entry] = await uow.ledger.append([ledger.rectification_requested(
            resident_id=cmd.resident_id, time=now, data_categories=list(cmd.data_categories),
            recipient_id=cmd.recipient_id or None, actor=cmd.actor)])
        await uow.commit()
    return entry


# --- listings ----------------------------------------------------------------------------
async def _tokens(uow) -> PageTokens:
    signer = await uow.keys.signer()
    # A key of its own, derived from the ledger key, so page tokens and signatures never
    # share key material directly.
    secret = hashlib.sha256(b"mtlid-consent-page-tokens\x00" +
                            json.dumps(signer.private_jwk(), sort_keys=True).encode()).digest()
    return PageTokens(secret)


async def history(cmd: commands.ListPage, uow) -> tuple[list[LedgerEntry], str]:
    """Every entry about the resident (or only those of ``cmd.types``), oldest first."""
    check_resident_id(cmd.resident_id)
    size = page_size(cmd.page_size)
    try:
        types = sorted({EntryType(t) for t in cmd.types}, key=lambda t: t.value)
    except ValueError:
        raise InvalidArgument("types", "must name entry types") from None
    listing = {"m": "history", "r": cmd.resident_id}
    if types:  # a page token is good for the listing it came from only
        listing["t"] = ",".join(t.value for t in types)
    async with uow:
        tokens = await _tokens(uow)
        after = tokens.decode(cmd.page_token, listing)
        rows = await uow.ledger.resident_entries(cmd.resident_id, types=types or None, after=after,
                                                 limit=size + 1)
    more = len(rows) > size
    rows = rows[:size]
    return rows, tokens.encode(listing, rows[-1].index) if more else ""


async def access_log(cmd: commands.ListPage, uow) -> tuple[list[LedgerEntry], str]:
    """Accesses to the resident's data, newest first."""
    check_resident_id(cmd.resident_id)
    if cmd.recipient_id:
        check_slug(cmd.recipient_id, "recipient_id")
    size = page_size(cmd.page_size)
    listing = {"m": "access_log", "r": cmd.resident_id, "recipient": cmd.recipient_id or ""}
    async with uow:
        tokens = await _tokens(uow)
        before = tokens.decode(cmd.page_token, listing)
        rows = await uow.ledger.resident_entries(
            cmd.resident_id, types=[EntryType.DATA_ACCESSED], recipient_id=cmd.recipient_id or None,
            before=before, limit=size + 1, newest_first=True)
    more = len(rows) > size
    rows = rows[:size]
    return rows, tokens.encode(listing, rows[-1].index) if more else ""


# --- receipts, proofs, keys --------------------------------------------------------------
async def receipt(consent_id: str, uow, *, resident_id: str | None = None,
                  now: dt.datetime | None = None) -> tuple[str, dict, str]:
    """A signed ISO/IEC TS 27560-shaped receipt; ``resident_id`` restricts to their own."""
    now = ledger.utc_ms(now or utcnow())
    consent_id = check_uuid(consent_id, "consent_id")
    async with uow:
        entries = await uow.ledger.consent_entries_by_id(consent_id)
        consent = reduce(entries).get(consent_id)
        if consent is None or (resident_id is not None and consent.resident_id != resident_id):
            raise NotFound("consent")
        purpose = await uow.catalogue.purpose(consent.purpose_id, consent.purpose_version)
        recipient = await uow.catalogue.recipient(consent.recipient_id)
        categories = await uow.catalogue.categories()
        signer = await uow.keys.signer()
    if purpose is None or recipient is None:
        raise FailedPrecondition("CATALOGUE_INCOMPLETE", "the purpose or recipient of this consent is missing")
    given = next(e for e in entries if e.entry_type is EntryType.CONSENT_GIVEN)
    document = build_receipt(consent=consent, purpose=purpose, recipient=recipient, categories=categories,
                             leaf_hash_hex=given.leaf_hash().hex(), issued_at=now,
                             witnessed_head=(await witnessed_head(uow)).to_json(),
                             controller=uow.store.controller)
    return signer.sign_receipt(document), document, signer.key_id


def _resolve_size(requested: int, current: int, field: str) -> int:
    if requested < 0:
        raise InvalidArgument(field, "must not be negative")
    if requested > current:
        raise InvalidArgument(field, f"larger than the log ({current} entries)")
    return requested or current


def _complete(nodes: dict[tuple[int, int], bytes], wanted: set[tuple[int, int]]) -> None:
    if not wanted <= nodes.keys():
        raise FailedPrecondition("LEDGER_INCOMPLETE", "a tree node is missing; run `mtlid ledger verify`")


_HEAD_TTL = dt.timedelta(seconds=5)
_recent_heads: dict[tuple[str, int], SignedTreeHead] = {}


def _recent_head(signer, tree_size: int, now: dt.datetime) -> SignedTreeHead | None:
    """A head of ``tree_size`` signed less than a few seconds ago: the root of a given size
    never changes, and signing is the costliest part of a proof."""
    recent = _recent_heads.get((signer.key_id, tree_size))
    return recent if recent is not None and now - recent.timestamp < _HEAD_TTL else None


def _sign_head(signer, tree_size: int, nodes: dict[tuple[int, int], bytes], now: dt.datetime) -> SignedTreeHead:
    head = signer.sign_tree_head(tree_size, merkle.root(lambda lv, ix: nodes[(lv, ix)], tree_size), now)
    if len(_recent_heads) > 256:
        _recent_heads.clear()
    _recent_heads[(signer.key_id, tree_size)] = head
    return head


async def signed_tree_head(tree_size: int, uow, *, now: dt.datetime | None = None) -> SignedTreeHead:
    """RFC 9162 s. 4.10: a signed head of ``tree_size`` (0: the current size)."""
    now = now or utcnow()
    if tree_size < 0:
        raise InvalidArgument("tree_size", "must not be negative")
    reads = uow.reads
    size = tree_size or await reads.tree_size()
    signer = await reads.signer()
    head = _recent_head(signer, size, now)
    if head is not None and tree_size == 0:
        return head
    wanted = set() if head is not None else merkle.required_nodes(lambda src: merkle.root(src, size))
    material = await reads.proof_material(wanted, at_least=size)
    _resolve_size(size, material.tree_size, "tree_size")
    if head is not None:
        return head
    _complete(material.nodes, wanted)
    return _sign_head(signer, size, material.nodes, now)


async def inclusion_proof(leaf_index: int, tree_size: int, uow, *, resident_id: str | None = None,
                          now: dt.datetime | None = None):
    """RFC 9162 s. 2.1.3: PATH(m, D[n]) with the leaf bytes and a signed head of size n.

    ``resident_id``: a resident may only see the leaf bytes of their own entries. The leaf,
    the path's nodes and (unless a recent head of that size is at hand) the root's nodes
    are read in one statement, after the current size when ``tree_size`` is 0.
    """
    now = now or utcnow()
    reads = uow.reads
    if tree_size < 0:
        raise InvalidArgument("tree_size", "must not be negative")
    size = tree_size or await reads.tree_size()
    if not 0 <= leaf_index < size:
        if tree_size:  # a size beyond the log is the first thing wrong
            _resolve_size(tree_size, await reads.tree_size(), "tree_size")
        raise InvalidArgument("leaf_index", f"must be in [0, {size})")
    signer = await reads.signer()
    head = _recent_head(signer, size, now)
    wanted = merkle.required_nodes(lambda src: merkle.inclusion_path(src, leaf_index, size))
    if head is None:
        wanted |= merkle.required_nodes(lambda src: merkle.root(src, size))
    material = await reads.proof_material(wanted, leaf_index=leaf_index, at_least=size)
    _resolve_size(size, material.tree_size, "tree_size")
    entry = material.entry
    if entry is None or (resident_id is not None and entry.resident_id != resident_id):
        raise NotFound("ledger entry")
    _complete(material.nodes, wanted)
    path = merkle.inclusion_path(lambda lv, ix: material.nodes[(lv, ix)], leaf_index, size)
    return path, entry, head or _sign_head(signer, size, material.nodes, now)


async def consistency_proof(first: int, second: int, uow, *, now: dt.datetime | None = None):
    """RFC 9162 s. 2.1.4: PROOF(m, D[n]) with a signed head of size n; nodes read in one
    statement (after the current size when ``second`` is 0)."""
    now = now or utcnow()
    reads = uow.reads
    if second < 0:
        raise InvalidArgument("second_tree_size", "must not be negative")
    size = second or await reads.tree_size()
    if not 0 < first <= size:
        if second:
            _resolve_size(second, await reads.tree_size(), "second_tree_size")
        raise InvalidArgument("first_tree_size", f"must be in [1, {size}]")
    signer = await reads.signer()
    head = _recent_head(signer, size, now)
    wanted = merkle.required_nodes(lambda src: merkle.consistency_proof(src, first, size))
    if head is None:
        wanted |= merkle.required_nodes(lambda src: merkle.root(src, size))
    material = await reads.proof_material(wanted, at_least=size)
    _resolve_size(size, material.tree_size, "second_tree_size")
    _complete(material.nodes, wanted)
    proof = merkle.consistency_proof(lambda lv, ix: material.nodes[(lv, ix)], first, size)
    return first, size, proof, head or _sign_head(signer, size, material.nodes, now)


# --- witnesses (LEDGER.md "Witnesses") -------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class WitnessedHead:
    """The head the log publishes as witnessed: the largest recent size cosigned by a quorum
    of the configured witnesses (else the largest cosigned at all), with its cosignatures."""

    checkpoint: witness.Checkpoint | None
    cosignatures: tuple[witness.Cosignature, ...]
    quorum: int

    @property
    def below_quorum(self) -> bool:
        return len(self.cosignatures) < self.quorum or self.checkpoint is None and self.quorum > 0

    def note(self) -> str:
        return witness.signed_note(self.checkpoint, list(self.cosignatures)) if self.checkpoint else ""

    def to_json(self) -> dict:
        """As receipts, exports and proofs carry it (LEDGER.md "Witnesses")."""
        checkpoint = self.checkpoint
        return {"tree_size": checkpoint.tree_size if checkpoint else 0,
                "root_hash": signing.b64url(checkpoint.root_hash) if checkpoint else "",
                "origin": checkpoint.origin if checkpoint else "", "quorum": self.quorum,
                "witnesses": [c.witness for c in self.cosignatures], "count": len(self.cosignatures),
                "below_quorum": self.below_quorum, "note": self.note()}


async def witnessed_head(uow) -> WitnessedHead:
    policy = uow.store.witnesses
    by_size: dict[tuple[int, bytes], list[witness.Cosignature]] = {}
    for size, root, cosignature in await uow.reads.recent_cosignatures():
        key = policy.key(cosignature.witness)
        if key is not None and key.key_id == cosignature.key_id:  # only the witnesses configured now
            by_size.setdefault((size, root), []).append(cosignature)
    if not by_size:
        return WitnessedHead(None, (), policy.quorum)
    ordered = sorted(by_size.items(), key=lambda item: item[0][0], reverse=True)
    (size, root), cosignatures = next(((k, v) for k, v in ordered if len(v) >= max(policy.quorum, 1)), ordered[0])
    return WitnessedHead(witness.Checkpoint(policy.origin, size, root), tuple(cosignatures), policy.quorum)


async def add_cosignature(note: str, uow, *, now: dt.datetime | None = None) -> tuple[int, int]:
    """Accept a witness's cosignature of one of this log's checkpoints (C2SP cosignature/v1).

    Checks, in order: the note's shape; the origin is this log's; the signer is a configured
    witness and its signature verifies; the witness is within its rate (``CosignatureRate``:
    RESOURCE_EXHAUSTED ``COSIGNATURE_RATE_EXCEEDED`` with the delay); the size is one the log has reached; the root is
    this log's root of that size — a witness that cosigned another root saw another history
    (a split view, or a rewrite): refused, and the ``witness_disagreement`` alarm is raised.
    Returns (tree size, cosignatures that size now has).
    """
    now = now or utcnow()
    policy = uow.store.witnesses
    if not note:
        raise InvalidArgument("note", "required")
    try:
        checkpoint, cosignatures = witness.parse_note(note)
    except witness.WitnessFormatError as error:
        raise InvalidArgument("note", str(error)) from None
    if checkpoint.origin != policy.origin:
        raise InvalidArgument("note", f"the checkpoint's origin is not this log's ({policy.origin})")
    accepted = []
    for cosignature in cosignatures:
        key = policy.key(cosignature.witness)
        if key is None:
            raise FailedPrecondition("UNKNOWN_WITNESS", f"{cosignature.witness} is not a witness of this log")
        if not cosignature.verify(checkpoint, key):
            raise InvalidArgument("note", f"the cosignature of {cosignature.witness} does not verify")
        if cosignature.timestamp > now.timestamp() + 300:
            raise InvalidArgument("note", "a cosignature dated in the future")
        wait = uow.store.cosignature_rate.take(cosignature.witness, policy.per_minute, now.timestamp())
        if wait:
            raise ResourceExhausted("COSIGNATURE_RATE_EXCEEDED",
                                    f"{cosignature.witness} may submit {policy.per_minute} cosignatures a minute; "
                                    f"retry in {wait:.0f} s", wait)
        accepted.append(cosignature)
    try:
        head = await signed_tree_head(checkpoint.tree_size, uow, now=now) if checkpoint.tree_size else None
    except InvalidArgument:  # a size this log never reached
        head = None
    if head is None or head.root_hash != checkpoint.root_hash:
        for cosignature in accepted:
            alarms.witness_disagreement(cosignature.witness, checkpoint.tree_size)
        raise FailedPrecondition("COSIGNED_ROOT_MISMATCH",
                                 "this log's root of that size differs: the witness saw another history")
    async with uow:
        for cosignature in accepted:
            await uow.cosignatures.add(checkpoint.tree_size, checkpoint.root_hash, cosignature, now)
        count = await uow.cosignatures.count(checkpoint.tree_size)
        await uow.commit()
    return checkpoint.tree_size, count


async def log_keys(uow) -> dict:
    async with uow:
        await uow.keys.signer()
        return await uow.keys.jwks()


# --- export (A-2.1 s. 84) ------------------------------------------------------------------
async def export(cmd: commands.RequestExport, uow, *, now: dt.datetime | None = None) -> tuple[bytes, int]:
    """Everything the register holds about the resident, as one structured JSON document.

    The request itself is recorded first, so the export lists it too.
    """
    now = ledger.utc_ms(now or utcnow())
    check_resident_id(cmd.resident_id)
    async with uow:
        await uow.ledger.lock()
        [request] = await uow.ledger.append([ledger.export_requested(
            resident_id=cmd.resident_id, time=now, actor=cmd.actor)])
        entries = await uow.ledger.resident_entries(cmd.resident_id)
        purposes = {(p.purpose_id, p.version): p for p in await uow.catalogue.purposes(all_versions=True)}
        recipients = {r.recipient_id: r for r in await uow.catalogue.recipients()}
        categories = await uow.catalogue.categories()
        signer = await uow.keys.signer()
        jwks = await uow.keys.jwks()
        await uow.commit()
    consents = reduce(entries)
    witnessed = (await witnessed_head(uow)).to_json()
    given_hashes = {e.consent_id: e.leaf_hash().hex() for e in entries if e.entry_type is EntryType.CONSENT_GIVEN}
    receipts = []
    for c in consents.values():  # the signed receipt of every consent, as GetReceipt gives it
        purpose, recipient = purposes.get((c.purpose_id, c.purpose_version)), recipients.get(c.recipient_id)
        if purpose is None or recipient is None:
            continue
        document = build_receipt(consent=c, purpose=purpose, recipient=recipient, categories=categories,
                                 leaf_hash_hex=given_hashes[c.consent_id], issued_at=now, witnessed_head=witnessed,
                                 controller=uow.store.controller)
        receipts.append({"consent_id": c.consent_id, "jws": signer.sign_receipt(document), "key_id": signer.key_id})
    used_purposes = {(c.purpose_id, c.purpose_version) for c in consents.values()}
    document = {
        "format": "mtlid-consent-export/1",
        "law": "Québec A-2.1 s. 84 (portability)",
        "generated_at": ledger.format_time(now),
        "resident_id": cmd.resident_id,
        "consents": [{
            "consent_id": c.consent_id, "recipient_id": c.recipient_id, "purpose_id": c.purpose_id,
            "purpose_version": c.purpose_version, "data_categories": list(c.data_categories),
            "state": c.state_at(now).value, "given_at": ledger.format_time(c.given_at),
            "expires_at": ledger.format_time(c.expires_at) if c.expires_at else None,
            "ended_at": ledger.format_time(c.ended_at) if c.ended_at else None,
            "ledger_index": c.ledger_index,
        } for c in consents.values()],
        "purposes": [purposes[key].wording() for key in sorted(used_purposes) if key in purposes],
        "recipients": [{"recipient_id": r.recipient_id, "name_fr": r.name_fr, "name_en": r.name_en,
                        "kind": r.kind, "owner": r.owner}
                       for rid, r in sorted(recipients.items())
                       if any(e.recipient_id == rid for e in entries)],
        "ledger_entries": [{"index": e.index, "leaf_hash": e.leaf_hash().hex(),
                            "entry": json.loads(e.leaf_data())} for e in entries],
        "receipts": receipts,
        "witnessed_head": witnessed,
    }
    document.update(await _export_proofs(entries, witnessed, uow, now))
    document["log_keys"] = jwks
    return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8"), request.index


async def _export_proofs(entries: Sequence[LedgerEntry], witnessed: dict, uow, now: dt.datetime) -> dict:
    """What lets anyone check the export offline (``mtlid export verify``): each entry's exact
    bytes and RFC 9162 inclusion proof against one signed head of the log as it is now, and the
    consistency proof from the head the witnesses cosigned to that one (s. 2.1.4).
    Every node needed is read in one statement."""
    reads = uow.reads
    size = await reads.tree_size()
    wanted = merkle.required_nodes(lambda src: merkle.root(src, size))
    for entry in entries:
        wanted |= merkle.required_nodes(lambda src, i=entry.index: merkle.inclusion_path(src, i, size))
    first = witnessed["tree_size"]
    if 0 < first < size:
        wanted |= merkle.required_nodes(lambda src: merkle.consistency_proof(src, first, size))
    material = await reads.proof_material(wanted, at_least=size)
    _complete(material.nodes, wanted)
    source = lambda lv, ix: material.nodes[(lv, ix)]  # noqa: E731
    head = _sign_head(await reads.signer(), size, material.nodes, now)
    proofs = {str(e.index): {"leaf_data_base64": base64.b64encode(e.leaf_data()).decode(),
                             "audit_path": [base64.b64encode(n).decode()
                                            for n in merkle.inclusion_path(source, e.index, size)]}
              for e in entries}
    consistency = ([base64.b64encode(n).decode() for n in merkle.consistency_proof(source, first, size)]
                   if 0 < first < size else [])
    return {"tree_head": {**head.to_json(), "hash_algorithm": "RFC 9162 s. 2.1 (SHA-256)"},
            "inclusion_proofs": proofs,
            "witnessed_consistency_proof": consistency}


# --- catalogue ---------------------------------------------------------------------------
async def define_purpose(purpose: Purpose, uow, *, now: dt.datetime | None = None) -> Purpose:
    """A new purpose, or a new version of its wording (the old one stays, for old consents).
    Re-defining identical wording is a no-op that returns the current version."""
    now = ledger.utc_ms(now or utcnow())
    async with uow:
        problems = validate_purpose(purpose, await uow.catalogue.categories())
        if problems:
            raise InvalidArgument.many(problems)
        current = await uow.catalogue.purpose(purpose.purpose_id)
        if current is not None and current.same_wording(purpose):
            return current
        if current is not None and current.biometric != purpose.biometric:
            raise FailedPrecondition("PURPOSE_BIOMETRIC_CHANGED",
                                     "a purpose cannot become or stop being biometric; define a new one")
        created = dataclasses.replace(purpose, version=(current.version + 1) if current else 1, created_at=now)
        await uow.catalogue.add_purpose(created)
        await uow.commit()
    return created


async def register_recipient(recipient: Recipient, uow) -> Recipient:
    check_slug(recipient.recipient_id, "recipient.recipient_id")
    problems = []
    if not recipient.client_id:
        problems.append(("recipient.client_id", "required"))
    if not (recipient.name_fr.strip() and recipient.name_en.strip()):
        problems.append(("recipient.name_fr", "French and English names are required"))
    if problems:
        raise InvalidArgument.many(problems)
    async with uow:
        known = await uow.catalogue.categories()
        unknown = [c for c in recipient.data_categories if c not in known]
        if unknown:
            raise InvalidArgument("recipient.data_categories", f"unknown: {', '.join(sorted(unknown))}")
        purposes = {p.purpose_id for p in await uow.catalogue.purposes()}
        missing = [p for p in recipient.purposes if p not in purposes]
        if missing:
            raise InvalidArgument("recipient.purposes", f"unknown: {', '.join(sorted(missing))}")
        other = await uow.catalogue.recipient_by_client(recipient.client_id)
        if other is not None and other.recipient_id != recipient.recipient_id:
            raise FailedPrecondition("CLIENT_ALREADY_REGISTERED",
                                     "this client already represents another recipient")
        await uow.catalogue.save_recipient(recipient)
        await uow.commit()
    return recipient


# --- expiry --------------------------------------------------------------------------------
async def expire_due(uow, *, now: dt.datetime | None = None, limit: int = 200) -> int:
    """Record ``consent_expired`` for consents past their expiry (Check already denies them
    at the instant; this makes the ledger and the events say so)."""
    now = ledger.utc_ms(now or utcnow())
    async with uow:
        await uow.ledger.lock()
        due = await uow.ledger.due_for_expiry(now, limit)
        if not due:
            return 0
        entries = [ledger.consent_expired(consent_id=e.consent_id, resident_id=e.resident_id, time=now,
                                          expired_at=ledger.parse_time(e.body["expires_at"])) for e in due]
        await uow.ledger.append(entries)
        for e in due:
            uow.add_event(ConsentExpired(e.consent_id, e.resident_id))
        await uow.commit()
    return len(due)
