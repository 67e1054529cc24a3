"""Issue 15: does recording every release slow the resident's token endpoint or userinfo?

One run, two identity services side by side on loopback: **before** — by default this very
commit with recording switched off (``releases.record_read`` and ``releases.record_token``
replaced by no-ops, nothing else changed: the cost of recording and nothing else), or with
``--baseline REF`` a git ref (e.g. ``05f2f59^``, the parent of the commit that started
recording, which also lacks every later change) —, exported with ``git archive`` into a
temporary directory, and **after** (this working tree),
each with its own database — SQLite (the embedded default) or, with ``--database postgres``,
a PostgreSQL database each (``MTLID_TEST_POSTGRES_URL``, default 127.0.0.1:5432) —, one
nats-server for both. Each side gets a confidential client and ``--workers`` residents signed
in through the real code flow (login form, consent form, code exchange). Then, in
alternating rounds (before first in even rounds, after first in odd ones) of ``--seconds`` each:

- **code**: every worker signs its resident in again on the open session (``GET /authorize``:
  the grant covers it, the code comes back at once) and exchanges the code at ``/token``: the
  exchange now writes ``data_released`` (the ID token's claims) in the code's transaction.
  Counted: exchanges per second (each including its authorize); and the exchange alone, as
  the median ``/token`` latency;

- **refresh**: every worker chains its own refresh tokens (``grant_type=refresh_token``; each
  answer's refresh token is the next request's): the token endpoint on a resident's path,
  which now writes a ``data_released`` event in the rotation's transaction;
- **userinfo**: every worker calls ``GET /userinfo`` with its access token: the first call of
  a window writes a record (a commit), the next ones are the same record (releases.py).

A cell is the median of the rounds' requests per second; the ratio is after/before (goal:
≥ 0.90, i.e. within 10 %). On a shared machine throughput moves with everyone else's load,
so each measure also reports the identity process's own CPU per request (user + system,
from /proc, over the timed seconds): the cost of a request to the service itself (goal:
after/before ≤ 1.10). The code exchange's cost includes its authorize. The load generator (httpx, asyncio) runs on the same machine.

    .venv/bin/python bench/releases.py --rounds 3 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import httpx

REPO = pathlib.Path(__file__).resolve().parents[1]
#: appended to the before tree's services/identity/oidc/releases.py: the same code, recording nothing
WITHOUT_RECORDING = """

# bench/releases.py: the "without recording" control
async def record_read(*args, **kwargs):
    return None


async def record_token(*args, **kwargs):
    return None
