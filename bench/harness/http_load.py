"""HTTP load with autocannon, the same generator for mtlid and for the peer (issue 8).

Closed loop: ``connections`` keep-alive HTTP/1.1 connections, one request in flight on each,
for ``duration`` seconds. The figure is completed 2xx responses per second: a non-2xx answer is
counted apart and reported, never as throughput.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import shutil
import subprocess
from collections.abc import Mapping

BENCH_DIR = pathlib.Path(__file__).resolve().parent.parent
AUTOCANNON = BENCH_DIR / "node_modules" / "autocannon" / "autocannon.js"
CONNECTIONS = 32


@dataclasses.dataclass(frozen=True)
class HttpResult:
    rps: float           # 2xx responses per second
    p50_ms: float
    p99_ms: float
    ok: int
    non2xx: int
    errors: int


def autocannon_available() -> bool:
    return shutil.which("node") is not None and AUTOCANNON.exists()


def run(url: str, *, method: str = "POST", body: str | None = None,
        headers: Mapping[str, str] | None = None, duration: float = 10.0,
        connections: int = CONNECTIONS) -> HttpResult:
    if not url.startswith(("http://127.", "http://localhost")):
        raise ValueError("loads go to the loopback interface only")
    argv = ["node", str(AUTOCANNON), "--json", "--no-progress", "-c", str(connections),
            "-d", str(max(1, round(duration))), "-m", method, "-t", "10"]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}={value}"]
    if body is not None:
        argv += ["-b", body]
    argv.append(url)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"autocannon failed ({done.returncode}): {done.stderr[-500:]}")
    report = json.loads(done.stdout)
    seconds = report["duration"]
    ok = report["2xx"]
    return HttpResult(rps=ok / seconds if seconds else 0.0, p50_ms=report["latency"]["p50"],
                      p99_ms=report["latency"]["p99"], ok=ok, non2xx=report["non2xx"],
                      errors=report["errors"] + report["timeouts"])
