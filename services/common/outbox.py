"""The transactional outbox and the consumer inbox (tables and their row format).

Every service's metadata gets the same two tables:
- ``outbox``: domain events written in the same transaction as the change that caused
  them; the relay publishes them later, so a committed change always has its event and a
  rolled-back one never does.
- ``inbox``: ids of events a consumer has applied, so a redelivered event is applied once.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from opentelemetry import propagate
from sqlalchemy import (BigInteger, Column, DateTime, Index, Integer, MetaData, String, Table,
                        Text)

from services.common.events import Event, new_event_id

SPEC_VERSION = "1.0"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def add_outbox_tables(metadata: MetaData) -> tuple[Table, Table]:
    """Declare ``outbox`` and ``inbox`` on a service's metadata (idempotent)."""
    if "outbox" in metadata.tables:
        return metadata.tables["outbox"], metadata.tables["inbox"]
    outbox = Table(
        "outbox", metadata,
        # Integer (not BigInteger) so SQLite makes it its rowid alias and autoincrements.
        Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("subject", String(200), nullable=False),
        Column("envelope", Text, nullable=False),
        Column("headers", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("published_at", DateTime(timezone=True), nullable=True),
    )
    Index("ix_outbox_unpublished", outbox.c.published_at, outbox.c.seq)
    inbox = Table(
        "inbox", metadata,
        Column("consumer", String(100), primary_key=True),
        Column("event_id", String(64), primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False),
    )
    return outbox, inbox


def create_tables_in_migration(op) -> None:
    """For a service's first Alembic revision: ``create_tables_in_migration(op)``."""
    import sqlalchemy as sa

    op.create_table(
        "outbox",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("envelope", sa.Text, nullable=False),
        sa.Column("headers", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_outbox_unpublished", "outbox", ["published_at", "seq"])
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
    )


def drop_tables_in_migration(op) -> None:
    op.drop_table("inbox")
    op.drop_index("ix_outbox_unpublished", table_name="outbox")
    op.drop_table("outbox")


def subject_for(service: str, event: Event) -> str:
    if not event.NAME or "." in event.NAME or " " in event.NAME:
        raise ValueError(f"{type(event).__name__}.NAME must be one snake_case token")
    return f"montreal.{service}.v1.{event.NAME}"


def outbox_row(service: str, event: Event, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The row for one event: a CloudEvents 1.0 structured-mode envelope plus headers.

    The trace context of the code that produced the event is captured now, so the consumer's
    span joins the producer's trace even though publishing happens later, in the relay.
    """
    now = now or utcnow()
    event_id = new_event_id()
    subject = subject_for(service, event)
    envelope: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": event_id,
        "source": f"mtlid/{service}",
        "type": subject,
        "time": now.isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": event.to_payload(),
    }
    aggregate = event.aggregate_id()
    if aggregate:
        envelope["subject"] = aggregate
    headers: dict[str, str] = {}
    propagate.inject(headers)
    # The CloudEvents distributed tracing extension (``traceparent``/``tracestate``, W3C
    # Trace Context): the event carries its trace itself, through any transport, a replay or
    # a dead letter; the NATS headers keep a copy for tools that read only those.
    for name in ("traceparent", "tracestate"):
        if headers.get(name):
            envelope[name] = headers[name]
    return {
        "event_id": event_id,
        "subject": subject,
        "envelope": json.dumps(envelope, separators=(",", ":"), ensure_ascii=False),
        "headers": json.dumps(headers, separators=(",", ":")),
        "created_at": now,
        "published_at": None,
    }


def stream_name(service: str) -> str:
    return f"MTLID_{service.upper()}"
