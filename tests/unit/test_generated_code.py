"""The committed generated code under gen/ matches what the protos produce today."""

from __future__ import annotations

import filecmp
import importlib.util
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _load_codegen():
    spec = importlib.util.spec_from_file_location("gen_protos", ROOT / "scripts" / "gen_protos.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _files(directory: pathlib.Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in directory.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def test_generated_code_is_up_to_date(tmp_path):
    _load_codegen().generate(tmp_path)
    fresh = _files(tmp_path / "montreal")
    committed = _files(ROOT / "gen" / "montreal")
    missing = sorted(set(fresh) - set(committed))
    extra = sorted(set(committed) - set(fresh))
    changed = sorted(name for name in set(fresh) & set(committed) if fresh[name] != committed[name])
    assert not (missing or extra or changed), (
        f"gen/ is stale — run `make protos` and commit. missing={missing} extra={extra} changed={changed}")


def test_every_proto_has_generated_code():
    protos = sorted(p.relative_to(ROOT / "protos").with_suffix("") for p in (ROOT / "protos").rglob("*.proto"))
    assert protos, "no protos found"
    for proto in protos:
        assert (ROOT / "gen" / f"{proto}_pb2.py").exists(), proto
