"""What a process's state looks like from outside, sampled every ``interval`` seconds for the
metrics port: the outbox (rows waiting, age of the oldest) and each durable consumer's lag
(messages JetStream holds for it, not yet delivered or not yet acknowledged), plus whatever a
service adds (``add_probe``: consent's ledger size).

Sampled by a task rather than in the gauge callbacks: the callbacks run in the exporter's
thread on every scrape, and the values come from the database and NATS, asynchronously.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from opentelemetry.metrics import CallbackOptions, Observation
from sqlalchemy import func, select

from services.common.metrics import meter
from services.common.outbox import stream_name, utcnow
from services.common.uow import OUTBOX

log = logging.getLogger(__name__)
_meter = meter(__name__)

Probe = Callable[[], Awaitable[float]]


class RuntimeGauges:
    def __init__(self, runtime, *, interval: float = 10.0) -> None:
        self.runtime = runtime
        self.interval = interval
        self.outbox_depth = 0
        self.outbox_oldest_age = 0.0
        self.consumer_lag: dict[str, int] = {}
        self._probes: dict[str, tuple[Probe, dict]] = {}
        self._probed: dict[str, float] = {}
        _meter.create_observable_gauge("mtlid.outbox.depth", [self._observe_depth], unit="{event}",
                                       description="Events written and not yet published to NATS")
        _meter.create_observable_gauge("mtlid.outbox.oldest_age", [self._observe_age], unit="s",
                                       description="Age of the oldest event not yet published (0: none)")
        _meter.create_observable_gauge("mtlid.consumer.lag", [self._observe_lag], unit="{event}",
                                       description="Events a durable consumer has not yet acknowledged")

    def add_probe(self, name: str, probe: Probe, *, unit: str, description: str) -> None:
        """A service's own gauge, sampled with the others (``probe`` returns its value)."""
        self._probes[name] = (probe, {})
        _meter.create_observable_gauge(name, [lambda _options, n=name: self._observe_probe(n)],
                                       unit=unit, description=description)

    # -- observed on scrape (exporter thread): read the last sample only ------------------
    def _observe_depth(self, _options: CallbackOptions):
        return [Observation(self.outbox_depth)]

    def _observe_age(self, _options: CallbackOptions):
        return [Observation(self.outbox_oldest_age)]

    def _observe_lag(self, _options: CallbackOptions):
        return [Observation(lag, {"consumer": name}) for name, lag in self.consumer_lag.items()]

    def _observe_probe(self, name: str):
        value = self._probed.get(name)
        return [] if value is None else [Observation(value)]

    # -- sampled in the event loop ---------------------------------------------------------
    async def sample(self) -> None:
        async with self.runtime.session_factory() as session:
            depth, oldest = (await session.execute(
                select(func.count(), func.min(OUTBOX.c.created_at)).where(OUTBOX.c.published_at.is_(None)))).one()
        self.outbox_depth = int(depth)
        if oldest is not None and oldest.tzinfo is None:  # SQLite returns naive UTC
            oldest = oldest.replace(tzinfo=dt.timezone.utc)
        self.outbox_oldest_age = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
        js = self.runtime.js
        if js is not None:
            for consumer in self.runtime.consumers:
                for subject in consumer.subjects:
                    name = f"{consumer.durable}--{subject.rsplit('.', 1)[-1]}"
                    with contextlib.suppress(Exception):  # not created yet: no lag to report
                        info = await js.consumer_info(stream_name(consumer.stream_service), name)
                        self.consumer_lag[name] = int(info.num_pending or 0) + int(info.num_ack_pending or 0)
        for name, (probe, _) in self._probes.items():
            self._probed[name] = float(await probe())

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sample()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - a missed sample, not a reason to stop
                log.debug("metrics sample failed", extra={"error": type(error).__name__})
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
