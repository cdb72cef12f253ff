"""Airflow's metrics relayed by the exporter: OTLP/HTTP protobuf in (built by hand, and pushed by
OpenTelemetry's own SDK exporter as Airflow pushes them), Prometheus' text format out."""

from __future__ import annotations

import gzip
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2 as pb
from prometheus_client.parser import text_string_to_metric_families

from mlops_lib.metrics.relay import OtlpRelay
from mlops_lib.metrics.server import Exporter, make_server
from mlops_lib.settings import Settings
from tests.support import served_in_thread

pytestmark = pytest.mark.unit

CUMULATIVE, DELTA = 2, 1


def attrs(**values: Any) -> list[KeyValue]:
    out = []
    for k, v in values.items():
        any_value = (AnyValue(bool_value=v) if isinstance(v, bool) else
                     AnyValue(int_value=v) if isinstance(v, int) else AnyValue(string_value=v))
        out.append(KeyValue(key=k, value=any_value))
    return out


def request(metrics: list[pb.Metric], process: str = "scheduler") -> bytes:
    rm = pb.ResourceMetrics(scope_metrics=[pb.ScopeMetrics(metrics=metrics)])
    rm.resource.attributes.extend(attrs(**{"service.name": "airflow", "process": process}))
    return ExportMetricsServiceRequest(resource_metrics=[rm]).SerializeToString()


def counter(name: str, value: int, start: int, temporality: int = CUMULATIVE,
            **labels: Any) -> pb.Metric:
    point = pb.NumberDataPoint(as_int=value, start_time_unix_nano=start,
                               attributes=attrs(**labels))
    return pb.Metric(name=name, sum=pb.Sum(data_points=[point], is_monotonic=True,
                                           aggregation_temporality=temporality))


def samples(relay: OtlpRelay) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    registry.register(relay)
    text = generate_latest(registry).decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def test_counters_sum_the_streams_of_every_process() -> None:
    """Two task processes count failures of the same task from 0 each: the total is both."""
    relay = OtlpRelay()
    labels = {"dag_id": "ct_credit", "task_id": "train"}
    relay.ingest(request([counter("airflow.ti_failures", 1, start=100, **labels)], "task-a"))
    relay.ingest(request([counter("airflow.ti_failures", 2, start=200, **labels)], "task-b"))
    relay.ingest(request([counter("airflow.ti_failures", 3, start=200, **labels)], "task-b"))

    s = samples(relay)

    assert s[("airflow_ti_failures_total", frozenset(labels.items()))] == 4  # 1 + newest 3


def test_delta_sums_add_up() -> None:
    relay = OtlpRelay()
    for _ in range(3):
        relay.ingest(request([counter("scheduler.heartbeat", 2, start=0, temporality=DELTA)]))

    assert samples(relay)[("airflow_scheduler_heartbeat_total", frozenset())] == 6


def test_gauges_keep_the_newest_value_and_labels_are_made_safe() -> None:
    relay = OtlpRelay()
    for v in (5.0, 3.0):
        point = pb.NumberDataPoint(as_double=v, attributes=attrs(**{"pool.name": "default",
                                                                    "ok": True, "n": 7}))
        relay.ingest(request([pb.Metric(name="airflow.pool.open_slots",
                                        gauge=pb.Gauge(data_points=[point]))]))

    s = samples(relay)

    assert s[("airflow_pool_open_slots",
              frozenset({"pool_name": "default", "ok": "true", "n": "7"}.items()))] == 3.0


