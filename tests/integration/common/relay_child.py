"""Run an outbox relay that dies (os._exit) right after publishing its Nth event.

Used by test_outbox_relay to kill a real process between "published to NATS" and "marked
sent in the database". argv: database_url nats_url die_after [handed N]

With ``handed N`` the child first writes N notes itself through units of work that hand
their rows over to the relay, and dies in the pass that publishes those handed-over rows
(the path a service's own commits take), not in a pass that reads the outbox.
"""

import asyncio
import os
import sys

from services.common.db import create_engine, session_factory
from services.common.nats import connect, ensure_stream
from services.common.relay import OutboxRelay


async def main(url: str, nats_url: str, die_after: int, handed: int = 0) -> None:
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

    factory = session_factory(engine)
    relay = OutboxRelay("notes", factory, lambda: js, after_publish=after_publish)
    if handed:
        from tests.integration.common import foundation_app as app

        for i in range(handed):
            await app.write_note(factory, f"handed-{i}", hand_over=relay.hand_over)
        await relay.publish_handed()
    else:
        await relay.publish_pending()


if __name__ == "__main__":
    handed = int(sys.argv[5]) if len(sys.argv) > 5 and sys.argv[4] == "handed" else 0
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), handed))
