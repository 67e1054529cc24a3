"""Issue 19: asyncpg, the driver of PostgreSQL's hot paths, is traced by the maintained
opentelemetry-instrumentation-asyncpg only when spans are exported; otherwise its methods
are asyncpg's own (the hot path pays nothing). SQLAlchemy engines on asyncpg are then not
given SQLAlchemy's tracer too (one span per statement). Each case in a fresh interpreter:
the instrumentation is process-wide and ``configure_tracing`` runs once per process."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import inspect, json, sys
import wrapt
import asyncpg.connection, asyncpg.prepared_stmt
from sqlalchemy import event
from sqlalchemy.ext.asyncio import create_async_engine
from services.common import telemetry
telemetry.configure_tracing("probe", sys.argv[1] or None, "http/protobuf")
telemetry.instrument_engine(create_async_engine("postgresql+asyncpg://probe@127.0.0.1:1/probe"))
telemetry.instrument_engine(create_async_engine("sqlite+aiosqlite://"))
# wrapt's wrapper in the class itself (asyncpg's own methods may carry ``__wrapped__`` already)
wrapped = lambda cls, name: isinstance(inspect.getattr_static(cls, name), wrapt.FunctionWrapper)
print(json.dumps({
    "connection": [wrapped(asyncpg.connection.Connection, m) for m in ("execute", "fetch", "fetchrow")],
    "prepared": wrapped(asyncpg.prepared_stmt.PreparedStatement, "fetch"),
    "sqlalchemy_engines": sum(1 for o in __import__("gc").get_objects()
                              if type(o).__name__ == "EngineTracer"),
}))
"""


def probe(endpoint: str) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, endpoint], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_asyncpg_is_left_alone_when_no_spans_are_exported():
    assert probe("") == {"connection": [False, False, False], "prepared": False, "sqlalchemy_engines": 0}


def test_asyncpg_is_traced_when_spans_are_exported_and_sqlalchemy_only_where_it_is_not_asyncpg():
    # (nothing is sent: the exporter only posts when a batch of spans is flushed)
    assert probe("http://127.0.0.1:9") == {"connection": [True, True, True], "prepared": True,
                                           "sqlalchemy_engines": 1}
