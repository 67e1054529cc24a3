"""Residency, first layer: every pod template of every overlay is bound by a required
node affinity to regions of that overlay's allow-list; so is the PostgreSQL cluster.
And the two layers agree: every rendered pod template passes the admission policy."""
from __future__ import annotations

import re
import urllib.parse

import pytest

from cel_policy import admit
from conftest import OVERLAY_JURISDICTION, OVERLAYS, one

REGION = "topology.kubernetes.io/region"
# From the public provider documentation (shared/reference/FACTS.md), independent of
# deploy/k8s/residency/allow-lists.yaml, which is checked against them.
QUEBEC = {"ca-central-1", "canadaeast", "northamerica-northeast1", "ca-montreal-1", "ca-mon"}
REST_OF_CANADA = {"ca-west-1", "canadacentral", "northamerica-northeast2", "ca-toronto-1", "ca-tor", "tor1"}


def pod_specs(docs: list[dict]) -> list[tuple[str, dict]]:
    """Every pod spec a rendered overlay can create, found by shape rather than by kind."""
    found = []
    for doc in docs:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        spec = doc.get("spec") or {}
        if doc["kind"] == "Pod":
            found.append((name, spec))
        if isinstance(spec.get("template"), dict) and "spec" in spec["template"]:
            found.append((name, spec["template"]["spec"]))
        job_template = spec.get("jobTemplate", {}).get("spec", {}).get("template")
        if job_template:
            found.append((name, job_template["spec"]))
    return found


