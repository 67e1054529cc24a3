"""A second process appending to the same consent ledger (the concurrency test's writer).

Usage: python -m tests.integration.consent.append_child URL KEK_HEX RESIDENT_ID COUNT
Prints the ledger indices it got, one JSON list on stdout.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid

from services.common.db import create_engine, session_factory
from services.consent.adapters.repositories import LedgerStore
from services.consent.adapters.uow import ConsentUnitOfWork
from services.consent.service_layer import commands, handlers


async def main(url: str, kek_hex: str, resident_id: str, count: int) -> None:
    engine = create_engine(url)
    store = LedgerStore(session_factory(engine), bytes.fromhex(kek_hex))
    indices = []
    try:
        for _ in range(count):
            index, _ = await handlers.record_access(commands.RecordAccess(
                str(uuid.uuid4()), resident_id, "montreal-library", "service-provision", ("email",),
                {"email": "public_task"}), ConsentUnitOfWork(store))
            indices.append(index)
    finally:
        await engine.dispose()
    print(json.dumps(indices))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
