"""Organizations as holders of service accounts (issue 22; docs/mandates.md "Organizations").

Identity registers an organization and publishes ``organization_registered``; accounts then
keeps an account holder record for it — a profile row with **no attributes** (an
organization's name and NEQ stay with identity; services know it by their own account
reference) — so a borough system links a ``ServiceAccount`` to the organization exactly as
to a resident (``LinkAccount``, the organization's number or, for a partner, its pairwise
subject), and every rule of service accounts holds for it unchanged (one open account per
holder and service, the guarded lifecycle, the history).
"""

from __future__ import annotations

import datetime as dt

from services.common.errors import InvalidArgument
from services.common.organization_number import InvalidOrganizationNumber, OrganizationNumber

from ..domain.profile import Profile


async def organization_registered(organization_id: str, uow, *, now: dt.datetime | None = None) -> bool:
    """Create the organization's account holder record (idempotent: False if it exists).
    Runs inside the consumer's unit of work, which commits with the inbox row."""
    try:
        number = OrganizationNumber(organization_id)
    except InvalidOrganizationNumber as error:
        raise InvalidArgument("organization_id", str(error)) from None
    if await uow.profiles.get(number.canonical) is not None:
        return False
    await uow.profiles.add(Profile.register(number.canonical, now or dt.datetime.now(dt.timezone.utc)))
    return True
