"""The outbox keeps published rows for the retention period only, purged in small batches
without holding writers up; `mtlid events outbox` (the real command) reports what waits.
Real database (SQLite, or PostgreSQL with MTLID_TEST_DATABASE=postgres)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys

from sqlalchemy import func, select, update

from services.common.migrations import migrate_async
from services.common.outbox import utcnow
from services.common.relay import outbox_status, purge_published
from services.common.testing.databases import temporary_database
from services.common.uow import OUTBOX

from . import foundation_app as app

ROOT = __import__("pathlib").Path(__file__).resolve().parents[3]


async def write_and_publish(factory, prefix: str, count: int, published_at: dt.datetime | None) -> None:
    for i in range(count):
        await app.write_note(factory, f"{prefix}{i}")
    if published_at is not None:
        async with factory() as session, session.begin():
            await session.execute(update(OUTBOX).where(OUTBOX.c.published_at.is_(None))
                                  .values(published_at=published_at))


async def count(factory, *conditions) -> int:
    async with factory() as session:
        return await session.scalar(select(func.count()).select_from(OUTBOX).where(*conditions))


async def test_published_rows_past_retention_go_in_batches_and_nothing_else(notes_factory):
    factory = notes_factory
    now = utcnow()
    await write_and_publish(factory, "old", 450, now - dt.timedelta(days=8))
    await write_and_publish(factory, "recent", 30, now - dt.timedelta(hours=1))
    await write_and_publish(factory, "waiting", 20, None)
    status = await outbox_status(factory)
    assert (status["unpublished"], status["published_kept"]) == (20, 480)

    writes_during_purge = 0
    purging = True

    async def writer():
        nonlocal writes_during_purge
        while purging:
            await app.write_note(factory, f"during{writes_during_purge}")
            writes_during_purge += 1

    task = asyncio.create_task(writer())
    removed = await purge_published(factory, before=now - dt.timedelta(days=7), batch=50)
    purging = False
    await task
    assert removed == 450
    assert writes_during_purge > 0   # writers went on between the batches
    assert await count(factory, OUTBOX.c.published_at.is_not(None)) == 30  # the recent ones stay
    assert await count(factory, OUTBOX.c.published_at.is_(None)) == 20 + writes_during_purge  # never a waiting row
    assert await purge_published(factory, before=now - dt.timedelta(days=7)) == 0


async def test_mtlid_events_outbox_reports_depth_and_the_oldest_age(tmp_path):
    async with temporary_database("consent", tmp_path) as url:
        await migrate_async("consent", url)
        engine, factory = await app.setup(url)  # the notes table beside consent's own outbox
        try:
            await write_and_publish(factory, "w", 3, None)
            async with factory() as session, session.begin():
                await session.execute(update(OUTBOX).values(created_at=utcnow() - dt.timedelta(minutes=5)))
        finally:
            await engine.dispose()
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("MTLID_")},
               "MTLID_CONSENT_DATABASE_URL": url}
        result = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "services.cli", "events", "outbox",
                                                          "--service", "consent"],
                                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    [figures] = json.loads(result.stdout)["outbox"]
    assert figures["service"] == "consent" and figures["unpublished"] == 3 and figures["published_kept"] == 0
    assert 300 <= figures["oldest_unpublished_age_seconds"] < 400
