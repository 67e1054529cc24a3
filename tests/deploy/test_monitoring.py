"""deploy/k8s/monitoring: the PodMonitor reaches every process's metrics port (and only
Prometheus may), the PrometheusRule passes promtool and its unit tests, and the dashboard is
valid JSON whose every query uses metrics the services export (README, "Metrics")."""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from conftest import K8S, OVERLAYS, one, render
from test_network_policies import flow

HERE_FIXTURES = K8S.parent.parent / "tests" / "deploy" / "fixtures"
PROCESSES = {"identity": 9461, "accounts": 9462, "consent": 9463, "mailer": 9464}
# What the services export (services/common/metrics.py and its users; the e2e test
# tests/e2e/test_metrics.py scrapes each of them from running processes).
EXPORTED = {
    "rpc_server_call_duration_seconds", "http_server_request_duration_seconds", "mtlid_logins_total",
    "mtlid_tokens_issued_total", "mtlid_consent_decisions_total", "mtlid_consent_changes_total",
    "mtlid_ledger_size", "mtlid_ledger_append_duration_seconds", "mtlid_ledger_append_failures_total",
    "mtlid_outbox_depth", "mtlid_outbox_oldest_age_seconds", "mtlid_consumer_lag",
    "mtlid_consumer_dead_letters_total", "mtlid_mail_sent_total", "mtlid_mail_failed_total",
    "mtlid_mail_expired_total", "mtlid_signing_key_age_seconds", "process_resident_memory_bytes",
    # consent's alarms (services/consent/metrics.py; tests/unit/consent/test_alarm_metrics.py)
    "mtlid_ledger_witness_disagreements_total", "mtlid_ledger_binding_mismatches_total",
    # Not ours: Prometheus's own, cert-manager's.
    "up", "certmanager_certificate_expiration_timestamp_seconds",
}
PROMQL_WORDS = {"sum", "by", "rate", "increase", "max", "min", "histogram_quantile", "and", "or", "time",
                "le", "without", "on", "ignoring", "bool", "humanize"}


@pytest.fixture(scope="module")
def monitoring() -> list[dict]:
    return render(K8S / "monitoring")


def _metric_names(expr: str, recorded: set[str]) -> set[str]:
    expr = re.sub(r'"[^"]*"', '""', expr)        # label values
    expr = re.sub(r"\{[^}]*\}", "", expr)        # matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)       # ranges
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)
    names = set(re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", expr)) - PROMQL_WORDS - recorded
    names = {n for n in names if not re.fullmatch(r"\d+|e\d+", n)}
    return {re.sub(r"_(bucket|count|sum)$", "", n) for n in names}


def test_the_rules_pass_promtool_and_their_unit_tests(monitoring, tmp_path):
    import yaml

    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: deploy/check.sh installs Debian's prometheus package"
    rule = one(monitoring, "PrometheusRule", "mtlid")
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, allow_unicode=True))
    shutil.copy(HERE_FIXTURES / "alerts_test.yaml", tmp_path / "alerts_test.yaml")
    checked = subprocess.run([promtool, "check", "rules", str(tmp_path / "rules.yaml")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run([promtool, "test", "rules", str(tmp_path / "alerts_test.yaml")],
                            capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_on_call_alerts_are_all_there_and_use_exported_metrics(monitoring):
    rules = [r for group in one(monitoring, "PrometheusRule", "mtlid")["spec"]["groups"] for r in group["rules"]]
    alerts = {r["alert"]: r for r in rules if "alert" in r}
    assert {"MtlidGrpcErrorRate", "MtlidHttpErrorRate", "MtlidGrpcLatency", "MtlidTokenEndpointLatency",
            "MtlidOutboxStuck", "MtlidConsumerLag", "MtlidDeadLetters", "MtlidLedgerAppendFailures",
            "MtlidWitnessDisagreement", "MtlidSigningKeyRotationDue", "MtlidCertificateExpiry",
            "MtlidMailNotDelivered", "MtlidTargetDown", "MtlidLedgerBindingMismatch"} <= set(alerts)
    recorded = {r["record"] for r in rules if "record" in r}
    for rule in rules:
        assert _metric_names(rule["expr"], recorded) <= EXPORTED, (rule.get("alert") or rule.get("record"))
    for alert in alerts.values():
        assert alert["labels"]["severity"] in ("page", "ticket")
        assert {"summary", "description", "runbook"} <= set(alert["annotations"])


def test_the_dashboard_is_valid_json_on_exported_metrics(monitoring):
    config = one(monitoring, "ConfigMap", "mtlid-grafana-dashboard")
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(config["data"]["mtlid-dashboard.json"])
    assert dashboard["uid"] == "mtlid-operations" and dashboard["panels"]
    recorded = {r["record"] for g in one(monitoring, "PrometheusRule", "mtlid")["spec"]["groups"]
                for r in g["rules"] if "record" in r}
    used = set()
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}" and panel["targets"], panel["title"]
        for target in panel["targets"]:
            names = _metric_names(target["expr"], recorded)
            assert names <= EXPORTED, (panel["title"], names - EXPORTED)
            used |= names
    # Every family the issue names has a panel.
    assert {"rpc_server_call_duration_seconds", "http_server_request_duration_seconds", "mtlid_logins_total",
            "mtlid_tokens_issued_total", "mtlid_consent_decisions_total", "mtlid_outbox_depth",
            "mtlid_outbox_oldest_age_seconds", "mtlid_consumer_lag", "mtlid_consumer_dead_letters_total",
            "mtlid_ledger_size", "mtlid_ledger_append_duration_seconds", "mtlid_mail_sent_total",
            "mtlid_mail_failed_total"} <= used


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_pod_monitor_scrapes_every_process_on_its_own_port(monitoring, rendered, overlay):
    monitor = one(monitoring, "PodMonitor", "mtlid")
    [endpoint] = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == "metrics"
    [expression] = monitor["spec"]["selector"]["matchExpressions"]
    assert set(expression["values"]) == {f"mtlid-{p}" for p in PROCESSES}
    config = one(rendered[overlay], "ConfigMap", "mtlid-config")["data"]
    for process, port in PROCESSES.items():
        deployment = one(rendered[overlay], "Deployment", f"mtlid-{process}")
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["metrics"] == port, process
        if process != "mailer":  # the public ports stay what they were: metrics is never one of them
            assert port not in {v for k, v in ports.items() if k != "metrics"}
        assert config.get(f"MTLID_{process.upper()}_METRICS_PORT", str(port)) == str(port)


def test_only_prometheus_may_scrape(rendered):
    docs = rendered["aws-ca-central-1"]
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    prometheus = ("monitoring", {"app.kubernetes.io/name": "prometheus"})
    elsewhere = ("default", {"app": "other"})
    for process, port in PROCESSES.items():
        pod = ("mtlid", one(docs, "Deployment", f"mtlid-{process}")["spec"]["template"]["metadata"]["labels"])
        assert flow(policies, prometheus, pod, port), process
        assert not flow(policies, elsewhere, pod, port), process
