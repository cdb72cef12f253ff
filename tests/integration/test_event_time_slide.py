"""How a training window by the data's own time slides as newer data lands, against real
services (moto's S3 server, an MLflow server, the store, DVC); the steps run as the DAG runs
them, only without Airflow (the first run on the real local stack is
tests/e2e/test_event_time_window.py).

Four months of history land at once (July to October, each batch's `applied_at` inside its
month); the first run takes all four as new data but keeps only the rows of the 45 days up to
the newest application. November then lands alone: its run trains on October and November, the
batches with rows in the 45 days up to November's newest row, and on exactly those rows; October
is read again, not consumed again. The versioned training set (lineage) holds exactly the
window's rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from mlops_lib.operations.lineage import lineage
from mlops_lib.services import Services
from mlops_lib.settings import Settings
from mlops_lib.spec import PipelineSpec, load_spec
from mlops_lib.steps import dataset, plan, train
from mlops_lib.steps.planning import RunContext, describe
from tests.event_time import COLUMN, DAYS, month_frame, trained_rows, with_event_time
from tests.event_time import iso_ms as text
from tests.integration.scoring_support import land_and_ingest
from tests.support import EXAMPLE_SPEC, fresh_buckets

pytestmark = pytest.mark.integration


@dataclass
class Timed:
    svc: Services
    spec: PipelineSpec
    example: PipelineSpec  # names the synthetic data's concept
    s3: Any

    def land(self, year: int, month: int, rows: int, seed: int) -> pd.DataFrame:
        """Batch `month=YYYY-MM`, its applications spread over that month, landed and ingested
        (registered, validated); returns its rows."""
        frame = month_frame(self.example, year, month, rows, seed)
        land_and_ingest(self.svc, self.spec, self.s3, f"month={year}-{month:02d}", frame)
        return frame

    def run(self) -> tuple[str, dict[str, Any], str]:
        """A training run that takes the new batches (as an arrival run does): its id, its
        recorded trigger, and the model version it registered."""
        run_id = f"manual__{uuid.uuid4().hex[:8]}"
        planned = plan.plan_training(self.svc, self.spec, RunContext(
            dag_run_id=run_id, run_type="manual", triggered_by="tester",
            params={"reason": "window test"}))
        assert planned.skip_reason is None, planned.trigger
        version = dataset.version_dataset(self.svc, self.spec, planned, run_id)
        trained = train.train(self.svc, self.spec, planned, version, run_id)
        return run_id, dict(planned.trigger), trained.model_version

    def trained_rows(self, version: str) -> pd.DataFrame:
        return trained_rows(self.svc, self.spec.name, version)


@pytest.fixture
def timed(s3: Any, s3_endpoint: str, mlflow_server: str, flow_store_url: str, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Timed:
    """The example with the time each application was made (role event_time), training on the
    45 days up to its newest data."""
    landing, artifacts = fresh_buckets(s3, monkeypatch)
    raw = with_event_time(yaml.safe_load(EXAMPLE_SPEC.read_text()))
    raw.update(name=f"timed_{uuid.uuid4().hex[:8]}",
               source={**raw["source"], "bucket": landing},
               training={**raw["training"], "device": "cpu", "num_boost_round": 5})
    path = tmp_path / "timed.yaml"
    path.write_text(yaml.safe_dump(raw))
    svc = Services(Settings.from_env({
        "CT_HOME": str(tmp_path / "home"), "CT_S3_ENDPOINT_URL": s3_endpoint,
        "CT_STORE_URL": flow_store_url, "MLFLOW_TRACKING_URI": mlflow_server,
        "CT_ARTIFACT_BUCKET": artifacts}))
    return Timed(svc, load_spec(path), load_spec(EXAMPLE_SPEC), s3)


def test_the_window_slides_as_newer_data_lands(timed: Timed) -> None:
    name, store = timed.spec.name, timed.svc.store
    history = {m: timed.land(2026, m, 1000, seed=700 + m) for m in (7, 8, 9, 10)}
    for m, frame in history.items():  # each batch's data time is its rows' span, not arrival
        batch = store.get_batch(name, f"month=2026-{m:02d}")
        assert batch is not None and batch.status == "accepted", batch
        assert (batch.event_time, batch.event_time_end) == (
            text(frame[COLUMN].min()), text(frame[COLUMN].max()))

    first, trigger, version = timed.run()
    window = trigger["training_window"]
    start = history[10][COLUMN].max() - timedelta(days=DAYS)
    assert window["mode"] == "event_time" and window["event_time"]["from"] == text(start)
    # all four were new: the run consumed them, and kept only the rows of the window
    assert store.training_batch_ids(name, first) == [f"month=2026-{m:02d}" for m in (7, 8, 9, 10)]
    kept = timed.trained_rows(version)
    expected = sum(int((f[COLUMN] >= start).sum()) for f in history.values())
    assert len(kept) == expected and pd.to_datetime(kept[COLUMN], utc=True).min() >= start

    november = timed.land(2026, 11, 4000, seed=711)
    second, trigger, version = timed.run()
    start = november[COLUMN].max() - timedelta(days=DAYS)
    assert store.training_batch_ids(name, second) == ["month=2026-10", "month=2026-11"]
    live = {b: [r["live"] for r in store.training_runs_of_batch(name, b)]
            for b in ("month=2026-10", "month=2026-11")}
    assert live == {"month=2026-10": [True, False], "month=2026-11": [True]}
    assert trigger["training_window"]["event_time"]["from"] == text(start)
    assert f"(window: event_time {DAYS} days of {COLUMN})" in describe(trigger)
    kept = timed.trained_rows(version)
    expected = sum(int((f[COLUMN] >= start).sum()) for f in (history[10], november))
    assert len(kept) == expected and pd.to_datetime(kept[COLUMN], utc=True).min() >= start
    assert lineage(timed.svc, name, version).batch_ids == ["month=2026-10", "month=2026-11"]
