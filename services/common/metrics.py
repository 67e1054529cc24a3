"""OpenTelemetry metrics: one meter provider per process, read by Prometheus on a port of its
own (never the public one), or, with that port ``off`` and ``MTLID_OTEL_EXPORTER_OTLP_ENDPOINT``
set, pushed to the collector over OTLP (one reader either way: see ``configure_metrics``).

``mtlid serve <process>`` calls ``configure_metrics`` once, before anything records. Code
that records gets its instruments from ``meter(__name__)`` at import time: until (or unless)
a provider is configured they are OpenTelemetry's no-op instruments, so in-process tests
and CLI commands pay nothing.

Names follow the OpenTelemetry semantic conventions where one exists (``rpc.server.*``,
``http.server.request.duration``, ``db.client.*``); ours are ``mtlid.*``. The Prometheus
exporter turns dots into underscores and appends units (``mtlid_mail_sent_total``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from opentelemetry import metrics
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

log = logging.getLogger(__name__)

# Latency buckets in seconds, for the hot paths (sub-millisecond) up to the slow ones: the
# semantic conventions' advice for http/rpc durations, with 1 ms and finer steps added.
DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1,
                    0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)

_provider: MeterProvider | None = None
_prometheus_served = False


def meter(name: str) -> metrics.Meter:
    return metrics.get_meter(name)


def enabled() -> bool:
    """Whether this process records metrics (``configure_metrics`` set a provider with a
    reader): the per-request instrumentation (gRPC guard, HTTP middleware) is installed only
    then, so tests and CLI commands run without it."""
    return _provider is not None


# Metrics derived from committed domain events (login outcomes, consent changes): each
# service registers, per event name, what to count; the unit of work calls
# ``record_committed`` after its commit, so only what happened is counted, once.
_event_observers: dict[str, Callable[[object], None]] = {}


def observe_event(name: str, observer: Callable[[object], None]) -> None:
    _event_observers[name] = observer


def record_committed(events) -> None:
    if not _event_observers:
        return
    for event in events:
        observer = _event_observers.get(getattr(event, "NAME", ""))
        if observer is not None:
            observer(event)


class MetricsUnavailable(RuntimeError):
    """The metrics port could not be bound."""


def configure_metrics(process: str, *, host: str, port: int | None, otlp_endpoint: str | None = None,
                      production: bool = False, otlp_protocol: str = "grpc") -> int | None:
    """Start the process's meter provider; returns the bound Prometheus port (None: not served).

    A port already in use stops a production process (two processes would be scraped as
    one); in development, where several checkouts may run ``mtlid up`` on one machine, it
    is said once and the process runs without its Prometheus endpoint."""
    global _provider
    if _provider is not None:
        return None
    readers = []
    bound = None
    if port is not None:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import start_http_server

        try:
            server, _thread = start_http_server(port, addr=host)
        except OSError as error:
            if production:
                raise MetricsUnavailable(f"metrics port {host}:{port}: {error.strerror}") from None
            log.warning("metrics port in use; this process serves no metrics",
                        extra={"port": port, "error": error.strerror})
        else:
            bound = server.server_port
            readers.append(PrometheusMetricReader())
            global _prometheus_served
            _prometheus_served = True
    if otlp_endpoint and not readers:
        # One reader only: each reader keeps its own aggregation, so a second one would
        # double the cost of every record on the hot paths. With the Prometheus port off
        # (``MTLID_<PROCESS>_METRICS_PORT=off``), metrics go to the collector instead.
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        if otlp_protocol == "http/protobuf":
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpExporter

            from services.common.telemetry import otlp_http_url

            exporter = HttpExporter(endpoint=otlp_http_url(otlp_endpoint, "metrics"))
        else:
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

            exporter = OTLPMetricExporter(endpoint=otlp_endpoint)
        readers.append(PeriodicExportingMetricReader(exporter))
    if not readers:
        return None
    views = [View(instrument_name=name, aggregation=ExplicitBucketHistogramAggregation(DURATION_BUCKETS))
             for name in ("rpc.server.duration", "http.server.request.duration", "mtlid.*.duration")]
    # No exemplars: the Prometheus text format does not carry them, and looking up the
    # current span on every record was a third of a histogram record's cost (measured).
    _provider = MeterProvider(
        metric_readers=readers, views=views, exemplar_filter=AlwaysOffExemplarFilter(),
        resource=Resource.create({"service.name": f"mtlid-{process}", "service.namespace": "mtlid"}))
    metrics.set_meter_provider(_provider)
    return bound


# Events a consumer gave up on (the dead-letter path), by consumer: shared by every consumer
# (services.common.consumer, the mailer). A consumer records 0 when it starts, so the series
# exists, and an alert on its increase works, before the first dead letter.
DEAD_LETTERS = meter(__name__).create_counter(
    "mtlid.consumer.dead_letters", unit="{event}", description="Events sent to the dead-letter path, by consumer")


class HotInstrument:
    """A histogram or counter for the hot paths (every gRPC call, every HTTP request, every
    token, every Check), bound once per attribute set: ``bind(attributes)`` returns the
    function to call per request.

    When the process serves Prometheus, the bound function is prometheus_client's (about
    4 µs per record); the OpenTelemetry SDK's record costs about 30 µs (measured here: 1.45,
    exemplars off), a tenth of a token request. With metrics going over OTLP instead, it is
    the OpenTelemetry instrument's. The Prometheus names are the ones the OpenTelemetry
    exporter would give (dots to underscores, the unit appended, ``_total`` for counters).
    """

    def __init__(self, kind: str, name: str, *, unit: str, description: str) -> None:
        self.kind, self.name, self.unit, self.description = kind, name, unit, description
        self._prometheus = None
        self._otel = None

    def _prometheus_family(self, label_names: tuple[str, ...]):
        if self._prometheus is None:
            import prometheus_client

            base = self.name.replace(".", "_")
            if self.kind == "histogram":
                self._prometheus = prometheus_client.Histogram(
                    base + ("_seconds" if self.unit == "s" else ""), self.description, label_names,
                    buckets=DURATION_BUCKETS)
            else:
                self._prometheus = prometheus_client.Counter(base, self.description, label_names)
        return self._prometheus

    def bind(self, attributes: dict[str, object]) -> Callable[[float], None]:
        if _prometheus_served:
            names = tuple(key.replace(".", "_") for key in attributes)
            child = self._prometheus_family(names).labels(*(str(v) for v in attributes.values()))
            return child.observe if self.kind == "histogram" else child.inc
        if self._otel is None:
            instrument_meter = meter(__name__)
            self._otel = (instrument_meter.create_histogram(self.name, unit=self.unit, description=self.description)
                          if self.kind == "histogram" else
                          instrument_meter.create_counter(self.name, unit=self.unit, description=self.description))
        record = self._otel.record if self.kind == "histogram" else self._otel.add
        frozen = dict(attributes)
        return lambda value: record(value, frozen)
