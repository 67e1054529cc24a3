"""Validate rendered Kubernetes manifests offline, strictly.

Built-in kinds go through kubernetes-validate with its *strict* schemas (unknown
fields rejected), for each Kubernetes version given. kubernetes-validate only warns
and passes when it has no schema for a kind (every CRD kind); here that is a
failure, except for kinds we can check against their own schema:

* kinds whose CustomResourceDefinition is in the same rendered output (our
  ResidencyPolicy): validated against that CRD's openAPIV3Schema, with unknown
  fields rejected (the API server would prune them silently);
* kinds with a vendored schema in deploy/schemas/ (CloudNativePG Cluster,
  Database, ScheduledBackup; barman-cloud ObjectStore).

Usage: python deploy/validate_rendered.py [-k 1.32.0 ...] rendered.yaml ...
Exit status 1 on any failure.
"""
from __future__ import annotations

import argparse
import copy
import functools
import json
import pathlib
import sys

import jsonschema
import yaml
from kubernetes_validate import utils as kv
from referencing import Registry, Resource

SCHEMAS = pathlib.Path(__file__).resolve().parent / "schemas"
K8S_DEFINITIONS_URI = "https://kubernetes.io/api/_definitions.json"

# kubernetes-validate re-reads its (large) definitions file for every resource.
kv.schema_contents = functools.lru_cache(maxsize=None)(kv.schema_contents)


def vendored_schema(api_version: str, kind: str) -> dict | None:
    group_version = api_version.replace("/", "-")
    path = SCHEMAS / f"{kind.lower()}-{group_version}.json"
    return json.loads(path.read_text()) if path.exists() else None


def strict(schema: dict) -> dict:
    """A CRD's structural schema with unknown fields rejected, recursively."""
    schema = copy.deepcopy(schema)

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if (node.get("type") == "object" and "properties" in node
                    and "additionalProperties" not in node
                    and not node.get("x-kubernetes-preserve-unknown-fields")):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    # A CRD's schema says only `metadata: {type: object}`: check it as ObjectMeta.
    schema.setdefault("properties", {})["metadata"] = {
        "$ref": K8S_DEFINITIONS_URI + "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    return schema


def crd_schemas(documents: list[dict]) -> dict[tuple[str, str], dict]:
    found = {}
    for doc in documents:
        if doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc["spec"]
        for version in spec["versions"]:
            if version.get("served"):
                key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                found[key] = strict(version["schema"]["openAPIV3Schema"])
    return found


@functools.lru_cache(maxsize=None)
def k8s_definitions(version: str) -> Resource:
    # The strict definitions of the newest bundled version not newer than `version`.
    chosen = [v for v in kv.all_versions() if kv.major_minor(v) <= kv.major_minor(version)][-1]
    contents = kv.schema_contents(
        f"kubernetes-json-schema/v{chosen}-local-strict/_definitions.json", version)
    return Resource.from_contents(contents)


def check_custom(doc: dict, schema: dict, version: str) -> list[str]:
    registry = Registry().with_resource(K8S_DEFINITIONS_URI, k8s_definitions(version))
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    return [f"{'.'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
            for error in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", "--kubernetes-version", action="append", dest="versions")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    versions = args.versions or ["1.32.0"]
    failures = 0
    for filename in args.files:
        documents = [d for d in yaml.safe_load_all(pathlib.Path(filename).read_text()) if d]
        own_crds = crd_schemas(documents)
        counts = {"kubernetes-validate": 0, "crd": 0, "vendored": 0}
        for doc in documents:
            name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
            for version in versions:
                try:
                    kv.validate(doc, version, strict=True)
                    counts["kubernetes-validate"] += 1
                    continue
                except kv.ValidationError as error:
                    path = ".".join(str(p) for p in error.path)
                    print(f"FAIL {filename}: {name} (Kubernetes {error.version}): {path}: {error.message}")
                    failures += 1
                    continue
                except kv.SchemaNotFoundError:
                    pass
                key = (doc.get("apiVersion"), doc.get("kind"))
                if key in own_crds:
                    schema, origin = own_crds[key], "crd"
                else:
                    schema, origin = vendored_schema(*key), "vendored"
                if schema is None:
                    print(f"FAIL {filename}: {name}: no schema for {key[0]} {key[1]} "
                          "(kubernetes-validate would only warn; vendor one in deploy/schemas/)")
                    failures += 1
                    continue
                errors = check_custom(doc, schema, version)
                for message in errors:
                    print(f"FAIL {filename}: {name} ({origin} schema): {message}")
                failures += len(errors)
                counts[origin] += not errors
        print(f"{filename}: {len(documents)} resources x {len(versions)} Kubernetes versions; "
              f"passed: {counts['kubernetes-validate']} kubernetes-validate (strict), "
              f"{counts['crd']} against their CRD, {counts['vendored']} against deploy/schemas/")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
