"""Streams replicated on a real 3-node JetStream cluster on loopback (three nats-server
processes, their own ports and stores), as deploy/ runs it.

- The stream leader killed (SIGKILL) and its store wiped mid-burst: 0 events lost, 0
  duplicated, the consumer caught up, the wiped node back in sync.
- An existing one-replica stream is raised to three replicas when its service starts.
- A stream that cannot be brought to its configuration stops the service with a clear message.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys

import pytest
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeoutError
from sqlalchemy import func, insert, select

from services.common.consumer import EventConsumer
from services.common.events import CloudEvent
from services.common.nats import connect, ensure_stream, free_port
from services.common.outbox import stream_name
from services.common.relay import OutboxRelay
from services.common.testing.nats import nats_cluster
from services.common.testing.services import running_service
from services.common.uow import INBOX

from . import foundation_app as app
from .test_outbox_relay import outbox_ids, stream_event_ids

ROOT = __import__("pathlib").Path(__file__).resolve().parents[3]


@pytest.fixture
def cluster(tmp_path):
    with nats_cluster(tmp_path / "cluster") as nodes:
        yield nodes


async def until(predicate, timeout: float, what: str):
    """``predicate()`` until truthy; a JetStream request that times out while a leader is
    being elected counts as "not yet"."""
    deadline = asyncio.get_running_loop().time() + timeout
    last = None
    while True:
        try:
            result = await predicate()
        except (asyncio.TimeoutError, NatsError, NatsTimeoutError) as error:
            result, last = None, error
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what} (last error: {last!r})")
        await asyncio.sleep(0.1)


async def ready_jetstream(url: str):
    """A connection once the cluster has elected its JetStream meta leader."""
    nc = await connect(url, name="test")
    js = nc.jetstream()

    async def account_ready():
        try:
            await js.account_info()
            return True
        except Exception:  # noqa: BLE001 - no meta leader yet
            return False

    await until(account_ready, 60, "a JetStream meta leader")
    return nc, js


async def retrying(call, what: str, timeout: float = 60):
    """``call()`` until it succeeds: a cluster on a loaded machine elects leaders slowly."""
    async def attempt():
        try:
            return (await call(),)
        except Exception as error:  # noqa: BLE001 - election under way
            if type(error).__name__ == "StreamConfigError" and not error.retryable:
                raise
            return None

    return (await until(attempt, timeout, what))[0]


async def ensure(js, service: str, replicas: int, owner: bool = True):
    return await retrying(lambda: ensure_stream(js, service, replicas=replicas, owner=owner), f"stream of {service}")


async def copy_note(event: CloudEvent, uow) -> None:
    await uow.session.execute(insert(app.Note).values(note_id=f"copy-{event.data['note_id']}", text=event.id))


async def test_leader_killed_and_wiped_mid_burst_loses_and_duplicates_nothing(cluster, notes_factory):
    factory = notes_factory
    nc, js = await ready_jetstream(cluster.url)
    await ensure(js, app.SERVICE, replicas=3)
    relay = OutboxRelay(app.SERVICE, factory, lambda: js, poll_interval=0.2)
    consumer = EventConsumer(jetstream=lambda: js, uow_factory=lambda: app.NotesUnitOfWork(factory, "copier"),
                             durable="copier", stream_service=app.SERVICE,
                             subjects=["montreal.notes.v1.note_written"], handler=copy_note, replicas=3)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(relay.run(stop)), asyncio.create_task(consumer.run(stop))]
    total, killed_at = 300, 100
    try:
        for i in range(total):
            await app.write_note(factory, f"n{i}", on_commit=relay.wake)
            if i == killed_at:
                await until(lambda: _true(relay.published >= 50), 30, "the burst to be under way")
                leader = (await retrying(lambda: js.stream_info(stream_name(app.SERVICE)), "stream info")).cluster.leader
                node = cluster.node(leader)
                node.kill()                                          # kill -9
                shutil.rmtree(node.store_dir / "jetstream")          # and its disk with it
                node.start()                                         # an empty node rejoins
            await asyncio.sleep(0.005)
        await until(lambda: _empty(factory), 120, "the outbox to drain")

        async def copies():
            async with factory() as session:
                return await session.scalar(select(func.count()).select_from(app.Note).where(
                    app.Note.note_id.like("copy-%")))

        await until(lambda: _equals(copies(), total), 120, "the consumer to catch up")
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    published = await retrying(lambda: stream_event_ids(js), "reading the stream back")
    assert len(published) == len(set(published)) == total      # 0 duplicated in the stream
    assert sorted(published) == sorted(await outbox_ids(factory))  # 0 lost
    async with factory() as session:
        applied = set((await session.scalars(select(INBOX.c.event_id).where(INBOX.c.consumer == "copier"))).all())
    assert applied == set(published)                            # each applied once, none missing
    assert consumer.applied == total

    async def in_sync():
        info = await js.stream_info(stream_name(app.SERVICE))
        replicas = info.cluster.replicas or []
        return info.state.messages == total and len(replicas) == 2 and all(r.current for r in replicas)

    await until(in_sync, 60, "the wiped node to hold the stream again")
    await nc.close()


async def _true(value: bool) -> bool:
    return value


async def _empty(factory) -> bool:
    return await outbox_ids(factory, unpublished_only=True) == []


async def _equals(awaitable, expected) -> bool:
    return await awaitable == expected


async def test_an_existing_single_replica_stream_is_raised_to_three_on_start(cluster):
    nc, js = await ready_jetstream(cluster.url)
    await ensure(js, "consent", replicas=1)  # as an earlier version left it
    for i in range(20):
        await retrying(lambda: js.publish("montreal.consent.v1.probe", b"{}", headers={"Nats-Msg-Id": f"old-{i}"}),
                       "a publish")
    before = await retrying(lambda: js.stream_info("MTLID_CONSENT"), "stream info")
    assert before.config.num_replicas == 1
    env = {"MTLID_NATS_STREAM_REPLICAS": "3", "MTLID_ISSUER": "http://test.issuer",
           "MTLID_JWKS_URL": f"http://127.0.0.1:{free_port()}/jwks"}
    async with running_service("consent", nats_url=cluster.url, env=env):
        async def raised():
            info = await js.stream_info("MTLID_CONSENT")
            replicas = info.cluster.replicas or []
            return info.config.num_replicas == 3 and len(replicas) == 2 and all(r.current for r in replicas)

        await until(raised, 60, "three current replicas")
    info = await retrying(lambda: js.stream_info("MTLID_CONSENT"), "stream info")
    assert info.state.messages == 20   # nothing lost on the way
    # The node that held the only copy can now go: the stream keeps serving from the others.
    cluster.node(before.cluster.leader).kill()

    async def readable():
        try:
            return (await js.stream_info("MTLID_CONSENT")).state.messages == 20
        except Exception:  # noqa: BLE001 - a new leader is being elected
            return False

    await until(readable, 60, "the stream to serve without its first node")
    await nc.close()


def test_a_stream_that_cannot_be_brought_to_its_configuration_stops_the_service(fresh_nats, tmp_path):
    """Three replicas configured against one server: `mtlid serve` stops, exit code 1, and
    says why, instead of running on a stream that does not keep the promise."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MTLID_")},
           "MTLID_VAR_DIR": str(tmp_path), "MTLID_NATS_URL": fresh_nats.url, "MTLID_NATS_STREAM_REPLICAS": "3",
           "MTLID_CONSENT_GRPC_PORT": str(free_port()), "MTLID_LOG_LEVEL": "WARNING"}
    result = subprocess.run([sys.executable, "-m", "services.cli", "serve", "consent", "--grace", "1"],
                            env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("mtlid: consent stopped: stream MTLID_CONSENT cannot be created with 3 replica(s)")
    assert "non-clustered" in last
    assert "Traceback" not in result.stderr


async def test_a_consumer_leaves_another_services_stream_to_its_owner(cluster):
    nc, js = await ready_jetstream(cluster.url)
    await ensure(js, "identity", replicas=3)
    await ensure(js, "identity", replicas=1, owner=False)  # a consumer configured otherwise
    info = await retrying(lambda: js.stream_info("MTLID_IDENTITY"), "stream info")
    assert info.config.num_replicas == 3
    await nc.close()
