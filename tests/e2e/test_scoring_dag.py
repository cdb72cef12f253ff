"""Scoring on the real local stack: a model is trained and promoted, a second one kept by the
gate (the challenger), then unlabelled batches dropped on the scoring prefix are found by the
scoring DAG's deferred sensor and scored.

- the predictions land on S3 with the champion's version and equal
  `mlflow.pyfunc.load_model("models:/...@champion").predict` on the same raw rows;
- the prediction-log record exists, and a re-run of the scoring task (cleared through the REST
  API) changes nothing: the same ETag, the same record;
- with `scoring.shadow: true` the challenger's predictions are there too, marked shadow;
- a bad scoring batch is quarantined with its reason code, in the task log too.

Self-sufficient: its own pipeline (tests/e2e/pipelines.py SCORING) on the shared s3rver stack.
"""

from __future__ import annotations

import io
import time
from typing import Any

import mlflow
import pandas as pd
import pytest

from mlops_dev.demo import drop_batch, drop_scoring_batch, wait_for_batch, wait_for_predictions
from mlops_lib.spec import PipelineSpec, load_spec
from mlops_lib.stores.predictions import PredictionRecord
from tests.e2e.live import LiveStack
from tests.e2e.pipelines import SCORING as PIPELINE

pytestmark = pytest.mark.e2e
SHARED_STACK = "s3rver"  # shared with test_cycle and test_manual_approval

DAG_ID = f"ct_{PIPELINE}_score"
TIMEOUT = 420  # the first run also waits for the DAGs to be parsed


@pytest.fixture(scope="module")
def scoring_spec(stack: LiveStack) -> PipelineSpec:
    return load_spec(stack.settings.pipelines_dir / f"{PIPELINE}.yaml")


@pytest.fixture(scope="module")
def models(stack: LiveStack) -> tuple[str, str]:
    """(champion, challenger): a first batch trains and promotes v1; a second, small one
    trains a model the gate keeps (judged on ~80 holdout rows, it cannot show a significant
    improvement), the challenger."""
    first = drop_batch(PIPELINE, rows=3000, seed=501, settings=stack.settings)
    promoted = wait_for_batch(stack.store, PIPELINE, first.batch_id, timeout=TIMEOUT,
                              api=stack.api)
    assert promoted.decision is not None and promoted.decision.promote, promoted
    second = drop_batch(PIPELINE, rows=400, seed=502, settings=stack.settings)
    kept = wait_for_batch(stack.store, PIPELINE, second.batch_id, timeout=TIMEOUT,
                          api=stack.api)
    assert kept.decision is not None and kept.decision.decision == "keep", kept
    return promoted.decision.candidate_version, kept.decision.candidate_version


def read(stack: LiveStack, uri: str) -> tuple[bytes, str]:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    obj = stack.s3.get_object(Bucket=bucket, Key=key)  # type: ignore[attr-defined]
    return obj["Body"].read(), obj["ETag"]


def score_task(stack: LiveStack, record: PredictionRecord, task_id: str) -> dict[str, Any]:
    assert record.dag_run_id
    [ti] = [t for t in stack.api.task_instances(DAG_ID, record.dag_run_id)
            if t["task_id"] == task_id and t.get("rendered_map_index") == record.batch_id]
    return ti


