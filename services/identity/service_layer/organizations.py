"""Registering an organization with the city (issue 22; docs/mandates.md "Organizations").

``register_organization`` takes a command and a unit of work: every problem of the form is
named first (INVALID_ARGUMENT, nothing written); a NEQ already registered is ALREADY_EXISTS
with the organization's number, so the counter opens that file instead of a second one. The
organization and its ``organization_registered`` event are one transaction (outbox).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from services.common.errors import AlreadyExists, InvalidArgument, NotFound
from services.common.organization_number import InvalidOrganizationNumber, OrganizationNumber
from services.identity.domain.events import OrganizationRegistered
from services.identity.domain.organizations import (NeqTaken, NumberTaken, Organization, OrganizationKind,
                                                    normalized_neq, registration_problems)

NEW_NUMBER_ATTEMPTS = 5


@dataclasses.dataclass(frozen=True)
class RegisterOrganization:
    name: str
    kind: str
    neq: str | None
    registered_by: str        # "operator" or the agent's id (AG…)


async def register_organization(cmd: RegisterOrganization, uow, *, now: dt.datetime | None = None) -> Organization:
    now = now or dt.datetime.now(dt.timezone.utc)
    neq = normalized_neq(cmd.neq)
    problems = registration_problems(cmd.name, cmd.kind, neq)
    if problems:
        raise InvalidArgument.many(problems)
    async with uow:
        if neq is not None:
            known = await uow.organizations.by_neq(neq)
            if known is not None:
                raise AlreadyExists("ORGANIZATION_ALREADY_REGISTERED",
                                    f"this NEQ is already registered as {known.number.human}")
        for _ in range(NEW_NUMBER_ATTEMPTS):
            organization = Organization(organization_id=OrganizationNumber.new().canonical, name=cmd.name.strip(),
                                        kind=OrganizationKind(cmd.kind), neq=neq, registered_at=now,
                                        registered_by=cmd.registered_by)
            try:
                await uow.organizations.add(organization)
                break
            except NeqTaken:
                raise AlreadyExists("ORGANIZATION_ALREADY_REGISTERED", "this NEQ is already registered") from None
            except NumberTaken:
                continue   # the number was drawn twice (~10^-16): draw again
        else:  # pragma: no cover
            raise RuntimeError("could not draw an unused organization number")
        uow.add_event(OrganizationRegistered(organization_id=organization.organization_id,
                                             kind=organization.kind.value, registered_by=cmd.registered_by))
        await uow.commit()
    return organization


def parse_organization_number(text: str, field: str = "organization_number") -> OrganizationNumber:
    try:
        return OrganizationNumber.parse(text)
    except InvalidOrganizationNumber as error:
        raise InvalidArgument(field, str(error)) from None


async def find_organization(text: str, uow) -> Organization:
    number = parse_organization_number(text)
    async with uow:
        found = await uow.organizations.get(number.canonical)
    if found is None:
        raise NotFound("organization", "no organization has this number")
    return found