def test_histograms_become_count_and_sum() -> None:
    """Airflow's timers are exponential histograms (in ms)."""
    relay = OtlpRelay()
    point = pb.ExponentialHistogramDataPoint(count=3, sum=1500.0, start_time_unix_nano=1,
                                             attributes=attrs(dag_id="ct_credit"))
    relay.ingest(request([pb.Metric(name="airflow.dagrun.duration.success.ct_credit",
                                    exponential_histogram=pb.ExponentialHistogram(
                                        data_points=[point],
                                        aggregation_temporality=CUMULATIVE))]))

    s = samples(relay)
    labels = frozenset({"dag_id": "ct_credit"}.items())
    assert s[("airflow_dagrun_duration_success_ct_credit_count", labels)] == 3
    assert s[("airflow_dagrun_duration_success_ct_credit_sum", labels)] == 1500.0


def test_series_are_bounded() -> None:
    relay = OtlpRelay(max_series=3)
    relay.ingest(request([counter("airflow.ti.finish", 1, start=1, task_id=f"t{i}")
                          for i in range(5)]))

    assert len(samples(relay)) == 3
    assert relay.dropped == 2


def test_streams_are_bounded_without_losing_counts() -> None:
    relay = OtlpRelay(max_streams=2)
    for start in range(1, 6):  # five short-lived processes, one count each
        relay.ingest(request([counter("airflow.ti.finish", 1, start=start)]))

    assert samples(relay)[("airflow_ti_finish_total", frozenset())] == 5


def test_garbage_is_refused() -> None:
    with pytest.raises(ValueError, match="not an OTLP metrics export"):
        OtlpRelay().ingest(b"\xff\xff\xff not protobuf")


@pytest.fixture
def exporter(tmp_path: Path) -> Iterator[str]:
    """The exporter's HTTP server on a free port, on a store that was never created."""
    settings = Settings.from_env({"CT_HOME": str(tmp_path),
                                  "CT_STORE_URL": f"sqlite:///{tmp_path}/none.db",
                                  "CT_PIPELINES_DIR": str(tmp_path)})
    server = make_server(Exporter(settings), "127.0.0.1", 0)
    with served_in_thread(server):
        yield f"http://127.0.0.1:{server.server_port}"


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return str(resp.read().decode())


def test_the_sdk_exporter_pushes_to_the_server_and_prometheus_reads_it(exporter: str) -> None:
    """What Airflow does with otel_on: OpenTelemetry's OTLP/HTTP exporter (gzip, as a
    collector is often configured) pushes a counter and a timer; a scrape has both."""
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{exporter}/v1/metrics", compression=Compression.Gzip),
        export_interval_millis=3_600_000)  # pushed by force_flush only
    provider = MeterProvider(metric_readers=[reader])
    meter = provider.get_meter("airflow")
    meter.create_counter("airflow.ti.finish").add(2, {"dag_id": "ct_credit", "state": "failed"})
    meter.create_histogram("airflow.task.duration", unit="ms").record(250.0, {"task_id": "x"})
    assert provider.force_flush(timeout_millis=10_000)
    provider.shutdown()

    text = get(f"{exporter}/metrics")
    found = {(s.name, frozenset(s.labels.items())): s.value
             for f in text_string_to_metric_families(text) for s in f.samples}
    assert found[("airflow_ti_finish_total",
                  frozenset({"dag_id": "ct_credit", "state": "failed"}.items()))] == 2
    assert found[("airflow_task_duration_count", frozenset({"task_id": "x"}.items()))] == 1
    assert found[("airflow_task_duration_sum", frozenset({"task_id": "x"}.items()))] == 250.0
    assert found[("ct_store_up", frozenset())] == 0  # and the store's, down here


def test_the_server_answers_health_and_refuses_what_it_does_not_serve(exporter: str) -> None:
    assert get(f"{exporter}/healthz") == "ok\n"
    with pytest.raises(urllib.error.HTTPError) as missing:
        get(f"{exporter}/nope")
    missing.value.close()
    assert missing.value.code == 404
    bad = urllib.request.Request(f"{exporter}/v1/metrics", data=gzip.compress(b"junk"),
                                 headers={"Content-Encoding": "gzip"}, method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(bad, timeout=10)
    refused.value.close()
    assert refused.value.code == 400
