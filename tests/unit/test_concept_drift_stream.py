"""Concept drift in the synthetic generator: `generate_batch(concept=k)` and `concept_drift_stream`.

Concept k > 0 keeps P(x) (for one seed, the very same feature columns) and changes P(y|x), so a
model of concept 0 should lose most of its skill on concept-1 rows while a model of concept 1
learns it as well as concept 0 can be learnt.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from scipy.stats import ks_2samp
from sklearn.metrics import roc_auc_score

from mlops_dev.datagen import concept_drift_stream, generate_batch
from mlops_lib.spec import MetricPolicy, PipelineSpec, load_spec
from tests.support import REPO_ROOT

pytestmark = pytest.mark.unit

ROWS = 4000
MIN_AUC = 0.75  # a fresh model of either concept, on fresh rows of that concept
MIN_LOSS = 0.15  # how much AUC a concept-0 model must lose on concept-1 rows


@pytest.fixture(scope="module")
def regression_spec(spec: PipelineSpec) -> PipelineSpec:
    return replace(spec, name="loan_amount", task="regression",
                   metric=MetricPolicy("rmse", "minimize", floor=1e9))


@pytest.fixture(scope="module")
def multiclass_spec() -> PipelineSpec:
    return load_spec(REPO_ROOT / "tests" / "fixtures" / "product_tier.yaml")


def _features(spec: PipelineSpec) -> list[str]:
    return [f.name for f in spec.features]


def _fit(spec: PipelineSpec, df: pd.DataFrame) -> xgb.XGBClassifier:
    model = xgb.XGBClassifier(n_estimators=50, max_depth=3, random_state=0, n_jobs=2,
                              tree_method="hist", enable_categorical=True)
    model.fit(df[_features(spec)], df[spec.target])
    return model


def _auc(spec: PipelineSpec, model: xgb.XGBClassifier, df: pd.DataFrame) -> float:
    return float(roc_auc_score(df[spec.target], model.predict_proba(df[_features(spec)])[:, 1]))


# --- concept 0 is today's generator ------------------------------------------------------------


@pytest.mark.parametrize("drift", [0.0, 0.5])
def test_concept_zero_is_the_default(spec: PipelineSpec, drift: float) -> None:
    pd.testing.assert_frame_equal(generate_batch(spec, 500, seed=7, drift=drift, concept=0),
                                  generate_batch(spec, 500, seed=7, drift=drift))


def test_concept_zero_frames_are_those_from_before_concept_drift(spec: PipelineSpec) -> None:
    # Figures of the frame generate_batch gave before it had a `concept` argument.
    df = generate_batch(spec, 1500, seed=1)
    labels = df[spec.target].to_numpy(dtype=np.int8).tobytes()
    assert hashlib.sha256(labels).hexdigest()[:16] == "09028473839825bd"
    assert int(df[spec.target].sum()) == 388
    assert round(float(df["income"].mean()), 4) == 1926.038
    assert df["region"].value_counts().sort_index().tolist() == [352, 528, 427, 193]
    assert df["age"].tolist()[:5] == [26, 20, 23, 13, 14]


def test_bad_concept(spec: PipelineSpec) -> None:
    with pytest.raises(ValueError, match="concept"):
        generate_batch(spec, 10, seed=1, concept=-1)


# --- P(x) stays, P(y|x) moves ------------------------------------------------------------------


def test_concept_changes_only_the_target(spec: PipelineSpec) -> None:
    before = generate_batch(spec, ROWS, seed=3)
    after = generate_batch(spec, ROWS, seed=3, concept=1)
    features = _features(spec)
    pd.testing.assert_frame_equal(before[features], after[features])
    changed = float((before[spec.target] != after[spec.target]).mean())
    assert changed > 0.15, changed  # ~0.3 for uncorrelated label functions at a ~25% base rate
    # The base rate is calibrated as for concept 0.
    assert abs(after[spec.target].mean() - before[spec.target].mean()) < 0.05


def test_concepts_are_deterministic_and_distinct(spec: PipelineSpec) -> None:
    pd.testing.assert_frame_equal(generate_batch(spec, 300, seed=5, concept=2),
                                  generate_batch(spec, 300, seed=5, concept=2))
    one = generate_batch(spec, ROWS, seed=5, concept=1)[spec.target]
    two = generate_batch(spec, ROWS, seed=5, concept=2)[spec.target]
    assert (one != two).mean() > 0.15


def test_regression_concept_keeps_features_and_scale(regression_spec: PipelineSpec) -> None:
    before = generate_batch(regression_spec, ROWS, seed=3)
    after = generate_batch(regression_spec, ROWS, seed=3, concept=1)
    features = _features(regression_spec)
    pd.testing.assert_frame_equal(before[features], after[features])
    y0, y1 = before[regression_spec.target], after[regression_spec.target]
    # Both targets share the noise draw (correlation 0.2 from it alone), not the signal.
    assert np.corrcoef(y0, y1)[0, 1] < 0.4
    assert abs(y1.mean() - y0.mean()) < 0.1 * y0.std()
    assert 0.9 < y1.std() / y0.std() < 1.1


def test_multiclass_concept_keeps_features_and_shares(multiclass_spec: PipelineSpec) -> None:
    before = generate_batch(multiclass_spec, ROWS, seed=3)
    after = generate_batch(multiclass_spec, ROWS, seed=3, concept=1)
    features = _features(multiclass_spec)
    pd.testing.assert_frame_equal(before[features], after[features])
    y0, y1 = before[multiclass_spec.target], after[multiclass_spec.target]
    assert (y0 != y1).mean() > 0.3
    shares0 = y0.value_counts(normalize=True)
    shares1 = y1.value_counts(normalize=True).reindex(shares0.index, fill_value=0.0)
    assert (shares1 - shares0).abs().max() < 0.05


def test_concept_zero_model_loses_its_skill_on_concept_one(spec: PipelineSpec) -> None:
    old = _fit(spec, generate_batch(spec, ROWS, seed=1))
    new = _fit(spec, generate_batch(spec, ROWS, seed=1, concept=1))
    on_old = _auc(spec, old, generate_batch(spec, ROWS, seed=2))
    on_new = _auc(spec, old, generate_batch(spec, ROWS, seed=2, concept=1))
    relearnt = _auc(spec, new, generate_batch(spec, ROWS, seed=2, concept=1))
    assert on_old >= MIN_AUC, on_old
    assert on_new <= on_old - MIN_LOSS, (on_old, on_new)
    assert relearnt >= MIN_AUC, relearnt


# --- the stream --------------------------------------------------------------------------------


def test_stream_switches_concept_at_change_at(spec: PipelineSpec) -> None:
    stream = concept_drift_stream(spec, 4, 200, change_at=2, seed=10)
    assert len(stream) == 4
    for i, frame in enumerate(stream):
        expected = generate_batch(spec, 200, seed=10 + i, concept=int(i >= 2))
        pd.testing.assert_frame_equal(frame, expected)
    assert concept_drift_stream(spec, 0, 200, change_at=0, seed=10) == []
    with pytest.raises(ValueError, match="batches"):
        concept_drift_stream(spec, -1, 200, change_at=0, seed=10)


def test_stream_features_do_not_drift_across_the_change(spec: PipelineSpec) -> None:
    stream = concept_drift_stream(spec, 2, ROWS // 2, change_at=1, seed=20)
    pre, post = stream
    for f in spec.features:
        if f.dtype not in ("float", "int"):
            continue
        p = ks_2samp(pre[f.name], post[f.name]).pvalue
        assert p > 0.01, (f.name, p)


def test_stream_model_loses_its_skill_at_the_change(spec: PipelineSpec) -> None:
    half = ROWS // 2
    stream = concept_drift_stream(spec, 6, half, change_at=3, seed=30)
    old = _fit(spec, pd.concat(stream[:2], ignore_index=True))
    new = _fit(spec, pd.concat(stream[3:5], ignore_index=True))
    on_old = _auc(spec, old, stream[2])  # the last batch before the change
    on_new = _auc(spec, old, stream[5])
    relearnt = _auc(spec, new, stream[5])
    assert on_old >= MIN_AUC, on_old
    assert on_new <= on_old - MIN_LOSS, (on_old, on_new)
    assert relearnt >= MIN_AUC, relearnt
