"""(being written)"""

from __future__ import annotations

from harness.bench import Bench
from harness.report import Row
from harness.services import NotAvailable


def appends(bench: Bench) -> list[Row]:
    bench.service("consent")
    raise NotAvailable("consent ledger not wired yet")


def proofs_and_verify(bench: Bench) -> list[Row]:
    bench.service("consent")
    raise NotAvailable("consent ledger not wired yet")
