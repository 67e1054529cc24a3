"""A real nats-server with JetStream for tests, on a free port, in a temporary directory."""

from __future__ import annotations

import contextlib
import pathlib
import tempfile

from services.common.nats import EmbeddedNats


@contextlib.contextmanager
def nats_server(directory: pathlib.Path | None = None):
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = pathlib.Path(stack.enter_context(tempfile.TemporaryDirectory()))
        server = EmbeddedNats(directory / "nats").start()
        stack.callback(server.stop)
        yield server
