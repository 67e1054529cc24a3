"""End-to-end fixtures: the whole system (``mtlid up``) as real processes, and a real
headless Chromium (Debian's ``/usr/bin/chromium``, never a downloaded browser) driven by
Playwright, with axe-core injected into every page checked.

Setup (CI does it through ``tests/e2e/setup.sh``): ``apt-get install chromium`` and
``npm ci`` in tests/e2e (axe-core, pinned in package-lock.json).
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

import pytest

from tests.e2e.system import System

HERE = pathlib.Path(__file__).parent
CHROMIUM = os.environ.get("MTLID_E2E_CHROMIUM", "/usr/bin/chromium")
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = HERE / "artifacts"
#: every page at 1280 and 390 px, in French and English, for a reviewer (README "Screenshots")
SCREENSHOTS = HERE.parent.parent / "var" / "screenshots"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]


def _ensure_axe() -> None:
    if AXE.exists():
        return
    if shutil.which("npm") is None:
        pytest.fail("axe-core is missing and npm is not installed: run tests/e2e/setup.sh")
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    if not os.access(CHROMIUM, os.X_OK):
        # In CI a missing browser is a failure, never a skip; on a developer's machine without
        # root (setup.sh could not apt-get it) the reason is shown instead.
        message = f"no Chromium at {CHROMIUM}: run tests/e2e/setup.sh as root (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    _ensure_axe()
    running = System(str(tmp_path_factory.mktemp("e2e") / "var"))
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
async def browser(system):
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()
