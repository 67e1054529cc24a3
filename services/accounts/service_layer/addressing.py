"""How a resident is named to each caller (docs/contracts.md, "Identifiers").

City services, agents and residents use the canonical universal citizen identifier (the
human form ``MTL 4K7Q-9QXB-2BCW`` is accepted from people and turned canonical here, at the
edge). Partners only ever see and send pairwise subject identifiers (OpenID Connect Core 1.0,
s. 8.1), which only the identity service computes: a partner can neither learn the universal
identifier nor link a resident across partners.
"""

from __future__ import annotations

import re

from services.common.errors import InvalidArgument, NotFound
from services.common.organization_number import OrganizationNumber
from services.identity.domain.citizen_number import CitizenNumber, InvalidCitizenNumber

from ..domain.catalogue import CatalogueService
from .ports import SubjectResolver

_PAIRWISE = re.compile(r"^[a-z2-7]{16,128}$")


def canonical_resident_id(text: str, field: str = "resident_id") -> str:
    """A citizen number, or an organization's number (issue 22: an organization registered with
    the city holds service accounts; its number has the citizen number's shape in a series of
    its own, ``services.common.organization_number``)."""
    try:
        return CitizenNumber.parse(text).canonical
    except InvalidCitizenNumber as error:
        if OrganizationNumber.is_valid(text):
            return OrganizationNumber.parse(text).canonical
        raise InvalidArgument(field, f"not a citizen number: {error}") from None


async def resident_from(text: str, service: CatalogueService | None, resolver: SubjectResolver,
                        field: str = "resident_id") -> str:
    """The citizen identifier behind what ``service``'s caller sent."""
    if service is None or not service.sees_pairwise_ids:
        return canonical_resident_id(text, field)
    if not _PAIRWISE.match(text or ""):
        raise InvalidArgument(field, "a partner addresses residents by their pairwise subject identifier")
    resident_id = await resolver.resident_for(service.client_id, text)
    if resident_id is None:
        raise NotFound("resident")
    return resident_id


async def resident_shown(resident_id: str, service: CatalogueService | None, resolver: SubjectResolver) -> str:
    """The identifier ``service``'s caller may see for ``resident_id``."""
    if service is None or not service.sees_pairwise_ids:
        return resident_id
    return await resolver.subject_for(service.client_id, resident_id)
