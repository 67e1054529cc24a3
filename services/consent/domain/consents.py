"""Consents as a reduction of ledger entries, and the Check decision.

Lifecycle (DPV statuses)::

    given ──withdraw──▶ withdrawn
      └──── expires_at reached ──▶ expired

A consent past its ``expires_at`` is expired *at that instant*, whether or not a
``consent_expired`` entry has been written yet (``Consent.state_at``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Iterable, Sequence

from services.consent.domain.catalogue import DataCategory, LegalBasis, Purpose, Recipient
from services.consent.domain.ledger import EntryType, LedgerEntry, parse_time


class ConsentState(str, enum.Enum):
    GIVEN = "given"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


@dataclasses.dataclass(frozen=True)
class Consent:
    consent_id: str
    resident_id: str
    recipient_id: str
    purpose_id: str
    purpose_version: int
    data_categories: tuple[str, ...]
    given_at: dt.datetime
    expires_at: dt.datetime | None
    biometric: bool
    non_biometric_alternative_id: str
    collection_method: str
    language: str
    ledger_index: int | None
    state: ConsentState = ConsentState.GIVEN
    explicit_act: bool = False
    ended_at: dt.datetime | None = None
    end_index: int | None = None
    #: issue 22: given by a mandatary (``mandatary:<id>``) under this mandate, else ""
    actor: str = ""
    mandate_id: str = ""

    def state_at(self, now: dt.datetime) -> ConsentState:
        if self.state is ConsentState.GIVEN and self.expires_at is not None and now >= self.expires_at:
            return ConsentState.EXPIRED
        return self.state

    def is_active(self, now: dt.datetime) -> bool:
        return self.state_at(now) is ConsentState.GIVEN

    def was_active_at(self, when: dt.datetime) -> bool:
        """Was this consent in force at ``when`` (given, not yet ended nor expired)?"""
        if when < self.given_at:
            return False
        if self.expires_at is not None and when >= self.expires_at:
            return False
        return self.ended_at is None or when < self.ended_at


def reduce(entries: Iterable[LedgerEntry]) -> dict[str, Consent]:
    """The consents, by id, that a sequence of entries (in log order) leaves behind.

    The first ending (withdrawal or expiry) of a consent wins; later ones change nothing.
    """
    consents: dict[str, Consent] = {}
    for entry in entries:
        body = entry.body
        if entry.entry_type is EntryType.CONSENT_GIVEN:
            consents[body["consent_id"]] = Consent(
                consent_id=body["consent_id"], resident_id=entry.resident_id,
                recipient_id=body["recipient_id"], purpose_id=body["purpose_id"],
                purpose_version=body["purpose_version"],
                data_categories=tuple(body["data_categories"]), given_at=entry.time,
                expires_at=parse_time(body["expires_at"]) if body.get("expires_at") else None,
                biometric=bool(body.get("biometric")),
                non_biometric_alternative_id=body.get("non_biometric_alternative_id", ""),
                collection_method=body.get("collection_method", ""),
                language=body.get("language", ""), ledger_index=entry.index,
                explicit_act=bool(body.get("explicit_act")), actor=body.get("actor", ""),
                mandate_id=body.get("mandate_id", ""))
        elif entry.entry_type in (EntryType.CONSENT_WITHDRAWN, EntryType.CONSENT_EXPIRED):
            current = consents.get(body["consent_id"])
            if current is None or current.state is not ConsentState.GIVEN:
                continue
            if entry.entry_type is EntryType.CONSENT_WITHDRAWN:
                # Withdrawing after the expiry instant does not revive the consent: it was
                # already expired then.
                if current.state_at(entry.time) is ConsentState.EXPIRED:
                    consents[current.consent_id] = dataclasses.replace(
                        current, state=ConsentState.EXPIRED, ended_at=current.expires_at,
                        end_index=entry.index)
                else:
                    consents[current.consent_id] = dataclasses.replace(
                        current, state=ConsentState.WITHDRAWN, ended_at=entry.time,
                        end_index=entry.index)
            else:
                consents[current.consent_id] = dataclasses.replace(
                    current, state=ConsentState.EXPIRED,
                    ended_at=parse_time(body["expired_at"]), end_index=entry.index)
    return consents


@dataclasses.dataclass(frozen=True)
class Decision:
    """The answer of Check for one data category."""

    data_category: str
    allowed: bool
    basis: LegalBasis | None = None
    consent_id: str | None = None
    reason: str = ""
    # On a biometric refusal: the purpose's non-biometric alternative (id, French, English),
    # so that the calling system can offer it at once (commitment 6).
    alternative: tuple[str, str, str] = ()


def _deny(category: str, reason: str, alternative: tuple[str, str, str] = ()) -> Decision:
    return Decision(category, False, reason=reason, alternative=alternative)


def _biometric_refusal(category: str, purpose: Purpose, consents: Sequence[Consent], now: dt.datetime) -> Decision:
    """Why no biometric consent covers ``category`` now: never given (for this purpose,
    recipient and category), or the latest one expired, or was withdrawn."""
    if not purpose.biometric:  # biometric data under an ordinary purpose: never, whatever the consents
        return _deny(category, "BIOMETRIC_CONSENT_REQUIRED")
    covering = [c for c in consents if c.biometric and category in c.data_categories]
    if not covering:
        reason = "BIOMETRIC_CONSENT_NEVER_GIVEN"
    else:
        state = max(covering, key=lambda c: c.given_at).state_at(now)
        reason = "BIOMETRIC_CONSENT_EXPIRED" if state is ConsentState.EXPIRED else "BIOMETRIC_CONSENT_WITHDRAWN"
    return _deny(category, reason, (purpose.non_biometric_alternative_id, purpose.non_biometric_alternative_fr,
                                    purpose.non_biometric_alternative_en))


def decide(*, purpose: Purpose, recipient: Recipient | None, categories: Sequence[DataCategory],
           consents: Iterable[Consent], now: dt.datetime) -> list[Decision]:
    """May ``recipient`` receive each category of the resident's data for ``purpose`` now?

    ``consents`` are the resident's consents to this recipient and purpose (any state).
    Rules, in order, each one denying:
    - the recipient must be registered and have declared the purpose;
    - biometric data, or any biometric purpose, needs an active, time-bound consent to a
      biometric purpose (commitment 6; LCCJTI s. 44): no public task ever covers it; a
      refusal says why (``BIOMETRIC_CONSENT_NEVER_GIVEN``, ``_EXPIRED``, ``_WITHDRAWN``; biometric
      data under an ordinary purpose: ``BIOMETRIC_CONSENT_REQUIRED``) and names the
      purpose's non-biometric alternative;
    - a public-task or legal-obligation purpose covers what the recipient declared;
    - otherwise an active consent must cover the category (A-2.1 s. 53.1).
    """
    relevant = [c for c in consents
                if recipient is not None and c.recipient_id == recipient.recipient_id
                and c.purpose_id == purpose.purpose_id]
    active = sorted((c for c in relevant if c.is_active(now)), key=lambda c: c.given_at, reverse=True)
    decisions: list[Decision] = []
    for category in categories:
        cat = category.category_id
        if recipient is None:
            decisions.append(_deny(cat, "RECIPIENT_UNKNOWN"))
            continue
        if purpose.purpose_id not in recipient.purposes:
            decisions.append(_deny(cat, "PURPOSE_NOT_DECLARED"))
            continue
        if category.biometric or purpose.biometric:
            match = next((c for c in active if c.biometric and c.expires_at is not None
                          and cat in c.data_categories), None)
            if match is None or not purpose.biometric:
                decisions.append(_biometric_refusal(cat, purpose, relevant, now))
            else:
                decisions.append(Decision(cat, True, LegalBasis.CONSENT, match.consent_id))
            continue
        if purpose.legal_basis is not LegalBasis.CONSENT:
            if cat in recipient.data_categories and cat in purpose.data_categories:
                decisions.append(Decision(cat, True, purpose.legal_basis))
            else:
                decisions.append(_deny(cat, "CATEGORY_NOT_DECLARED"))
            continue
        match = next((c for c in active if cat in c.data_categories), None)
        if match is not None:
            decisions.append(Decision(cat, True, LegalBasis.CONSENT, match.consent_id))
        elif active:
            decisions.append(_deny(cat, "CATEGORY_NOT_COVERED"))
        elif relevant:
            latest = max(relevant, key=lambda c: c.given_at)
            state = latest.state_at(now)
            decisions.append(_deny(cat, "CONSENT_EXPIRED" if state is ConsentState.EXPIRED
                                   else "CONSENT_WITHDRAWN"))
        else:
            decisions.append(_deny(cat, "NO_CONSENT"))
    return decisions
