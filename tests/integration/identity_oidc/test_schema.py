"""Migration 0002 creates exactly the tables ``adapters/oauth_orm.py`` declares (no drift)."""

from __future__ import annotations

import warnings

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import services.identity.adapters.oauth_orm  # noqa: F401 - registers the OAuth tables on Base
from services.common.db import create_engine
from services.common.migrations import migrate_async
from services.common.testing.databases import temporary_database
from services.identity.adapters.orm import Base

OAUTH_TABLES = {"oauth_codes", "oauth_refresh_tokens", "oauth_grants", "sso_sessions", "revoked_access_tokens",
                "oauth_session_clients", "oauth_logout_deliveries", "clients", "oauth_client_assertions",
                "oauth_pushed_requests", "oauth_dpop_proofs"}


def table_of(item) -> str | None:
    first = item[0] if isinstance(item, list) else item
    kind = first[0]
    if kind in ("add_table", "remove_table"):
        return first[1].name
    if kind in ("add_column", "remove_column") or kind.startswith("modify_"):
        return first[2]
    return getattr(getattr(first[1], "table", None), "name", None)


async def test_migration_0002_matches_the_models():
    assert OAUTH_TABLES <= set(Base.metadata.tables)
    async with temporary_database("identity_oidc_schema") as url:
        await migrate_async("identity", url)
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    diff = await connection.run_sync(lambda c: compare_metadata(
                        MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata))
        finally:
            await engine.dispose()
    assert [d for d in diff if table_of(d) in OAUTH_TABLES] == []
