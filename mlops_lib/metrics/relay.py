"""Airflow's own metrics, relayed: Airflow pushes OpenTelemetry metrics over OTLP/HTTP
(protobuf `ExportMetricsServiceRequest`s to POST /v1/metrics) and the exporter serves their
latest values to Prometheus as `airflow_*`, the points' attributes as labels.

Several processes push the same metric (the scheduler, the triggerer, every task process),
each a stream of its own: its cumulative values start at 0 when the process starts. A series'
value is therefore the sum of the newest value of each stream (keyed by the pushing resource and
the stream's start time), so that a task process that ends leaves its counts in the total.
Sums become counters (gauges when not monotonic), gauges gauges, and histograms (Airflow's
timers, exponential histograms) a summary of their `_count` and `_sum`. Bounded: at most
`max_series` series; a series keeps `max_streams` streams and folds older ones into its base.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

Kind = Literal["counter", "gauge", "summary"]
Labels = tuple[tuple[str, str], ...]
_CUMULATIVE = 2
_UNSAFE = re.compile(r"[^a-zA-Z0-9_]")


@dataclass
class _Total:
    """A cumulative total over streams: the newest value of each, plus what retired ones left."""

    streams: dict[Any, float] = field(default_factory=dict)
    base: float = 0.0

    def set(self, stream: Any, value: float, max_streams: int) -> None:
        self.streams[stream] = value
        if len(self.streams) > max_streams:  # dicts keep insertion order: the oldest first
            oldest = next(iter(self.streams))
            self.base += self.streams.pop(oldest)

    def add(self, value: float) -> None:
        self.base += value

    @property
    def value(self) -> float:
        return self.base + sum(self.streams.values())


@dataclass
class _Series:
    value: _Total = field(default_factory=_Total)  # a counter's total, or a gauge's value
    total: _Total = field(default_factory=_Total)  # a summary's _sum (value is its _count)


@dataclass
class _Family:
    kind: Kind
    doc: str
    series: dict[Labels, _Series] = field(default_factory=dict)


class OtlpRelay(Collector):
    """Receives OTLP metric exports (`ingest`) and yields them as Prometheus metrics."""

    def __init__(self, prefix: str = "airflow", *, max_series: int = 5000,
                 max_streams: int = 64) -> None:
        self.prefix = prefix
        self.max_series = max_series
        self.max_streams = max_streams
        self.dropped = 0  # points of series beyond max_series, not relayed
        self._families: dict[str, _Family] = {}
        self._n_series = 0
        self._lock = threading.Lock()

    def ingest(self, body: bytes) -> int:
        """Take one export request's points; returns how many. ValueError if it is no
        `ExportMetricsServiceRequest`."""
        request = ExportMetricsServiceRequest()
        try:
            request.ParseFromString(body)
        except DecodeError as exc:
            raise ValueError(f"not an OTLP metrics export: {exc}") from exc
        taken = 0
        with self._lock:
            for rm in request.resource_metrics:
                resource = _labels(rm.resource.attributes)
                for sm in rm.scope_metrics:
                    for metric in sm.metrics:
                        taken += self._take(metric, resource)
        return taken

    def _take(self, metric: Any, resource: Labels) -> int:
        name = self.name(metric.name)
        which = metric.WhichOneof("data")
        if which == "gauge":
            return self._points(name, "gauge", metric, metric.gauge.data_points, resource, None)
        if which == "sum":
            kind: Kind = "counter" if metric.sum.is_monotonic else "gauge"
            cumulative = metric.sum.aggregation_temporality == _CUMULATIVE
            return self._points(name, kind, metric, metric.sum.data_points, resource, cumulative)
        if which in ("histogram", "exponential_histogram"):
            data = getattr(metric, which)
            cumulative = data.aggregation_temporality == _CUMULATIVE
            return self._points(name, "summary", metric, data.data_points, resource, cumulative)
        return 0  # OTLP summaries: Airflow sends none

    def _points(self, name: str, kind: Kind, metric: Any, points: Iterable[Any],
                resource: Labels, cumulative: bool | None) -> int:
        family = self._families.get(name)
        if family is None:
            family = self._families[name] = _Family(kind, metric.description or metric.name)
        elif family.kind != kind:
            return 0  # the same name as another type: the first one seen keeps it
        n = 0
        for point in points:
            series = self._series(family, _labels(point.attributes))
            if series is None:
                self.dropped += 1
                continue
            stream = (resource, point.start_time_unix_nano)
            if kind == "summary":
                _update(series.value, stream, float(point.count), cumulative, self.max_streams)
                _update(series.total, stream, float(point.sum), cumulative, self.max_streams)
            elif kind == "gauge" and cumulative is None:  # a gauge: the newest value wins
                series.value = _Total(base=_number(point))
            else:
                _update(series.value, stream, _number(point), cumulative, self.max_streams)
            n += 1
        return n

    def _series(self, family: _Family, labels: Labels) -> _Series | None:
        series = family.series.get(labels)
        if series is None:
            if self._n_series >= self.max_series:
                return None
            series = family.series[labels] = _Series()
            self._n_series += 1
        return series

    def name(self, otel_name: str) -> str:
        """`airflow.ti.finish` → `airflow_ti_finish`: Prometheus' characters, the prefix once."""
        name = _UNSAFE.sub("_", otel_name)
        return name if name.startswith(f"{self.prefix}_") else f"{self.prefix}_{name}"

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            families = [(name, f.kind, f.doc, [(dict(k), s.value.value, s.total.value)
                                               for k, s in f.series.items()])
                        for name, f in sorted(self._families.items())]
        for name, kind, doc, rows in families:
            yield from _family(name, kind, doc, rows)


def _family(name: str, kind: Kind, doc: str,
            rows: list[tuple[dict[str, str], float, float]]) -> Iterator[Metric]:
    """One Prometheus family; its label names are the union of its series' (missing: "")."""
    keys = sorted({k for labels, _, _ in rows for k in labels})
    family: Metric
    if kind == "counter":
        family = CounterMetricFamily(name, doc, labels=keys)
    elif kind == "gauge":
        family = GaugeMetricFamily(name, doc, labels=keys)
    else:
        family = SummaryMetricFamily(name, doc, labels=keys)
    for labels, value, total in rows:
        values = [labels.get(k, "") for k in keys]
        if isinstance(family, SummaryMetricFamily):
            family.add_metric(values, count_value=round(value), sum_value=total)
        else:
            family.add_metric(values, value)
    yield family


def _update(total: _Total, stream: Any, value: float, cumulative: bool | None,
            max_streams: int) -> None:
    if cumulative:
        total.set(stream, value, max_streams)
    else:  # a delta: what happened since the last export
        total.add(value)


def _number(point: Any) -> float:
    return float(point.as_double if point.WhichOneof("value") == "as_double" else point.as_int)


def _labels(attributes: Iterable[Any]) -> Labels:
    """OTLP attributes as sorted Prometheus labels (names made safe, values as text)."""
    out: dict[str, str] = {}
    for kv in attributes:
        key = _UNSAFE.sub("_", kv.key)
        if key[:1].isdigit() or key.startswith("__") or key == "quantile":
            key = f"attr_{key}"  # Prometheus reserves `__*` and summaries' `quantile`
        out[key] = _text(kv.value)
    return tuple(sorted(out.items()))


def _text(value: Any) -> str:
    which = value.WhichOneof("value")
    if which is None:
        return ""
    raw = getattr(value, which)
    if which == "bool_value":
        return "true" if raw else "false"
    if which in ("array_value", "kvlist_value", "bytes_value"):
        return str(raw).replace("\n", " ").strip()
    return str(raw)
