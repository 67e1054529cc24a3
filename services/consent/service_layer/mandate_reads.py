"""How the mandate handlers read mandates (issue 22): by index, never the whole ledger.

A decision about a represented resident reads that resident's whole mandate chain (every
entry of every mandate for them, sub-mandates and their sources included: a sub-mandate is
for the same resident), bound to its leaves as Check binds consents
(``LedgerRepository.mandate_entries_of``). Read under the head lock when a write follows.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.consent.domain.mandates import Mandate, reduce_mandates


async def mandates_of(uow, represented: Iterable[str]) -> dict[str, Mandate]:
    """Every mandate for these represented residents, by id."""
    return reduce_mandates(await uow.ledger.mandate_entries_of(list(represented)))


async def mandate_with_chain(uow, mandate_id: str) -> tuple[Mandate | None, dict[str, Mandate]]:
    """A mandate and every other mandate for the same represented resident."""
    resident = await uow.ledger.mandate_resident(mandate_id)
    if resident is None:
        return None, {}
    mandates = await mandates_of(uow, [resident])
    return mandates.get(mandate_id), mandates


async def mandates_concerning(uow, resident_id: str) -> dict[str, Mandate]:
    """The mandates for the resident, and those for the residents they were granted a
    mandate for (found by the ``mandatary_id`` index): all that they hold or handed on."""
    return await mandates_of(uow, {resident_id, *await uow.ledger.represented_by(resident_id)})
