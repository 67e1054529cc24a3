"""Evaluate a ValidatingAdmissionPolicy's CEL offline with cel-python.

Mirrors what the API server does for one object: the policy's variables are
evaluated in order (each may use the ones before it as `variables.<name>`), then
every validation must be exactly true. cel-python implements standard CEL; the
policy uses only standard macros (has, all, exists, in, size) so both agree.
"""
from __future__ import annotations

from dataclasses import dataclass

import celpy
from celpy import celtypes

_ENV = celpy.Environment()


def _evaluate(expression: str, activation: dict):
    return _ENV.program(_ENV.compile(expression)).evaluate(activation)


@dataclass
class Verdict:
    allowed: bool
    results: list  # one CEL value per validation: BoolType, or an evaluation error


def admit(policy: dict, obj: dict, params: dict) -> Verdict:
    activation = {"object": celpy.json_to_cel(obj), "params": celpy.json_to_cel(params)}
    variables: dict = {}
    for variable in policy["spec"].get("variables", []):
        activation["variables"] = celtypes.MapType(dict(variables))
        variables[celtypes.StringType(variable["name"])] = _evaluate(variable["expression"], activation)
    activation["variables"] = celtypes.MapType(dict(variables))
    results = [_evaluate(v["expression"], activation) for v in policy["spec"]["validations"]]
    allowed = all(isinstance(r, celtypes.BoolType) and bool(r) for r in results)
    return Verdict(allowed=allowed, results=results)


def cleanly_rejected(verdict: Verdict) -> bool:
    """Rejected by a validation that evaluated to false, not by an evaluation error."""
    return (not verdict.allowed and all(isinstance(r, celtypes.BoolType) for r in verdict.results))
