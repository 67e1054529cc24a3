"""NetworkPolicies: default deny, then exactly the flows of docs/contracts.md.

A small evaluator of NetworkPolicy semantics (a flow is allowed when the source's
egress AND the destination's ingress allow it; a pod no policy selects is open)
is run over the rendered overlay, with the pods' real labels."""
from __future__ import annotations

import os
import subprocess

import pytest

from conftest import K8S, OVERLAYS, one, render

NS = "mtlid"


def selector_matches(selector: dict | None, labels: dict) -> bool:
    if selector is None:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        present, value = expr["key"] in labels, labels.get(expr["key"])
        ok = {"In": present and value in expr.get("values", []),
              "NotIn": not present or value not in expr.get("values", []),
              "Exists": present, "DoesNotExist": not present}[expr["operator"]]
        if not ok:
            return False
    return True


def peer_matches(peer: dict, endpoint: tuple) -> bool:
    namespace, labels = endpoint
    if "ipBlock" in peer:
        return namespace is None
    if namespace is None:
        return False
    if "namespaceSelector" in peer:
        if not selector_matches(peer["namespaceSelector"], {"kubernetes.io/metadata.name": namespace}):
            return False
    elif namespace != NS:
        return False
    return selector_matches(peer.get("podSelector"), labels)


def port_matches(rule: dict, port: int, protocol: str) -> bool:
    ports = rule.get("ports")
    return not ports or any(p.get("port") == port and p.get("protocol", "TCP") == protocol for p in ports)


def allowed_by(policies, endpoint, direction, peer, port, protocol) -> bool:
    namespace, labels = endpoint
    if namespace != NS:
        return True  # another namespace's policies are not ours to test
    selecting = [p for p in policies if direction in p["spec"]["policyTypes"]
                 and selector_matches(p["spec"]["podSelector"], labels)]
    if not selecting:
        return True
    key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    for policy in selecting:
        for rule in policy["spec"].get(key) or []:
            peers = rule.get(peers_key)
            if (peers is None or any(peer_matches(p, peer) for p in peers)) and port_matches(rule, port, protocol):
                return True
    return False


def flow(policies, source, destination, port, protocol="TCP") -> bool:
    return (allowed_by(policies, source, "Egress", destination, port, protocol)
            and allowed_by(policies, destination, "Ingress", source, port, protocol))


@pytest.fixture(scope="module")
def world(rendered):
    docs = rendered["aws-ca-central-1"]
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]

    def pod_labels(kind, name):
        return (NS, one(docs, kind, name)["spec"]["template"]["metadata"]["labels"])

    endpoints = {
        "identity": pod_labels("Deployment", "mtlid-identity"),
        "accounts": pod_labels("Deployment", "mtlid-accounts"),
        "consent": pod_labels("Deployment", "mtlid-consent"),
        "mailer": pod_labels("Deployment", "mtlid-mailer"),
        "nats": pod_labels("StatefulSet", "mtlid-nats"),
        "migrate": pod_labels("Job", "mtlid-migrate-identity"),
        # CloudNativePG labels its instance pods with the cluster's name.
        "postgres": (NS, {"cnpg.io/cluster": "mtlid-pg", "cnpg.io/instanceRole": "primary"}),
        "debug": (NS, {"run": "debug"}),
        "ingress": ("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"}),
        "dns": ("kube-system", {"k8s-app": "kube-dns"}),
        "otel": ("observability", {"app.kubernetes.io/name": "opentelemetry-collector"}),
        "elsewhere": ("default", {"app": "other"}),
        "internet": (None, {}),
    }
    return policies, endpoints


def test_default_deny_selects_every_pod_both_ways(world):
    policies, _ = world
    deny = [p for p in policies if p["spec"]["podSelector"] == {} and not p["spec"].get("ingress")
            and not p["spec"].get("egress")]
    assert deny and set(deny[0]["spec"]["policyTypes"]) == {"Ingress", "Egress"}


