"""The service catalogue: every municipal, borough and partner service residents link to.

Each service is represented by exactly one OAuth client (docs/contracts.md) and declares the
attributes it may request and the purposes it requests them for (the consent service's
purpose ids). What a service may *ask* for is bounded here; what it actually *receives* is
decided per resident by the consent ledger (Access Act, CQLR c. A-2.1, s. 53.1: consent for
specific purposes).

Partners are outside the city administration: they only ever see pairwise subject
identifiers (OpenID Connect Core 1.0, s. 8.1), never the universal citizen identifier.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass, field

from services.common.errors import InvalidArgument
from services.common.events import Event

from .attributes import DATA_CATEGORIES
from .events import ServiceRegistered, ServiceUpdated

#: The 19 boroughs of the Ville de Montréal (Charter of Ville de Montréal, métropole du
#: Québec, CQLR c. C-11.4), with their official names.
BOROUGHS: tuple[str, ...] = (
    "Ahuntsic-Cartierville",
    "Anjou",
    "Côte-des-Neiges–Notre-Dame-de-Grâce",
    "Lachine",
    "LaSalle",
    "Le Plateau-Mont-Royal",
    "Le Sud-Ouest",
    "L'Île-Bizard–Sainte-Geneviève",
    "Mercier–Hochelaga-Maisonneuve",
    "Montréal-Nord",
    "Outremont",
    "Pierrefonds-Roxboro",
    "Rivière-des-Prairies–Pointe-aux-Trembles",
    "Rosemont–La Petite-Patrie",
    "Saint-Laurent",
    "Saint-Léonard",
    "Verdun",
    "Ville-Marie",
    "Villeray–Saint-Michel–Parc-Extension",
)

_KEBAB = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class ServiceKind(str, enum.Enum):
    MUNICIPAL = "municipal"
    BOROUGH = "borough"
    PARTNER = "partner"


class ServiceState(str, enum.Enum):
    ACTIVE = "active"
    #: No new link and no release; existing accounts stay visible to their residents.
    RETIRED = "retired"


def is_kebab(text: str, *, maximum: int = 63) -> bool:
    return 0 < len(text) <= maximum and bool(_KEBAB.match(text))


@dataclass
class CatalogueService:
    service_id: str
    name_fr: str
    name_en: str
    kind: ServiceKind
    owner: str
    client_id: str
    created_at: dt.datetime
    updated_at: dt.datetime
    borough: str | None = None
    attributes: tuple[str, ...] = ()
    purposes: tuple[str, ...] = ()
    state: ServiceState = ServiceState.ACTIVE
    events: list[Event] = field(default_factory=list, repr=False, compare=False)

    @property
    def sees_pairwise_ids(self) -> bool:
        """Partners get pairwise subjects; city services the universal identifier."""
        return self.kind is ServiceKind.PARTNER

    @property
    def is_active(self) -> bool:
        return self.state is ServiceState.ACTIVE

    def may_request(self, attribute: str) -> bool:
        return attribute in self.attributes

    def requests_for(self, purpose_id: str) -> bool:
        return purpose_id in self.purposes

    @classmethod
    def register(cls, *, service_id: str, name_fr: str, name_en: str, kind: ServiceKind, owner: str,
                 client_id: str, at: dt.datetime, borough: str | None = None,
                 attributes: list[str] | tuple[str, ...] = (), purposes: list[str] | tuple[str, ...] = ()) -> "CatalogueService":
        violations: list[tuple[str, str]] = []
        if not is_kebab(service_id):
            violations.append(("service_id", "lower-kebab, 1..63 characters (e.g. plateau-mont-royal-permits)"))
        if not _CLIENT_ID.match(client_id or ""):
            violations.append(("client_id", "1..128 characters of letters, digits, . _ : -"))
        if kind is ServiceKind.BOROUGH:
            if borough not in BOROUGHS:
                violations.append(("borough", "one of the 19 boroughs' official names"))
        elif borough:
            violations.append(("borough", "only a borough service names a borough"))
        violations += _describe(name_fr, name_en, owner)
        attrs, purps, more = _scope(attributes, purposes)
        violations += more
        if violations:
            raise InvalidArgument.many(violations)
        service = cls(service_id=service_id, name_fr=name_fr.strip(), name_en=name_en.strip(), kind=kind,
                      owner=owner.strip(), client_id=client_id, created_at=at, updated_at=at,
                      borough=borough or None, attributes=attrs, purposes=purps)
        service.events.append(ServiceRegistered(**service._payload()))
        return service

    def update(self, *, name_fr: str, name_en: str, owner: str, attributes: list[str] | tuple[str, ...],
               purposes: list[str] | tuple[str, ...], state: ServiceState | None, at: dt.datetime) -> None:
        violations = _describe(name_fr, name_en, owner)
        attrs, purps, more = _scope(attributes, purposes)
        violations += more
        if violations:
            raise InvalidArgument.many(violations)
        self.name_fr, self.name_en, self.owner = name_fr.strip(), name_en.strip(), owner.strip()
        self.attributes, self.purposes = attrs, purps
        if state is not None:
            self.state = state
        self.updated_at = at
        self.events.append(ServiceUpdated(**self._payload(), state=self.state.value))

    def _payload(self) -> dict:
        return dict(service_id=self.service_id, client_id=self.client_id, name_fr=self.name_fr,
                    name_en=self.name_en, kind=self.kind.value, owner=self.owner,
                    purposes=self.purposes, attributes=self.attributes)


def _describe(name_fr: str, name_en: str, owner: str) -> list[tuple[str, str]]:
    violations = []
    for name, value in (("name_fr", name_fr), ("name_en", name_en), ("owner", owner)):
        if not (value or "").strip():
            violations.append((name, "must not be empty"))
        elif len(value) > 200:
            violations.append((name, "at most 200 characters"))
    return violations


def _scope(attributes, purposes) -> tuple[tuple[str, ...], tuple[str, ...], list[tuple[str, str]]]:
    violations = []
    for i, name in enumerate(attributes):
        if name not in DATA_CATEGORIES:
            violations.append((f"attributes[{i}]", "not a data category (docs/contracts.md)"))
    for i, purpose in enumerate(purposes):
        if not is_kebab(purpose):
            violations.append((f"purposes[{i}]", "a consent purpose id, lower-kebab"))
    # Order kept, duplicates dropped: the catalogue shows what the admin typed.
    return tuple(dict.fromkeys(attributes)), tuple(dict.fromkeys(purposes)), violations
