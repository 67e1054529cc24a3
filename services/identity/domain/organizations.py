"""Organizations registered with the city (issue 22; docs/mandates.md, "Organizations").

A business, a non-profit or a condo association (syndicat de copropriété) does its city
business through residents who represent it. The city registers it once, on the enterprise
register's statement (état de renseignements du Registraire des entreprises du Québec)
checked on paper at the counter, or by an operator (``mtlid organization create``):

* its **number** is of the citizen number's shape in a series of its own
  (``services.common.organization_number``), so the ledger, service accounts and tokens
  carry it where they carry a resident;
* its **NEQ** (numéro d'entreprise du Québec, Loi sur la publicité légale des entreprises,
  RLRQ c. P-44.1, art. 21) is an external reference only: kept to find the organization
  again and to avoid registering it twice, never used as an identifier, never sent to a
  service. No registry is queried: ``EnterpriseRegistry`` is the interface a future
  integration would implement; today the agent's check of the paper statement stands for it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
from typing import Protocol

from services.common.organization_number import OrganizationNumber


class OrganizationKind(str, enum.Enum):
    BUSINESS = "business"
    NON_PROFIT = "non_profit"
    CONDO_ASSOCIATION = "condo_association"


#: The NEQ: ten digits (the register's own check is not public; we check the shape only).
NEQ_PATTERN = re.compile(r"^\d{10}$")
NAME_MAX = 200


@dataclasses.dataclass
class Organization:
    organization_id: str                 # OrganizationNumber.canonical
    name: str                            # the name on the register's statement
    kind: OrganizationKind
    neq: str | None                      # external reference only (see module docstring)
    registered_at: dt.datetime
    registered_by: str                   # "operator" or the agent's pseudonymous id (AG…)
    disabled: bool = False

    @property
    def resident_id(self) -> str:
        """The id the ledger, service accounts and tokens carry for the represented party."""
        return self.organization_id

    @property
    def number(self) -> OrganizationNumber:
        return OrganizationNumber(self.organization_id)


def normalized_neq(text: str | None) -> str | None:
    """The NEQ as ten digits (spaces and dashes dropped), or None when none is given."""
    compact = "".join(ch for ch in (text or "") if ch not in " -")
    return compact or None


def registration_problems(name: str, kind: str, neq: str | None) -> list[tuple[str, str]]:
    """Every problem with a registration, each naming its field (nothing is written on any)."""
    problems = []
    if not (name or "").strip() or len(name.strip()) > NAME_MAX:
        problems.append(("name", f"the name on the register's statement, 1 to {NAME_MAX} characters"))
    if kind not in {k.value for k in OrganizationKind}:
        problems.append(("kind", "one of business, non_profit, condo_association"))
    if neq is not None and not NEQ_PATTERN.match(neq):
        problems.append(("neq", "the Québec enterprise number: ten digits"))
    return problems


class NeqTaken(Exception):
    """Another organization holds this NEQ (the unique index decided, under a race too)."""


class NumberTaken(Exception):
    """The organization number drawn is taken (~10^-16): draw another."""


@dataclasses.dataclass(frozen=True)
class RegistryStatement:
    """What the enterprise register says of an organization, as a registry integration would
    answer it: its name, whether it is registered (not struck off), and the people its
    statement names as directors or officers (names only: matching them to residents is the
    counter's job, on identity documents)."""

    neq: str
    name: str
    registered: bool
    named_people: tuple[str, ...] = ()


class EnterpriseRegistry(Protocol):
    """The documented interface to the Registraire des entreprises du Québec — **not
    implemented** (the issue: "no company registry integration beyond a documented
    interface"). Today the counter agent reads the paper statement and ticks that it was
    seen; an integration would answer ``statement`` for a NEQ (None: unknown NEQ) and the
    counter would show it beside the form. Nothing in mtlid calls it yet."""

    async def statement(self, neq: str) -> RegistryStatement | None: ...
