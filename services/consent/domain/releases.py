"""What a release by the identity service rests on (identity's ``data_released`` events).

Identity knows which categories a client received (ID token, access token, userinfo,
introspection); the register knows why it was allowed. A category is released:

- on **consent** when a consent of the resident to that recipient covered it at the time
  (the purpose of that consent, its id named in the entry) — what the resident ticked on the
  consent screen or gave from Mon compte;
- otherwise on the **public task** of providing the service the resident signed in to
  (``service-provision``): the sign-in identifier always, and whatever the resident let a
  client without consent purposes have on the consent screen.

One release becomes one ``data_accessed`` entry per purpose (an entry names one purpose).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable

from services.consent.domain.catalogue import SIGN_IN_IDENTIFIER, LegalBasis
from services.consent.domain.consents import Consent

SERVICE_PROVISION = "service-provision"


@dataclasses.dataclass(frozen=True)
class ReleasePart:
    purpose_id: str
    categories: tuple[str, ...]
    bases: dict[str, str]
    consent_ids: tuple[str, ...]
    #: when the access is dated: the release, or — when a screen's consent reached the ledger
    #: just after the release it allowed — that consent's entry (never more than the lag)
    accessed_at: dt.datetime | None = None


def parts_of_release(categories: Iterable[str], recipient_id: str, consents: Iterable[Consent],
                     at: dt.datetime, recorded_at: dt.datetime | None = None) -> list[ReleasePart]:
    """Group released categories by the purpose and basis they rest on (see module doc).

    A consent given on the consent screen enters the ledger when the register processes
    identity's ``grant_given``, a moment *after* the resident gave it — possibly after the
    token that followed was issued (``at``). So a consent counts if it was in force at the
    release, or else if it is in force when the release is recorded (``recorded_at``)."""
    mine = [c for c in consents if c.recipient_id == recipient_id]
    in_force = [c for c in mine if c.was_active_at(at)]
    if recorded_at is not None:
        in_force += [c for c in mine if c not in in_force and c.was_active_at(recorded_at)]
    in_force.sort(key=lambda c: (not c.was_active_at(at), c.purpose_id, c.consent_id))
    given_at = {c.consent_id: c.given_at for c in in_force}
    groups: dict[str, tuple[list[str], dict[str, str], list[str]]] = {}
    for category in sorted(set(categories)):
        covering = [c for c in in_force if category in c.data_categories] \
            if category != SIGN_IN_IDENTIFIER.category_id else []
        if covering:
            purpose, basis, consent_id = covering[0].purpose_id, LegalBasis.CONSENT.value, covering[0].consent_id
        else:
            purpose, basis, consent_id = SERVICE_PROVISION, LegalBasis.PUBLIC_TASK.value, None
        cats, bases, ids = groups.setdefault(purpose, ([], {}, []))
        cats.append(category)
        bases[category] = basis
        if consent_id and consent_id not in ids:
            ids.append(consent_id)
    return [ReleasePart(p, tuple(c), b, tuple(i), max([at, *(given_at[x] for x in i)]))
            for p, (c, b, i) in sorted(groups.items())]


def client_recipient_id(client_id: str) -> str:
    """The recipient id of a client no service of the catalogue represents (a relying party
    registered in identity only): ``client-`` and its id in lower-kebab."""
    slug = "-".join(part for part in re.split(r"[^a-z0-9]+", client_id.lower()) if part)
    return ("client-" + (slug or "unnamed"))[:64].rstrip("-")
