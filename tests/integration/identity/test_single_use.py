"""Used DPoP proofs (RFC 9449 s. 11.1) and client assertions (RFC 7523 s. 3 item 7) are
first-use-only across identity processes, on the records the service wires: one autocommit
statement each on PostgreSQL (``adapters.single_use`` over ``PointWrites``), a unit of work on
SQLite. Two "processes" here are two instances with connections of their own, on one database."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets

import pytest
from sqlalchemy import text

from services.common.db import create_engine, session_factory
from services.common.migrations import migrate_async
from services.common.reads import PointWrites
from services.common.testing.databases import temporary_database
from services.identity.adapters.oauth_repositories import OAuthUnitOfWork
from services.identity.adapters.single_use import PointSingleUse
from services.identity.oidc.provider import UnitOfWorkSingleUse

KEK = bytes(32)


@pytest.fixture
async def replicas():
    async with temporary_database("single_use") as url:
        await migrate_async("identity", url)
        engines = [create_engine(url), create_engine(url)]
        writes = [PointWrites.for_engine(engine) for engine in engines]
        records = []
        for engine, write in zip(engines, writes):
            sessions = session_factory(engine)
            records.append(PointSingleUse(write) if write is not None
                           else UnitOfWorkSingleUse(lambda sessions=sessions: OAuthUnitOfWork(sessions, kek=KEK)))
        try:
            yield records, engines[0]
        finally:
            for write in writes:
                if write is not None:
                    await write.aclose()
            for engine in engines:
                await engine.dispose()


def _until(minutes: int = 5) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=minutes)


async def test_a_proof_is_first_once_whichever_process_sees_it(replicas):
    records, engine = replicas
    if engine.url.get_backend_name() == "postgresql":
        assert all(isinstance(r, PointSingleUse) for r in records)   # the statement path is what runs here
    key = secrets.token_urlsafe(32)
    answers = await asyncio.gather(*(records[n % 2].dpop_proof(key, _until()) for n in range(30)))
    assert sorted(answers) == [False] * 29 + [True]
    assert await records[0].dpop_proof(secrets.token_urlsafe(32), _until())
    async with engine.connect() as connection:
        kept = (await connection.execute(text("SELECT expires_at FROM oauth_dpop_proofs WHERE proof_key = :k"),
                                         {"k": key})).scalar_one()
    assert kept is not None   # committed, with the time until which it is refused


async def test_an_assertion_jti_is_first_once_per_client(replicas):
    records, _engine = replicas
    jti = secrets.token_urlsafe(16)
    answers = await asyncio.gather(*(records[n % 2].client_assertion("borough", jti, _until()) for n in range(20)))
    assert sorted(answers) == [False] * 19 + [True]
    # the same jti from another client is that client's first use (RFC 7523: jti per issuer)
    assert await records[1].client_assertion("library", jti, _until())
    assert not await records[0].client_assertion("library", jti, _until())
