"""The base's workload rules, in every overlay: replicas, disruption budgets, autoscaling,
service accounts without tokens, probes, resources and the restricted security context."""
from __future__ import annotations

import pytest

from conftest import OVERLAYS, one
from test_residency import pod_specs

SERVICES = {"identity": 50051, "accounts": 50052, "consent": 50053}


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", sorted(SERVICES))
def test_service_is_highly_available_and_probed(rendered, overlay, service):
    docs = rendered[overlay]
    name = f"mtlid-{service}"
    deployment = one(docs, "Deployment", name)
    assert deployment["spec"]["replicas"] >= 2
    hpa = one(docs, "HorizontalPodAutoscaler", name)
    assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["scaleTargetRef"]["name"] == name
    pdb = one(docs, "PodDisruptionBudget", name)
    assert pdb["spec"]["selector"]["matchLabels"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert one(docs, "ServiceAccount", name)["automountServiceAccountToken"] is False
    assert one(docs, "Service", name)
    spec = deployment["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == name and spec["automountServiceAccountToken"] is False
    (container,) = spec["containers"]
    assert container["args"] == ["serve", service]
    assert container["livenessProbe"]["grpc"]["port"] == SERVICES[service]
    assert container["startupProbe"]["grpc"]["port"] == SERVICES[service]
    if service == "identity":
        assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": 8000}
    else:
        assert container["readinessProbe"]["grpc"] == {
            "port": SERVICES[service], "service": f"montreal.{service}.v1.{service.capitalize()}Service"}


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", sorted(SERVICES))
def test_grpc_callers_reach_every_replica_through_a_headless_service(rendered, overlay, service):
    """gRPC keeps one connection per address: through a ClusterIP a caller would load one
    replica only. The target names a headless Service (one address per pod) with the dns
    resolver, which the clients' round_robin policy spreads calls over."""
    docs = rendered[overlay]
    config = one(docs, "ConfigMap", "mtlid-config")["data"]
    target = config[f"MTLID_{service.upper()}_GRPC_TARGET"]
    headless = one(docs, "Service", f"mtlid-{service}-grpc")
    assert target == f"dns:///mtlid-{service}-grpc.mtlid.svc:{SERVICES[service]}"
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["selector"] == one(docs, "Deployment", f"mtlid-{service}")["spec"]["selector"]["matchLabels"]
    assert [(p["port"], p["targetPort"]) for p in headless["spec"]["ports"]] == [(SERVICES[service], "grpc")]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_is_restricted_and_bounded(rendered, overlay):
    for name, spec in pod_specs(rendered[overlay]):
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec.get("automountServiceAccountToken") is False, name
        for container in spec.get("initContainers", []) + spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"] and not context["capabilities"].get("add"), name
            assert context["runAsUser"] >= 10000, name
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), (name, kind)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_are_referenced_never_inlined(rendered, overlay):
    docs = rendered[overlay]
    assert not [d for d in docs if d["kind"] == "Secret"], "a Secret is committed in the manifests"
    secret_names = {"MTLID_KEY_ENCRYPTION_KEY", "MTLID_PAIRWISE_SECRET", "MTLID_SERVICE_CLIENT_SECRET",
                    "DB_PASSWORD", "NATS_PASSWORD"}
    for name, spec in pod_specs(docs):
        for container in spec["containers"]:
            for env in container.get("env", []):
                if env["name"] in secret_names or env["name"].endswith("_PASSWORD"):
                    assert "secretKeyRef" in env.get("valueFrom", {}), (name, env["name"])
    config = one(docs, "ConfigMap", "mtlid-config")["data"]
    assert config["MTLID_ENV"] == "production"
    assert config["MTLID_OTEL_EXPORTER_OTLP_ENDPOINT"].startswith("http")
    assert not [key for key in config if "SECRET" in key or "PASSWORD" in key or "KEY" in key]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_migration_job_per_service(rendered, overlay):
    jobs = {d["metadata"]["name"]: d for d in rendered[overlay] if d["kind"] == "Job"}
    assert set(jobs) == {f"mtlid-migrate-{s}" for s in SERVICES}
    for service in SERVICES:
        (container,) = jobs[f"mtlid-migrate-{service}"]["spec"]["template"]["spec"]["containers"]
        assert container["args"] == ["migrate", service]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_nats_is_a_three_node_jetstream_cluster(rendered, overlay):
    docs = rendered[overlay]
    nats = one(docs, "StatefulSet", "mtlid-nats")
    assert nats["spec"]["replicas"] == 3 and nats["spec"]["volumeClaimTemplates"]
    assert one(docs, "PodDisruptionBudget", "mtlid-nats")["spec"]["maxUnavailable"] == 1
    conf = one(docs, "ConfigMap", "mtlid-nats-config")["data"]["nats.conf"]
    assert "jetstream {" in conf and conf.count("nats://mtlid-nats-") == 3


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_namespace_enforces_pod_security_restricted(rendered, overlay):
    labels = one(rendered[overlay], "Namespace", "mtlid")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_identity_takes_residents_addresses_from_the_ingress_only(rendered, overlay):
    """Login and sign-up throttles count addresses: behind the ingress, identity must read the
    resident's address from X-Forwarded-For, trusting it only from the cluster's own (private)
    addresses — never from anyone ("*"), which would let a caller choose its address."""
    import ipaddress

    (container,) = one(rendered[overlay], "Deployment", "mtlid-identity")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    trusted = [item.strip() for item in env["FORWARDED_ALLOW_IPS"].split(",")]
    assert trusted and "*" not in trusted
    for item in trusted:
        assert ipaddress.ip_network(item).is_private, item


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_mailer_gets_the_relay_from_a_secret_and_nothing_it_does_not_need(rendered, overlay):
    docs = rendered[overlay]
    deployment = one(docs, "Deployment", "mtlid-mailer")
    assert deployment["spec"]["replicas"] >= 2
    assert one(docs, "PodDisruptionBudget", "mtlid-mailer")
    spec = deployment["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == "mtlid-mailer" and spec["automountServiceAccountToken"] is False
    (container,) = spec["containers"]
    assert container["args"] == ["serve", "mailer"]
    env = {e["name"]: e for e in container["env"]}
    for variable, key in (("MTLID_SMTP_HOST", "host"), ("MTLID_SMTP_PORT", "port"),
                          ("MTLID_SMTP_USERNAME", "username"), ("MTLID_SMTP_PASSWORD", "password")):
        assert env[variable]["valueFrom"]["secretKeyRef"] == {"name": "mtlid-smtp", "key": key}
    assert env["MTLID_SMTP_TLS"]["value"] == "starttls"
    # No database, no key, no client secret: a mail sender holds none of the platform's secrets.
    assert not [name for name in env if "DATABASE" in name or name in (
        "MTLID_KEY_ENCRYPTION_KEY", "MTLID_PAIRWISE_SECRET", "MTLID_SERVICE_CLIENT_SECRET", "DB_PASSWORD")]
    assert container["livenessProbe"]["httpGet"]["port"] == "metrics"
    assert [p["containerPort"] for p in container["ports"]] == [9464]


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", sorted(SERVICES))
def test_stopping_gives_notice_and_fits_the_grace_period(rendered, overlay, service):
    """Issue 16: the preStop hook and the drain notice match, and preStop + notice + the
    in-flight grace (mtlid serve's --grace, 8 s by default) end before Kubernetes' SIGKILL.
    Streams are kept on three replicas."""
    spec = one(rendered[overlay], "Deployment", f"mtlid-{service}")["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pre_stop, notice = float(command[1]), float(env["MTLID_DRAIN_NOTICE_SECONDS"])
    assert pre_stop == notice == 5
    assert "--grace" not in container["args"]
    assert pre_stop + notice + 8 < spec["terminationGracePeriodSeconds"]
    assert env["MTLID_NATS_STREAM_REPLICAS"] == "3"
