"""Compile the test-only protos of tests/protos/ into a temporary directory on sys.path.

Loaded by the conftests of tests/unit/common and tests/integration/common (by path: tests/
is not a package). Idempotent within a process: the second caller gets the first's result.
"""

from __future__ import annotations

import importlib
import pathlib
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
_OUT: list[pathlib.Path] = []


def load_probe_protos():
    """Return ``(probe_pb2, probe_pb2_grpc)`` of mtlidtest.v1, compiling on first use."""
    if not _OUT:
        import grpc_tools
        from google.api import field_behavior_pb2  # google.api is a namespace package
        from grpc_tools import protoc

        out = pathlib.Path(tempfile.mkdtemp(prefix="mtlid-test-protos-"))
        googleapis = pathlib.Path(field_behavior_pb2.__file__).resolve().parent.parent.parent
        well_known = pathlib.Path(grpc_tools.__file__).resolve().parent / "_proto"
        sources = [str(p.relative_to(HERE)) for p in HERE.rglob("*.proto")]
        args = ["protoc", f"-I{HERE}", f"-I{googleapis}", f"-I{well_known}",
                f"--python_out={out}", f"--grpc_python_out={out}", *sources]
        if protoc.main(args) != 0:
            raise RuntimeError("protoc failed on tests/protos")
        sys.path.insert(0, str(out))
        _OUT.append(out)
    return (importlib.import_module("mtlidtest.v1.probe_pb2"),
            importlib.import_module("mtlidtest.v1.probe_pb2_grpc"))
