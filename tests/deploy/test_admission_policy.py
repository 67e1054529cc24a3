"""The residency ValidatingAdmissionPolicy, evaluated offline with cel-python.

The policy is taken from a rendered overlay (what would be applied), its parameter
is the rendered ResidencyPolicy; fixture pods are in fixtures/pods.yaml.
"""
from __future__ import annotations

import copy
import pathlib

import pytest
import yaml

from cel_policy import admit, cleanly_rejected
from conftest import one

FIXTURES = yaml.safe_load((pathlib.Path(__file__).parent / "fixtures" / "pods.yaml").read_text())


def pod(case: dict) -> dict:
    spec = {"containers": [{"name": "app", "image": "registry.montreal.ca/mtlid/mtlid:0.1.0"}]}
    if case.get("affinity") is not None:
        spec["affinity"] = copy.deepcopy(case["affinity"])
    if case.get("nodeSelector"):
        spec["nodeSelector"] = case["nodeSelector"]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "fixture-", "namespace": "mtlid"}, "spec": spec}


@pytest.fixture(scope="module")
def quebec(rendered):
    docs = rendered["aws-ca-central-1"]
    return one(docs, "ValidatingAdmissionPolicy", "mtlid-residency"), one(docs, "ResidencyPolicy", "mtlid")


@pytest.fixture(scope="module")
def canada(rendered):
    docs = rendered["canada"]
    return one(docs, "ValidatingAdmissionPolicy", "mtlid-residency"), one(docs, "ResidencyPolicy", "mtlid")


def test_fixtures_cover_both_verdicts():
    verdicts = [case["expect"] for case in FIXTURES]
    assert verdicts.count("admit") >= 3 and verdicts.count("reject") >= 10


@pytest.mark.parametrize("case", [c for c in FIXTURES if c["expect"] == "admit"], ids=lambda c: c["why"])
def test_admits_pods_bound_to_allowed_regions(quebec, case):
    policy, params = quebec
    verdict = admit(policy, pod(case), params)
    assert verdict.allowed, verdict.results


@pytest.mark.parametrize("case", [c for c in FIXTURES if c["expect"] == "reject"], ids=lambda c: c["why"])
def test_rejects_pods_not_bound_to_allowed_regions(quebec, case):
    policy, params = quebec
    verdict = admit(policy, pod(case), params)
    # A clean false, not an evaluation error: the API server would also refuse on
    # error (failurePolicy: Fail), but an erroring policy is one nobody can reason about.
    assert cleanly_rejected(verdict), verdict.results


def test_canada_jurisdiction_admits_toronto_and_calgary_but_not_abroad(canada):
    policy, params = canada
    toronto_calgary = {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{
            "key": "topology.kubernetes.io/region", "operator": "In",
            "values": ["canadacentral", "ca-west-1", "tor1"]}]}]}}}}
    assert admit(policy, pod(toronto_calgary), params).allowed
    abroad = copy.deepcopy(toronto_calgary)
    abroad["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"][0]["matchExpressions"][0]["values"].append("us-east-2")
    assert cleanly_rejected(admit(policy, pod(abroad), params))


def test_policy_reads_the_list_from_its_parameter_not_from_a_copy(quebec):
    """Emptying the parameter's list must refuse a pod the real list admits."""
    policy, params = quebec
    good = next(c for c in FIXTURES if c["expect"] == "admit")
    assert admit(policy, pod(good), params).allowed
    narrowed = copy.deepcopy(params)
    narrowed["spec"]["allowedRegions"] = ["tor1"]
    assert cleanly_rejected(admit(policy, pod(good), narrowed))


def test_policy_and_binding_fail_closed(rendered):
    for name, docs in rendered.items():
        policy = one(docs, "ValidatingAdmissionPolicy", "mtlid-residency")
        binding = one(docs, "ValidatingAdmissionPolicyBinding", "mtlid-residency")
        crd = one(docs, "CustomResourceDefinition", "residencypolicies.residency.mtlid.montreal.ca")
        params = one(docs, "ResidencyPolicy", "mtlid")
        assert policy["spec"]["failurePolicy"] == "Fail", name
        rules = policy["spec"]["matchConstraints"]["resourceRules"]
        assert any("pods" in r["resources"] and "CREATE" in r["operations"] and "" in r["apiGroups"]
                   for r in rules), name
        assert policy["spec"]["paramKind"] == {
            "apiVersion": f"{crd['spec']['group']}/{crd['spec']['versions'][0]['name']}",
            "kind": crd["spec"]["names"]["kind"]}, name
        assert crd["spec"]["scope"] == "Cluster", name
        assert binding["spec"]["policyName"] == policy["metadata"]["name"], name
        assert "Deny" in binding["spec"]["validationActions"], name
        assert binding["spec"]["paramRef"] == {"name": params["metadata"]["name"],
                                               "parameterNotFoundAction": "Deny"}, name
        assert binding["spec"]["matchResources"]["namespaceSelector"] == {
            "matchLabels": {"kubernetes.io/metadata.name": "mtlid"}}, name


def test_the_operators_probe_pod_is_refused_for_residency_only(quebec, tmp_path):
    """deploy/k8s/probes/residency-probe.yaml (README, step 2) must be refused by the
    residency policy, and be otherwise valid, so that its refusal proves the policy."""
    import contextlib
    import importlib.util
    import io

    from conftest import ROOT

    probe_path = ROOT / "deploy" / "k8s" / "probes" / "residency-probe.yaml"
    probe = yaml.safe_load(probe_path.read_text())
    policy, params = quebec
    assert cleanly_rejected(admit(policy, probe, params))
    # Pod Security "restricted" would refuse it for other reasons otherwise.
    spec = probe["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    for container in spec["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False and context["capabilities"]["drop"] == ["ALL"]
    # And it is a valid Pod (strict schema).
    loader = importlib.util.spec_from_file_location("validate_rendered", ROOT / "deploy" / "validate_rendered.py")
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    with contextlib.redirect_stdout(io.StringIO()):
        assert module.main(["-k", "1.32.0", str(probe_path)]) == 0