def required_terms(affinity: dict | None) -> list[dict]:
    node = (affinity or {}).get("nodeAffinity") or {}
    return (node.get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or []


def assert_bound(where: str, affinity: dict | None, allowed: list[str]) -> None:
    terms = required_terms(affinity)
    assert terms, f"{where}: no required node affinity"
    for index, term in enumerate(terms):
        regions = [e for e in term.get("matchExpressions") or [] if e.get("key") == REGION]
        assert any(e["operator"] == "In" and e.get("values") and set(e["values"]) <= set(allowed)
                   for e in regions), f"{where}: nodeSelectorTerm {index} does not require {REGION} In {allowed}"


def test_every_overlay_has_a_declared_jurisdiction():
    assert set(OVERLAYS) == set(OVERLAY_JURISDICTION)
    assert {"aws-ca-central-1", "azure-canadaeast", "gcp-northamerica-northeast1", "canada"} <= set(OVERLAYS)


def test_allow_lists_are_the_canadian_regions(allow_lists):
    assert set(allow_lists["quebec"]) == QUEBEC
    assert set(allow_lists["canada"]) == QUEBEC | REST_OF_CANADA
    for values in allow_lists.values():
        assert len(values) == len(set(values)), "duplicate region"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_residency_policy_carries_the_overlay_allow_list(rendered, allow_lists, overlay):
    jurisdiction = OVERLAY_JURISDICTION[overlay]
    params = one(rendered[overlay], "ResidencyPolicy", "mtlid")
    assert params["spec"] == {"jurisdiction": jurisdiction, "allowedRegions": allow_lists[jurisdiction]}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_template_requires_an_allowed_region(rendered, allow_lists, overlay):
    allowed = allow_lists[OVERLAY_JURISDICTION[overlay]]
    specs = pod_specs(rendered[overlay])
    kinds = sorted(name.split("/")[0] for name, _ in specs)
    # Not vacuous: three services and the mailer, NATS and three migration Jobs.
    assert kinds.count("Deployment") == 4 and kinds.count("StatefulSet") == 1 and kinds.count("Job") == 3, kinds
    for name, spec in specs:
        assert_bound(f"{overlay} {name}", spec.get("affinity"), allowed)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_postgresql_cluster_requires_an_allowed_region(rendered, allow_lists, overlay):
    cluster = one(rendered[overlay], "Cluster", "mtlid-pg")
    assert cluster["spec"]["instances"] == 3
    assert_bound(f"{overlay} Cluster/mtlid-pg", cluster["spec"]["affinity"],
                 allow_lists[OVERLAY_JURISDICTION[overlay]])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rendered_pod_templates_pass_the_admission_policy(rendered, overlay):
    docs = rendered[overlay]
    policy = one(docs, "ValidatingAdmissionPolicy", "mtlid-residency")
    params = one(docs, "ResidencyPolicy", "mtlid")
    for name, spec in pod_specs(docs):
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "mtlid"}, "spec": spec}
        verdict = admit(policy, pod, params)
        assert verdict.allowed, f"{overlay} {name}: {verdict.results}"
    # The CloudNativePG operator builds its pods from the Cluster's affinity.
    cluster = one(docs, "Cluster", "mtlid-pg")
    pg_pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "mtlid"},
              "spec": {"containers": [{"name": "postgres", "image": cluster["spec"]["imageName"]}],
                       "affinity": {"nodeAffinity": cluster["spec"]["affinity"]["nodeAffinity"]}}}
    assert admit(policy, pg_pod, params).allowed


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_backups_go_to_an_object_store_in_an_allowed_region(rendered, allow_lists, overlay):
    allowed = allow_lists[OVERLAY_JURISDICTION[overlay]]
    store = one(rendered[overlay], "ObjectStore", "mtlid-backups")
    declared = store["metadata"]["annotations"]["residency.mtlid.montreal.ca/storage-region"]
    assert declared in allowed
    config = store["spec"]["configuration"]
    scheme = urllib.parse.urlsplit(config["destinationPath"]).scheme
    if "s3Credentials" in config:
        assert scheme == "s3"
        # An AWS endpoint names its region: it must be the declared one.
        host = urllib.parse.urlsplit(config["endpointURL"]).hostname
        match = re.fullmatch(r"s3\.([a-z0-9-]+)\.amazonaws\.com", host or "")
        assert match and match.group(1) == declared, host
    elif "azureCredentials" in config:
        assert scheme == "https" and urllib.parse.urlsplit(config["destinationPath"]).hostname.endswith(
            ".blob.core.windows.net")
    else:
        assert "googleCredentials" in config and scheme == "gs"
    cluster = one(rendered[overlay], "Cluster", "mtlid-pg")
    assert {"name": "barman-cloud.cloudnative-pg.io", "isWALArchiver": True,
            "parameters": {"barmanObjectName": "mtlid-backups"}} in cluster["spec"]["plugins"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_volume_has_a_storage_class_chosen_by_the_overlay(rendered, overlay):
    docs = rendered[overlay]
    nats = one(docs, "StatefulSet", "mtlid-nats")
    classes = [t["spec"]["storageClassName"] for t in nats["spec"]["volumeClaimTemplates"]]
    cluster = one(docs, "Cluster", "mtlid-pg")
    classes += [cluster["spec"]["storage"]["storageClass"], cluster["spec"]["walStorage"]["storageClass"]]
    assert all(c and c != "residency-required" for c in classes), classes


def test_component_binds_workloads_added_later_and_overrides_weaker_affinity(allow_lists, tmp_path):
    """A workload someone adds to an overlay (a CronJob, a DaemonSet, a Deployment that
    brings its own NotIn affinity) still comes out bound to the allow-list."""
    import subprocess

    import yaml

    from conftest import K8S, kubectl

    extra = [
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "report", "namespace": "mtlid"},
         "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": {
             "restartPolicy": "Never", "containers": [{"name": "report", "image": "mtlid"}]}}}}}},
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "mtlid"},
         "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {
             "metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "agent", "image": "agent"}]}}}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "weak", "namespace": "mtlid"},
         "spec": {"selector": {"matchLabels": {"app": "weak"}}, "template": {
             "metadata": {"labels": {"app": "weak"}}, "spec": {
                 "containers": [{"name": "weak", "image": "weak"}],
                 "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                     "nodeSelectorTerms": [
                         {"matchExpressions": [{"key": REGION, "operator": "NotIn", "values": ["us-east-1"]}]},
                         {"matchExpressions": [{"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]},
                     ]}}}}}}},
    ]
    (tmp_path / "extra.yaml").write_text(yaml.safe_dump_all(extra))
    import os

    def rel(path):  # kustomize refuses absolute roots
        return os.path.relpath(path, tmp_path)

    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({
        "resources": [rel(K8S / "base"), "extra.yaml"],
        "components": [rel(K8S / "components" / "jurisdiction-quebec"), rel(K8S / "components" / "residency")],
    }))
    out = subprocess.run([kubectl(), "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(tmp_path)],
                         check=True, capture_output=True, text=True).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    specs = dict(pod_specs(docs))
    for name in ("CronJob/report", "DaemonSet/agent", "Deployment/weak"):
        assert_bound(name, specs[name].get("affinity"), allow_lists["quebec"])
    assert len(required_terms(specs["Deployment/weak"]["affinity"])) == 1


def crd_rules(docs):
    from conftest import one as _one

    crd = _one(docs, "CustomResourceDefinition", "residencypolicies.residency.mtlid.montreal.ca")
    spec_schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return spec_schema["x-kubernetes-validations"]


def crd_admits(rules, spec) -> bool:
    import celpy
    from celpy import celtypes

    env = celpy.Environment()
    results = [env.program(env.compile(r["rule"])).evaluate({"self": celpy.json_to_cel(spec)}) for r in rules]
    assert all(isinstance(r, celtypes.BoolType) for r in results), results
    return all(bool(r) for r in results)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_widening_beyond_quebec_needs_a_privacy_impact_assessment(rendered, overlay):
    """The CRD's CEL rule (evaluated like the API server would, with cel-python): a
    `canada` ResidencyPolicy is refused until it names its s. 70.1 assessment."""
    docs = rendered[overlay]
    rules = crd_rules(docs)
    spec = one(docs, "ResidencyPolicy", "mtlid")["spec"]
    if spec["jurisdiction"] == "quebec":
        assert crd_admits(rules, spec)
    else:
        # As committed, the canada overlay cannot be applied: someone must fill it in.
        assert not crd_admits(rules, spec)
        assert not crd_admits(rules, {**spec, "privacyImpactAssessment": ""})
        assert crd_admits(rules, {**spec, "privacyImpactAssessment": "EFVP-2026-001"})


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_admission_phase_holds_the_policy_and_no_workload(rendered, overlay):
    """README step 1 applies `-l residency.mtlid.montreal.ca/phase=admission` first."""
    phase = sorted(d["kind"] for d in rendered[overlay]
                   if (d["metadata"].get("labels") or {}).get("residency.mtlid.montreal.ca/phase") == "admission")
    assert phase == ["CustomResourceDefinition", "Namespace", "ResidencyPolicy",
                     "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"]