def test_a_dropped_batch_is_scored_by_the_champion_and_the_challenger_in_shadow(
        stack: LiveStack, scoring_spec: PipelineSpec, models: tuple[str, str]) -> None:
    champion, challenger = models
    dropped = drop_scoring_batch(PIPELINE, rows=1500, seed=503, settings=stack.settings)

    record, shadow = wait_for_predictions(stack.store, PIPELINE, dropped.batch_id,
                                          timeout=TIMEOUT, roles=("champion", "shadow"))

    assert (record.model_version, record.role, record.rows_scored) == (champion, "champion",
                                                                       1500)
    assert record.predictions_uri == (f"s3://{stack.settings.artifact_bucket}/predictions/"
                                      f"{PIPELINE}/{dropped.batch_id}/champion-v{champion}"
                                      ".parquet")
    raw = pd.read_parquet(io.BytesIO(read(stack, dropped.uri + "part-0000.parquet")[0]))
    assert scoring_spec.target not in raw.columns
    predictions = pd.read_parquet(io.BytesIO(read(stack, record.predictions_uri)[0]))
    assert set(predictions["model_version"]) == {champion}
    mlflow.set_tracking_uri(stack.settings.mlflow_tracking_uri)
    expected = mlflow.pyfunc.load_model(
        f"models:/{scoring_spec.registered_model_name}@champion").predict(raw)
    assert predictions["score"].to_numpy().tobytes() == expected["score"].to_numpy().tobytes()
    assert predictions["predicted_label"].tolist() == expected["predicted_label"].tolist()

    # The challenger beside it: logged apart, marked shadow, never the champion's file.
    assert (shadow.model_version, shadow.role) == (challenger, "shadow") != (champion, "shadow")
    assert shadow.predictions_uri.endswith(f"/{dropped.batch_id}/shadow-v{challenger}.parquet")
    shadowed = pd.read_parquet(io.BytesIO(read(stack, shadow.predictions_uri)[0]))
    assert set(shadowed["model_version"]) == {challenger} and len(shadowed) == 1500
    claim = stack.store.scoring_claim(PIPELINE, dropped.batch_id)
    assert claim is not None and claim.status == "scored"
    assert (claim.model_version, claim.shadow_version) == (champion, challenger)
    states = _finished(stack, record.dag_run_id)
    assert states == {"wait_for_batches": "success", "batch.claim_scoring_batch": "success",
                      "batch.score_batch": "success", "batch.shadow_score_batch": "success",
                      "batch.build_scoring_report": "success"}, states

    # A re-run of the scoring task changes nothing: the same bytes (ETag), the same record.
    body, etag = read(stack, record.predictions_uri)
    first_try = score_task(stack, record, "batch.score_batch")
    stack.api.clear_task(DAG_ID, record.dag_run_id, "batch.score_batch",
                         map_index=first_try["map_index"])
    # The cleared run waits behind the run whose sensor is deferred (one active run): a
    # bad batch ends that run, and is itself the next check.
    bad = drop_scoring_batch(PIPELINE, rows=300, seed=504, settings=stack.settings,
                             drop_columns=("income",))
    rerun = _wait_for_try(stack, record, "batch.score_batch", first_try["try_number"] + 1)
    assert rerun["state"] == "success", rerun
    assert read(stack, record.predictions_uri) == (body, etag)
    assert sorted(stack.store.predictions(PIPELINE, batch_id=dropped.batch_id),
                  key=lambda r: r.role) == [record, shadow]

    _assert_quarantined(stack, bad.batch_id)


def _finished(stack: LiveStack, run_id: str) -> dict[str, str]:
    """The task states of a scoring run once none is left to run (the report may still be
    building when the predictions are logged)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        states = {t["task_id"]: t["state"] for t in stack.api.task_instances(DAG_ID, run_id)}
        if time.monotonic() > deadline or all(
                s in ("success", "failed", "skipped", "upstream_failed") for s in states.values()):
            return states
        time.sleep(2)


def _wait_for_try(stack: LiveStack, record: PredictionRecord, task_id: str,
                  try_number: int) -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        ti = score_task(stack, record, task_id)
        if ti["try_number"] >= try_number and ti["state"] in ("success", "failed"):
            return ti
        time.sleep(2)
    raise TimeoutError(f"{task_id} of {record.dag_run_id} did not run again: {ti}")


def _assert_quarantined(stack: LiveStack, batch_id: str) -> None:
    """The bad batch: quarantined with its reason code, its claim rejected, the code in the
    scoring task's log, and no predictions."""
    with pytest.raises(ValueError, match=r"\[MISSING_COLUMNS\]"):
        wait_for_predictions(stack.store, PIPELINE, batch_id, timeout=TIMEOUT)
    quarantined = stack.store.get_quarantine(PIPELINE, f"scoring/{batch_id}")
    assert quarantined is not None and quarantined["reason_code"] == "MISSING_COLUMNS"
    assert quarantined["quarantine_uri"].endswith(f"quarantine/{PIPELINE}/scoring/{batch_id}/")
    qbucket, qprefix = quarantined["quarantine_uri"].removeprefix("s3://").split("/", 1)
    reason = stack.s3.get_object(Bucket=qbucket, Key=qprefix + "_REASON.json")  # type: ignore[attr-defined]
    assert b"MISSING_COLUMNS" in reason["Body"].read()
    claim = stack.store.scoring_claim(PIPELINE, batch_id)
    assert claim is not None and (claim.status, claim.reason_code) == ("rejected",
                                                                      "MISSING_COLUMNS")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the failed task's log is written as it ends
        [ti] = [t for t in stack.api.task_instances(DAG_ID, claim.dag_run_id)
                if t["task_id"] == "batch.score_batch"]
        if ti["state"] == "failed":
            break
        time.sleep(1)
    assert ti["state"] == "failed", ti
    log = stack.api.task_log(DAG_ID, claim.dag_run_id, "batch.score_batch",
                             map_index=ti["map_index"])
    assert "MISSING_COLUMNS" in log, log[-2000:]
    assert stack.store.predictions(PIPELINE, batch_id=batch_id) == []
