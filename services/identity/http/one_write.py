"""One system call per HTTP answer: uvicorn's httptools protocol with its writes gathered.

uvicorn writes an answer's status line and headers, then its body, each with its own
``transport.write``; uvloop sends each at once, so every answer costs two ``send`` system
calls and two TCP segments on the wire. On the token endpoint, in a VM where a system call is
dear, those two writes were a fifth of the CPU per token (issue 20's profiles). Here the
writes made during one turn of the event loop are joined and sent once, at the end of that
turn (``call_soon``): the same bytes in the same order, nothing held past the turn.

The transport is otherwise the same object: every other call (pause and resume reading, the
write buffer's size, peer address) goes to it unchanged; ``close`` sends what is gathered
first, ``abort`` drops it as the transport would.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class GatheredWrites:
    """A transport whose writes in one loop turn leave as one (see the module docstring)."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._gathered: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self._gathered:
            self._loop.call_soon(self.flush)
        self._gathered.append(data)

    def writelines(self, chunks) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        if self._gathered:
            data = self._gathered[0] if len(self._gathered) == 1 else b"".join(self._gathered)
            self._gathered = []
            self._transport.write(data)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(len(chunk) for chunk in self._gathered)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._gathered = []
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over :class:`GatheredWrites`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(GatheredWrites(transport, self.loop))  # type: ignore[arg-type]