ALLOWED = [
    ("ingress", "identity", 8000), ("accounts", "identity", 8000), ("consent", "identity", 8000),
    ("accounts", "identity", 50051), ("identity", "accounts", 50052),
    ("identity", "consent", 50053), ("accounts", "consent", 50053),
    *[(svc, "nats", 4222) for svc in ("identity", "accounts", "consent")],
    *[(svc, "postgres", 5432) for svc in ("identity", "accounts", "consent", "migrate")],
    *[(svc, "otel", 4317) for svc in ("identity", "accounts", "consent")],
    ("nats", "nats", 6222), ("postgres", "postgres", 5432),
    # The mailer: its events, the SMTP relay (outside the cluster) on 587, the collector.
    ("mailer", "nats", 4222), ("mailer", "internet", 587), ("mailer", "otel", 4317),
]
DENIED = [
    ("ingress", "identity", 50051), ("ingress", "accounts", 50052), ("ingress", "consent", 50053),
    ("elsewhere", "identity", 8000), ("elsewhere", "postgres", 5432), ("elsewhere", "nats", 4222),
    ("consent", "accounts", 50052), ("consent", "identity", 50051), ("accounts", "identity", 5432),
    ("migrate", "nats", 4222), ("migrate", "identity", 8000), ("migrate", "internet", 443),
    ("nats", "postgres", 5432), ("nats", "internet", 443), ("identity", "nats", 6222),
    ("identity", "internet", 443), ("accounts", "internet", 443), ("consent", "internet", 443),
    ("debug", "postgres", 5432), ("debug", "nats", 4222), ("debug", "identity", 8000), ("debug", "internet", 443),
    ("identity", "otel", 4318), ("identity", "elsewhere", 8000),
    # The mailer reaches the relay only: no web, no plain SMTP, no database, no service;
    # and no other pod speaks SMTP to the outside.
    ("mailer", "internet", 443), ("mailer", "internet", 25), ("mailer", "postgres", 5432),
    ("mailer", "identity", 8000), ("mailer", "identity", 50051), ("identity", "internet", 587),
    ("elsewhere", "mailer", 9464), ("identity", "mailer", 9464),
]


@pytest.mark.parametrize("source,destination,port", ALLOWED, ids=lambda v: str(v))
def test_needed_flows_are_allowed(world, source, destination, port):
    policies, endpoints = world
    assert flow(policies, endpoints[source], endpoints[destination], port)


@pytest.mark.parametrize("source,destination,port", DENIED, ids=lambda v: str(v))
def test_other_flows_are_denied(world, source, destination, port):
    policies, endpoints = world
    assert not flow(policies, endpoints[source], endpoints[destination], port)


@pytest.mark.parametrize("source", ["identity", "accounts", "consent", "mailer", "nats", "migrate", "postgres", "debug"])
def test_every_pod_resolves_names(world, source):
    policies, endpoints = world
    assert flow(policies, endpoints[source], endpoints["dns"], 53, "UDP")
    assert flow(policies, endpoints[source], endpoints["dns"], 53, "TCP")


# -- the SMTP relay's address: a parameter of each overlay (components/smtp-relay) ----------

def _relay_rules(docs: list[dict]) -> list[dict]:
    """The mailer's egress rules to an address outside the cluster."""
    policy = one(docs, "NetworkPolicy", "mtlid-mailer")
    return [rule for rule in policy["spec"]["egress"] if any("ipBlock" in peer for peer in rule["to"])]


def _relay_parameter(overlay_dir) -> str:
    import yaml

    doc = yaml.safe_load((overlay_dir / "smtp-relay.yaml").read_text())
    assert doc["kind"] == "SmtpRelay" and doc["metadata"]["name"] == "smtp-relay"
    assert doc["metadata"]["annotations"]["config.kubernetes.io/local-config"] == "true"
    return doc["cidr"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_mailer_reaches_the_relay_its_overlay_names_on_587_only(rendered, overlay):
    import ipaddress

    docs = rendered[overlay]
    cidr = _relay_parameter(K8S / "overlays" / overlay)
    [rule] = _relay_rules(docs)
    assert rule["to"] == [{"ipBlock": {"cidr": cidr}}]
    assert rule["ports"] == [{"protocol": "TCP", "port": 587}]
    network = ipaddress.ip_network(cidr)  # a valid CIDR, and the relay's hosts, not a range of the Internet
    assert network.num_addresses <= 16, f"{cidr}: the relay's address(es), not a whole network"
    # The parameter is kustomize's input only: nothing of it reaches the cluster.
    assert not [d for d in docs if d["kind"] == "SmtpRelay"]


def _overlay(tmp_path, cidr: str | None):
    """An operator's overlay like the shipped ones, with its own relay (or none)."""
    relative = os.path.relpath(K8S, tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
        f"  - {relative}/base\n" + ("  - smtp-relay.yaml\n" if cidr else "")
        + f"components:\n  - {relative}/components/jurisdiction-quebec\n  - {relative}/components/residency\n"
        f"  - {relative}/components/smtp-relay\n")
    if cidr:
        shipped = (K8S / "overlays" / "aws-ca-central-1" / "smtp-relay.yaml").read_text()
        (tmp_path / "smtp-relay.yaml").write_text(shipped.replace("192.0.2.25/32", cidr))
    return tmp_path


def test_the_relay_address_an_operator_sets_is_the_one_the_policy_allows(tmp_path):
    docs = render(_overlay(tmp_path, "10.20.30.40/32"))
    [rule] = _relay_rules(docs)
    assert rule["to"] == [{"ipBlock": {"cidr": "10.20.30.40/32"}}]
    assert "192.0.2.25" not in str(one(docs, "NetworkPolicy", "mtlid-mailer"))


def test_an_overlay_without_the_relay_address_does_not_render(tmp_path):
    with pytest.raises(subprocess.CalledProcessError) as failure:
        render(_overlay(tmp_path, None))
    assert "SmtpRelay" in failure.value.stderr
