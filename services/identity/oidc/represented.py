"""The party a token on someone's behalf is for (issue 22): a resident, or an organization
registered with the city (docs/mandates.md, "Organizations"). Both carry their id where
tokens carry a resident's (``resident_id``; the organization's number has the citizen
number's shape) and ``disabled``; no attribute of either is ever put in such a token.
"""

from __future__ import annotations

from services.common.organization_number import is_organization_id


async def represented_party(uow, party_id: str):
    """The resident or the organization ``party_id`` names, or None (unknown)."""
    if is_organization_id(party_id):
        return await uow.organizations.get(party_id)
    return await uow.residents.get(party_id)
