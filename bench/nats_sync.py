"""Issue 16: what does ``sync_interval: always`` (fsync each write before the publish ack)
cost against JetStream's default (fsync every 2 minutes)?

One run, two JetStream deployments side by side on loopback, identical but for
``sync_interval``: **always** (what mtlid runs: services/common/nats.py, deploy/) and
**default** (nats-server's 2 minutes). ``--replicas 1``: one node each (the embedded
default); ``--replicas 3``: a 3-node cluster each (deploy/'s shape, every node on this one
disk). Stores under ``--store`` (default: a directory on the root file system, never a
tmpfs, where fsync would cost nothing). In alternating rounds (``always`` first in even
rounds) of ``--seconds``, ``--publishers`` concurrent publishers each send an event-sized
message (``--size`` bytes) and wait for its publish acknowledgement before the next: what the
outbox relay does. Reported: acknowledged publishes per second and the ack latency p50 / p99
(ms), median over the rounds, with the load average.

    .venv/bin/python bench/nats_sync.py --replicas 1 --rounds 3 --seconds 5
    .venv/bin/python bench/nats_sync.py --replicas 3 --rounds 3 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import nats  # noqa: E402

import services.common.nats as mtlid_nats  # noqa: E402
from services.common.testing.nats import NatsCluster  # noqa: E402

SETTINGS = {"always": "always", "default": "2m"}   # 2m: nats-server's default sync_interval


def start(kind: str, directory: pathlib.Path, replicas: int):
    """The deployment for one setting: SYNC_INTERVAL is read when each node writes its config."""
    mtlid_nats.SYNC_INTERVAL = SETTINGS[kind]
    if replicas == 1:
        return mtlid_nats.EmbeddedNats(directory / kind).start()
    return NatsCluster(directory / kind, replicas).start()


async def round_(url: str, stream: str, seconds: float, publishers: int, payload: bytes) -> tuple[float, list[float]]:
    connection = await nats.connect(url.split(",") if "," in url else url)
    js = connection.jetstream()
    latencies: list[float] = []
    stop_at = time.monotonic() + seconds

    async def publisher(n: int) -> None:
        i = 0
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            await js.publish(f"{stream.lower()}.e", payload, stream=stream, timeout=10,
                             headers={"Nats-Msg-Id": f"{n}-{i}-{started}"})
            latencies.append(time.perf_counter() - started)
            i += 1
    began = time.monotonic()
    await asyncio.gather(*(publisher(n) for n in range(publishers)))
    elapsed = time.monotonic() - began
    await connection.close()
    return len(latencies) / elapsed, latencies


async def ensure(url: str, stream: str, replicas: int) -> None:
    from nats.js.api import StorageType, StreamConfig

    connection = await nats.connect(url.split(",") if "," in url else url)
    try:
        js = connection.jetstream()
        for _ in range(100):   # a new cluster elects its meta leader first
            try:
                await js.add_stream(StreamConfig(name=stream, subjects=[f"{stream.lower()}.>"], num_replicas=replicas,
                                                 storage=StorageType.FILE, max_msgs=200_000))
                return
            except Exception:  # noqa: BLE001 - not ready yet
                await asyncio.sleep(0.2)
        raise RuntimeError("stream could not be created")
    finally:
        await connection.close()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, choices=(1, 3), default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--publishers", type=int, default=8)
    parser.add_argument("--size", type=int, default=600, help="bytes per message (an event envelope)")
    parser.add_argument("--store", default=str(REPO / ".bench-nats"), help="where the stores live (not a tmpfs)")
    args = parser.parse_args()
    load_at_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    pathlib.Path(args.store).mkdir(parents=True, exist_ok=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="nats-sync-", dir=args.store))
    payload = os.urandom(args.size // 2).hex().encode()[: args.size]
    deployments = {}
    try:
        for kind in SETTINGS:
            deployments[kind] = start(kind, work, args.replicas)
            await ensure(deployments[kind].url, f"BENCH_{kind.upper()}", args.replicas)
        results: dict[str, list[tuple[float, float, float]]] = {k: [] for k in SETTINGS}
        for r in range(args.rounds):
            order = list(SETTINGS) if r % 2 == 0 else list(reversed(SETTINGS))
            for kind in order:
                url, stream = deployments[kind].url, f"BENCH_{kind.upper()}"
                await round_(url, stream, 1.0, args.publishers, payload)            # warm-up
                rate, latencies = await round_(url, stream, args.seconds, args.publishers, payload)
                results[kind].append((rate, 1000 * pct(latencies, 0.50), 1000 * pct(latencies, 0.99)))
        print(f"| sync_interval | acked publishes/s | ack p50 ms | ack p99 ms | per-round publishes/s |")
        print("|---|---|---|---|---|")
        for kind in SETTINGS:
            rows = results[kind]
            print(f"| {SETTINGS[kind]} ({kind}) | {statistics.median(r[0] for r in rows):.0f} | "
                  f"{statistics.median(r[1] for r in rows):.1f} | {statistics.median(r[2] for r in rows):.1f} | "
                  f"{', '.join(f'{r[0]:.0f}' for r in rows)} |")
        always = statistics.median(r[0] for r in results["always"])
        default = statistics.median(r[0] for r in results["default"])
        print(f"\nalways/default throughput: {always / default:.2f}. R{args.replicas}, {args.rounds} rounds of "
              f"{args.seconds:g} s, {args.publishers} publishers waiting for each ack, {args.size}-byte messages, "
              f"one machine ({os.cpu_count()} cores); load average before/after: {load_at_start} / "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}.")
    finally:
        for deployment in deployments.values():
            deployment.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
