"""The reads of ``ReleaseAttributes``, outside any unit of work (``services.common.reads``).

A release writes nothing in accounts before it asks the consent ledger, so its read phase
opens no ORM session: no BEGIN/COMMIT, no identity map, no ping on checkout. It is at most two
single statements, each atomic with its own snapshot (PostgreSQL docs, "Transaction
Isolation": in autocommit every statement takes its own snapshot):

1. the catalogue entry of the service (``SERVICE``);
2. the resident's live account with that service *and* their profile attributes, in one
   statement (``ACCOUNT_AND_PROFILE``): the account and the values it releases are read in
   the same snapshot.

What may be kept in memory, and what never is:

- the service catalogue, on PostgreSQL only: a service is cached by id, and forgotten on every
  replica when the database announces its change (trigger + ``pg_notify``, migration 0002,
  delivered at commit: milliseconds). While that feed is not surely listening (not yet
  connected, connection lost, health check failed) the cache is not used at all and every
  release reads the service. This process's own catalogue writes also forget the service as
  soon as they commit (``catalogue_changed``). So a retired service stops releasing at once.
  On SQLite (one host, no notifications) the service is read on every release.
- the resident's account and profile values: never. A closed or suspended account, or a
  changed or removed attribute, takes effect at the very next release.
- consent decisions are not read here at all: the ledger is asked on every release.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from services.common.reads import ChangeFeed, NotifiedCache, PointReads, json_list

from ..domain.attributes import Attribute, Provenance
from ..domain.catalogue import CatalogueService, ServiceKind, ServiceState
from ..domain.profile import Profile
from ..domain.service_account import AccountState, ServiceAccount

SERVICES_CHANGED = "mtlid_services_changed"   # migration 0002's channel

SERVICE = (
    "SELECT service_id, name_fr, name_en, kind, owner, client_id, created_at, updated_at, borough,"
    " attributes, purposes, state FROM services WHERE service_id = :service_id")

# One row per profile attribute (or one row with NULL attribute columns when the profile has
# none); no row when there is no profile. An account belongs to a profile (foreign key), so no
# row also means no account. The partial unique index ``uq_service_accounts_open_resident``
# allows at most one open account per resident and service: the join never multiplies rows.
ACCOUNT_AND_PROFILE = (
    "SELECT p.created_at, p.updated_at,"
    " a.account_id, a.account_reference, a.state, a.created_at, a.updated_at, a.unlink_requested_at,"
    " pa.name, pa.value, pa.provenance, pa.updated_at, pa.verified_at, pa.verified_by,"
    " pa.document_check_id, pa.source_service_id"
    " FROM profiles AS p"
    " LEFT JOIN service_accounts AS a ON a.resident_id = p.resident_id AND a.service_id = :service_id"
    " AND a.state <> 'closed'"
    " LEFT JOIN profile_attributes AS pa ON pa.resident_id = p.resident_id"
    " WHERE p.resident_id = :resident_id")


def _time(value: Any) -> dt.datetime | None:
    """asyncpg gives aware datetimes; SQLite gives the text SQLAlchemy wrote (UTC, naive)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)


def service_from_row(row) -> CatalogueService:
    (service_id, name_fr, name_en, kind, owner, client_id, created_at, updated_at, borough, attributes,
     purposes, state) = row
    return CatalogueService(service_id=service_id, name_fr=name_fr, name_en=name_en, kind=ServiceKind(kind),
                            owner=owner, client_id=client_id, created_at=_time(created_at),
                            updated_at=_time(updated_at), borough=borough, attributes=json_list(attributes),
                            purposes=json_list(purposes), state=ServiceState(state))


def account_and_profile_from_rows(resident_id: str, service_id: str,
                                  rows) -> tuple[ServiceAccount | None, Profile | None]:
    if not rows:
        return None, None
    first = rows[0]
    profile = Profile(resident_id=resident_id, created_at=_time(first[0]), updated_at=_time(first[1]))
    account = None
    if first[2] is not None:
        # The history (transitions) is not read: a release only asks whether the link is live,
        # and this object is never saved (no repository here can write).
        account = ServiceAccount(account_id=first[2], resident_id=resident_id, service_id=service_id,
                                 account_reference=first[3], state=AccountState(first[4]),
                                 created_at=_time(first[5]), updated_at=_time(first[6]),
                                 unlink_requested_at=_time(first[7]))
    for row in rows:
        name = row[8]
        if name is None:
            continue
        profile.attributes[name] = Attribute(
            name=name, value=row[9], provenance=Provenance(row[10]), updated_at=_time(row[11]),
            verified_at=_time(row[12]), verified_by=row[13], document_check_id=row[14],
            source_service_id=row[15])
    return account, profile


class SqlReleaseReads:
    """``ReleaseReads`` (service_layer/ports.py) on ``PointReads``; see the module docstring."""

    def __init__(self, reads: PointReads) -> None:
        self._reads = reads
        #: on PostgreSQL, cached while migration 0002's notifications are heard (``NotifiedCache``)
        self.services = NotifiedCache(reads, SERVICES_CHANGED, self._read_service)

    @property
    def feed(self) -> ChangeFeed | None:
        """The catalogue's change feed (run by the service as a task); None on SQLite."""
        return self.services.feed

    async def service(self, service_id: str) -> CatalogueService | None:
        """The catalogue entry (retired ones included: the caller decides), or None.

        A cached entry is shared: the release only reads it, never changes it.
        """
        return await self.services.get(service_id)

    async def live_account_and_profile(self, resident_id: str,
                                       service_id: str) -> tuple[ServiceAccount | None, Profile | None]:
        """The resident's open (not closed) account with the service, and their profile; read
        fresh on every call, in one statement."""
        rows = await self._reads.all(ACCOUNT_AND_PROFILE, {"resident_id": resident_id, "service_id": service_id})
        return account_and_profile_from_rows(resident_id, service_id, rows)

    def catalogue_changed(self, service_id: str) -> None:
        """Forget one service (or, with an empty id, all): this process's own commit."""
        self.services.forget(service_id)

    async def _read_service(self, service_id: str) -> CatalogueService | None:
        row = await self._reads.one(SERVICE, {"service_id": service_id})
        return service_from_row(row) if row is not None else None
