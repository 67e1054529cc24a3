"""Mandate handlers (issue 22): each takes a command and a unit of work.

Writes follow the ledger's one pattern (handlers.py): lock, read, decide with the domain,
append, commit — or raise and write nothing. A refusal (``domain/mandates.Refusal``) answers
FAILED_PRECONDITION with its stable reason; malformed input answers INVALID_ARGUMENT naming
the field. The legal choices are in docs/mandates.md.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence

from services.common.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from services.consent.domain import ledger
from services.consent.domain.consents import reduce
from services.consent.domain.events import MinorTurnedFourteen
from services.consent.domain.mandates import (DOCUMENT_KINDS, Act, SERVICE_PATTERN, Action, Document, Mandate,
                                              MandateBasis, MandateDecision, MandateState, Refusal, ScopeItem,
                                              check_new_mandate, decide_act, reduce_mandates)
from services.consent.service_layer import commands, handlers
from services.consent.service_layer.mandate_reads import mandate_with_chain, mandates_concerning, mandates_of
from services.consent.service_layer.handlers import check_resident_id, check_uuid, utcnow

MAX_SCOPE_ITEMS = 32
MAX_QUESTIONS = 1000


def _scope(items: Sequence[tuple[str, Sequence[str]]]) -> tuple[ScopeItem, ...]:
    if not items:
        raise InvalidArgument("scope", "at least one service and action")
    if len(items) > MAX_SCOPE_ITEMS:
        raise InvalidArgument("scope", f"at most {MAX_SCOPE_ITEMS} items")
    problems, scope, seen = [], [], set()
    for i, (service, actions) in enumerate(items):
        if not SERVICE_PATTERN.match(service or ""):
            problems.append((f"scope[{i}].service", "a service id, family:<kind> or *"))
        elif service in seen:
            problems.append((f"scope[{i}].service", "a service appears twice"))
        seen.add(service)
        if not actions:
            problems.append((f"scope[{i}].actions", "at least one of view, request, pay, consent"))
        for j, action in enumerate(actions):
            if action not in {a.value for a in Action}:
                problems.append((f"scope[{i}].actions[{j}]", "one of view, request, pay, consent"))
        if not problems:
            scope.append(ScopeItem(service, frozenset(Action(a) for a in actions)))
    if problems:
        raise InvalidArgument.many(problems)
    return tuple(scope)


def _refused(refusal: Refusal) -> FailedPrecondition:
    return FailedPrecondition(refusal.reason, refusal.message)


async def _all(uow) -> dict[str, Mandate]:
    return reduce_mandates(await uow.ledger.mandate_entries())


# --- give, accept, end --------------------------------------------------------------------
async def give(cmd: commands.GiveMandate, uow, *, now: dt.datetime | None = None) -> Mandate:
    """Record a mandate (``mandate_granted``). A resident's own mandate waits for the
    mandatary's acceptance; one recorded at the counter on a legal document is accepted in
    the same transaction (``mandate_accepted``, actor the agent): the holder of the authority
    is there in person."""
    now = ledger.utc_ms(now or utcnow())
    check_resident_id(cmd.represented_id, "represented_id")
    check_resident_id(cmd.mandatary_id, "mandatary_id")
    check_resident_id(cmd.grantor_id, "grantor_id")
    try:
        basis = MandateBasis(cmd.basis)
    except ValueError:
        raise InvalidArgument("basis", "one of " + ", ".join(b.value for b in MandateBasis)) from None
    scope = _scope(cmd.scope)
    under_id = check_uuid(cmd.under_mandate_id, "under_mandate_id") if cmd.under_mandate_id else None
    valid_from = ledger.utc_ms(cmd.valid_from) if cmd.valid_from else now
    valid_until = ledger.utc_ms(cmd.valid_until) if cmd.valid_until else None
    document = None
    if basis.at_counter:
        if not cmd.agent:
            raise PermissionDenied("COUNTER_ONLY", f"a {basis.value} mandate is recorded at the counter")
        if cmd.document_kind not in DOCUMENT_KINDS[basis]:
            raise InvalidArgument("document_kind", "one of " + ", ".join(DOCUMENT_KINDS[basis]))
        if not cmd.document_reference.strip() or len(cmd.document_reference) > 200:
            raise InvalidArgument("document_reference", "the reference of the document checked (1–200 characters)")
        document = Document(cmd.document_kind, hashlib.sha256(cmd.document_reference.strip().encode()).hexdigest(),
                            cmd.agent)
    elif cmd.document_kind or cmd.document_reference:
        raise InvalidArgument("document_kind", "a resident's own mandate has no legal document")
    async with uow:
        await uow.ledger.lock()
        existing = await mandates_of(uow, [cmd.represented_id])
        under = existing.get(under_id) if under_id else None
        if under_id and under is None:
            raise NotFound("mandate")
        try:
            check_new_mandate(represented_id=cmd.represented_id, mandatary_id=cmd.mandatary_id,
                              grantor_id=cmd.grantor_id, basis=basis, scope=scope, valid_from=valid_from,
                              valid_until=valid_until, document=document, under=under, existing=existing,
                              now=now)
        except Refusal as refusal:
            raise _refused(refusal) from None
        mandate_id = str(uuid.uuid4())
        entries = [ledger.mandate_granted(
            mandate_id=mandate_id, represented_id=cmd.represented_id, mandatary_id=cmd.mandatary_id,
            grantor_id=cmd.grantor_id, basis=basis.value, scope=[i.as_leaf() for i in scope],
            valid_from=valid_from, valid_until=valid_until, time=now, actor=cmd.actor,
            under_mandate_id=under_id, document=document.as_leaf() if document else None)]
        if basis.at_counter:
            entries.append(ledger.mandate_accepted(mandate_id=mandate_id, represented_id=cmd.represented_id,
                                                   mandatary_id=cmd.mandatary_id, time=now, actor=cmd.actor))
        placed = await uow.ledger.append(entries)
        await uow.commit()
    return reduce_mandates(placed)[mandate_id]


async def accept(cmd: commands.AcceptMandate, uow, *, now: dt.datetime | None = None) -> Mandate:
    """The mandatary accepts a pending mandate (CCQ art. 2132). Accepting an active one again
    writes nothing (a retry is harmless)."""
    now = ledger.utc_ms(now or utcnow())
    mandate_id = check_uuid(cmd.mandate_id, "mandate_id")
    check_resident_id(cmd.mandatary_id, "mandatary_id")
    async with uow:
        await uow.ledger.lock()
        mandate, _ = await mandate_with_chain(uow, mandate_id)
        if mandate is None or mandate.mandatary_id != cmd.mandatary_id:
            raise NotFound("mandate")
        state = mandate.state_at(now)
        if state is MandateState.ACTIVE:
            return mandate
        if state is not MandateState.PENDING:
            raise FailedPrecondition(f"MANDATE_{state.value.upper()}", f"the mandate is {state.value}")
        placed = await uow.ledger.append([ledger.mandate_accepted(
            mandate_id=mandate_id, represented_id=mandate.represented_id, mandatary_id=cmd.mandatary_id,
            time=now, actor=cmd.actor)])
        await uow.commit()
    return dataclasses.replace(mandate, state=MandateState.ACTIVE, accepted_at=placed[0].time)


async def end(cmd: commands.EndMandate, uow, *, now: dt.datetime | None = None) -> Mandate:
    """Revoke (the represented resident — when able — or the grantor, at any time; CCQ art.
    2176), renounce or decline (the mandatary; art. 2178), or suspend (an agent). Effective at
    once: the next decision refuses. Ending an ended mandate writes nothing."""
    now = ledger.utc_ms(now or utcnow())
    mandate_id = check_uuid(cmd.mandate_id, "mandate_id")
    if cmd.by:
        check_resident_id(cmd.by, "resident_id")
    async with uow:
        await uow.ledger.lock()
        mandate, _ = await mandate_with_chain(uow, mandate_id)
        if mandate is None or (cmd.by and cmd.by not in (mandate.represented_id, mandate.grantor_id,
                                                         mandate.mandatary_id)):
            raise NotFound("mandate")
        state = mandate.state_at(now)
        if state in (MandateState.REVOKED, MandateState.EXPIRED):
            return dataclasses.replace(mandate, state=state)
        if mandate.basis.at_counter and cmd.by and cmd.by != mandate.mandatary_id:
            # A legal authority is not the represented person's to end: a minor under parental
            # authority or a protected adult is not "able" to (docs/mandates.md); the court or
            # the counter, on documents, ends it. Its holder may stop using it (renounce).
            raise PermissionDenied("COUNTER_ONLY", "a legal authority is ended at the counter, on documents")
        if cmd.suspend:
            if cmd.by:
                raise PermissionDenied("COUNTER_ONLY", "a mandate is suspended at the counter")
            if state is not MandateState.ACTIVE:
                raise FailedPrecondition(f"MANDATE_{state.value.upper()}", "only an active mandate is suspended")
            entry = ledger.mandate_suspended(mandate_id=mandate_id, represented_id=mandate.represented_id,
                                             time=now, actor=cmd.actor)
        else:
            if not cmd.by:
                reason = "counter"
            elif cmd.by == mandate.represented_id:
                reason = "represented"
            elif cmd.by == mandate.grantor_id:
                reason = "grantor"
            else:
                reason = "declined" if state is MandateState.PENDING else "mandatary_renounced"
            entry = ledger.mandate_revoked(mandate_id=mandate_id, represented_id=mandate.represented_id,
                                           time=now, reason=reason, actor=cmd.actor)
        placed = await uow.ledger.append([entry])
        await uow.commit()
    return _step(mandate, placed[0])


def _step(mandate: Mandate, entry: ledger.LedgerEntry) -> Mandate:
    if entry.entry_type is ledger.EntryType.MANDATE_SUSPENDED:
        return dataclasses.replace(mandate, state=MandateState.SUSPENDED, suspended_at=entry.time)
    return dataclasses.replace(mandate, state=MandateState.REVOKED, ended_at=entry.time, end_reason=entry.body["reason"])


# --- reads ----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class MandateListing:
    given: list[Mandate]       # for the resident (they are represented) or given by them
    received: list[Mandate]    # the resident is the mandatary
    next_page_token: str = ""


async def list_mandates(resident_id: str, uow, *, now: dt.datetime | None = None, page_size: int = 0,
                        page_token: str = "") -> MandateListing:
    """Every mandate that concerns the resident, in any state at ``now`` (history included):
    those for them or given by them, and those they hold; oldest first, paged by the ledger
    index of the grant (``next_page_token``)."""
    now = now or utcnow()
    check_resident_id(resident_id)
    size = handlers.page_size(page_size)
    listing = {"m": "mandates", "r": resident_id}
    async with uow:
        tokens = await handlers._tokens(uow)
        after = tokens.decode(page_token, listing)
        mandates = await mandates_concerning(uow, resident_id)
    current = sorted((dataclasses.replace(m, state=m.state_at(now)) for m in mandates.values()
                      if resident_id in (m.represented_id, m.grantor_id, m.mandatary_id)
                      and (after is None or (m.granted_index or 0) > after)),
                     key=lambda m: m.granted_index or 0)
    more, current = len(current) > size, current[:size]
    return MandateListing(
        given=[m for m in current if m.mandatary_id != resident_id],
        received=[m for m in current if m.mandatary_id == resident_id],
        next_page_token=tokens.encode(listing, current[-1].granted_index or 0) if more else "")


async def decide(questions: Sequence[commands.MandateQuestion], uow, *, now: dt.datetime | None = None
                 ) -> list[MandateDecision]:
    """"May X act for Y on service S for action A" for each question, from one read of the
    ledger (like Check: never cached, so a revocation refuses the next question at once).
    A family scope (``family:<kind>``) covers a service whose recipient has that kind."""
    now = now or utcnow()
    if not questions:
        raise InvalidArgument("questions", "at least one question")
    if len(questions) > MAX_QUESTIONS:
        raise InvalidArgument("questions", f"at most {MAX_QUESTIONS}")
    problems = []
    for i, q in enumerate(questions):
        for name in ("mandatary_id", "represented_id"):
            try:
                check_resident_id(getattr(q, name), f"questions[{i}].{name}")
            except InvalidArgument as bad:
                problems.extend(bad.violations)
        if not SERVICE_PATTERN.match(q.service or "") or q.service == "*" or q.service.startswith("family:"):
            problems.append((f"questions[{i}].service", "a service (recipient) id"))
        if q.action not in {a.value for a in Action}:
            problems.append((f"questions[{i}].action", "one of view, request, pay, consent"))
    if problems:
        raise InvalidArgument.many(problems)
    async with uow:
        mandates = list((await mandates_of(uow, {q.represented_id for q in questions})).values())
        families = {}
        for q in questions:
            if q.service not in families:
                recipient = await uow.catalogue.recipient(q.service)
                families[q.service] = recipient.kind if recipient is not None and recipient.kind else None
    # A decision reads only the represented resident's own chain (sub-mandates and their
    # sources are all for them): grouped once, not scanned per question.
    by_represented: dict[str, list[Mandate]] = {}
    for m in mandates:
        by_represented.setdefault(m.represented_id, []).append(m)
    return [decide_act(by_represented.get(q.represented_id, ()), mandatary_id=q.mandatary_id,
                       represented_id=q.represented_id, service=q.service, family=families[q.service],
                       action=Action(q.action), now=now) for q in questions]


async def expire_due(uow, *, now: dt.datetime | None = None, limit: int = 200) -> int:
    """Record ``mandate_expired`` for mandates past their end (decisions already refuse them
    at the instant; this makes both sides' histories say so). Run with consent expiry."""
    now = ledger.utc_ms(now or utcnow())
    async with uow:
        await uow.ledger.lock()
        due = [m for m in (await _all(uow)).values()
               if m.state in (MandateState.PENDING, MandateState.ACTIVE, MandateState.SUSPENDED)
               and m.valid_until is not None and m.valid_until <= now][:limit]
        if not due:
            return 0
        await uow.ledger.append([ledger.mandate_expired(mandate_id=m.mandate_id, represented_id=m.represented_id,
                                                        time=now, expired_at=m.valid_until) for m in due])
        await uow.commit()
    return len(due)


async def narrow_at_fourteen(uow, *, now: dt.datetime | None = None, limit: int = 200) -> int:
    """The daily round of a minor's 14th birthday (issue 22; run with the expiry round): for
    every mandate in force or pending on a minor's basis whose minor has turned 14, a
    ``mandate_narrowed`` entry (``removed_actions`` ``consent`` when it covered it: from 14 the
    minor consents alone, Law 25) — both sides see it — and, per minor, one
    ``minor_turned_fourteen`` event for their notice, in the same transaction. Decisions refuse
    ``consent`` from the birthday itself, whether or not the round has run
    (``Mandate.scope_at``). Returns the number of mandates recorded."""
    now = ledger.utc_ms(now or utcnow())
    async with uow:
        await uow.ledger.lock()
        due = [m for m in (await _all(uow)).values()
               if m.fourteenth_birthday is not None and m.fourteenth_birthday <= now and m.narrowed_at is None
               and m.state_at(now) in (MandateState.PENDING, MandateState.ACTIVE, MandateState.SUSPENDED)][:limit]
        if not due:
            return 0
        await uow.ledger.append([ledger.mandate_narrowed(
            mandate_id=m.mandate_id, represented_id=m.represented_id, mandatary_id=m.mandatary_id,
            removed_actions=[Action.CONSENT.value] if any(Action.CONSENT in i.actions for i in m.scope) else [],
            reason="minor_turned_14", effective_at=m.fourteenth_birthday, time=now) for m in due])
        by_minor: dict[str, list[Mandate]] = {}
        for m in due:
            by_minor.setdefault(m.represented_id, []).append(m)
        for minor, mandates in by_minor.items():
            uow.add_event(MinorTurnedFourteen(
                resident_id=minor, turned_14_at=min(m.fourteenth_birthday for m in mandates),
                mandate_ids=tuple(m.mandate_id for m in mandates),
                mandates=tuple(f"{m.basis.value}:" + "+".join(sorted(
                    {a.value for i in m.scope_at(now) for a in i.actions},
                    key=[a.value for a in Action].index)) for m in mandates)))
        await uow.commit()
    return len(due)


async def record_act(cmd: commands.RecordMandateAct, uow, *, now: dt.datetime | None = None) -> tuple[Mandate, bool]:
    """Record an act done under a mandate (``mandate_used``), after deciding again that the
    mandate allows it now (a refusal writes nothing). Idempotent by ``act_id``: the same act
    twice answers (mandate, True). A service records only acts done with itself."""
    now = ledger.utc_ms(now or utcnow())
    mandate_id = check_uuid(cmd.mandate_id, "mandate_id")
    if not handlers.ACCESS_ID.match(cmd.act_id or ""):
        raise InvalidArgument("act_id", "8 to 64 letters, digits or ._:- (the caller's id for the act)")
    if not SERVICE_PATTERN.match(cmd.service or "") or cmd.service == "*" or cmd.service.startswith("family:"):
        raise InvalidArgument("service", "a service (recipient) id")
    if cmd.action not in {a.value for a in Action}:
        raise InvalidArgument("action", "one of view, request, pay, consent")
    async with uow:
        recipient = await uow.catalogue.recipient(cmd.service)
        handlers._check_own_recipient(recipient, cmd.for_client)
        await uow.ledger.lock()
        mandate, mandates = await mandate_with_chain(uow, mandate_id)
        if mandate is None:
            raise NotFound("mandate")
        for m in mandates.values():
            for act in m.acts:
                if act.act_id == cmd.act_id:
                    if (m.mandate_id, act.service, act.action) != (mandate_id, cmd.service, cmd.action):
                        raise FailedPrecondition("ACT_ID_REUSED", "this act_id names another act")
                    return m, True
        decision = decide_act([m for m in mandates.values() if m.mandate_id == mandate_id or
                               m.mandate_id in _sources(mandate, mandates)],
                              mandatary_id=mandate.mandatary_id, represented_id=mandate.represented_id,
                              service=cmd.service, family=recipient.kind if recipient and recipient.kind else None,
                              action=Action(cmd.action), now=now)
        if not decision.allowed:
            raise FailedPrecondition(decision.reason, "the mandate does not allow this act now")
        placed = await uow.ledger.append([ledger.mandate_used(
            mandate_id=mandate_id, represented_id=mandate.represented_id, mandatary_id=mandate.mandatary_id,
            act_id=cmd.act_id, service=cmd.service, action=cmd.action, time=now, actor=cmd.actor)])
        await uow.commit()
    entry = placed[0]
    act = Act(cmd.act_id, cmd.service, cmd.action, entry.time, cmd.actor, entry.index)
    return dataclasses.replace(mandate, acts=(*mandate.acts, act)), False


def _sources(mandate: Mandate, mandates: dict[str, Mandate]) -> set[str]:
    out, link = set(), mandate
    while link.under_mandate_id and link.under_mandate_id not in out and link.under_mandate_id in mandates:
        out.add(link.under_mandate_id)
        link = mandates[link.under_mandate_id]
    return out


async def withdraw_on_behalf(cmd: commands.WithdrawConsent, mandatary_id: str, uow, *,
                             now: dt.datetime | None = None) -> tuple:
    """A mandatary withdraws a consent of the represented resident (``cmd.resident_id``):
    allowed only by a mandate in force covering ``consent`` on the consent's service, as for
    giving one (Law 25: for a minor under 14 the holder of parental authority decides; from 14
    the minor alone). The withdrawal is marked (``actor`` ``mandatary:<id>``) and is an act
    under the mandate (``mandate_used``), in the same transaction. A refusal writes nothing."""
    now = ledger.utc_ms(now or utcnow())
    check_resident_id(mandatary_id, "mandatary_id")
    check_resident_id(cmd.resident_id)
    consent_id = check_uuid(cmd.consent_id, "consent_id")
    async with uow:
        await uow.ledger.lock()
        consent = reduce(await uow.ledger.consent_entries_by_id(consent_id)).get(consent_id)
        if consent is None or consent.resident_id != cmd.resident_id:
            raise NotFound("consent")
        mandates = list((await mandates_of(uow, [cmd.resident_id])).values())
        recipient = await uow.catalogue.recipient(consent.recipient_id)
        decision = decide_act(mandates, mandatary_id=mandatary_id, represented_id=cmd.resident_id,
                              service=consent.recipient_id,
                              family=recipient.kind if recipient and recipient.kind else None,
                              action=Action.CONSENT, now=now)
        if not decision.allowed:
            if decision.reason == "NO_MANDATE":
                raise PermissionDenied("NOT_OWN_DATA", "a resident's session reaches only that resident's data")
            raise FailedPrecondition(decision.reason, "the mandate does not let this resident withdraw for them here")
        active = consent.is_active(now)   # an ended consent: nothing written, its state answered
        result = await handlers.withdraw_in(dataclasses.replace(cmd, actor=f"mandatary:{mandatary_id}"), uow, now)
        if active:
            await uow.ledger.append([ledger.mandate_used(
                mandate_id=decision.mandate_id, represented_id=cmd.resident_id, mandatary_id=mandatary_id,
                act_id=f"withdraw:{consent_id}", service=consent.recipient_id, action=Action.CONSENT.value,
                time=now, actor=f"mandatary:{mandatary_id}")])
        await uow.commit()
    return result


async def grant_on_behalf(cmd: commands.GiveConsent, mandatary_id: str, uow, *,
                          now: dt.datetime | None = None) -> list:
    """A mandatary gives consents for the represented resident (``cmd.resident_id``) to one
    service: allowed only by a mandate in force covering ``consent`` on that service (Law 25:
    the holder of parental authority consents for a minor under 14). Each consent is marked
    (``actor`` ``mandatary:<id>``, ``mandate_id`` in its leaf) and is also an act under the
    mandate (``mandate_used``), in the same transaction: both sides see it. A refusal writes
    nothing. A biometric consent is never given by anyone but the resident (grant_rules)."""
    now = ledger.utc_ms(now or utcnow())
    check_resident_id(mandatary_id, "mandatary_id")
    handlers._check_grant_shape(cmd)
    async with uow:
        await uow.ledger.lock()
        mandates = list((await mandates_of(uow, [cmd.resident_id])).values())
        recipient = await uow.catalogue.recipient(cmd.recipient_id)
        decision = decide_act(mandates, mandatary_id=mandatary_id, represented_id=cmd.resident_id,
                              service=cmd.recipient_id, family=recipient.kind if recipient and recipient.kind else None,
                              action=Action.CONSENT, now=now)
        if not decision.allowed:
            if decision.reason == "NO_MANDATE":
                # As before mandates: a resident's session reaches only their own data.
                raise PermissionDenied("NOT_OWN_DATA", "a resident's session reaches only that resident's data")
            raise FailedPrecondition(decision.reason, "the mandate does not let this resident consent for them here")
        given = await handlers.give_in(dataclasses.replace(
            cmd, actor=f"mandatary:{mandatary_id}", mandate_id=decision.mandate_id), uow, now)
        await uow.ledger.append([ledger.mandate_used(
            mandate_id=decision.mandate_id, represented_id=cmd.resident_id, mandatary_id=mandatary_id,
            act_id=f"consent:{c.consent_id}", service=cmd.recipient_id, action=Action.CONSENT.value, time=now,
            actor=f"mandatary:{mandatary_id}") for c in given])
        await uow.commit()
    return given


# --- receipts -------------------------------------------------------------------------------
MANDATE_RECEIPT_VERSION = 1


async def receipt(mandate_id: str, uow, *, reader: str | None = None, now: dt.datetime | None = None
                  ) -> tuple[str, dict, str]:
    """A mandate's signed receipt (issue 22: "granted, accepted, used, suspended, revoked and
    expire as ledger entries, with signed receipts, visible to both sides"): its terms, its
    state at ``now`` and every entry of its lifecycle in log order, each with its index and
    RFC 9162 leaf hash (so ``GetInclusionProof`` proves it against the witnessed head the
    receipt carries), signed with the log's key (JWS, typ ``mtlid-mandate-receipt+json``).
    ``reader``: a resident's session reads it only when they are a party — the represented
    resident, the mandatary or the grantor; anyone else is answered NOT_FOUND, as for a
    consent's receipt (no one learns that a mandate exists)."""
    now = ledger.utc_ms(now or utcnow())
    mandate_id = check_uuid(mandate_id, "mandate_id")
    async with uow:
        resident = await uow.ledger.mandate_resident(mandate_id)
        entries = await uow.ledger.mandate_entries_of([resident]) if resident else []
        signer = await uow.keys.signer()
        head = (await handlers.witnessed_head(uow)).to_json()
    mandate = reduce_mandates(entries).get(mandate_id)
    if mandate is None or (reader is not None
                           and reader not in (mandate.represented_id, mandate.mandatary_id, mandate.grantor_id)):
        raise NotFound("mandate")
    own = [e for e in entries if e.body.get("mandate_id") == mandate_id]
    document = {
        "receipt_type": "mandate", "version": MANDATE_RECEIPT_VERSION, "mandate_id": mandate_id,
        "represented_id": mandate.represented_id, "mandatary_id": mandate.mandatary_id,
        "grantor_id": mandate.grantor_id, "basis": mandate.basis.value,
        "scope_granted": [i.as_leaf() for i in mandate.scope],
        "scope_now": [i.as_leaf() for i in mandate.scope_at(now)],
        "valid_from": ledger.format_time(mandate.valid_from),
        "valid_until": ledger.format_time(mandate.valid_until) if mandate.valid_until else None,
        "under_mandate_id": mandate.under_mandate_id or None,
        # the document's kind and the agent's pseudonymous id; its reference only as a hash
        "document": mandate.document.as_leaf() if mandate.document else None,
        "state": mandate.state_at(now).value,
        "entries": [{"index": e.index, "type": e.entry_type.value, "entry_id": e.entry_id,
                     "time": ledger.format_time(e.time), "leaf_hash": e.leaf_hash().hex(),
                     **({"act_id": e.body["act_id"], "service": e.body["service"], "action": e.body["action"]}
                        if e.entry_type is ledger.EntryType.MANDATE_USED else {}),
                     **({"reason": e.body["reason"]} if e.body.get("reason") else {})} for e in own],
        "issued_at": ledger.format_time(now),
        "witnessed_head": head,
        "controller": uow.store.controller,
    }
    return signer.sign_mandate_receipt(document), document, signer.key_id
