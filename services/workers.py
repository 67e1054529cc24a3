"""``mtlid serve <service> --workers N`` (``MTLID_WORKERS``): every core of a pod (issue 24).

One Python process answers on one core (the GIL); a pod given 4 CPUs runs 4 workers. This
supervisor starts N ``mtlid serve <service>`` processes that bind the same gRPC port (and
identity's HTTP port) with SO_REUSEPORT, so the kernel spreads new connections among them.
Each worker is a whole service, like one more replica (DESIGN.md "Scaling out": consumers
share their durable, jobs and relays are safe to run in several processes).

- Before the workers start, the supervisor runs the migrations once (as ``mtlid serve``
  would) and, in development without ``MTLID_NATS_URL``, starts the embedded nats-server
  once; workers do neither.
- The supervisor serves the service's metrics port: a scrape there answers every worker's
  metrics, labelled ``worker`` (``services/worker_metrics.py``); each worker serves its own on
  a loopback port the supervisor chose (``MTLID_WORKER_METRICS_PORT``), new at each start.
- SIGTERM/SIGINT: every worker drains as one service does (issue 16: NOT_SERVING, the drain
  notice, then stop); the supervisor waits for all of them, kills any left after the grace,
  and exits.
- A worker that exits while the supervisor is not stopping is started again: at once the
  first time, then after 1, 2, 4… up to 30 s while it keeps dying within 10 s of its start.
- A supervisor that dies without stopping them (SIGKILL, OOM) takes its workers with it
  (Linux ``PR_SET_PDEATHSIG``): none is left holding the ports.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence

logger = logging.getLogger("mtlid.workers")

RESTART_BACKOFF_MAX_SECONDS = 30.0
QUICK_DEATH_SECONDS = 10.0
POLL_SECONDS = 0.2


class _Worker:
    def __init__(self, index: int) -> None:
        self.index = index
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0
        self.backoff = 0.0
        self.restart_at: float | None = None
        self.restarts = 0
        self.metrics_port: int | None = None


def supervise(service: str, workers: int, worker_argv: Sequence[str], env: Mapping[str, str], *,
              grace: float, drain_notice: float, metrics: tuple[str, int] | None = None) -> int:
    """Run ``workers`` copies of ``worker_argv`` (an ``mtlid serve`` command line) until SIGTERM
    or SIGINT; returns 0 once all have stopped (1 when a worker had to be killed). ``metrics``:
    the (host, port) where the workers' metrics are served together, or None (not served)."""
    from services.worker_metrics import MetricsAggregator, free_loopback_port

    stopping = False

    def request_stop(_signum, _frame) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    pool = [_Worker(i) for i in range(workers)]

    def start(worker: _Worker) -> None:
        child_env = {**env, "MTLID_WORKERS": str(workers), "MTLID_WORKER_INDEX": str(worker.index)}
        if metrics is not None:
            worker.metrics_port = free_loopback_port()
            child_env["MTLID_WORKER_METRICS_PORT"] = str(worker.metrics_port)
        # Its own process group: a Ctrl-C in a terminal reaches the supervisor only, which
        # then stops the workers in order.
        worker.process = subprocess.Popen(list(worker_argv), env=child_env, start_new_session=True,
                                          preexec_fn=_end_with_parent)
        worker.started_at = time.monotonic()
        worker.restart_at = None
        print(f"mtlid: {service} worker {worker.index} started (pid {worker.process.pid})", file=sys.stderr,
              flush=True)

    def metrics_ports() -> dict[int, int | None]:
        return {w.index: w.metrics_port if w.process is not None and w.process.poll() is None else None
                for w in pool}

    aggregator = MetricsAggregator(*metrics, metrics_ports).start() if metrics is not None else None
    try:
        for worker in pool:
            start(worker)
        while not stopping:
            now = time.monotonic()
            for worker in pool:
                if worker.restart_at is not None:
                    if now >= worker.restart_at:
                        worker.restarts += 1
                        start(worker)
                    continue
                code = worker.process.poll() if worker.process is not None else None
                if code is None:
                    continue
                # Died on its own: start it again, backing off while it keeps dying quickly.
                quick = now - worker.started_at < QUICK_DEATH_SECONDS
                worker.backoff = min(RESTART_BACKOFF_MAX_SECONDS, max(1.0, worker.backoff * 2)) if quick else 0.0
                worker.restart_at = now + worker.backoff
                print(f"mtlid: {service} worker {worker.index} (pid {worker.process.pid}) exited with {code}; "
                      f"restarting in {worker.backoff:.0f} s", file=sys.stderr, flush=True)
            time.sleep(POLL_SECONDS)
        return _stop_all(service, pool, grace + drain_notice + 5.0)
    finally:
        if aggregator is not None:
            aggregator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _end_with_parent() -> None:
    """In the worker, before it runs: SIGTERM when the supervisor dies, however it dies
    (Linux prctl PR_SET_PDEATHSIG), so a killed supervisor leaves no worker holding the ports."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _stop_all(service: str, pool: list[_Worker], patience: float) -> int:
    running = [w.process for w in pool if w.process is not None and w.process.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)  # each drains: NOT_SERVING, notice, stop
    deadline = time.monotonic() + patience
    killed = 0
    for process in running:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            killed += 1
    print(f"mtlid: {service}: {len(running)} worker(s) stopped" + (f", {killed} killed" if killed else ""),
          file=sys.stderr, flush=True)
    return 1 if killed else 0


def worker_command(service: str, argv: Sequence[str]) -> list[str]:
    """The command line of one worker: this ``mtlid serve`` without ``--workers``/``--migrate``
    (the supervisor migrated), run by the same interpreter."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--workers":
            skip = True
            continue
        if arg.startswith("--workers=") or arg == "--migrate":
            continue
        kept.append(arg)
    return [sys.executable, "-m", "services.cli", *kept]


def environment(extra: Mapping[str, str]) -> dict[str, str]:
    return {**os.environ, **extra}
