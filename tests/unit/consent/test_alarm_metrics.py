"""Issue 19: the consent register's alarms reach the metrics port under the names the on-call
alerts use (deploy/k8s/monitoring: MtlidWitnessDisagreement, MtlidLedgerBindingMismatch).
In a child process: the meter provider is process-wide, set once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from services.common.nats import free_port

CHILD = textwrap.dedent("""
    import sys, httpx
    from services.common.metrics import configure_metrics
    port = configure_metrics("consent", host="127.0.0.1", port=int(sys.argv[1]))
    import services.consent.metrics  # registers the consent service's instruments
    from services.consent.domain.binding import Mismatch
    from services.consent.service_layer.alarms import alarms
    before = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    alarms.witness_disagreement("auditor.example", 12)
    alarms.witness_disagreement("auditor.example", 12)   # counted every time, logged once
    alarms.binding([Mismatch(index=4, what=("purpose_id",))])
    after = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    print(before); print("=====") ; print(after)
""")


def _value(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_witness_disagreements_and_binding_mismatches_are_counted_on_the_metrics_port():
    done = subprocess.run([sys.executable, "-c", CHILD, str(free_port())], capture_output=True, text=True,
                          timeout=60, env={k: v for k, v in os.environ.items() if not k.startswith("MTLID_")})
    assert done.returncode == 0, done.stderr
    before, after = done.stdout.split("=====")
    # Present from the start (0), so an alert on their increase works before the first alarm.
    assert _value(before, "mtlid_ledger_witness_disagreements_total") == 0
    assert _value(before, "mtlid_ledger_binding_mismatches_total") == 0
    assert _value(after, "mtlid_ledger_witness_disagreements_total") == 2
    assert _value(after, "mtlid_ledger_binding_mismatches_total") == 1
