"""deploy/validate_rendered.py must fail on what kubernetes-validate alone would let
through: unknown fields, kinds without a schema, bad CRD objects."""
from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
from dataclasses import dataclass

import pytest
import yaml

from conftest import ROOT, one

_spec = importlib.util.spec_from_file_location("validate_rendered", ROOT / "deploy" / "validate_rendered.py")
validate_rendered = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(validate_rendered)


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str = ""


def run(tmp_path, docs: list[dict]) -> Result:
    """The script's main() in-process (same code path as the CLI, without reloading schemas)."""
    path = tmp_path / "rendered.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = validate_rendered.main(["-k", "1.32.0", str(path)])
    return Result(code, out.getvalue())


@pytest.fixture(scope="module")
def docs(rendered):
    return rendered["aws-ca-central-1"]


def test_rendered_overlay_passes(tmp_path, docs):
    result = run(tmp_path, docs)
    assert result.returncode == 0, result.stdout + result.stderr


def mutated(docs, kind, name, change):
    """The changed resource alone, with the CRDs it may need."""
    changed = copy.deepcopy(one(docs, kind, name))
    change(changed)
    return [changed] + [d for d in docs if d["kind"] == "CustomResourceDefinition"]


@pytest.mark.parametrize("kind,name,change,expected", [
    ("Deployment", "mtlid-identity",
     lambda d: d["spec"]["template"]["spec"]["containers"][0]["securityContext"].update(readOnlyRootFileSystem=True),
     "readOnlyRootFileSystem"),
    ("Cluster", "mtlid-pg", lambda d: d["spec"].update(instance=3), "instance"),
    ("Cluster", "mtlid-pg",
     lambda d: d["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
     ["nodeSelectorTerms"][0]["matchExpressions"][0].update(operater="In"), "operater"),
    ("ObjectStore", "mtlid-backups", lambda d: d["spec"]["configuration"].update(serverName="x"), "serverName"),
    ("ObjectStore", "mtlid-backups", lambda d: d["spec"].update(retentionPolicy="30 days"), "30 days"),
    ("ResidencyPolicy", "mtlid", lambda d: d["spec"].update(allowedRegion=["x"]), "allowedRegion"),
    ("ResidencyPolicy", "mtlid", lambda d: d["spec"].update(jurisdiction="ontario"), "ontario"),
    ("ScheduledBackup", "mtlid-pg-daily", lambda d: d["spec"].update(method="snapshot"), "snapshot"),
])
def test_rejects_unknown_or_invalid_fields(tmp_path, docs, kind, name, change, expected):
    result = run(tmp_path, mutated(docs, kind, name, change))
    assert result.returncode == 1
    assert expected in result.stdout and f"{kind}/{name}" in result.stdout


def test_a_kind_without_schema_is_a_failure_not_a_warning(tmp_path, docs):
    unknown = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
               "metadata": {"name": "mtlid", "namespace": "mtlid"}, "spec": {}}
    result = run(tmp_path, docs + [unknown])
    assert result.returncode == 1 and "no schema for monitoring.coreos.com/v1 PodMonitor" in result.stdout
