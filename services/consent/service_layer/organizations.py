"""Organizations in the register (issue 22, docs/mandates.md "Organizations"): who may read an
organization's file.

An organization has no session of its own: its representatives act for it. Its file — the
mandates for it (who its representatives are) and what was done under them (acts) — is
readable by every resident who represents it **now**: a representative's mandate
(``organization_representative``) in force, or a sub-mandate handed on from one. A resident
whose mandate ended no longer reads it *(choice: the organization's file is the
organization's, not the former representative's; their own acts stay in their own file)*.
"""

from __future__ import annotations

import datetime as dt

from services.common.organization_number import is_organization_id
from services.consent.domain.mandates import MandateBasis, chain_in_force, reduce_mandates
from services.consent.service_layer.handlers import utcnow


async def represents(resident_id: str, organization_id: str, uow, *, now: dt.datetime | None = None) -> bool:
    """Does ``resident_id`` represent the organization now (a mandate in force for it whose
    chain holds, going back to an ``organization_representative`` mandate)?"""
    if not is_organization_id(organization_id) or is_organization_id(resident_id):
        return False
    now = now or utcnow()
    async with uow:
        mandates = reduce_mandates(await uow.ledger.mandate_entries())
    for m in mandates.values():
        if m.represented_id != organization_id or m.mandatary_id != resident_id:
            continue
        root = m
        while root.under_mandate_id and root.under_mandate_id in mandates:
            root = mandates[root.under_mandate_id]
        if root.basis is MandateBasis.ORGANIZATION_REPRESENTATIVE and chain_in_force(m, mandates, now):
            return True
    return False
