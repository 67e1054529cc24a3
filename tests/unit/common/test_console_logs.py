"""Log routing (services.common.logging.configure) and terminal-only progress
(services.common.progress): what a person at a terminal sees, what a script sees."""

from __future__ import annotations

import io
import json
import logging

import pytest

from services.common.logging import configure
from services.common.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def restore_root_logger():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_terminal_gets_readable_warnings_and_the_file_gets_every_json_line(tmp_path, restore_root_logger):
    screen = Terminal()
    configure("consent", "INFO", console_level="WARNING", log_file=tmp_path / "log" / "consent.jsonl", stream=screen)
    log = logging.getLogger("services.consent.test")
    log.info("service started", extra={"grpc_port": 50053})
    log.warning("cannot reach NATS yet", extra={"error": "TimeoutError"})
    lines = screen.getvalue().splitlines()
    assert len(lines) == 1
    assert "WARNING" in lines[0] and "consent" in lines[0] and "cannot reach NATS yet" in lines[0]
    assert "error=TimeoutError" in lines[0] and not lines[0].startswith("{")
    stored = [json.loads(line) for line in (tmp_path / "log" / "consent.jsonl").read_text().splitlines()]
    assert [(e["level"], e["message"]) for e in stored] == [("INFO", "service started"),
                                                          ("WARNING", "cannot reach NATS yet")]
    assert stored[0]["grpc_port"] == 50053


def test_a_pipe_gets_json_lines(restore_root_logger):
    pipe = io.StringIO()
    configure("accounts", "INFO", stream=pipe)
    logging.getLogger("services.accounts.test").info("profile created", extra={"event_id": "e1"})
    entry = json.loads(pipe.getvalue())
    assert entry["message"] == "profile created" and entry["event_id"] == "e1" and entry["service"] == "accounts"


def test_progress_is_drawn_on_a_terminal_and_cleared_at_the_end():
    screen = Terminal()
    progress = Progress("mtlid ledger verify", stream=screen, interval=0)
    progress("leaves", 5000, 20000)
    progress("leaves", 20000, 20000)
    assert "leaves 5,000 / 20,000 (25 %)" in screen.getvalue()
    assert "20,000 / 20,000 (100 %)" in screen.getvalue()
    progress.finish()
    assert screen.getvalue().endswith("\r")


def test_progress_says_nothing_in_a_script():
    pipe = io.StringIO()
    progress = Progress("mtlid ledger verify", stream=pipe, interval=0)
    progress("leaves", 5000, 20000)
    progress.finish()
    assert pipe.getvalue() == ""
