"""The ``attributes_released`` outbox row of a release, in one statement (PostgreSQL).

After the consent ledger recorded the access, a release has exactly one thing to write in
accounts: its outbox event. A unit of work for that costs an ORM session, a pool checkout,
BEGIN, the INSERT and COMMIT. Here it is one ``INSERT`` sent straight through the driver on a
connection of the service's own engine pool (checked out as usual, so a dead connection is
still replaced by the pool's ping), outside any explicit transaction: PostgreSQL runs a
single statement as its own transaction and commits it when it succeeds (PostgreSQL docs,
"Transactions": without BEGIN each statement is executed in its own transaction). So the row
is written whole or not at all — exactly what the unit of work guaranteed — and is committed
before the release answers. The row is the one the unit of work writes
(``services.common.outbox.outbox_row``); the relay publishes it with ``Nats-Msg-Id`` = its
event id, so consumers see it once in effect.

SQLite keeps the unit of work (``UnitOfWorkReleaseOutbox``): there every write goes through
the engine's ``BEGIN IMMEDIATE``, the one writer lock.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.events import Event
from services.common.outbox import outbox_row

_INSERT = ("INSERT INTO outbox (event_id, subject, envelope, headers, created_at)"
           " VALUES ($1, $2, $3, $4, $5)")


class PostgresReleaseOutbox:
    """``ReleaseOutbox`` (service_layer/ports.py) for PostgreSQL; see the module docstring."""

    def __init__(self, engine: AsyncEngine, service: str, *, on_commit: Callable[[], None] | None = None) -> None:
        if engine.url.get_backend_name() != "postgresql":
            raise ValueError("PostgresReleaseOutbox needs a PostgreSQL engine")
        self._engine = engine
        self._service = service
        self._on_commit = on_commit

    async def add(self, event: Event) -> None:
        row = outbox_row(self._service, event)
        async with self._engine.connect() as connection:
            pooled = await connection.get_raw_connection()
            # asyncpg: extended protocol, one implicit transaction committed at Sync.
            await pooled.driver_connection.execute(_INSERT, row["event_id"], row["subject"], row["envelope"],
                                                   row["headers"], row["created_at"])
        if self._on_commit is not None:
            self._on_commit()
