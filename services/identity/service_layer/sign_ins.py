"""The sign-in history: written with every login event, listed for the resident.

Every ``login_succeeded`` and every ``login_failed`` that names a resident becomes a row of
the history **in the same transaction** as the event (``IdentityUnitOfWork.commit``), so the
history and the events never disagree, whichever handler signed the resident in. The service
the resident was signing in to is what the interaction is for: the OIDC front says so with
``domain.sign_ins.signing_in_to`` around its calls (Mon compte when it does not). A code
issued to a service on an already open session is a sign-in too (``oidc/authorize.py``).

Other issues build on this: the list below (``history``) is the seam for the export and for a
"this was not me" action.
"""

from __future__ import annotations

import datetime as dt

from services.identity.domain.sign_ins import RETENTION_DAYS, SignIn

PAGE_SIZE = 50


async def history(resident_id: str, uow, *, limit: int = PAGE_SIZE, before: dt.datetime | None = None) -> list[SignIn]:
    """The resident's sign-ins, newest first (at most ``limit``, older than ``before``)."""
    async with uow:
        return await uow.sign_ins.for_resident(resident_id, max(1, min(limit, 500)), before)


async def purge_expired(uow, now: dt.datetime) -> int:
    """Forget sign-ins older than the retention period (the caller commits)."""
    return await uow.sign_ins.purge(now - dt.timedelta(days=RETENTION_DAYS))
