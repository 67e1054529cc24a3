"""Mon compte — "Mes procurations", the organizations the resident represents (issue 22;
docs/mandates.md "Organizations"): for each organization for which the resident holds a
mandate in force, its file — who represents it (the representatives named at the counter and
those they handed part on to), until when, and what each did under their mandate — the same
acts both sides see. Consent decides who may read it (a representative now); this module
only asks and shows.
"""

from __future__ import annotations

from services.common.organization_number import OrganizationNumber, is_organization_id
from services.identity.http.account.backends import BackendError
from services.identity.http.routes.common import provider


async def organization_name(request, organization_id: str) -> str:
    async with provider(request).uow_factory() as uow:
        organization = await uow.organizations.get(organization_id)
    number = OrganizationNumber(organization_id).human
    return f"{organization.name} ({number})" if organization is not None else number


async def represented_organizations(request, client, received: list, view) -> list[dict]:
    """The files of the organizations the resident represents now (``received`` are the
    wire mandates they hold; ``view`` renders one mandate as the page's cards do)."""
    files, seen = [], set()
    for m in received:
        if not is_organization_id(m.represented_id) or m.represented_id in seen:
            continue
        seen.add(m.represented_id)
        try:
            listing = await client.organization_mandates(m.represented_id)
        except BackendError:
            continue   # no longer a representative (or the register is away): no file shown
        files.append({"name": await organization_name(request, m.represented_id),
                      "mandates": [view(x) for x in listing.given]})
    return files
