"""Closed accounts purged after the retention period (issue 21).

A resident who closed their account keeps their citizen number (never given to anyone else)
and the closure's receipt; the rest of what identity holds about them is kept for
:data:`DEFAULT_RETENTION_DAYS` after the closure, then deleted or anonymised:

- why that long: the Access Act (CQLR c. A-2.1) s. 73 asks a public body to destroy or
  anonymise personal information once the purposes it was collected for are achieved,
  subject to the Archives Act (CQLR c. A-21.1, s. 7-8: the body's retention schedule). The
  purposes that outlive a closure are reopening the account at a counter, answering an
  access request or a complaint about what was done, and the prescription of civil claims
  against a municipality; two years covers them (our choice where the issue is silent; the
  city's retention schedule decides, hence ``MTLID_CLOSED_ACCOUNT_RETENTION_DAYS``);
- what goes: the address, the password, the second factor, every code, the verified level,
  the language (``Resident.forget_personal_data``), and the traces of use — sign-ins,
  sessions, codes, refresh tokens, grants (``residents.forget_traces``); accounts deletes the
  profile and the document checks on ``resident_purged``;
- what is kept: the citizen number (closed, ``purged_at`` set), the closures and their
  receipts, the "this was not me" reports and the agents' actions (the city's accountability
  for what was done on the file), and the consent ledger (append-only proof of what was
  consented and who saw what; it holds no attribute value).

Journaled: ``resident_purged`` through the outbox in the purge's transaction, and a log line
with counts only. The job runs in identity's hourly maintenance, and now with
``mtlid resident purge-closed``. A purged account is not reopened (nothing is left to
reopen): the person enrols again at a counter.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.identity.domain.events import ResidentPurged
from services.identity.service_layer.authentication import _rfc3339, utcnow

DEFAULT_RETENTION_DAYS = 730
BATCH = 100


@dataclass(frozen=True)
class PurgeClosedAccounts:
    retention_days: int = DEFAULT_RETENTION_DAYS
    now: dt.datetime | None = None
    batch: int = BATCH


@dataclass(frozen=True)
class Purged:
    residents: tuple[str, ...]
    rows_deleted: int


async def purge_closed_accounts(cmd: PurgeClosedAccounts, uow_factory) -> Purged:
    """Purge every account closed more than ``retention_days`` ago, ``batch`` per transaction
    (idempotent: a purged account is not selected again; safe on several replicas, as a
    second purge of the same row changes nothing and its event carries the same identity)."""
    if cmd.retention_days < 1:
        raise ValueError("retention_days must be at least 1")
    now = cmd.now or utcnow()
    before = now - dt.timedelta(days=cmd.retention_days)
    purged: list[str] = []
    deleted = 0
    while True:
        async with uow_factory() as uow:
            due = await uow.residents.closed_before(before, cmd.batch)
            for resident_id in due:
                resident = await uow.residents.get(resident_id)
                closed_at = resident.closed_at
                resident.forget_personal_data(now)
                await uow.residents.save(resident)
                deleted += await uow.residents.forget_traces(resident_id)
                uow.add_event(ResidentPurged(resident_id=resident_id, closed_at=_rfc3339(closed_at),
                                             purged_at=_rfc3339(now)))
            await uow.commit()
        purged.extend(due)
        if len(due) < cmd.batch:
            return Purged(residents=tuple(purged), rows_deleted=deleted)
