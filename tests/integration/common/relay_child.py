"""Run an outbox relay that dies (os._exit) right after publishing its Nth event.

Used by test_outbox_relay to kill a real process between "published to NATS" and "marked
sent in the database". argv: database_url nats_url die_after
"""

import asyncio
import os
import sys

from services.common.db import create_engine, session_factory
from services.common.nats import connect, ensure_stream
from services.common.relay import OutboxRelay


async def main(url: str, nats_url: str, die_after: int) -> None:
    engine = create_engine(url)
    nc = await connect(nats_url, name="relay-child")
    js = nc.jetstream()
    await ensure_stream(js, "notes")
    published = 0

    async def after_publish(_event_id: str) -> None:
        nonlocal published
        published += 1
        if published >= die_after:
            os._exit(9)  # no cleanup, no commit: as a crash

    relay = OutboxRelay("notes", session_factory(engine), lambda: js, after_publish=after_publish)
    await relay.publish_pending()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
