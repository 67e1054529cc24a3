"""Several writers (two processes plus this one) appending at once produce one linear log:
indices without gap or duplicate, stored nodes that match, a tree head that verifies."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid

import pytest

from services.consent.adapters.repositories import LedgerStore
from services.consent.adapters.uow import ConsentUnitOfWork
from services.consent.domain.catalogue import Recipient
from services.consent.service_layer import commands, handlers
from services.consent.service_layer.verification import verify_log

N = 25
KEK = os.urandom(32)


@pytest.fixture(scope="module")
def store(engine):
    from services.common.db import session_factory
    return LedgerStore(session_factory(engine), KEK)


async def test_concurrent_writers_make_one_linear_log(consent_db, store):
    uow = lambda: ConsentUnitOfWork(store)  # noqa: E731
    await handlers.register_recipient(Recipient("montreal-library", "library-client", "Bibliothèques",
                                                "Libraries", purposes=("service-provision",),
                                                data_categories=("email",)), uow())
    before = await handlers.signed_tree_head(0, uow())
    children = [await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.integration.consent.append_child", consent_db, KEK.hex(), resident, str(N),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=os.getcwd())
        for resident in ("23456789ABCD", "3456789ABCDE")]

    async def local_writer():
        got = []
        for _ in range(N):
            index, _ = await handlers.record_access(commands.RecordAccess(
                str(uuid.uuid4()), "456789ABCDEF", "montreal-library", "service-provision", ("email",),
                {"email": "public_task"}), uow())
            got.append(index)
        return got

    mine, *outputs = await asyncio.gather(local_writer(), *(c.communicate() for c in children))
    indices = list(mine)
    for child, (out, err) in zip(children, outputs):
        assert child.returncode == 0, err.decode()[-2000:]
        indices += json.loads(out)
    assert sorted(indices) == list(range(before.tree_size, before.tree_size + 3 * N))
    report = await verify_log(uow, tree_head_jws=before.jws)
    assert report["ok"], report["problems"]
    after = await handlers.signed_tree_head(0, uow())
    assert after.tree_size == before.tree_size + 3 * N
    report = await verify_log(uow, tree_head_jws=after.jws)
    assert report["ok"] and report["checks"]["signed_tree_head"]
