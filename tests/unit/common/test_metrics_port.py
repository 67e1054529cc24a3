"""The metrics port (services.common.metrics.configure_metrics): a port of its own, and what
happens when it is taken — development carries on without metrics, production refuses."""

from __future__ import annotations

import socket

import pytest

from services.common import metrics


@pytest.fixture
def port_in_use():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def test_a_production_process_refuses_a_metrics_port_in_use(port_in_use, monkeypatch):
    monkeypatch.setattr(metrics, "_provider", None)
    with pytest.raises(metrics.MetricsUnavailable, match=str(port_in_use)):
        metrics.configure_metrics("consent", host="127.0.0.1", port=port_in_use, production=True)
    assert not metrics.enabled()


def test_a_development_process_says_so_and_runs_without_metrics(port_in_use, monkeypatch, caplog):
    monkeypatch.setattr(metrics, "_provider", None)
    assert metrics.configure_metrics("consent", host="127.0.0.1", port=port_in_use) is None
    assert "metrics port in use" in caplog.text
    assert not metrics.enabled()
