"""`mtlid ledger verify` tells its progress (leaves, then tree nodes) as it goes: on a
million entries an operator sees it advance (issue 19). A module of its own: the other verify
tests tamper with their ledger."""

from __future__ import annotations

import uuid

from services.consent.adapters.uow import ConsentUnitOfWork
from services.consent.domain.catalogue import Recipient
from services.consent.service_layer import commands, handlers
from services.consent.service_layer.verification import verify_log

RES = "789ABCDEFGHJ"


async def test_verify_reports_its_progress_through_leaves_and_tree_nodes(store):
    uow = lambda: ConsentUnitOfWork(store)  # noqa: E731
    await handlers.register_recipient(Recipient("montreal-pools", "pools-client", "Piscines", "Pools",
                                                purposes=("service-provision",), data_categories=("email",)), uow())
    for _ in range(3):
        await handlers.record_access(commands.RecordAccess(
            str(uuid.uuid4()), RES, "montreal-pools", "service-provision", ("email",),
            {"email": "public_task"}), uow())
    seen: list[tuple[str, int, int | None]] = []
    report = await verify_log(uow, progress=lambda stage, done, total=None: seen.append((stage, done, total)))
    assert report["ok"]
    size = report["tree_size"]
    leaves = [s for s in seen if s[0] == "leaves"]
    nodes = [s for s in seen if s[0] == "tree nodes"]
    assert leaves[-1] == ("leaves", size, size)
    assert nodes and nodes[-1][1] == nodes[-1][2] == sum(size >> level for level in range(size.bit_length()))
