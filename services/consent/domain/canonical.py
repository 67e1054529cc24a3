"""The canonical serialization of ledger leaves.

A leaf's bytes are the JSON Canonicalization Scheme (RFC 8785) of a JSON object restricted so
that Python's ``json`` module produces exactly the RFC 8785 output:

- UTF-8, no insignificant whitespace, object members sorted by key;
- keys are ASCII (RFC 8785 sorts by UTF-16 code units; for ASCII that is code-point order);
- values are strings, integers (|n| < 2**53), booleans, null, arrays and objects — no floats,
  so the ECMAScript number formatting of RFC 8785 s. 3.2.2.3 never comes into play;
- strings use the minimal JSON escapes (RFC 8785 s. 3.2.2.2), which ``ensure_ascii=False``
  gives.

Anyone can recompute ``SHA-256(0x00 || leaf_bytes)`` (RFC 9162 s. 2.1.1) from these bytes
without trusting the server.
"""

from __future__ import annotations

import json
from typing import Any

_MAX_SAFE_INTEGER = 2**53 - 1


def _check(value: Any, path: str) -> None:
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        if abs(value) > _MAX_SAFE_INTEGER:
            raise ValueError(f"{path}: integer outside the I-JSON range (RFC 7493 s. 2.2)")
        return
    if isinstance(value, float):
        raise ValueError(f"{path}: floats are not allowed in ledger leaves")
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not key.isascii():
                raise ValueError(f"{path}: keys must be ASCII strings")
            _check(item, f"{path}.{key}")
        return
    raise ValueError(f"{path}: {type(value).__name__} is not a JSON value")


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical JSON of ``value`` (within the restrictions above), as UTF-8."""
    _check(value, "$")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def parse_canonical(data: bytes) -> Any:
    """Parse leaf bytes, refusing anything that is not already canonical."""
    value = json.loads(data.decode("utf-8"))
    if canonical_json(value) != data:
        raise ValueError("leaf bytes are not in canonical form")
    return value
