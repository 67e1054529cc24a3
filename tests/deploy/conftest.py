"""Shared fixtures for the deployment tests (run by deploy/check.sh in .venv-deploy).

These tests need .venv-deploy (kubectl, cel-python, jsonschema): when pytest runs with
another configuration (the project's main test run), the folder is skipped whole.
Only the standard library is imported at module level, so that skip costs nothing.
"""
from __future__ import annotations

import importlib.util
import pathlib
import shutil
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if (p / "kustomization.yaml").exists())

# Which allow-list each overlay must enforce: written here independently of the
# overlays themselves, so that switching an overlay's jurisdiction fails a test.
OVERLAY_JURISDICTION = {
    "aws-ca-central-1": "quebec",
    "azure-canadaeast": "quebec",
    "gcp-northamerica-northeast1": "quebec",
    "canada": "canada",
}


def _own_run(config) -> bool:
    """Under tests/deploy/pytest.ini and with .venv-deploy's packages."""
    own_ini = config.inipath is not None and pathlib.Path(config.inipath).resolve() == HERE / "pytest.ini"
    return own_ini and importlib.util.find_spec("celpy") is not None


def pytest_ignore_collect(collection_path, config):
    return None if _own_run(config) else True


def pytest_report_header(config):
    if not _own_run(config):
        return "tests/deploy: not collected here; run them with `bash deploy/check.sh`"
    return None


def kubectl() -> str:
    local = pathlib.Path(sys.executable).parent / "kubectl"
    found = str(local) if local.exists() else shutil.which("kubectl")
    if not found:
        pytest.fail("kubectl not found: run deploy/check.sh, which installs it into .venv-deploy")
    return found


def render(path: pathlib.Path) -> list[dict]:
    import yaml

    out = subprocess.run([kubectl(), "kustomize", str(path)], check=True, capture_output=True, text=True)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict]]:
    return {name: render(K8S / "overlays" / name) for name in OVERLAYS}


@pytest.fixture(scope="session")
def allow_lists() -> dict[str, list[str]]:
    import yaml

    doc = yaml.safe_load((K8S / "residency" / "allow-lists.yaml").read_text())
    return {"quebec": doc["quebec"], "canada": doc["canada"]}


def one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]
