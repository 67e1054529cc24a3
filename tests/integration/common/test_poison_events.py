"""Poison events against a real nats-server and a real database: an event its handler
cannot apply is dead-lettered (at once when the failure is permanent, after the delivery
limit when it is not), the rest of the stream keeps flowing, each dead letter is logged
once, and `mtlid events replay` (the real command) sends one back after a fix."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import uuid

import grpc
from sqlalchemy import insert, select

from services.common import errors
from services.common.consumer import EventConsumer, PermanentFailure, dead_letter_stream_name
from services.common.dead_letters import list_dead_letters
from services.common.events import CloudEvent
from services.common.nats import connect, ensure_stream

from . import foundation_app as app

ROOT = __import__("pathlib").Path(__file__).resolve().parents[3]
SUBJECT = "montreal.notes.v1.note_written"


def envelope(event_id: str, note_id: str) -> bytes:
    return json.dumps({"specversion": "1.0", "id": event_id, "source": "mtlid/notes", "type": SUBJECT,
                       "time": "2026-12-05T00:00:00Z", "data": {"note_id": note_id}}).encode()


class Handler:
    """Copies notes; refuses some the way real handlers fail."""

    def __init__(self) -> None:
        self.fixed = False
        self.calls: dict[str, int] = {}

    async def __call__(self, event: CloudEvent, uow) -> None:
        note = event.data["note_id"]
        self.calls[note] = self.calls.get(note, 0) + 1
        if note == "refused" and not self.fixed:
            raise PermanentFailure("NOTE_REFUSED", "this note breaks a rule")
        if note == "unknown-resident":
            raise errors.NotFound("resident")
        if note == "remote-refusal":
            # an adapter hiding another service's PERMISSION_DENIED behind Unavailable
            try:
                raise grpc.aio.AioRpcError(grpc.StatusCode.PERMISSION_DENIED, grpc.aio.Metadata(),
                                           grpc.aio.Metadata(), details="missing scope")
            except grpc.aio.AioRpcError:
                raise errors.Unavailable("the ledger cannot answer (PERMISSION_DENIED)") from None
        if note == "always-down":
            raise ConnectionRefusedError(111, "Connect call failed")
        await uow.session.execute(insert(app.Note).values(note_id=f"copy-{note}", text=event.id))


async def copies(factory) -> set[str]:
    async with factory() as session:
        return set((await session.scalars(select(app.Note.note_id).where(app.Note.note_id.like("copy-%")))).all())


async def wait_for(predicate, timeout: float) -> None:
    for _ in range(int(timeout / 0.1)):
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")


async def test_poison_events_are_dead_lettered_the_stream_flows_and_replay_works(notes_factory, fresh_nats, caplog):
    caplog.set_level(logging.INFO)
    factory = notes_factory
    nc = await connect(fresh_nats.url, name="test-poison")
    js = nc.jetstream()
    await ensure_stream(js, app.SERVICE)
    handler = Handler()
    consumer = EventConsumer(jetstream=lambda: js, uow_factory=lambda: app.NotesUnitOfWork(factory, "copier"),
                             durable="notes-copier", stream_service=app.SERVICE, subjects=[SUBJECT],
                             handler=handler, service="notes", max_deliveries=3)
    poison = ["refused", "unknown-resident", "remote-refusal", "always-down"]
    good = [f"n{i}" for i in range(40)]
    ids = {}
    for i, note in enumerate(good):
        if i % 10 == 5:
            bad = poison[i // 10]
            ids[bad] = str(uuid.uuid4())
            await js.publish(SUBJECT, envelope(ids[bad], bad), headers={"Nats-Msg-Id": ids[bad]})
        ids[note] = str(uuid.uuid4())
        await js.publish(SUBJECT, envelope(ids[note], note), headers={"Nats-Msg-Id": ids[note]})
    await js.publish(SUBJECT, b"\x00not a CloudEvent", headers={"Nats-Msg-Id": "garbage"})
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        # the good events flow past the poison at once: no retry blocks them
        await wait_for(lambda: _has(copies(factory), {f"copy-{n}" for n in good}), 20)
        # 3 permanent + 1 undecodable at once, the transient one after 3 deliveries (1 s + 2 s)
        await wait_for(lambda: _true(consumer.dead_lettered == 5), 30)
        assert handler.calls["refused"] == handler.calls["unknown-resident"] == handler.calls["remote-refusal"] == 1
        assert handler.calls["always-down"] == 3

        letters = await list_dead_letters(js, "notes")
        by_event = {letter["event_id"]: letter for letter in letters}
        assert {by_event[ids[p]]["reason"] for p in poison} == {
            "NOTE_REFUSED", "NOT_FOUND", "REMOTE_PERMISSION_DENIED", "RETRIES_EXHAUSTED:ConnectionRefusedError"}
        assert by_event[ids["always-down"]]["deliveries"] == 3
        assert by_event[None]["reason"] == "UNDECODABLE"
        assert all(letter["consumer"] == "notes-copier" and letter["subject"] == SUBJECT for letter in letters)

        # Each dead letter logged once; the transient failure once (not once per try); no
        # other error, and no attribute value (the note ids here) in any dead-letter line.
        dead_lines = [r for r in caplog.records if r.getMessage() == "event dead-lettered"]
        assert len(dead_lines) == 5
        assert len([r for r in caplog.records if r.getMessage().startswith("event handler failed")]) == 1
        assert [r for r in caplog.records if r.levelno >= logging.ERROR] == dead_lines

        # The fix, then the real command: the refused note is applied, and leaves the list.
        handler.fixed = True
        refused_id = by_event[ids["refused"]]["id"]
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("MTLID_")}, "MTLID_NATS_URL": fresh_nats.url}
        result = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "services.cli", "events", "replay",
                                                          refused_id], env=env, cwd=ROOT, capture_output=True,
                                         text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["replays"] == [
            {"id": refused_id, "consumer": "notes-copier", "event_id": ids["refused"], "replayed": True}]
        await wait_for(lambda: _has(copies(factory), {"copy-refused"}), 20)
        listed = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "services.cli", "events",
                                                          "dead-letters", "--service", "notes"],
                                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
        remaining = json.loads(listed.stdout)["dead_letters"]
        assert len(remaining) == 4 and refused_id not in {letter["id"] for letter in remaining}
        # the replayed copy left the dead-letter stream once applied
        await wait_for(lambda: _stream_holds(js, 4), 10)
        # replaying an id that is not there says so
        again = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "services.cli", "events", "replay",
                                                         refused_id], env=env, cwd=ROOT, capture_output=True,
                                        text=True, timeout=60)
        assert again.returncode == 1 and json.loads(again.stdout)["replays"][0]["replayed"] is False
    finally:
        stop.set()
        await task
        await nc.close()


async def _has(awaitable, expected: set[str]) -> bool:
    return expected <= await awaitable


async def _true(value: bool) -> bool:
    return value


async def _stream_holds(js, count: int) -> bool:
    return (await js.stream_info(dead_letter_stream_name("notes"))).state.messages == count
