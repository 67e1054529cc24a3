"""uvicorn's protocol with its writes gathered (``http/one_write.py``): an answer written in
one turn of the event loop leaves the server in one write, the bytes unchanged, in order,
through keep-alive, streaming and ``Connection: close``; a real uvicorn server and httpx."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
import uvicorn

from services.identity.http.one_write import OneWriteHttpToolsProtocol

WRITES: list[bytes] = []


class _Recorder:
    """Below the gathered writes: what the socket's transport is asked to send."""

    def __init__(self, transport) -> None:
        self._transport = transport

    def write(self, data: bytes) -> None:
        WRITES.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name):
        return getattr(self._transport, name)


class _Recorded(OneWriteHttpToolsProtocol):
    def connection_made(self, transport) -> None:
        super().connection_made(_Recorder(transport))


async def app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/token":       # the direct endpoints' shape: start, then the whole body
        body = b'{"access_token":"x","token_type":"Bearer"}'
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
    elif path == "/stream":    # chunks with pauses between them: each leaves when written
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for n in range(3):
            await send({"type": "http.response.body", "body": f"part {n};".encode(), "more_body": True})
            await asyncio.sleep(0.02)
        await send({"type": "http.response.body", "body": b"end"})
    else:                      # an answer that closes the connection
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"4"), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": b"done"})


@pytest.fixture
async def server():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, http=_Recorded, lifespan="off", log_config=None,
                            access_log=False)
    running = uvicorn.Server(config)
    task = asyncio.create_task(running.serve())
    while not running.started:
        await asyncio.sleep(0.01)
    WRITES.clear()
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    await task


async def test_each_answer_leaves_in_one_write_over_keep_alive(server):
    async with httpx.AsyncClient() as http:
        answers = [await http.post(server + "/token") for _ in range(5)]
    assert [a.json()["token_type"] for a in answers] == ["Bearer"] * 5
    assert len(WRITES) == 5
    assert all(w.startswith(b"HTTP/1.1 200 OK\r\n") and w.endswith(b'"token_type":"Bearer"}') for w in WRITES)


async def test_a_streamed_answer_arrives_whole_and_in_order(server):
    async with httpx.AsyncClient() as http:
        answer = await http.get(server + "/stream")
    assert answer.text == "part 0;part 1;part 2;end"
    assert len(WRITES) == 4     # the head with the first part, then one write per pause


async def test_an_answer_that_closes_the_connection_is_sent_before_the_close(server):
    async with httpx.AsyncClient() as http:
        answer = await http.get(server + "/bye")
    assert (answer.status_code, answer.text, answer.headers["connection"]) == (200, "done", "close")
    assert len(WRITES) == 1
