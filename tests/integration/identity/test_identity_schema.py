"""Migration 0001 creates exactly the tables the ORM models declare (no drift)."""

from __future__ import annotations

import warnings

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from services.common.db import create_engine
from services.identity.adapters.orm import Base


async def test_migration_matches_the_models(database_url):
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # SQLite cannot reflect the lower(email) index
                diff = await connection.run_sync(lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata))
    finally:
        await engine.dispose()
    ours = set(Base.metadata.tables)

    def table_of(item) -> str | None:
        first = item[0] if isinstance(item, list) else item  # modify_* diffs come as lists
        kind = first[0]
        if kind in ("add_table", "remove_table"):
            return first[1].name
        if kind in ("add_column", "remove_column") or kind.startswith("modify_"):
            return first[2]
        obj = first[1]
        return getattr(getattr(obj, "table", None), "name", None)

    # Tables of other migrations (0002 OAuth, alembic's version table) are not ours to compare.
    relevant = [d for d in diff if table_of(d) in ours or table_of(d) is None]
    assert relevant == []


async def test_email_is_unique_whatever_its_case_at_the_database_level(uow_factory):
    import datetime as dt

    import pytest

    from services.identity.domain.citizen_number import CitizenNumber
    from services.identity.domain.errors import Conflict
    from services.identity.domain.residents import Resident

    now = dt.datetime.now(dt.timezone.utc)
    async with uow_factory() as uow:
        await uow.residents.add(Resident(CitizenNumber.new().canonical, "Same@Example.ca", None, created_at=now))
        with pytest.raises(Conflict):
            # Bypass the service layer's normalisation: the index itself must refuse it.
            await uow.residents.add(Resident(CitizenNumber.new().canonical, "same@example.CA", None, created_at=now))
