"""``mtlid serve`` (and so ``mtlid up``, which starts each service with it) runs on uvloop."""

from __future__ import annotations

import asyncio
import sys

import pytest

from services.cli import run_event_loop


def test_services_run_on_uvloop_when_it_is_installed():
    uvloop = pytest.importorskip("uvloop")
    seen = []

    async def main() -> None:
        seen.append(type(asyncio.get_running_loop()))

    run_event_loop(main)
    assert seen == [uvloop.Loop]


def test_without_uvloop_the_services_run_on_asyncios_loop(monkeypatch):
    monkeypatch.setitem(sys.modules, "uvloop", None)  # what an interpreter without uvloop sees
    seen = []

    async def main() -> None:
        seen.append(type(asyncio.get_running_loop()))

    run_event_loop(main)
    assert seen[0].__module__.startswith("asyncio.")
