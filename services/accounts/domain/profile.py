"""A resident's profile: the attributes the city holds about them, each with its provenance.

Rules (issue 5, part 1):

* the profile is created when identity registers the resident (``resident_registered``) or
  when an agent enrolls them at a counter — whichever comes first; the other completes it;
* the resident changes their own attributes; what they type is self-declared;
* a change to a verified attribute drops its verification (the city cannot vouch for a value
  nobody checked); typing the same value again keeps it;
* an agent verifies an attribute at a counter or from a document, under their own identity.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from services.common.errors import FailedPrecondition
from services.common.events import Event

from .attributes import PREFERRED_LANGUAGE, PROFILE_ATTRIBUTES, Attribute, Provenance
from .events import AttributeVerified, ProfileChanged


@dataclass
class Profile:
    resident_id: str
    created_at: dt.datetime
    updated_at: dt.datetime
    attributes: dict[str, Attribute] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def register(cls, resident_id: str, at: dt.datetime, *, preferred_language: str | None = None) -> "Profile":
        profile = cls(resident_id=resident_id, created_at=at, updated_at=at)
        if preferred_language in ("fr", "en"):
            profile.attributes[PREFERRED_LANGUAGE] = Attribute.self_declared(PREFERRED_LANGUAGE, preferred_language, at)
        return profile

    def get(self, name: str) -> Attribute | None:
        return self.attributes.get(name)

    def ordered(self) -> list[Attribute]:
        return [self.attributes[n] for n in PROFILE_ATTRIBUTES if n in self.attributes]

    def declare(self, changes: dict[str, str | None], at: dt.datetime) -> list[str]:
        """The resident sets (or, with ``None``, removes) attributes; values already normalized.

        Returns the names that changed; emits ``profile_changed`` when any did.
        """
        changed: list[str] = []
        for name, value in changes.items():
            current = self.attributes.get(name)
            if value is None:
                if current is not None:
                    del self.attributes[name]
                    changed.append(name)
                continue
            if current is not None and current.value == value:
                continue  # same value: a verification stays valid
            self.attributes[name] = Attribute.self_declared(name, value, at)
            changed.append(name)
        if changed:
            self.updated_at = at
            self.events.append(ProfileChanged(resident_id=self.resident_id, attributes=tuple(changed)))
        return changed

    def receive_from_service(self, name: str, value: str, source_service_id: str, at: dt.datetime, *,
                             verified: bool) -> bool:
        """A value another service holds (identity's login e-mail). It fills a gap or, when the
        service vouches for the same value (``verified``), upgrades it; it never overwrites what
        the resident typed differently or what an agent verified. Returns whether it changed."""
        current = self.attributes.get(name)
        if current is not None and (current.value != value or current.is_verified):
            return False
        if current is None and not verified:
            self.attributes[name] = Attribute.self_declared(name, value, at)  # the resident typed it at sign-up
        elif verified:
            self.attributes[name] = Attribute(name=name, value=value, provenance=Provenance.RECEIVED_FROM_SERVICE,
                                              updated_at=at, verified_at=at, source_service_id=source_service_id)
        else:
            return False
        self.updated_at = at
        self.events.append(ProfileChanged(resident_id=self.resident_id, attributes=(name,)))
        if verified:
            self.events.append(AttributeVerified(resident_id=self.resident_id, attribute=name,
                                                 provenance=Provenance.RECEIVED_FROM_SERVICE.value))
        return True

    def verify(self, name: str, provenance: Provenance, at: dt.datetime, *, agent_id: str,
               value: str | None = None, document_check_id: str | None = None) -> Attribute:
        """An agent vouches for ``name``; with ``value`` they also correct it (already normalized)."""
        if not provenance.is_verification or provenance is Provenance.RECEIVED_FROM_SERVICE:
            raise ValueError("an agent verifies at a counter or from a document")
        current = self.attributes.get(name)
        if current is None and value is None:
            raise FailedPrecondition("ATTRIBUTE_NOT_ON_PROFILE",
                                     f"{name} has no value to verify; give the value checked")
        base = current or Attribute.self_declared(name, value or "", at)
        verified = base.verified(provenance, at, agent_id=agent_id, document_check_id=document_check_id,
                                 value=value)
        value_changed = current is None or current.value != verified.value
        self.attributes[name] = verified
        self.updated_at = at
        if value_changed:
            self.events.append(ProfileChanged(resident_id=self.resident_id, attributes=(name,)))
        self.events.append(AttributeVerified(resident_id=self.resident_id, attribute=name,
                                             provenance=provenance.value, agent_id=agent_id))
        return verified
