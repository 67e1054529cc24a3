"""Generate the Python code for every proto under ``protos/`` into ``gen/``.

The generated code is committed (so ``pip install`` needs no protoc); the test
``tests/unit/test_generated_code.py`` regenerates into a temporary directory and fails when
the committed code is stale. Run: ``.venv/bin/python scripts/gen_protos.py``.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import shutil
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
# The grpcio the generated stubs require at import: pyproject's floor, not the patch release of
# grpcio-tools that happened to generate them (a fresh install may resolve a newer one, and the
# committed code must not depend on which: tests/unit/test_generated_code.py compares them).
GRPC_FLOOR = "1.70.0"


def _include_dirs() -> list[str]:
    import grpc_tools
    from google.api import field_behavior_pb2  # googleapis-common-protos ships google/api/*.proto

    googleapis = pathlib.Path(field_behavior_pb2.__file__).resolve().parent.parent.parent
    well_known = pathlib.Path(grpc_tools.__file__).resolve().parent / "_proto"
    return [str(PROTOS), str(googleapis), str(well_known)]


def generate(out_dir: pathlib.Path) -> None:
    from grpc_tools import protoc

    sources = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    if not sources:
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    args = ["protoc", *(f"-I{d}" for d in _include_dirs()),
            f"--python_out={out_dir}", f"--pyi_out={out_dir}", f"--grpc_python_out={out_dir}",
            *sources]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for stub in out_dir.rglob("*_pb2_grpc.py"):
        text = stub.read_text()
        stub.write_text(re.sub(r"^GRPC_GENERATED_VERSION = '[^']*'$", f"GRPC_GENERATED_VERSION = '{GRPC_FLOOR}'",
                               text, count=1, flags=re.M))
    # Every generated directory is a regular package so `import montreal.x.v1` works.
    for directory in [out_dir / "montreal", *(p for p in (out_dir / "montreal").rglob("*") if p.is_dir())]:
        (directory / "__init__.py").touch()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "gen")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        generate(pathlib.Path(tmp))
        target = args.out / "montreal"
        if target.exists():
            shutil.rmtree(target)
        if (pathlib.Path(tmp) / "montreal").exists():
            shutil.copytree(pathlib.Path(tmp) / "montreal", target)
        else:
            target.mkdir(parents=True)
            (target / "__init__.py").touch()
    return 0


if __name__ == "__main__":
    sys.exit(main())
