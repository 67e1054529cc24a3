"""The Alembic history creates exactly the tables the ORM declares (no drift), on SQLite and
PostgreSQL, and it can be run twice (what `mtlid migrate accounts` and each replica's start do)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from services.accounts.adapters.orm import Base
from services.common.db import create_engine
from services.common.migrations import migrate_async
from services.common.testing.databases import temporary_database


async def test_migrations_match_the_models_and_are_idempotent(tmp_path):
    async with temporary_database("accounts", tmp_path) as url:
        await migrate_async("accounts", url)
        await migrate_async("accounts", url)
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                diff = await connection.run_sync(
                    lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True, "version_table": "alembic_version_accounts"}),
                                                  Base.metadata))
        finally:
            await engine.dispose()
    assert diff == []