"""
PASSWORD = "bench password long enough 2026"
REDIRECT = "http://127.0.0.1:9/callback"
FIELD = re.compile(r'name="(?P<name>[a-z_]+)" value="(?P<value>[^"]*)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Identity:
    """``mtlid serve identity`` from a source tree, on its own SQLite database."""

    def __init__(self, name: str, source: pathlib.Path, work: pathlib.Path, nats_url: str,
                 database_url: str | None = None) -> None:
        self.name, self.source = name, source
        self.http_port, grpc_port = free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.http_port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MTLID_")}
        self.env.update({"MTLID_VAR_DIR": str(work / name), "MTLID_NATS_URL": nats_url, "MTLID_ISSUER": self.base,
                         "MTLID_HTTP_PORT": str(self.http_port), "MTLID_IDENTITY_GRPC_PORT": str(grpc_port),
                         "MTLID_CONSENT_GRPC_TARGET": f"127.0.0.1:{free_port()}", "MTLID_LOG_LEVEL": "WARNING",
                         # each side serves its own metrics, as in production: on the default
                         # port only the first side started would, and the other would skip
                         # the metrics' cost per request (the two sides must differ in recording only)
                         "MTLID_IDENTITY_METRICS_PORT": str(free_port()),
                         # the tree's own packages first (python -m puts the cwd first; gen/ here)
                         "PYTHONPATH": f"{source}{os.pathsep}{source / 'gen'}"})
        if database_url:
            self.env["MTLID_IDENTITY_DATABASE_URL"] = database_url
        self.process = subprocess.Popen([sys.executable, "-m", "services.cli", "serve", "identity"], cwd=source,
                                        env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"{name}: identity did not start")
            time.sleep(0.2)

    def cli(self, *args: str) -> dict:
        import json

        done = subprocess.run([sys.executable, "-m", "services.cli", *args], cwd=self.source, env=self.env,
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{self.name}: mtlid {' '.join(args)}: {done.stderr[-500:]}")
        return json.loads(done.stdout)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _fields(html: str) -> dict[str, str]:
    return {m["name"]: m["value"].replace("&amp;", "&") for m in FIELD.finditer(html)}


async def _signed_in_tokens(side: Identity, secret: str, email: str) -> tuple[dict, dict]:
    from authlib.common.security import generate_token
    from authlib.integrations.httpx_client import AsyncOAuth2Client

    client = AsyncOAuth2Client(client_id="bench-rp", client_secret=secret, scope="openid email",
                               redirect_uri=REDIRECT, code_challenge_method="S256")
    async with httpx.AsyncClient(base_url=side.base, timeout=30) as browser:
        verifier = generate_token(48)
        url, _ = client.create_authorization_url(side.base + "/authorize", code_verifier=verifier)
        page = await browser.get(url, follow_redirects=True)
        page = await browser.post("/login", data={**_fields(page.text), "email": email, "password": PASSWORD},
                                  follow_redirects=True)
        if "/consent" in str(page.url):
            answer = await browser.post("/consent", data={**_fields(page.text), "scope": "email",
                                                          "decision": "accept"})
            while answer.status_code in (302, 303) and answer.headers["location"].startswith(("/", side.base)):
                answer = await browser.get(answer.headers["location"])
            callback = answer.headers["location"]
        else:
            callback = str(page.url)
        cookies = dict(browser.cookies)                 # the open session, for the code rounds
    token = await client.fetch_token(side.base + "/token", authorization_response=callback, code_verifier=verifier)
    await client.aclose()
    return token, cookies


async def prepare(side: Identity, workers: int) -> dict:
    created = side.cli("client", "create", "--name", "Bench RP", "--client-id", "bench-rp", "--redirect-uri",
                       REDIRECT, "--grant-type", "authorization_code", "--grant-type", "refresh_token",
                       "--scope", "openid", "--scope", "email")
    secret = created["client_secret"]
    tokens, sessions = [], []
    for i in range(workers):
        email = f"bench{i}@example.ca"
        side.cli("resident", "create", "--email", email, "--password", PASSWORD, "--verified")
        token, cookies = await _signed_in_tokens(side, secret, email)
        tokens.append(token)
        sessions.append(cookies)
    return {"secret": secret, "tokens": tokens, "sessions": sessions, "token_seconds": []}


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process has used (Linux /proc): what a request costs the
    service itself, whatever else the shared machine is running."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _run(seconds: float, workers: int, one) -> float:
    done = 0
    stop_at = time.monotonic() + seconds

    async def worker(i: int) -> None:
        nonlocal done
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_keepalive_connections=2)) as http:
            while time.monotonic() < stop_at:
                if await one(http, i):
                    done += 1
    started = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(workers)))
    _run.last_count = done
    return done / (time.monotonic() - started)


async def refresh_round(side: Identity, state: dict, seconds: float) -> float:
    auth = httpx.BasicAuth("bench-rp", state["secret"])

    async def one(http: httpx.AsyncClient, i: int) -> bool:
        token = state["tokens"][i]
        answer = await http.post(side.base + "/token", auth=auth, data={
            "grant_type": "refresh_token", "refresh_token": token["refresh_token"]})
        if answer.status_code != 200:
            raise RuntimeError(f"{side.name}: refresh answered {answer.status_code} {answer.text[:200]}")
        state["tokens"][i] = {**token, **answer.json()}
        return True
    return await _run(seconds, len(state["tokens"]), one)


async def code_round(side: Identity, state: dict, seconds: float) -> float:
    """authorize on the open session (no page: the grant covers it) + the code exchange."""
    import base64
    import hashlib
    import secrets
    from urllib.parse import parse_qs, urlencode, urlparse

    auth = httpx.BasicAuth("bench-rp", state["secret"])
    state["token_seconds"] = []

    async def one(http: httpx.AsyncClient, i: int) -> bool:
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        query = urlencode({"response_type": "code", "client_id": "bench-rp", "redirect_uri": REDIRECT,
                           "scope": "openid email", "state": secrets.token_urlsafe(8),
                           "code_challenge": challenge, "code_challenge_method": "S256"})
        answer = await http.get(side.base + "/authorize?" + query, cookies=state["sessions"][i])
        location = answer.headers.get("location", "")
        if answer.status_code != 302 or not location.startswith(REDIRECT):
            raise RuntimeError(f"{side.name}: authorize answered {answer.status_code} {location[:120]}")
        code = parse_qs(urlparse(location).query)["code"][0]
        started = time.perf_counter()
        answer = await http.post(side.base + "/token", auth=auth, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier})
        state["token_seconds"].append(time.perf_counter() - started)
        if answer.status_code != 200 or "id_token" not in answer.json():
            raise RuntimeError(f"{side.name}: code exchange answered {answer.status_code} {answer.text[:200]}")
        return True
    return await _run(seconds, len(state["tokens"]), one)


async def userinfo_round(side: Identity, state: dict, seconds: float) -> float:
    async def one(http: httpx.AsyncClient, i: int) -> bool:
        answer = await http.get(side.base + "/userinfo",
                                headers={"Authorization": f"Bearer {state['tokens'][i]['access_token']}"})
        if answer.status_code != 200:
            raise RuntimeError(f"{side.name}: userinfo answered {answer.status_code} {answer.text[:200]}")
        return True
    return await _run(seconds, len(state["tokens"]), one)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default=None,
                        help="git ref of the 'before' side (default: HEAD with recording switched off)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--measure", action="append", choices=("code", "refresh", "userinfo"),
                        help="measure only this (repeatable; default: all three): more rounds of one "
                             "measure in the same time narrow its spread")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    import contextlib

    from services.common.nats import EmbeddedNats

    switch_off = args.baseline is None
    ref = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short=12", args.baseline or "HEAD"],
                         capture_output=True, text=True, check=True).stdout.strip()
    databases = contextlib.AsyncExitStack()
    urls: dict[str, str | None] = {"before": None, "after": None}
    if args.database == "postgres":
        os.environ["MTLID_TEST_DATABASE"] = "postgres"
        from services.common.testing.databases import temporary_database

        for name in urls:
            urls[name] = await databases.enter_async_context(temporary_database(f"bench_{name}"))
    load_at_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    work = pathlib.Path(tempfile.mkdtemp(prefix="mtlid-bench-releases-"))
    before_tree = work / "before-src"
    before_tree.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(before_tree)], input=archive.stdout, check=True)
    if switch_off:
        with open(before_tree / "services/identity/oidc/releases.py", "a") as module:
            module.write(WITHOUT_RECORDING)
    args.baseline = f"{ref} without recording" if switch_off else ref
    nats = EmbeddedNats(work / "nats").start()
    sides = []
    try:
        sides = [Identity("before", before_tree, work, nats.url, urls["before"]),
                 Identity("after", REPO, work, nats.url, urls["after"])]
        states = {s.name: await prepare(s, args.workers) for s in sides}
        results: dict[tuple[str, str], list[float]] = {}
        for r in range(args.rounds):
            order = sides if r % 2 == 0 else list(reversed(sides))
            for measure, run in (("code", code_round), ("refresh", refresh_round), ("userinfo", userinfo_round)):
                if args.measure and measure not in args.measure:
                    continue
                for side in order:
                    await run(side, states[side.name], 1.0)               # warm-up
                    cpu = cpu_seconds(side.process.pid)
                    results.setdefault((measure, side.name), []).append(
                        await run(side, states[side.name], args.seconds))
                    results.setdefault((f"{measure} CPU ms/req", side.name), []).append(
                        1000 * (cpu_seconds(side.process.pid) - cpu) / max(1, _run.last_count))
                    if measure == "code":
                        results.setdefault(("code /token p50 ms", side.name), []).append(
                            1000 * statistics.median(states[side.name]["token_seconds"]))
        # Each round's two sides ran one after the other, so a round's ratio shares that moment's
        # host: the median of the rounds' ratios is the paired estimate, beside the ratio of medians.
        print(f"| measure | before ({args.baseline}) | after | after/before | median of the rounds' ratios "
              "| per-round ratios |")
        print("|---|---|---|---|---|---|")
        for measure in ("code", "code /token p50 ms", "code CPU ms/req", "refresh", "refresh CPU ms/req",
                        "userinfo", "userinfo CPU ms/req"):
            if (measure, "before") not in results:
                continue
            before, after = results[(measure, "before")], results[(measure, "after")]
            ratios = [a / b for a, b in zip(after, before)]
            unit = "" if "ms" in measure else " req/s"
            print(f"| {measure} | {statistics.median(before):.1f}{unit} | {statistics.median(after):.1f}{unit} | "
                  f"{statistics.median(after) / statistics.median(before):.2f} | {statistics.median(ratios):.2f} | "
                  f"{min(ratios):.2f}–{max(ratios):.2f} |")
        print(f"\n{args.rounds} rounds of {args.seconds:g} s, {args.workers} workers, {args.database}, one machine "
              f"({os.cpu_count()} cores) shared with the load generator; load average before/after the run: "
              f"{load_at_start} / {' '.join(f'{x:.2f}' for x in os.getloadavg())}.")
    finally:
        for side in sides:
            side.stop()
        nats.stop(timeout=2)
        shutil.rmtree(work, ignore_errors=True)
        await databases.aclose()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
