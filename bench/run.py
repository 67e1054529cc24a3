#!/usr/bin/env python
"""mtlid benchmarks against the peer (issue 8): one command, one table.

    .venv/bin/python bench/run.py             # the full run (about 10 minutes)
    .venv/bin/python bench/run.py --smoke     # a few seconds per measure, no thresholds
    .venv/bin/python bench/run.py --only token_endpoint --rounds 3

Starts the peer (node-oidc-provider, bench/peer/server.mjs) and mtlid's services on free
loopback ports, runs every measure, and prints a Markdown table (medians over rounds, ratio
mtlid/peer from the same run). A measure whose service does not exist yet is reported as
"not available yet"; one that breaks is reported as "failed: ..." and the exit code is 1.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import shutil
import sys
import tempfile
import time
import traceback

BENCH_DIR = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parent))

from harness import http_load  # noqa: E402
from harness.bench import Bench, Options  # noqa: E402
from harness.machine import describe_machine  # noqa: E402
from harness.measures import MEASURES, memory_rows  # noqa: E402
from harness.report import NOT_YET, Row, markdown  # noqa: E402
from harness.systems import NotAvailable  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--smoke", action="store_true", help="a few seconds per measure, one round")
    parser.add_argument("--rounds", type=int, help="rounds of the peer comparisons (default 5)")
    parser.add_argument("--seconds", type=float, help="seconds per HTTP load run (default 10)")
    parser.add_argument("--only", action="append", choices=[name for name, _, _ in MEASURES],
                        help="run only this measure (repeatable)")
    parser.add_argument("--json", type=pathlib.Path, help="also write the rows and the machine as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, databases)")
    parser.add_argument("--identity-sqlite", action="store_true",
                        help="run identity on the embedded SQLite default instead of PostgreSQL")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = Options.smoke_options() if args.smoke else Options()
    overrides = {}
    if args.rounds:
        overrides["rounds"] = args.rounds
    if args.seconds:
        overrides["http_seconds"] = args.seconds
    if args.identity_sqlite:
        overrides["identity_sqlite"] = True
    if overrides:
        options = dataclasses.replace(options, **overrides)
    if not http_load.autocannon_available():
        print("bench: node and bench/node_modules are needed: run `npm ci` in bench/", file=sys.stderr)
        return 2

    workdir = pathlib.Path(tempfile.mkdtemp(prefix="mtlid-bench-"))
    bench = Bench(options, workdir)
    rows: list[Row] = []
    failed = False
    started = time.monotonic()
    try:
        for name, label, measure in MEASURES:
            if args.only and name not in args.only:
                continue
            began = time.monotonic()
            try:
                rows.extend(measure(bench))
            except NotAvailable as error:
                rows.append(Row(label, f"{NOT_YET} ({error})"))
            except Exception as error:  # one broken measure must not hide the others
                failed = True
                traceback.print_exc(file=sys.stderr)
                rows.append(Row(label, f"failed: {type(error).__name__}: {str(error)[:200]}"))
            print(f"bench: {name} done in {time.monotonic() - began:.0f} s", file=sys.stderr, flush=True)
        rows.extend(memory_rows(bench))
    finally:
        bench.close()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"bench: work directory kept at {workdir}", file=sys.stderr)

    machine = describe_machine()
    elapsed = time.monotonic() - started
    print(f"## mtlid vs node-oidc-provider — {'smoke run' if options.smoke else 'full run'}\n")
    databases = f"identity on {bench.facts['identity_db']}; " if "identity_db" in bench.facts else ""
    print(f"Machine: {machine['summary']}. {databases}consent and accounts on PostgreSQL. "
          f"Rounds: {options.rounds} (gRPC: {options.grpc_rounds}); "
          f"{options.http_seconds:g} s per HTTP run, {options.grpc_seconds:g} s per gRPC run; "
          f"medians; ratios from the same run. Whole run: {elapsed:.0f} s.\n")
    print(markdown(rows))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "options": dataclasses.asdict(options),
                                         "rows": [row.__dict__ for row in rows], "seconds": elapsed,
                                         "identity_db": bench.facts.get("identity_db")}, indent=2,
                                        default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
