"""Consent's own metrics (README, "Metrics"): decisions, changes and the ledger.

- ``mtlid.consent.decisions`` — Check's answers, one per data category, by ``result``
  (``allowed``/``denied``) and ``basis`` (consent, public task…) or refusal ``reason``;
- ``mtlid.consent.changes`` — consents given, withdrawn and expired (``change``), from the
  committed ledger events;
- ``mtlid.ledger.size`` (entries) and ``mtlid.ledger.append.duration`` (seconds, the writes
  of one append under the head lock), with ``mtlid.ledger.append.failures``;
- ``mtlid.ledger.witness_disagreements`` and ``mtlid.ledger.binding_mismatches`` — the
  register's alarms (service_layer/alarms.py): a witness refused a head inconsistent with one
  it cosigned, or a row a decision read does not match its leaf. Each is a page
  (deploy/k8s/monitoring: MtlidWitnessDisagreement, MtlidLedgerBindingMismatch).
"""

from __future__ import annotations

import functools
import time

from opentelemetry.metrics import Observation

from services.common.metrics import HotInstrument, meter, observe_event
from services.consent.service_layer.alarms import BINDING_MISMATCH, WITNESS_DISAGREEMENT, alarms

_meter = meter(__name__)
DECISIONS = HotInstrument("counter", "mtlid.consent.decisions", unit="{decision}",
                          description="Consent checks' answers per data category, by result")
CHANGES = _meter.create_counter("mtlid.consent.changes", unit="{consent}",
                                description="Consents given, withdrawn and expired")
APPEND_DURATION = _meter.create_histogram("mtlid.ledger.append.duration", unit="s",
                                          description="Time to write one append to the ledger")
APPEND_FAILURES = _meter.create_counter("mtlid.ledger.append.failures", unit="{append}",
                                        description="Ledger appends that raised")
# Read on scrape from the alarms' own counts (a lock, two integers): nothing on the hot paths.
_meter.create_observable_counter(
    "mtlid.ledger.witness_disagreements", [lambda _options: [Observation(alarms.counts()[WITNESS_DISAGREEMENT])]],
    unit="{alarm}", description="Cosignatures a witness refused: a head inconsistent with one it cosigned")
_meter.create_observable_counter(
    "mtlid.ledger.binding_mismatches", [lambda _options: [Observation(alarms.counts()[BINDING_MISMATCH])]],
    unit="{alarm}", description="Ledger rows found not matching their hashed leaf (decision refused)")
_decision_counters: dict[tuple, object] = {}


def count_decisions(decisions) -> None:
    """Check is a hot path: one cached attribute set per (result, basis or reason), and one
    record per distinct set (a Check's categories usually share one answer)."""
    counts: dict[tuple, int] = {}
    for decision in decisions:
        # the basis itself (an enum member), not its value: an enum's ``.value`` is a
        # descriptor call per decision, a batch's hundreds of them (issue 24)
        key = (decision.allowed, decision.basis if decision.allowed else decision.reason)
        counts[key] = counts.get(key, 0) + 1
    for key, count in counts.items():
        add = _decision_counters.get(key)
        if add is None:
            allowed, why = key[0], str((getattr(key[1], "value", "") if key[0] else key[1]) or "")[:40]
            add = _decision_counters[key] = DECISIONS.bind({
                "result": "allowed" if allowed else "denied",
                "basis": why if allowed else "", "reason": "" if allowed else why})
        add(count)


def timed_append(append):
    """Wraps the ledger repository's ``append``: its duration, and its failures."""

    @functools.wraps(append)
    async def timed(self, entries):
        started = time.perf_counter()
        try:
            placed = await append(self, entries)
        except BaseException:
            APPEND_FAILURES.add(1)
            raise
        APPEND_DURATION.record(time.perf_counter() - started)
        return placed

    return timed


for _name in ("consent_given", "consent_withdrawn", "consent_expired"):
    observe_event(_name, lambda _event, change=_name.removeprefix("consent_"): CHANGES.add(1, {"change": change}))
