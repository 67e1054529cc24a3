"""The supervisor's one metrics endpoint for all its workers (issue 24, services/worker_metrics.py):
each worker's samples labelled ``worker``, every family once, a silent worker shown as down."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from services.worker_metrics import merge

WORKER = '''# HELP mtlid_grpc_requests_total gRPC calls answered
# TYPE mtlid_grpc_requests_total counter
mtlid_grpc_requests_total{method="Check",code="OK"} {n}
# HELP mtlid_request_seconds request duration
# TYPE mtlid_request_seconds histogram
mtlid_request_seconds_bucket{le="0.005"} {n}
mtlid_request_seconds_bucket{le="+Inf"} {n}
mtlid_request_seconds_count {n}
mtlid_request_seconds_sum 0.5
# HELP process_open_fds Number of open file descriptors.
# TYPE process_open_fds gauge
process_open_fds 12
'''


def _families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_every_worker_is_labelled_and_every_family_declared_once():
    merged = merge({0: WORKER.replace("{n}", "3"), 1: WORKER.replace("{n}", "5")})
    assert merged.count("# TYPE mtlid_grpc_requests_total counter") == 1
    assert merged.count("# TYPE mtlid_request_seconds histogram") == 1
    families = _families(merged)      # Prometheus' own parser reads it
    calls = {s.labels["worker"]: s.value for s in families["mtlid_grpc_requests"].samples
             if s.name == "mtlid_grpc_requests_total"}
    assert calls == {"0": 3.0, "1": 5.0}
    counts = {s.labels["worker"]: s.value for s in families["mtlid_request_seconds"].samples
              if s.name == "mtlid_request_seconds_count"}
    assert counts == {"0": 3.0, "1": 5.0}
    assert {s.labels["worker"] for s in families["process_open_fds"].samples} == {"0", "1"}
    assert all(s.labels.get("method") == "Check" for s in families["mtlid_grpc_requests"].samples
               if s.name == "mtlid_grpc_requests_total")
    up = {s.labels["worker"]: s.value for s in families["mtlid_worker_up"].samples}
    assert up == {"0": 1.0, "1": 1.0}


def test_a_worker_that_does_not_answer_is_down_and_the_others_still_count():
    families = _families(merge({0: WORKER.replace("{n}", "3"), 1: None, 2: WORKER.replace("{n}", "7")}))
    up = {s.labels["worker"]: s.value for s in families["mtlid_worker_up"].samples}
    assert up == {"0": 1.0, "1": 0.0, "2": 1.0}
    calls = {s.labels["worker"] for s in families["mtlid_grpc_requests"].samples}
    assert calls == {"0", "2"}
