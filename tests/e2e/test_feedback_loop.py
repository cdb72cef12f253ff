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

The story is the loop demo's (`make demo-loop`: `mlops_dev.loop.tell_loop_story`), on its own
pipeline (pipelines/credit_loop.yaml, polling every second) on the shared moto stack.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
import xgboost as xgb

from mlops_dev.datagen import generate_batch
from mlops_dev.loop import spec_of, tell_loop_story
from mlops_lib.evaluation import metrics
from tests.e2e.live import LiveStack
from tests.e2e.pipelines import LOOP

pytestmark = pytest.mark.e2e
SHARED_STACK = "moto"  # shared with test_events and test_bad_inputs

TIMEOUT = 420
TOLERANCE = 0.05  # of the recovered champion's ROC AUC vs a model of the new concept


def test_a_concept_drift_is_seen_by_labels_alone_and_retrained_away(stack: LiveStack) -> None:
    store = stack.store
    story = tell_loop_story(store, stack.api, stack.settings, print, pipeline=LOOP,
                            timeout=TIMEOUT)
    first = story.first.decision
    assert first is not None and first.promote, story.first
    v1, promised = first.candidate_version, first.candidate_value

    after = story.after
    assert after.window.model_version == v1 and after.window.value is not None
    assert after.window.value < promised - 0.2  # the concept changed; the inputs did not
    assert after.states["check_performance_policy"] == "success", after.states
    crossing = store.performance_crossings(LOOP)[0]
    assert (crossing["window_key"], crossing["model_version"]) == (after.batch_id, v1)
    assert crossing["reason"].startswith(f"fired on performance: roc_auc {after.window.value:.4g}")
    assert f"vs {promised:.4g} at promotion (v{v1})" in crossing["reason"]
    assert store.champion_moves(LOOP)[0]["model_version"] == v1

    # The covariate drift monitor saw the labelled rows, and nothing to retrain on.
    measured = {b.batch_id: b for b in store.drift_history(LOOP)}
    assert measured[after.labelled_batch].share_drifted < 0.5, measured[after.labelled_batch]
    assert store.drift_crossings(LOOP) == []

    retrained = story.retrained
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

    assert story.live.states["judge_live_challenger"] == "success", story.live.states
    judged = store.get_decision(LOOP, f"{retrained.dag_run_id}#live")
    assert judged is not None and judged.decision == "promote", judged
    assert (judged.details["judged_on"], judged.details["live_rows"]) == ("live", 1000)
    promoted = [m for m in store.champion_moves(LOOP) if m["model_version"] == v2]
    assert promoted and promoted[0]["dag_run_id"] == judged.dag_run_id

    recovered = story.recovered.window
    assert recovered.model_version == v2 and recovered.value is not None
    reference = reference_auc(stack, rows=1500, test_seed=605)
    assert recovered.value >= reference - TOLERANCE, (recovered, reference)

    old = story.old
    assert old.window.model_version == v2 and old.states["check_performance_policy"] == \
        "success", old.states
    assert store.get_champion(LOOP).model_version == v1  # type: ignore[union-attr]
    back = store.champion_moves(LOOP)[-1]
    assert (back["model_version"], back["actor"]) == (v1, "auto_rollback"), back
    assert f"(v{v2})" in back["reason"]


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
