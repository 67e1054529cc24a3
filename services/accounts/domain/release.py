"""The release decision: which of the requested attributes a service receives, and why not
the others.

An attribute is released only when every gate is open, checked in this order:

1. it is a category the platform stores (``biometric_face`` never is);
2. the catalogue allows this service to request it;
3. the consent ledger allowed it for this resident, service and purpose — under an active
   consent or a legal basis of the purpose (Access Act, CQLR c. A-2.1: s. 53.1 for consent,
   ss. 65.1 and 67 for use and communication without it) — a missing decision is a refusal;
4. the profile has a value for it.

Everything else is *withheld*, named with its reason, so the service knows what to ask the
resident for instead of guessing. No decision is cached: each release asks the ledger, so a
withdrawal stops the very next release.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .attributes import NEVER_STORED, Attribute
from .catalogue import CatalogueService
from .profile import Profile


class Basis(str, enum.Enum):
    """The ground of a release, as the consent ledger states it."""

    CONSENT = "consent"
    PUBLIC_TASK = "public_task"
    LEGAL_OBLIGATION = "legal_obligation"


class WithheldReason(str, enum.Enum):
    NOT_ALLOWED_FOR_SERVICE = "not_allowed_for_service"
    NO_CONSENT = "no_consent"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    CONSENT_EXPIRED = "consent_expired"
    NOT_ON_PROFILE = "not_on_profile"
    NOT_STORED = "not_stored"


#: What the resident-facing explanation says, French first.
EXPLANATIONS: dict[WithheldReason, str] = {
    WithheldReason.NOT_ALLOWED_FOR_SERVICE:
        "Ce service n'est pas autorisé à demander cette donnée. / This service may not request this attribute.",
    WithheldReason.NO_CONSENT:
        "Aucun consentement ni fondement légal ne couvre cette donnée pour cette fin. / "
        "No consent or legal basis covers this attribute for this purpose.",
    WithheldReason.CONSENT_WITHDRAWN:
        "La personne a retiré son consentement. / The resident withdrew their consent.",
    WithheldReason.CONSENT_EXPIRED:
        "Le consentement est expiré. / The consent expired.",
    WithheldReason.NOT_ON_PROFILE:
        "Le profil ne contient pas cette donnée. / The profile has no value for this attribute.",
    WithheldReason.NOT_STORED:
        "La plateforme ne conserve aucune donnée biométrique. / The platform stores no biometric data.",
}

# The consent service's denial reasons (consent.proto CategoryDecision.reason) in our words.
_FROM_LEDGER = {
    "CONSENT_WITHDRAWN": WithheldReason.CONSENT_WITHDRAWN,
    "CONSENT_EXPIRED": WithheldReason.CONSENT_EXPIRED,
    "CATEGORY_NOT_DECLARED": WithheldReason.NOT_ALLOWED_FOR_SERVICE,
    "PURPOSE_NOT_DECLARED": WithheldReason.NOT_ALLOWED_FOR_SERVICE,
}


@dataclass(frozen=True)
class ConsentDecision:
    """The ledger's answer for one category (consent.proto ``CategoryDecision``)."""

    category: str
    allowed: bool
    basis: Basis | None = None
    consent_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class ReleasedAttribute:
    attribute: Attribute
    basis: Basis
    consent_id: str | None

    @property
    def name(self) -> str:
        return self.attribute.name


@dataclass(frozen=True)
class WithheldAttribute:
    name: str
    reason: WithheldReason
    #: The ledger's own reason code, when the ledger refused.
    ledger_reason: str | None = None

    @property
    def explanation(self) -> str:
        return EXPLANATIONS[self.reason]


@dataclass(frozen=True)
class ReleaseDecision:
    released: tuple[ReleasedAttribute, ...]
    withheld: tuple[WithheldAttribute, ...]

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.released)

    @property
    def bases(self) -> dict[str, Basis]:
        return {r.name: r.basis for r in self.released}

    @property
    def consent_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.consent_id for r in self.released if r.consent_id))


def unique(requested: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(requested))


def categories_to_check(service: CatalogueService, requested: Sequence[str]) -> list[str]:
    """The categories worth asking the ledger about (gates 1 and 2 already open)."""
    return [c for c in unique(requested) if c not in NEVER_STORED and service.may_request(c)]


def decide_release(service: CatalogueService, profile: Profile, requested: Sequence[str],
                   decisions: Mapping[str, ConsentDecision]) -> ReleaseDecision:
    released: list[ReleasedAttribute] = []
    withheld: list[WithheldAttribute] = []
    for name in unique(requested):
        if name in NEVER_STORED:
            withheld.append(WithheldAttribute(name, WithheldReason.NOT_STORED))
            continue
        if not service.may_request(name):
            withheld.append(WithheldAttribute(name, WithheldReason.NOT_ALLOWED_FOR_SERVICE))
            continue
        decision = decisions.get(name)
        if decision is None or not decision.allowed or decision.basis is None:
            ledger_reason = decision.reason if decision else None
            reason = _FROM_LEDGER.get(ledger_reason or "", WithheldReason.NO_CONSENT)
            withheld.append(WithheldAttribute(name, reason, ledger_reason))
            continue
        if decision.basis is Basis.CONSENT and not decision.consent_id:
            # A consent basis names its consent; anything else is a ledger fault: fail closed.
            withheld.append(WithheldAttribute(name, WithheldReason.NO_CONSENT, "CONSENT_ID_MISSING"))
            continue
        attribute = profile.get(name)
        if attribute is None:
            withheld.append(WithheldAttribute(name, WithheldReason.NOT_ON_PROFILE))
            continue
        released.append(ReleasedAttribute(attribute, decision.basis,
                                           decision.consent_id if decision.basis is Basis.CONSENT else None))
    return ReleaseDecision(tuple(released), tuple(withheld))
