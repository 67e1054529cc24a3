"""Smoke run of the benchmarks (issue 8, point 4): every measure for a few seconds, no thresholds.

It keeps bench/ from rotting: the peer must install and answer, autocannon must run, and
every measure must end either with figures or with "not available yet" — never "failed".
The peer and its load generator come from npm: ``npm ci`` in bench/ when node_modules is
missing (node and npm are on this project's machines).
"""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"


@pytest.fixture(scope="module")
def bench_installed() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node and npm are needed for the benchmarks' peer and load generator (bench/README.md)")
    if not (BENCH / "node_modules" / "oidc-provider").is_dir() or not (BENCH / "node_modules" / "autocannon").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BENCH, check=True, timeout=300,
                       capture_output=True)


def test_smoke_run_measures_the_peer_and_reports_every_measure(bench_installed, tmp_path):
    out = tmp_path / "smoke.json"
    done = subprocess.run([sys.executable, str(BENCH / "run.py"), "--smoke", "--json", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "| measure | mtlid | peer |" in done.stdout
    rows = json.loads(out.read_text())["rows"]
    by_measure = {row["measure"]: row for row in rows}

    token = by_measure["token endpoint, client credentials (JWT ES256)"]
    assert token["peer"].endswith("req/s") and float(token["peer"].split()[0].replace(",", "")) > 0
    # Both sides issue the same kind of token, or the comparison says so.
    assert "token shapes differ" not in token["note"]
    assert by_measure["token introspection (RFC 7662)"]["peer"].endswith("req/s")

    for row in rows:
        assert not row["project"].startswith("failed"), row
    assert any(row["measure"].startswith("resident memory: peer") for row in rows)
    # Issue 24's measures: batches answered as decisions/s, releases one way and the other
    # (on PostgreSQL; without it they say "not available yet").
    for prefix in ("gRPC identity ValidateTokens @", "gRPC consent CheckMany @"):
        batched = [row for row in rows if row["measure"].startswith(prefix)]
        assert batched and all(row["project"].endswith("decisions/s achieved") for row in batched), prefix
    releases = [row for row in rows if row["measure"].startswith("attribute release")]
    assert len(releases) == 2 or all(row["project"].startswith("not available") for row in releases), releases
