"""The feedback loop on the real local stack, through a concept drift: the same feature
distribution before and after a change, another labelling function after it
(`datagen.generate_batch(concept=1)`). The pipeline retrains on drift (the first model) and on
performance drops, scores the challenger in shadow, promotes only on live rows
(`promotion.require_live_rows`) and rolls a failing champion back (`auto_rollback`).

- the first model is trained and promoted;
- after the change it scores a batch whose inputs look the same: the covariate drift monitor
  stays quiet (on the labelled rows, which it measures as any accepted batch);
- the labels of that batch arrive: its realized ROC AUC drops far below the value at promotion,
  and the performance trigger fires on that very window (within one labelled window of the
  change), with the numbers in its provenance; there is no older champion to roll back to;
- the training run it starts trains on the labelled rows since the drop began and says why it
  ran; the gate would promote, so the decision waits for live rows (`pending_live`);
- the challenger scores the next batch in shadow; its labels make the live rows, the labels run
  judges it on them and promotes it, the decision record saying `judged_on: live`;
- on the next labelled window, the new champion's realized ROC AUC is within 0.05 of a model
  trained offline on as many rows of the new concept;
- rows of the old concept make it fail its performance policy: it is rolled back, audited.

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
from mlops_lib.stores.predictions import Role
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

    after = score_and_label(stack, rows=AFTER_ROWS, seed=603, first_id=100_000, concept=1)
    assert after.window.model_version == v1 and after.window.value is not None
    assert after.window.value < promised - 0.2  # the concept changed; the inputs did not
    assert after.states["check_performance_policy"] == "success", after.states
    (crossing,) = store.performance_crossings(LOOP)
    assert (crossing["window_key"], crossing["model_version"]) == (after.batch_id, v1)
    assert crossing["reason"].startswith(f"fired on performance: roc_auc {after.window.value:.4g}")
    assert f"vs {promised:.4g} at promotion (v{v1})" in crossing["reason"]
    assert store.get_champion(LOOP).model_version == v1  # type: ignore[union-attr]  # no older

    # The covariate drift monitor saw the labelled rows, and nothing to retrain on.
    measured = {b.batch_id: b for b in store.drift_history(LOOP)}
    assert measured[after.labelled_batch].share_drifted < 0.5, measured[after.labelled_batch]
    assert store.drift_crossings(LOOP) == []

    retrained = wait_for_batch(store, LOOP, after.labelled_batch, timeout=TIMEOUT, api=stack.api)
    assert retrained.decision is not None, retrained
    assert retrained.decision.decision == "pending_live", retrained.decision
    assert retrained.decision.details["judged_on"] == "holdout"
    run = store.get_training_run(LOOP, retrained.dag_run_id)
    assert run is not None and run["trigger"]["type"] == "performance"
    assert run["trigger"]["batch_ids"] == [after.labelled_batch]  # not the old concept's rows
    assert run["trigger"]["performance"][0]["reason"].startswith(crossing["reason"])
    note = stack.api.dag_run(f"ct_{LOOP}", retrained.dag_run_id).get("note") or ""
    assert note.startswith("fired on performance: roc_auc"), note
    v2 = retrained.decision.candidate_version

    live = score_and_label(stack, rows=1000, seed=604, first_id=200_000, concept=1,
                           roles=("champion", "shadow"))
    assert live.states["judge_live_challenger"] == "success", live.states
    judged = store.get_decision(LOOP, f"{retrained.dag_run_id}#live")
    assert judged is not None and judged.decision == "promote", judged
    assert (judged.details["judged_on"], judged.details["live_rows"]) == ("live", 1000)
    assert store.get_champion(LOOP).model_version == v2  # type: ignore[union-attr]

    recovered = score_and_label(stack, rows=1000, seed=605, first_id=300_000, concept=1)
    assert recovered.window.model_version == v2 and recovered.window.value is not None
    reference = reference_auc(stack, rows=AFTER_ROWS, test_seed=605)
    assert recovered.window.value >= reference - TOLERANCE, (recovered.window, reference)

    old = score_and_label(stack, rows=1000, seed=606, first_id=400_000, concept=0)
    assert old.window.model_version == v2 and old.states["check_performance_policy"] == \
        "success", old.states
    assert store.get_champion(LOOP).model_version == v1  # type: ignore[union-attr]
    back = store.champion_moves(LOOP)[-1]
    assert (back["model_version"], back["actor"]) == (v1, "auto_rollback"), back
    assert f"(v{v2})" in back["reason"]


class Scored:
    """A scored batch whose labels arrived: its window and the labels run's task states."""

    def __init__(self, rows: RowsToScore, window: PerformanceWindow, drop_id: str,
                 states: dict[str, str]) -> None:
        self.batch_id = rows.batch.batch_id
        self.window, self.states = window, states
        self.labelled_batch = labelled_batch_id(drop_id)


def score_and_label(stack: LiveStack, *, rows: int, seed: int, first_id: int, concept: int,
                    roles: tuple[Role, ...] = ("champion",)) -> Scored:
    """Drop rows to score, wait for their predictions (by each of `roles`), drop their labels,
    and wait for the labels run that takes them to finish."""
    dropped = drop_rows_to_score(LOOP, rows=rows, seed=seed, first_id=first_id,
                                 concept=concept, settings=stack.settings)
    wait_for_predictions(stack.store, LOOP, dropped.batch.batch_id, timeout=TIMEOUT,
                         roles=roles)
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
