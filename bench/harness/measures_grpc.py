"""(being written)"""

from __future__ import annotations

from harness.bench import Bench
from harness.report import Row
from harness.services import NotAvailable


def validate_token(bench: Bench) -> list[Row]:
    bench.service("identity")
    raise NotAvailable("identity ValidateToken not wired yet")


def consent_check(bench: Bench) -> list[Row]:
    bench.service("consent")
    raise NotAvailable("consent Check not wired yet")


def attribute_release(bench: Bench) -> list[Row]:
    bench.service("accounts")
    raise NotAvailable("accounts ReleaseAttributes not wired yet")
