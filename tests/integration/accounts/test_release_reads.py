"""The release's point reads (``adapters/release_reads.py``) on a real database, SQLite or
PostgreSQL: rows become the same domain objects the unit of work builds, nothing but the
catalogue is ever kept, and the catalogue cache (PostgreSQL) forgets a service when the
database announces its change, and is not used at all while nobody listens."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

import pytest
from sqlalchemy import text

from services.accounts.adapters.release_reads import SqlReleaseReads
from services.accounts.adapters.uow import AccountsUnitOfWork
from services.accounts.domain.attributes import Provenance
from services.accounts.domain.catalogue import CatalogueService, ServiceKind, ServiceState
from services.accounts.domain.profile import Profile
from services.accounts.domain.service_account import AccountState, ServiceAccount
from services.common.db import create_engine, session_factory
from services.common.migrations import migrate_async
from services.common.reads import PointReads
from services.common.testing.databases import backend, temporary_database

AT = dt.datetime(2026, 11, 2, 14, 30, 15, 123456, tzinfo=dt.timezone.utc)
RESIDENT, OTHER = "4K7Q9QXB2BCW", "7H3M2K9QWX4T"


@pytest.fixture
async def accounts_db(tmp_path):
    async with temporary_database("release_reads", tmp_path) as url:
        await migrate_async("accounts", url)
        engine = create_engine(url)
        sessions = session_factory(engine)
        async with AccountsUnitOfWork(sessions) as uow:
            for service_id, kind in (("library", ServiceKind.MUNICIPAL), ("bixi", ServiceKind.PARTNER)):
                await uow.services.add(CatalogueService.register(
                    service_id=service_id, name_fr="Service", name_en="Service", kind=kind, owner="Ville",
                    client_id=f"{service_id}-client", at=AT, attributes=["email", "phone"],
                    purposes=["communication"]))
            profile = Profile.register(RESIDENT, AT, preferred_language="fr")
            profile.declare({"email": "marie@example.ca", "phone": "+15145550142"}, AT)
            profile.verify("email", Provenance.VERIFIED_AT_COUNTER, AT + dt.timedelta(minutes=1), agent_id="agent-7")
            await uow.profiles.add(profile)
            await uow.profiles.add(Profile(resident_id=OTHER, created_at=AT, updated_at=AT))   # no attribute
            closed = ServiceAccount.link(account_id="acc_closed", resident_id=RESIDENT, service_id="library",
                                         account_reference="REF-1", actor="client:library", at=AT)
            await uow.accounts.add(closed)
            closed.close("client:library", "moved out", AT + dt.timedelta(minutes=2))
            await uow.accounts.save(closed)
            await uow.accounts.add(ServiceAccount.link(account_id="acc_live", resident_id=RESIDENT,
                                                       service_id="library", account_reference="REF-1",
                                                       actor="client:library", at=AT))
            await uow.commit()
        reads = PointReads(engine)
        try:
            yield engine, sessions, reads
        finally:
            await reads.aclose()
            await engine.dispose()


async def _set_state(engine, service_id: str, state: str) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("UPDATE services SET state = :s WHERE service_id = :i"),
                                 {"s": state, "i": service_id})


async def _eventually(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_rows_become_the_objects_the_unit_of_work_builds(accounts_db):
    _engine, sessions, reads = accounts_db
    release = SqlReleaseReads(reads)
    async with AccountsUnitOfWork(sessions) as uow:
        want_service = await uow.services.get("library")
        want_profile = await uow.profiles.get(RESIDENT)
        want_account = await uow.accounts.open_for(RESIDENT, "library")

    service = await release.service("library")
    assert service == want_service
    assert service.created_at == AT and service.created_at.tzinfo is not None

    account, profile = await release.live_account_and_profile(RESIDENT, "library")
    assert profile == want_profile
    assert profile.get("email").provenance is Provenance.VERIFIED_AT_COUNTER
    assert profile.get("email").verified_at == AT + dt.timedelta(minutes=1)
    assert sorted(profile.attributes) == ["email", "phone", "preferred_language"]
    # the live one of the two accounts; its history is not read (a release never needs it)
    assert dataclasses.replace(account, transitions=want_account.transitions) == want_account
    assert (account.account_id, account.state, account.may_receive_attributes) == (
        "acc_live", AccountState.PENDING, True)


async def test_missing_things_are_none(accounts_db):
    _engine, _sessions, reads = accounts_db
    release = SqlReleaseReads(reads)
    assert await release.service("nobody") is None
    assert await release.live_account_and_profile("9ZZZZZZZZZZZ", "library") == (None, None)
    account, profile = await release.live_account_and_profile(RESIDENT, "bixi")       # profile, no account
    assert account is None and profile.resident_id == RESIDENT and profile.get("email") is not None
    account, profile = await release.live_account_and_profile(OTHER, "library")       # no attribute at all
    assert account is None and profile.attributes == {}


async def test_accounts_and_values_are_read_fresh_every_time(accounts_db):
    engine, _sessions, reads = accounts_db
    release = SqlReleaseReads(reads)
    assert (await release.live_account_and_profile(RESIDENT, "library"))[1].get("phone").value == "+15145550142"
    async with engine.begin() as connection:
        await connection.execute(text("UPDATE profile_attributes SET value = '+15145550199'"
                                      " WHERE resident_id = :r AND name = 'phone'"), {"r": RESIDENT})
        await connection.execute(text("UPDATE service_accounts SET state = 'suspended' WHERE account_id = 'acc_live'"))
    account, profile = await release.live_account_and_profile(RESIDENT, "library")
    assert profile.get("phone").value == "+15145550199"
    assert account.state is AccountState.SUSPENDED and not account.may_receive_attributes


async def test_without_a_live_feed_every_read_sees_the_latest_commit(accounts_db):
    engine, _sessions, reads = accounts_db
    release = SqlReleaseReads(reads)               # feed not running (or SQLite: no feed): reads through
    assert (await release.service("library")).state is ServiceState.ACTIVE
    await _set_state(engine, "library", "retired")
    assert (await release.service("library")).state is ServiceState.RETIRED
    assert release.services.cached == {}


@pytest.mark.skipif(backend() != "postgres", reason="the catalogue cache exists on PostgreSQL only (LISTEN/NOTIFY)")
async def test_the_cache_forgets_a_service_when_the_database_announces_its_change(accounts_db):
    engine, _sessions, reads = accounts_db
    release = SqlReleaseReads(reads)
    stop = asyncio.Event()
    feed = asyncio.create_task(release.feed.run(stop))
    try:
        await _eventually(lambda: release.feed.live)
        assert (await release.service("library")).is_active
        assert "library" in release.services.cached                              # cached
        await _set_state(engine, "library", "retired")
        await _eventually(lambda: "library" not in release.services.cached, timeout=1.0)
        assert not (await release.service("library")).is_active
        assert (await release.service("bixi")).is_active                   # the other one untouched

        # the feed's connection dies: the cache is dropped and reads go through until it is back
        async with engine.begin() as connection:
            await connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'mtlid-feed'"
                " AND datname = current_database()"))
        await _eventually(lambda: not release.feed.live)
        assert release.services.cached == {}
        await _set_state(engine, "bixi", "retired")                        # while nobody listens
        assert not (await release.service("bixi")).is_active
        assert release.services.cached == {}
        await _eventually(lambda: release.feed.live)
        assert not (await release.service("bixi")).is_active
        await _set_state(engine, "bixi", "active")
        await _eventually(lambda: "bixi" not in release.services.cached, timeout=1.0)
        assert (await release.service("bixi")).is_active
    finally:
        stop.set()
        await asyncio.wait_for(feed, 5)
    assert release.feed.live is False


async def test_a_read_overtaken_by_a_change_does_not_fill_the_cache():
    """The read began before the change and returns the old row: it must not be cached."""

    class SlowReads:
        postgres_dsn = "postgresql://unused"

        def __init__(self):
            self.release = asyncio.Event()

        async def one(self, _sql, params):
            await self.release.wait()
            return (params["service_id"], "n", "n", "municipal", "Ville", "c", AT, AT, None, '["email"]',
                    '["communication"]', "active")

    reads = SlowReads()
    release = SqlReleaseReads(reads)
    release.feed.live = True
    pending = asyncio.create_task(release.service("library"))
    await asyncio.sleep(0)
    release.catalogue_changed("library")       # the change is announced while the read is in flight
    reads.release.set()
    assert (await pending).service_id == "library"
    assert release.services.cached == {}
    await release.service("library")           # a read after the change may be cached
    assert "library" in release.services.cached
    release.catalogue_changed("")              # TRUNCATE: forget everything
    assert release.services.cached == {}
