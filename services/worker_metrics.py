"""Every worker's metrics on the service's one metrics port (issue 24, ``--workers N``).

Each worker counts its own requests, so each has its own Prometheus endpoint; a pod declares
one metrics port (``deploy/k8s/base/*.yaml``, the PodMonitor scrapes the port named
``metrics``), and a port cannot be shared. So the supervisor serves the service's metrics port
itself: a scrape of ``/metrics`` there asks every running worker for its own (on a loopback
port the supervisor chose for it, ``MTLID_WORKER_METRICS_PORT``) and answers them all, each
sample labelled ``worker="<i>"``, one family at a time (the text exposition format 0.0.4
wants all of a family's samples together under one ``# HELP``/``# TYPE``). Sums across
workers are the query's job (``sum without (worker) (...)``), as across pods.

``mtlid_worker_up{worker}`` says which workers answered this scrape (1) or not (0: starting
again, or too slow): a missing worker is visible, not silently left out of the sums.
"""

from __future__ import annotations

import http.server
import socket
import threading
import urllib.request
from collections.abc import Callable, Mapping

SCRAPE_TIMEOUT_SECONDS = 2.0
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def free_loopback_port() -> int:
    """A port free on 127.0.0.1 now, for one worker's own metrics endpoint."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _with_worker(sample: str, worker: int) -> str:
    """``name{a="b"} 1`` → ``name{worker="0",a="b"} 1``; ``name 1`` → ``name{worker="0"} 1``."""
    label = f'worker="{worker}"'
    brace, space = sample.find("{"), sample.find(" ")
    if brace != -1 and (space == -1 or brace < space):
        inner_empty = sample[brace + 1:brace + 2] == "}"
        return sample[:brace + 1] + label + ("" if inner_empty else ",") + sample[brace + 1:]
    if space == -1:
        return sample
    return sample[:space] + "{" + label + "}" + sample[space:]


def _family_of(sample: str, families: Mapping[str, object]) -> str:
    """The family a sample belongs to: its name, or the family it is a ``_sum``/``_count``/
    ``_bucket``/``_total``/``_created`` line of."""
    name = sample.split("{", 1)[0].split(" ", 1)[0]
    if name in families:
        return name
    for suffix in ("_bucket", "_count", "_sum", "_total", "_created", "_gsum", "_gcount"):
        if name.endswith(suffix) and name[: -len(suffix)] in families:
            return name[: -len(suffix)]
    return name


def merge(expositions: Mapping[int, str | None]) -> str:
    """The workers' expositions (worker index → text, or None when it did not answer) as one."""
    families: dict[str, dict] = {}
    for worker, text in sorted(expositions.items()):
        if text is None:
            continue
        current = None
        for line in text.splitlines():
            if not line.strip():
                continue
            if line.startswith("# HELP ") or line.startswith("# TYPE "):
                parts = line.split(" ", 3)
                name = parts[2]
                family = families.setdefault(name, {"help": None, "type": None, "samples": []})
                kind = "help" if parts[1] == "HELP" else "type"
                family[kind] = family[kind] or line      # the first worker's words
                current = name
                continue
            if line.startswith("#"):
                continue
            # a sample belongs to the family declared above it, when its name is that family's
            name = _family_of(line, {current: 1} if current else {})
            if name != current:
                name = _family_of(line, families)
            family = families.setdefault(name, {"help": None, "type": None, "samples": []})
            family["samples"].append(_with_worker(line, worker))
    out = ["# HELP mtlid_worker_up Whether the worker answered this scrape (1) or not (0).",
           "# TYPE mtlid_worker_up gauge"]
    out += [f'mtlid_worker_up{{worker="{w}"}} {0 if text is None else 1}' for w, text in sorted(expositions.items())]
    for family in families.values():
        out += [line for line in (family["help"], family["type"]) if line]
        out += family["samples"]
    return "\n".join(out) + "\n"


def scrape(port: int | None, timeout: float = SCRAPE_TIMEOUT_SECONDS) -> str | None:
    """One worker's exposition, or None (not started yet, restarting, or too slow)."""
    if port is None:
        return None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as answer:
            return answer.read().decode("utf-8")
    except (OSError, ValueError):
        return None


class MetricsAggregator:
    """The supervisor's ``/metrics``: every worker's, merged (see the module docstring)."""

    def __init__(self, host: str, port: int, worker_ports: Callable[[], Mapping[int, int | None]]) -> None:
        ports = worker_ports

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path.split("?", 1)[0] not in ("/metrics", "/"):
                    self.send_error(404)
                    return
                targets = dict(ports())
                answers: dict[int, str | None] = {}
                threads = [threading.Thread(target=lambda w=w, p=p: answers.__setitem__(w, scrape(p)))
                           for w, p in targets.items()]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(SCRAPE_TIMEOUT_SECONDS + 1)
                body = merge({w: answers.get(w) for w in targets}).encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args) -> None:   # scrapes every 30 s are not news
                pass

        self._server = http.server.ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="worker-metrics", daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> "MetricsAggregator":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
