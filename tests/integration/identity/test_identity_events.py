"""Events leave through the outbox to NATS JetStream; the development mailbox reads the
verification code from there; two replicas starting at once create one set of keys."""

from __future__ import annotations

import asyncio
import json
import uuid

from services.common.db import create_engine, session_factory
from services.common.migrations import migrate_async
from services.common.nats import free_port
from services.common.testing.databases import temporary_database
from services.common.testing.nats import nats_server
from services.common.testing.services import running_service
from services.identity.adapters.uow import IdentityUnitOfWork
from services.identity.entrypoints.cli import _mailbox
from services.identity.service_layer import authentication as auth
from services.identity.service_layer.keys import SigningKeys
from tests.integration.identity.conftest import KEK, request_reset


async def test_verification_code_reaches_the_dev_mailbox_through_nats(capsys):
    with nats_server() as nats:
        async with running_service("identity", nats_url=nats.url,
                                   env={"MTLID_HTTP_PORT": str(free_port())}) as runtime:
            uow_factory = runtime.identity.uow_factory
            email = f"mailbox-{uuid.uuid4().hex[:8]}@example.ca"
            rid = await auth.register_resident(
                auth.RegisterResident(email, "une phrase de passe", "fr", "192.0.2.5"), uow_factory())
            mail = None
            for _ in range(50):  # the relay publishes right after commit; allow it a moment
                await _mailbox(nats.url, follow=False, idle=0.3)
                lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
                mail = next((m for m in lines if m["resident_id"] == rid), None)
                if mail:
                    break
                await asyncio.sleep(0.1)
            assert mail is not None and mail["to"] == email and len(mail["code"]) == 6
            assert mail["purpose"] == "confirm_email"
            await auth.verify_email(auth.VerifyEmail(rid, mail["code"]), uow_factory())
            async with uow_factory() as uow:
                assert (await uow.residents.get(rid)).email_verified
            # A forgotten password's code reaches the same mailbox, said as such.
            await request_reset(auth.RequestPasswordReset(email, "192.0.2.5"), uow_factory)
            reset = None
            for _ in range(50):
                await _mailbox(nats.url, follow=False, idle=0.3)
                lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
                reset = next((m for m in lines if m["resident_id"] == rid and m["purpose"] == "reset_password"), None)
                if reset:
                    break
                await asyncio.sleep(0.1)
            assert reset is not None and reset["to"] == email and len(reset["code"]) == 6


async def test_two_replicas_starting_at_once_create_one_set_of_keys():
    async with temporary_database("identity") as url:
        await migrate_async("identity", url)
        engines = [create_engine(url), create_engine(url)]
        try:
            factories = [session_factory(e) for e in engines]
            first, second = await asyncio.gather(
                *(SigningKeys.load(IdentityUnitOfWork(f, kek=KEK), KEK) for f in factories))
            assert first.jwks() == second.jwks() and len(first.jwks()["keys"]) == 4
            assert first.current("ES256")[0] == second.current("ES256")[0]
        finally:
            for engine in engines:
                await engine.dispose()
