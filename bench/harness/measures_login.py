"""(being written)"""

from __future__ import annotations

from harness.bench import Bench
from harness.report import Row
from harness.services import NotAvailable


def login_flow(bench: Bench) -> list[Row]:
    bench.service("identity")
    raise NotAvailable("identity login pages not wired yet")
