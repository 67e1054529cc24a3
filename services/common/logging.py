"""Log lines: JSON on stderr (one object per line, with the request and trace ids) for
machines, a short readable line when stderr is a terminal, and optionally JSON lines to a file.

``mtlid up`` gives each child ``--log-file var/log/<name>.jsonl`` (everything at
``MTLID_LOG_LEVEL``) and ``--console-level WARNING``: the terminal keeps the summary and then
shows only what a person must act on. ``mtlid serve`` alone (Kubernetes) keeps JSON on stderr.

Logs carry identifiers only: never a password, token, secret or attribute value. The
formatter does not try to scrub messages; the rule is kept at the call sites (and reviewed).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import os
import pathlib
import sys

from opentelemetry import trace

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("mtlid_request_id", default=None)

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = format(span.trace_id, "032x")
            entry["span_id"] = format(span.span_id, "016x")
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    """``12:04:05 WARNING identity  cannot reach NATS yet (error=TimeoutError)``: for a person
    at a terminal. The same fields as the JSON line, as ``key=value`` after the message."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        clock = dt.datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        extras = " ".join(f"{key}={value}" for key, value in record.__dict__.items()
                          if key not in _RESERVED and not key.startswith("_"))
        line = f"{clock} {record.levelname:<7} {self.service:<8} {record.getMessage()}"
        if extras:
            line += f" ({extras})"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure(service: str, level: str = "INFO", *, console_level: str | None = None,
              log_file: str | os.PathLike | None = None, stream=None) -> None:
    """Route the process's logs: to ``stream`` (stderr) at ``console_level`` (default
    ``level``), readable when it is a terminal and JSON otherwise; and, when given, to
    ``log_file`` as JSON lines at ``level``."""
    stream = sys.stderr if stream is None else stream
    console = logging.StreamHandler(stream)
    is_terminal = hasattr(stream, "isatty") and stream.isatty()
    console.setFormatter(ConsoleFormatter(service) if is_terminal else JsonFormatter(service))
    console.setLevel(console_level or level)
    handlers: list[logging.Handler] = [console]
    if log_file is not None:
        path = pathlib.Path(log_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(path, encoding="utf-8")
        to_file.setFormatter(JsonFormatter(service))
        to_file.setLevel(level)
        handlers.append(to_file)
    root = logging.getLogger()
    root.handlers[:] = handlers
    root.setLevel(level)
    # Third-party chatter at INFO would drown the service's own lines (and uvicorn's access
    # log would write every request on the hot path).
    for noisy in ("uvicorn.access", "nats", "alembic.runtime.migration", "sqlalchemy", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel("WARNING")
