"""The performance trigger below Airflow, on a real MLflow server, moto's S3 server and the
store (SQLite and PostgreSQL): labels that agree with the champion keep the policy quiet; labels
of a changed concept (the outcome flipped) drop its realized ROC AUC and cross the policy, once,
with the numbers behind it; each drop's labelled rows become an accepted training batch, and
the performance-triggered training run takes those since the drop began."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_dev import datagen
from mlops_lib.landing.batches import BatchRef
from mlops_lib.spec import PerformancePolicy, PipelineSpec, ScoringConfig
from mlops_lib.spec.labels import LabelsConfig
from mlops_lib.steps import plan, scoring
from mlops_lib.steps.labelled_rows import labelled_prefix, stage_labelled_rows
from mlops_lib.steps.labels import ingest_label_drop
from mlops_lib.steps.performance import measure_performance
from mlops_lib.steps.performance_trigger import check_performance_policy
from mlops_lib.steps.planning import AssetEventInfo, RunContext
from mlops_lib.stores import s3io
from tests.integration.scoring_support import Served, serve

pytestmark = pytest.mark.integration

ROWS = 400


@pytest.fixture
def served(spec: PipelineSpec, s3: Any, s3_endpoint: str, mlflow_server: str, flow_store_url: str,
           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Served:
    served = serve(spec, s3, s3_endpoint, mlflow_server, flow_store_url, tmp_path, monkeypatch)
    served.spec = replace(
        served.spec, scoring=ScoringConfig(id_column="loan_id"),
        labels=LabelsConfig(window_days=1.0),
        trigger=replace(served.spec.trigger, retrain_on=("performance",), min_new_rows=0,
                        performance=PerformancePolicy(floor=0.7, min_labelled_rows=100,
                                                    cooldown_minutes=0.0)))
    return served


def _score_and_label(served: Served, first_id: int, seed: int, drop_id: str, *,
                     flip: bool) -> tuple[BatchRef, pd.DataFrame]:
    """Score ROWS rows; land their labels (flipped: the concept changed) as drop `drop_id`."""
    spec = served.spec
    truth = datagen.generate_batch(served.example, ROWS, seed=seed)
    ids = np.arange(first_id, first_id + ROWS)
    unlabelled = truth.drop(columns=[spec.target]).assign(loan_id=ids)
    unlabelled["region"] = unlabelled["region"].astype(object)
    scoring.score_batch(served.svc, spec, served.drop(unlabelled), f"score__{drop_id}")
    y = truth[spec.target].astype(int)
    labels = pd.DataFrame({"loan_id": ids, spec.target: 1 - y if flip else y})
    return served.land_labels(drop_id, labels), labels


def _keys(served: Served) -> dict[str, str]:
    spec = served.spec
    return {o.key: o.etag for o in s3io.list_objects(served.s3, spec.source.bucket, "")}


def test_a_performance_drop_fires_once_and_retrains_on_the_labelled_rows(
        served: Served) -> None:
    svc, spec = served.svc, served.spec
    drop, labels = _score_and_label(served, 1000, seed=31, drop_id="d1", flip=False)
    ingest_label_drop(svc, spec, drop, "labels__1")
    measure_performance(svc, spec)
    quiet = check_performance_policy(svc, spec, "labels__1")
    assert not quiet.crossed and quiet.reason.startswith("within the policy: roc_auc")

    staged = stage_labelled_rows(svc, spec, drop.batch_id, drop.fingerprint, "labels__1")
    assert (staged.status, staged.batch_id, staged.rows) == ("accepted", "labelled-d1", ROWS)
    (key,) = staged.files
    assert key.startswith(labelled_prefix(spec)) and not key.startswith(spec.source.prefix)
    frame = pd.read_parquet(io.BytesIO(served.read(f"s3://{spec.source.bucket}/{key}")))
    assert list(frame.columns) == spec.columns  # the id and unknown columns are not features
    assert frame[spec.target].tolist() == labels[spec.target].tolist()
    before = _keys(served)
    assert stage_labelled_rows(svc, spec, drop.batch_id, drop.fingerprint, "labels__1") \
        == staged  # a retry: as recorded, nothing written again
    assert _keys(served) == before

    drop2, _ = _score_and_label(served, 2000, seed=32, drop_id="d2", flip=True)
    ingest_label_drop(svc, spec, drop2, "labels__2")
    measured = measure_performance(svc, spec)
    # the windows of days (one, or two across midnight) hold every labelled row so far
    days = [w for w in measured.windows if w.window_kind == "days"]
    assert sum(w.rows_labelled for w in days) == 2 * ROWS and 1 <= len(days) <= 2
    assert all(w.window_key.count("/") == 1 for w in days)
    fired = check_performance_policy(svc, spec, "labels__2")
    assert fired.crossed and fired.model_version == served.version
    assert fired.reason.startswith("fired on performance: roc_auc 0.")
    assert f"over {ROWS} labelled rows" in fired.reason and "(limit 0.7)" in fired.reason
    assert fired.window_keys == (fired.evidence["windows"][-1]["window_key"],)
    assert check_performance_policy(svc, spec, "labels__2").crossed  # a retry announces it
    again = check_performance_policy(svc, spec, "labels__3")
    assert not again.crossed and again.reason.startswith("already announced by run labels__2")
    (crossing,) = svc.store.performance_crossings(spec.name)
    assert crossing["dag_run_id"] == "labels__2" and crossing["evidence"]["limit"] == 0.7

    assert stage_labelled_rows(svc, spec, drop2.batch_id, drop2.fingerprint,
                               "labels__2").status == "accepted"
    event = AssetEventInfo(spec.performance_asset_uri,
                           {"reason": fired.reason, "window_keys": list(fired.window_keys),
                            "evidence": fired.evidence},
                           spec.labels_dag_id, "labels__2", "2026-12-06T12:00:00+00:00")
    planned = plan.plan_training(svc, spec, RunContext(
        "asset_triggered__perf", "asset_triggered", asset_events=(event,)))
    # Only the data since the drop began: d1's rows (the old concept) and the first training
    # batch wait for another run.
    assert planned.trigger["type"] == "performance"
    assert planned.batch_ids == ("labelled-d2",), planned.trigger.get("skipped")
    assert planned.trigger["performance"][0]["reason"] == fired.reason
