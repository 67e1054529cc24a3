"""Open-loop gRPC load at a fixed offered rate, with per-request latency (issue 8).

Request *i* is due at ``start + i / rate`` whether or not earlier ones have answered (an open
loop: a slow server does not slow the generator down, so queueing shows up in the latency).
Latency is measured from the moment a request was *due*, not from when it left, which avoids
coordinated omission: a generator that falls behind its schedule is charged for it.

Run as a child process (``python grpc_load.py --target ... --method ... --request-b64 ...``);
it prints one JSON object. ``run()`` starts ``procs`` such children and merges their samples.
The method is called with pre-serialized request bytes and the answer is not decoded, so the
generator spends its CPU on gRPC and not on protobuf.

The generator shares the 2 cores with the server it measures, so its own CPU matters. When a
Go toolchain and grpc-go are installed from Debian's packages (``apt-get install golang-go
golang-google-grpc-dev``), ``run()`` uses ``grpc_load.go`` instead, the same child contract
(arguments, JSON, semantics) built once per source version: on this machine it costs 1.4-2x
less CPU per call than this Python generator (about 280 against 390 µs/call at 1,000/s
offered, 130 against 245-270 at 3,000/s; the kernel's share of a loopback call, counted on
the sending side, and this VM's costly clock and wake-ups are most of what remains).
Without it, the Python child runs. (A Node generator on @grpc/grpc-js was tried: 380-410
µs/call in a closed loop where Python's grpc.aio took 220-280, so not kept.)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import dataclasses
import functools
import hashlib
import itertools
import json
import os
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time

MAX_IN_FLIGHT = 20_000  # beyond this the server is far past saturation; count the rest as missed


@dataclasses.dataclass(frozen=True)
class GrpcResult:
    offered_rps: float
    achieved_rps: float   # OK answers per second
    p50_ms: float
    p99_ms: float
    ok: int
    failed: dict          # status code name -> count
    missed: int           # never sent: the in-flight bound was reached
    generator_cpu_s: float  # CPU the generator itself used (it shares the 2 cores)
    generator: str = "python"  # "go" (grpc_load.go) or "python" (this file's child)


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


async def _generate(target: str, method: str, request: bytes, rate: float, duration: float,
                    token: str | None, timeout: float, channels: int = 1) -> dict:
    import grpc

    metadata = (("authorization", f"Bearer {token}"),) if token else None
    latencies: list[float] = []
    failed: collections.Counter[str] = collections.Counter()
    missed = 0
    in_flight = 0
    # ``channels`` > 1: that many connections of their own (not gRPC's shared subchannels),
    # calls spread round-robin — so that a server's SO_REUSEPORT workers each get some.
    extra = [grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
             for _ in range(channels - 1)]
    async with grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]
                                         if channels > 1 else None) as channel:
        calls = [c.unary_unary(method, request_serializer=None, response_deserializer=None)
                 for c in (channel, *extra)]
        for c in (channel, *extra):
            await asyncio.wait_for(c.channel_ready(), 10)
        picked = itertools.cycle(calls)

        async def one(due: float) -> None:
            nonlocal in_flight
            try:
                await next(picked)(request, metadata=metadata, timeout=timeout)
                latencies.append(time.perf_counter() - due)
            except grpc.aio.AioRpcError as error:
                failed[error.code().name] += 1
            finally:
                in_flight -= 1

        total = int(rate * duration)
        tasks = set()
        start = time.perf_counter() + 0.05
        sent = 0
        while sent < total:
            now = time.perf_counter()
            due_count = min(total, int((now - start) * rate) + 1) if now >= start else 0
            while sent < due_count:
                due = start + sent / rate
                sent += 1
                if in_flight >= MAX_IN_FLIGHT:
                    missed += 1
                    continue
                in_flight += 1
                task = asyncio.create_task(one(due))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            next_due = start + sent / rate
            await asyncio.sleep(max(0.0, next_due - time.perf_counter()))
        if tasks:
            await asyncio.wait(tasks, timeout=timeout + 1)
        elapsed = time.perf_counter() - start
        for c in extra:
            await c.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"latencies_ms": [round(x * 1000, 3) for x in latencies], "failed": dict(failed),
            "missed": missed, "elapsed": elapsed, "offered": total,
            "cpu_s": usage.ru_utime + usage.ru_stime}


GO_SOURCE = pathlib.Path(__file__).with_name("grpc_load.go")
# Debian's golang-google-grpc-dev installs grpc-go here; built in GOPATH mode, nothing fetched.
DEBIAN_GOPATH = "/usr/share/gocode"


@functools.cache
def go_generator() -> str | None:
    """The built Go generator, or None when Go or Debian's grpc-go is missing (or the build
    fails: the Python generator then runs, and the report says which one ran)."""
    go = shutil.which("go")
    if go is None or not pathlib.Path(DEBIAN_GOPATH, "src/google.golang.org/grpc").is_dir():
        return None
    source = GO_SOURCE.read_bytes()
    binary = pathlib.Path(tempfile.gettempdir(), f"mtlid-grpc-load-{hashlib.sha256(source).hexdigest()[:16]}")
    if not binary.exists():
        partial = binary.with_suffix(f".{os.getpid()}")
        built = subprocess.run([go, "build", "-o", str(partial), str(GO_SOURCE)], capture_output=True, text=True,
                               env={**os.environ, "GO111MODULE": "off", "GOPATH": DEBIAN_GOPATH,
                                    "GOCACHE": str(pathlib.Path(tempfile.gettempdir(), "mtlid-go-cache"))},
                               timeout=300)
        if built.returncode != 0:
            print(f"bench: the Go gRPC generator did not build; using Python's: {built.stderr[-300:]}",
                  file=sys.stderr)
            return None
        partial.replace(binary)
    return str(binary)


def run(target: str, method: str, request: bytes, *, rate: float, duration: float,
        token: str | None = None, procs: int = 1, timeout: float = 5.0,
        generator: str = "auto", channels: int = 1) -> GrpcResult:
    """Offer ``rate`` calls/s for ``duration`` s from ``procs`` generator processes.
    ``generator``: "go", "python", or "auto" (Go when available)."""
    if not target.startswith(("127.", "localhost")):
        raise ValueError("loads go to the loopback interface only")
    # Several connections per generator: the Python child only (grpc_load.go has one).
    binary = go_generator() if generator in ("auto", "go") and channels == 1 else None
    if generator == "go" and binary is None:
        raise RuntimeError("the Go gRPC generator is not available (apt-get install golang-go golang-google-grpc-dev)")
    command = [binary] if binary else [sys.executable, __file__]
    argv = [*command, "--target", target, "--method", method,
            "--request-b64", base64.b64encode(request).decode(), "--rate", str(rate / procs),
            "--duration", str(duration), "--timeout", str(timeout),
            *(["--channels", str(channels)] if channels > 1 else [])]
    env_token = {"BENCH_TOKEN": token} if token else {}
    # One OS thread per Go generator: with two, Go's scheduler spins between them looking for
    # work, measured at +10-30 % CPU per call on this 2-core machine.
    children = [subprocess.Popen(argv, stdout=subprocess.PIPE, text=True,
                                 env={**os.environ, "GOMAXPROCS": "1", **env_token}) for _ in range(procs)]
    reports = []
    for child in children:
        out, _ = child.communicate(timeout=duration + timeout + 60)
        if child.returncode != 0:
            raise RuntimeError(f"gRPC load generator failed with {child.returncode}")
        reports.append(json.loads(out))
    latencies = sorted(x for report in reports for x in report["latencies_ms"])
    failed: collections.Counter[str] = collections.Counter()
    for report in reports:
        failed.update(report["failed"])
    elapsed = max(report["elapsed"] for report in reports)
    return GrpcResult(offered_rps=rate, achieved_rps=len(latencies) / elapsed if elapsed else 0.0,
                      p50_ms=percentile(latencies, 0.50), p99_ms=percentile(latencies, 0.99),
                      ok=len(latencies), failed=dict(failed), missed=sum(r["missed"] for r in reports),
                      generator_cpu_s=sum(r["cpu_s"] for r in reports), generator="go" if binary else "python")


def closed_loop_go(target: str, method: str, request: bytes, *, callers: int, connections: int,
                   seconds: float, token: str | None = None, timeout: float = 5.0
                   ) -> tuple[float, list[float], dict[str, int], float] | None:
    """A closed loop from the Go generator (``-callers``): (answers/s, latencies in seconds,
    failures by status, the generator's CPU seconds); None when Go is not available (the
    caller then runs Python's ``closed_loop``, which spends several times the CPU per call)."""
    if not target.startswith(("127.", "localhost")):
        raise ValueError("loads go to the loopback interface only")
    binary = go_generator()
    if binary is None:
        return None
    argv = [binary, "--target", target, "--method", method, "--request-b64", base64.b64encode(request).decode(),
            "--duration", str(seconds), "--timeout", str(timeout), "--callers", str(callers),
            "--connections", str(connections)]
    child = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + timeout + 60,
                           env={**os.environ, "GOMAXPROCS": "1", **({"BENCH_TOKEN": token} if token else {})})
    if child.returncode != 0:
        raise RuntimeError(f"gRPC load generator failed with {child.returncode}: {child.stderr[-300:]}")
    report = json.loads(child.stdout)
    elapsed = report["elapsed"]
    latencies = [ms / 1000 for ms in report["latencies_ms"]]
    return (len(latencies) / elapsed if elapsed else 0.0), latencies, report["failed"], report["cpu_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True)
    parser.add_argument("--method", required=True, help="/package.Service/Method")
    parser.add_argument("--request-b64", default="")
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--channels", type=int, default=1)
    args = parser.parse_args()
    # The token comes through the environment, not argv, so it never shows in a process list.
    generate = _generate(args.target, args.method, base64.b64decode(args.request_b64), args.rate,
                         args.duration, os.environ.get("BENCH_TOKEN"), args.timeout, args.channels)
    try:  # uvloop when installed (as `mtlid serve` runs): less of the shared cores per wake-up
        import uvloop
    except ImportError:
        report = asyncio.run(generate)
    else:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            report = runner.run(generate)
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
