"""`mlops status <pipeline>` answers "why has my batch not retrained?" from the store: each
batch's fate, the untrained rows against min_new_rows, and the drift policy's verdict now
(an announced retrain, or the cooldown that holds one back)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from mlops_lib.cli import main
from mlops_lib.operations.status import pipeline_status
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps.records import DriftVerdict
from mlops_lib.stores.store import Store
from tests.support import drifted_measurement, free_port

pytestmark = pytest.mark.unit


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    yield s
    s.engine.dispose()


def _accept(store: Store, spec: PipelineSpec, batch_id: str, rows: int) -> None:
    store.claim_batch(spec.name, batch_id, f"fp-{batch_id}", [], f"ingest-{batch_id}")
    store.accept_batch(spec.name, batch_id, rows, f"s3://staging/{batch_id}")


def test_a_new_pipeline_waits_for_its_first_batch(store: Store, spec: PipelineSpec) -> None:
    status = pipeline_status(store, spec)
    assert status.champion == "none yet" and status.last_decision is None
    assert status.recent_batches == () and status.untrained == "none"
    assert "drift: no champion yet: the next accepted batch trains the first model" in \
        status.waiting_for
    assert spec.trigger.retrain_on == ("drift",)  # the example retrains on drift only
    assert not any(w.startswith("arrival") for w in status.waiting_for)


def test_status_says_what_each_batch_became_and_why_no_run_trains_the_rest(
        store: Store, spec: PipelineSpec, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, store_url: str) -> None:
    assert spec.trigger.min_new_rows == 1000 and spec.trigger.drift.cooldown_minutes == 30
    _accept(store, spec, "b1", 6000)
    store.take_training_batches(spec.name, "train-1", ["b1"], live=True)
    assert store.move_champion(spec.name, "1", expected_epoch=0, dag_run_id="train-1",
                               data_rev="r1")
    _accept(store, spec, "b2", 400)
    store.record_drift(spec.name, "b2", "monitor-2", drifted_measurement(spec, 2))
    store.record_drift_crossing(spec.name, "b2", "monitor-2", DriftVerdict(
        crossed=True, reason="Drift policy crossed: b2", batch_ids=("b2",)))

    announced = pipeline_status(store, spec)
    assert announced.champion.startswith("v1 since ") and "(run train-1)" in announced.champion
    assert announced.untrained == "1 accepted batch(es), 400 rows: b2"
    assert any(w.startswith("min_new_rows: 400 of 1000 new rows") for w in
               announced.waiting_for), announced.waiting_for
    [drift] = [w for w in announced.waiting_for if w.startswith("drift: ")]
    assert drift.startswith("drift: retrain announced at ") and "on batch b2" in drift

    _accept(store, spec, "b3", 5000)
    store.record_drift(spec.name, "b3", "monitor-3", drifted_measurement(spec, 3))
    store.claim_batch(spec.name, "b4", "fp-b4", [], "ingest-b4")
    store.quarantine_batch(spec.name, "b4", "OUT_OF_RANGE", "age: 3 rows out of range",
                           "s3://landing/quarantine/b4/", None)

    held = pipeline_status(store, spec, now=datetime.now(UTC))
    [drift] = [w for w in held.waiting_for if w.startswith("drift: ")]
    assert drift.startswith("drift: no retrain: Cooldown until "), drift
    assert "b3 (share of drifted features" in drift
    assert held.untrained == "2 accepted batch(es), 5400 rows: b2, b3"
    assert not any(w.startswith("min_new_rows") for w in held.waiting_for)
    lines = dict(line.split("  ", 1) for line in held.recent_batches)
    assert list(lines) == ["b4", "b3", "b2", "b1"]  # newest first
    assert lines["b4"].endswith("quarantined [OUT_OF_RANGE] age: 3 rows out of range")
    assert lines["b3"].endswith("accepted, 5000 rows, not trained yet")
    assert lines["b1"].endswith("accepted, 6000 rows, trained by train-1")

    assert held.last_batch is not None and (held.last_batch.batch_id, held.last_batch.status,
                                            held.last_batch.reason_code) == (
        "b4", "rejected", "OUT_OF_RANGE")
    assert [q.batch_id for q in held.quarantined] == ["b4"]

    monkeypatch.setenv("CT_STORE_URL", store_url)
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens: each service is down
    for name in ("CT_S3_ENDPOINT_URL", "MLFLOW_TRACKING_URI", "CT_AIRFLOW_URL"):
        monkeypatch.setenv(name, closed)
    assert main(["status", spec.name]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"pipeline  {spec.name}\nchampion  v1 since ")
    assert "no retrain: Cooldown until " in out and "quarantined [OUT_OF_RANGE]" in out
    assert "\nquarantine b4  quarantined " in out
    services = out[out.index("\nservices\n"):]
    for name in ("s3", "mlflow", "airflow"):
        assert f"  {name:<8} DOWN: " in services
    assert "  store    ok  (sqlite" in services or "  store    ok  (postgresql" in services
    assert main(["status", "no_such_pipeline"]) == 1
