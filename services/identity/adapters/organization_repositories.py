"""Organizations' storage (migration 0100; domain/organizations.py)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, String, false, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from services.identity.adapters.orm import Base
from services.identity.domain.organizations import NeqTaken, NumberTaken, Organization, OrganizationKind


class OrganizationRow(Base):
    __tablename__ = "organizations"

    organization_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    neq: Mapped[str | None] = mapped_column(String(10), unique=True)
    registered_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    registered_by: Mapped[str] = mapped_column(String(64))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


def _domain(row: OrganizationRow) -> Organization:
    registered_at = row.registered_at
    if registered_at.tzinfo is None:   # SQLite drops the offset: the column is UTC
        registered_at = registered_at.replace(tzinfo=dt.timezone.utc)
    return Organization(organization_id=row.organization_id, name=row.name, kind=OrganizationKind(row.kind),
                        neq=row.neq, registered_at=registered_at, registered_by=row.registered_by,
                        disabled=row.disabled)


class SqlOrganizationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, organization_id: str) -> Organization | None:
        row = await self.session.get(OrganizationRow, organization_id)
        return _domain(row) if row is not None else None

    async def by_neq(self, neq: str) -> Organization | None:
        query = select(OrganizationRow).where(OrganizationRow.neq == neq)
        row = (await self.session.execute(query)).scalar_one_or_none()
        return _domain(row) if row is not None else None

    async def exists(self, organization_id: str) -> bool:
        return await self.session.get(OrganizationRow, organization_id) is not None

    async def add(self, organization: Organization) -> None:
        """Insert in a savepoint: a NEQ already taken (another counter, the same instant)
        raises ``NeqTaken`` and leaves the transaction usable; a number taken raises
        ``NumberTaken`` for the caller to draw another."""
        row = OrganizationRow(organization_id=organization.organization_id, name=organization.name,
                              kind=organization.kind.value, neq=organization.neq,
                              registered_at=organization.registered_at, registered_by=organization.registered_by,
                              disabled=organization.disabled)
        try:
            async with self.session.begin_nested():
                self.session.add(row)
                await self.session.flush()
        except IntegrityError:
            if organization.neq and await self.by_neq(organization.neq) is not None:
                raise NeqTaken(organization.neq) from None
            raise NumberTaken(organization.organization_id) from None
