"""The feedback loop on the real local stack, through a concept drift: the same feature
distribution before and after a change, another labelling function after it
(`datagen.generate_batch(concept=1)`).

- the first model is trained and promoted; it scores a batch; the labels of that batch arrive
  later and its realized ROC AUC holds: the performance policy stays quiet;
- after the change, the champion scores a batch whose inputs look the same: the covariate drift
  monitor stays quiet (on the labelled rows, which it measures as any accepted batch);
- the labels of that batch arrive: its realized ROC AUC drops, and the performance trigger
  fires on that very window (within one labelled window of the change), with the numbers in
  its provenance;
- the training run it starts trains on the labelled rows since the drop began and says why it
  ran; the challenger is promoted;
- on the next labelled window, the new champion's realized ROC AUC is within 0.05 of a model
  trained offline on as many rows of the new concept.

Self-sufficient: its own pipeline (tests/e2e/pipelines.py LOOP) on the shared moto stack.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import pytest
import xgboost as xgb

from mlops_dev.datagen import generate_batch
from mlops_dev.demo import drop_batch, wait_for_batch, wait_for_predictions
from mlops_dev.loop import (
    RowsToScore,
    drop_labels,
    drop_rows_to_score,
    spec_of,
    wait_for_label_drop,
    wait_for_window,
)
from mlops_lib.evaluation import metrics
from mlops_lib.steps.labelled_rows import labelled_batch_id
from mlops_lib.stores.labels import PerformanceWindow
from tests.e2e.live import LiveStack
from tests.e2e.pipelines import LOOP

pytestmark = pytest.mark.e2e
SHARED_STACK = "moto"  # shared with test_events and test_bad_inputs

TIMEOUT = 420
LABELS_DAG = f"ct_{LOOP}_labels"
TOLERANCE = 0.05  # of the recovered champion's ROC AUC vs a model of the new concept
AFTER_ROWS = 1500


def test_a_concept_drift_is_seen_by_labels_alone_and_retrained_away(stack: LiveStack) -> None:
    store, settings = stack.store, stack.settings
    first = drop_batch(LOOP, rows=2000, seed=601, settings=settings)
    outcome = wait_for_batch(store, LOOP, first.batch_id, timeout=TIMEOUT, api=stack.api)
    assert outcome.decision is not None and outcome.decision.promote, outcome
    v1, promised = outcome.decision.candidate_version, outcome.decision.candidate_value

    before = score_and_label(stack, rows=1000, seed=602, first_id=0, concept=0)
    assert (before.window.model_version, before.window.rows_labelled) == (v1, 1000)
    assert before.window.ci_high is not None and before.window.ci_high >= promised - 0.05
    assert before.states["check_performance_policy"] == "skipped", before.states
    assert store.performance_crossings(LOOP) == []

    after = score_and_label(stack, rows=AFTER_ROWS, seed=603, first_id=100_000, concept=1)
    assert after.window.model_version == v1 and after.window.value is not None
    assert after.window.value < promised - 0.2  # the concept changed; the inputs did not
    assert after.states["check_performance_policy"] == "success", after.states
    (crossing,) = store.performance_crossings(LOOP)
    assert (crossing["window_key"], crossing["model_version"]) == (after.batch_id, v1)
    assert crossing["reason"].startswith(f"fired on performance: roc_auc {after.window.value:.4g}")
    assert f"vs {promised:.4g} at promotion (v{v1})" in crossing["reason"]

    # The covariate drift monitor saw both labelled batches, and nothing to retrain on.
    measured = {b.batch_id: b for b in store.drift_history(LOOP)}
    for labelled in (before.labelled_batch, after.labelled_batch):
        assert measured[labelled].share_drifted < 0.5, measured[labelled]
    assert [c for c in store.drift_crossings(LOOP)] == []

    retrained = wait_for_batch(store, LOOP, after.labelled_batch, timeout=TIMEOUT, api=stack.api)
    assert retrained.decision is not None and retrained.decision.promote, retrained
    run = store.get_training_run(LOOP, retrained.dag_run_id)
    assert run is not None and run["trigger"]["type"] == "performance"
    assert run["trigger"]["batch_ids"] == [after.labelled_batch]  # not the old concept's rows
    assert run["trigger"]["performance"][0]["reason"] == crossing["reason"]
    note = stack.api.dag_run(f"ct_{LOOP}", retrained.dag_run_id).get("note") or ""
    assert note.startswith("fired on performance: roc_auc"), note
    v2 = retrained.decision.candidate_version

    recovered = score_and_label(stack, rows=1000, seed=604, first_id=200_000, concept=1)
    assert recovered.window.model_version == v2 and recovered.window.value is not None
    reference = reference_auc(stack, rows=AFTER_ROWS, test_seed=604)
    assert recovered.window.value >= reference - TOLERANCE, (recovered.window, reference)


class Scored:
    """A scored batch whose labels arrived: its window and the labels run's task states."""

    def __init__(self, rows: RowsToScore, window: PerformanceWindow, drop_id: str,
                 states: dict[str, str]) -> None:
        self.batch_id = rows.batch.batch_id
        self.window, self.states = window, states
        self.labelled_batch = labelled_batch_id(drop_id)


def score_and_label(stack: LiveStack, *, rows: int, seed: int, first_id: int,
                    concept: int) -> Scored:
    """Drop rows to score, wait for the champion's predictions, drop their labels, and wait
    for the labels run that takes them to finish."""
    dropped = drop_rows_to_score(LOOP, rows=rows, seed=seed, first_id=first_id,
                                 concept=concept, settings=stack.settings)
    wait_for_predictions(stack.store, LOOP, dropped.batch.batch_id, timeout=TIMEOUT)
    drop = drop_labels(LOOP, dropped.outcomes, settings=stack.settings)
    claim = wait_for_label_drop(stack.store, LOOP, drop.batch_id, timeout=TIMEOUT)
    states = finished(stack, LABELS_DAG, claim.dag_run_id)
    window = wait_for_window(stack.store, LOOP, dropped.batch.batch_id, timeout=60,
                             labelled=rows)
    return Scored(dropped, window, drop.batch_id, states)


def finished(stack: LiveStack, dag_id: str, run_id: str) -> dict[str, str]:
    """The run's task states once none is left to run."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        states = {t["task_id"]: t["state"] for t in stack.api.task_instances(dag_id, run_id)}
        done = states and all(s in ("success", "failed", "skipped", "upstream_failed")
                              for s in states.values())
        if done or time.monotonic() > deadline:
            return states
        time.sleep(2)


def reference_auc(stack: LiveStack, *, rows: int, test_seed: int) -> float:
    """A model of the new concept trained offline on `rows` fresh rows with the spec's
    settings, scored on the rows of `test_seed`."""
    spec = spec_of(LOOP, stack.settings)
    train = generate_batch(spec, rows, seed=9_999, concept=1)
    test = generate_batch(spec, 1000, seed=test_seed, concept=1)
    params: dict[str, Any] = dict(spec.training.params)
    model = xgb.XGBClassifier(n_estimators=spec.training.num_boost_round,
                              random_state=spec.training.seed, enable_categorical=True,
                              tree_method="hist", **params)
    model.fit(_features(train, spec.target), train[spec.target])
    scores = model.predict_proba(_features(test, spec.target))[:, 1]
    return metrics.metric("roc_auc", test[spec.target].to_numpy(), scores)


def _features(frame: pd.DataFrame, target: str) -> pd.DataFrame:
    x = frame.drop(columns=[target])
    return x.assign(region=x["region"].astype("category"))
