"""A profile that two writers create at the same moment: identity's ``resident_registered``
event (the consumer) and an agent's enrolment at the counter. On PostgreSQL both read "no
profile"; the second insert waits for the first to commit. The enrolment's names must not be
lost (they were: the enrolment failed, and the console went on as if accounts were down)."""

from __future__ import annotations

import asyncio
import datetime as dt

from services.accounts.adapters.uow import AccountsUnitOfWork
from services.accounts.domain.profile import Profile
from services.accounts.service_layer import commands as c
from services.accounts.service_layer.handlers import enroll_resident, register_resident
from services.accounts.service_layer.ports import AGENT, Caller
from services.common.db import create_engine, session_factory
from services.common.migrations import migrate_async
from services.common.testing.databases import temporary_database
from services.identity.domain.citizen_number import CitizenNumber

AGENT_CALLER = Caller(client_id="counter-rosemont", subject="counter-rosemont", scopes=frozenset({AGENT}),
                      agent_id="agent-7", office="Rosemont")


async def test_an_enrolment_racing_the_registration_event_keeps_its_names(tmp_path):
    async with temporary_database("profile_race", tmp_path) as url:
        await migrate_async("accounts", url)
        engine = create_engine(url)
        sessions = session_factory(engine)
        try:
            resident_id = CitizenNumber.new().canonical
            enrolment = c.EnrollResident(caller=AGENT_CALLER, resident_id=resident_id,
                                         attributes=(("family_name", "Lalonde"), ("given_name", "Rosalie")))
            postgres = engine.url.get_backend_name() == "postgresql"
            if postgres:
                # the event's transaction has inserted the profile and not committed yet ...
                event = AccountsUnitOfWork(sessions)
                await event.__aenter__()
                await event.profiles.add(Profile.register(resident_id, dt.datetime.now(dt.timezone.utc)))
                # ... when the enrolment reads "no profile" and inserts: it waits for the event
                enrolling = asyncio.create_task(enroll_resident(enrolment, AccountsUnitOfWork(sessions)))
                await asyncio.sleep(0.5)
                assert not enrolling.done()
                await event.commit()
                await event.__aexit__(None, None, None)
                await asyncio.wait_for(enrolling, 10)
            else:
                # SQLite: one writer at a time (BEGIN IMMEDIATE); both orders, one after the other
                await enroll_resident(enrolment, AccountsUnitOfWork(sessions))
            # and the event, delivered after the enrolment, creates nothing and keeps the names
            async with AccountsUnitOfWork(sessions) as uow:
                assert await register_resident(c.RegisterResident(resident_id, "fr"), uow) is False
                await uow.commit()
            async with AccountsUnitOfWork(sessions) as uow:
                profile = await uow.profiles.get(resident_id)
            assert profile.attributes["family_name"].value == "Lalonde"
            assert profile.attributes["given_name"].value == "Rosalie"
        finally:
            await engine.dispose()
