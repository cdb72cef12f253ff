"""A challenger judged on live rows, and an automatic rollback, below Airflow, on a real MLflow
server, moto's S3 server and the store (SQLite and PostgreSQL).

The champion knows the old concept. A challenger trained on the new one wins on its holdout,
but `promotion.require_live_rows` makes it wait (`pending_live`); it scores in shadow; once
labels exist for enough rows both versions scored, the same gate judges it on exactly those rows
and promotes it (a decision record saying `judged_on: live`). When that champion then meets
rows of the old concept, its realized performance falls below its promotion evidence, the
performance policy crosses, and `promotion.auto_rollback` moves the champion back, audited."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_dev import datagen
from mlops_lib.evaluation import metrics
from mlops_lib.landing.batches import BatchRef
from mlops_lib.spec import PerformancePolicy, PipelineSpec, ScoringConfig
from mlops_lib.spec.labels import LabelsConfig
from mlops_lib.steps import decide, evaluate, scoring_batches
from mlops_lib.steps.holdout_scores import load_holdout_scores
from mlops_lib.steps.labels import ingest_label_drop
from mlops_lib.steps.live_judgement import judge_live_challenger
from mlops_lib.steps.performance import measure_performance
from mlops_lib.steps.performance_trigger import check_performance_policy
from mlops_lib.steps.records import Decision, ReportSet
from tests.integration.scoring_support import Served, serve

pytestmark = pytest.mark.integration

LIVE_ROWS = 300


@pytest.fixture
def served(spec: PipelineSpec, s3: Any, s3_endpoint: str, mlflow_server: str, flow_store_url: str,
           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Served:
    served = serve(spec, s3, s3_endpoint, mlflow_server, flow_store_url, tmp_path, monkeypatch)
    served.spec = replace(
        served.spec, scoring=ScoringConfig(id_column="loan_id", shadow=True),
        labels=LabelsConfig(), require_live_rows=LIVE_ROWS, auto_rollback=True,
        trigger=replace(served.spec.trigger, retrain_on=("performance",), min_new_rows=0,
                        performance=PerformancePolicy(max_drop=0.05, min_labelled_rows=100,
                                                      cooldown_minutes=0.0)))
    return served


def train_and_decide(served: Served, batch_id: str, frame: pd.DataFrame) -> Decision:
    """Land `frame` as a batch, ingest it, and run plan → version → train → evaluate → decide
    on it alone, as the training DAG does."""
    run = served.land_and_train(batch_id, frame)
    evaluation = evaluate.evaluate(served.svc, served.spec, run.version, run.trained,
                                   run.plan.champion, run.dag_run_id)
    return decide.decide(served.svc, served.spec, run.plan, evaluation, ReportSet(),
                         run.dag_run_id)


def score_both(served: Served, frame: pd.DataFrame, first_id: int) -> tuple[BatchRef,
                                                                            pd.DataFrame]:
    """Score rows as the scoring DAG does (claim, champion, shadow if there is a challenger);
    the batch and the labels that will arrive for it."""
    spec, svc = served.spec, served.svc
    ids = np.arange(first_id, first_id + len(frame))
    unlabelled = frame.drop(columns=[spec.target]).assign(loan_id=ids)
    unlabelled["region"] = unlabelled["region"].astype(object)
    batch = served.drop(unlabelled)
    run = f"score__{first_id}"
    scoring_batches.claim_scoring_batch(svc, spec, batch, run)
    scoring_batches.score_with_champion(svc, spec, batch, run)
    try:
        scoring_batches.score_with_challenger(svc, spec, batch, run)
    except scoring_batches.NoChallenger:
        pass
    return batch, pd.DataFrame({"loan_id": ids, spec.target: frame[spec.target].astype(int)})


def test_a_challenger_waits_for_live_rows_wins_on_them_and_is_rolled_back_when_it_fails(
        served: Served) -> None:
    svc, spec, v1 = served.svc, served.spec, served.version
    new_concept = datagen.generate_batch(served.example, 1500, seed=41, concept=1)

    held = train_and_decide(served, "concept-1", new_concept)

    assert held.decision == "pending_live", held
    assert f"waits for {LIVE_ROWS} labelled rows scored by both" in held.reason
    assert svc.store.get_champion(spec.name).model_version == v1  # type: ignore[union-attr]
    (offline,) = [d for d in svc.store.decisions(spec.name) if d.decision == "pending_live"]
    assert offline.details["judged_on"] == "holdout"
    v2 = held.candidate_version

    batch, labels = score_both(
        served, datagen.generate_batch(served.example, 600, seed=42, concept=1), 1000)
    roles = {(r.role, r.model_version) for r in svc.store.predictions(spec.name,
                                                                      batch_id=batch.batch_id)}
    assert roles == {("champion", v1), ("shadow", v2)}
    waiting = judge_live_challenger(svc, spec, "labels__0")
    assert waiting.status == "waiting" and f"0 of {LIVE_ROWS}" in waiting.reason

    ingest_label_drop(svc, spec, served.land_labels("day-1", labels), "labels__1")
    judged = judge_live_challenger(svc, spec, "labels__1")

    assert (judged.status, judged.candidate_version, judged.live_rows) == ("promote", v2, 600)
    assert svc.store.get_champion(spec.name).model_version == v2  # type: ignore[union-attr]
    live = svc.store.get_decision(spec.name, "manual__concept-1#live")
    assert live is not None and live.details["judged_on"] == "live"
    assert live.details["live_rows"] == 600 and live.details["bootstrap"] is not None
    assert live.reason.startswith("live, on 600 labelled rows both scored:")
    # the slice guardrails ran on the region of each live row, read back from the raw batch
    regions = {s["value"] for s in live.details["slices"] if s["column"] == "region"}
    assert regions == {"north", "south", "east", "west"}
    assert sum(s["rows"] for s in live.details["slices"]) == 600
    moves = len(svc.store.champion_moves(spec.name))
    assert judge_live_challenger(svc, spec, "labels__2") == judged  # once, whoever asks
    assert len(svc.store.champion_moves(spec.name)) == moves

    old, old_labels = score_both(
        served, datagen.generate_batch(served.example, 600, seed=43, concept=0), 5000)
    ingest_label_drop(svc, spec, served.land_labels("day-2", old_labels), "labels__3")
    measured = measure_performance(svc, spec)
    verdict = check_performance_policy(svc, spec, "labels__3")

    # Each labelled window got its Evidently report (here: the first measurement, so every
    # one: v1 and v2 on the live rows, v2 on the old concept's, each vs its holdout), beside
    # the predictions; measuring again with no new label builds none.
    assert sorted((r.batch_id, r.model_version, r.role) for r in measured.reports) == sorted(
        [(batch.batch_id, v1, "champion"), (batch.batch_id, v2, "shadow"),
         (old.batch_id, v2, "champion")])
    (report,) = [r for r in measured.reports if r.batch_id == old.batch_id]
    html = served.read(report.reports[f"champion-v{v2}.performance.html"]).decode()
    assert f"on the labelled rows of batch {old.batch_id}" in html and "own holdout" in html
    stored = svc.store.reports(spec.name, f"labels/{old.batch_id}/champion-v{v2}")
    assert sorted(r["format"] for r in stored) == ["html", "json"]
    assert measure_performance(svc, spec).reports == ()

    assert verdict.crossed and verdict.model_version == v2, verdict.reason
    # Against v2's own holdout (kept by its evaluate step): the window's calibration error is
    # the one its reliability bins show, beside the holdout's.
    (window,) = [w for w in svc.store.performance(spec.name, model_version=v2)
                 if w.window_kind == "batch" and w.window_key == old.batch_id]
    drift = json.loads(window.drift_json)
    holdout = load_holdout_scores(svc, spec, v2)
    assert holdout is not None and drift["prediction"]["holdout_rows"] == holdout.rows > 0
    assert drift["prediction"]["batch_rows"] == 600 and drift["prediction"]["psi"] >= 0
    bins = json.loads(window.reliability_json)
    ece = sum(b["rows"] * abs(b["mean_predicted"] - b["observed"]) for b in bins if b["rows"]) / 600
    assert drift["calibration"]["ece_window"] == pytest.approx(ece)
    assert drift["calibration"]["ece_holdout"] == pytest.approx(
        metrics.expected_calibration_error(holdout.y, holdout.p))
    assert verdict.reason.endswith(f"rolled back to v{v1}")
    assert f"at promotion (v{v2})" in verdict.reason  # judged against its live evidence
    assert svc.store.get_champion(spec.name).model_version == v1  # type: ignore[union-attr]
    last = svc.store.champion_moves(spec.name)[-1]
    assert (last["model_version"], last["actor"]) == (v1, "auto_rollback"), last
    assert check_performance_policy(svc, spec, "labels__3").crossed  # a retry: no second move
    assert len(svc.store.champion_moves(spec.name)) == moves + 1
    assert old.batch_id in verdict.window_keys
