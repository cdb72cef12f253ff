"""The promotion gate (evaluation.gate) and the metrics it reads (evaluation.metrics).

Everything here runs on small synthetic arrays: no services, no models. The synthetic concept is
a latent score `s`; labels are drawn from sigmoid(2 s) and a "model" predicts sigmoid(s + noise),
so less noise is a better model.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import replace

import numpy as np
import pytest
from sklearn import metrics as skm

from mlops_lib.evaluation import metrics
from mlops_lib.evaluation.bootstrap import paired_bootstrap
from mlops_lib.evaluation.gate import Decision, decide
from mlops_lib.evaluation.slices import quantile_bins, slice_columns
from mlops_lib.spec import MetricPolicy, SliceSpec

pytestmark = pytest.mark.unit

AUC = MetricPolicy("roc_auc", "maximize", floor=0.70, bootstrap_samples=500, bootstrap_seed=1)
RMSE = MetricPolicy("rmse", "minimize", floor=10.0, bootstrap_samples=500, bootstrap_seed=1)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class World:
    """A binary concept: labels and a way to draw models of a given noise on the same rows."""

    def __init__(self, n: int, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.s = self.rng.standard_normal(n)
        self.y = (self.rng.random(n) < sigmoid(2.0 * self.s)).astype("int64")

    def model(self, noise: float) -> np.ndarray:
        return sigmoid(self.s + noise * self.rng.standard_normal(len(self.s)))


# --- metrics against scikit-learn --------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_binary_metrics_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 40)
    p = np.round(rng.random(40), 1)  # rounded: plenty of tied scores
    m = metrics.compute(y, p, "binary_classification", threshold=0.5)
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
    assert m["pr_auc"] == pytest.approx(skm.average_precision_score(y, p), abs=1e-12)
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, np.clip(p, 1e-7, 1 - 1e-7)))
    assert m["brier"] == pytest.approx(skm.brier_score_loss(y, p), abs=1e-12)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, p >= 0.5), abs=1e-12)
    assert m["f1"] == pytest.approx(skm.f1_score(y, p >= 0.5), abs=1e-12)
    at_03 = metrics.compute(y, p, "binary_classification", threshold=0.3)
    assert at_03["f1"] == pytest.approx(skm.f1_score(y, p >= 0.3), abs=1e-12)
    assert at_03["accuracy"] == pytest.approx(skm.accuracy_score(y, p >= 0.3), abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_regression_metrics_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = 1e5 + 3e4 * rng.standard_normal(30)  # price-sized targets: no cancellation in R²
    p = y + 1e4 * rng.standard_normal(30)
    m = metrics.compute(y, p, "regression")
    assert m["rmse"] == pytest.approx(math.sqrt(skm.mean_squared_error(y, p)), rel=1e-12)
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y, p), rel=1e-12)
    assert m["r2"] == pytest.approx(skm.r2_score(y, p), rel=1e-9)


def test_bootstrap_weights_equal_scoring_the_resampled_rows() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 60).astype(float)
    p = np.round(rng.random(60), 2)
    w = metrics.bootstrap_weights(60, 4, np.random.default_rng(9))
    assert w.shape == (4, 60) and (w.sum(axis=1) == 60).all()
    for name in metrics.BINARY_METRICS:
        batch = metrics.weighted(name, y, p, w)
        for k in range(4):
            rows = np.repeat(np.arange(60), w[k].astype(int))
            assert batch[k] == pytest.approx(metrics.metric(name, y[rows], p[rows]), abs=1e-12)
    yr, pr = rng.standard_normal(60), rng.standard_normal(60)
    for name in metrics.REGRESSION_METRICS:
        rows = np.repeat(np.arange(60), w[0].astype(int))
        assert metrics.weighted(name, yr, pr, w)[0] == pytest.approx(
            metrics.metric(name, yr[rows], pr[rows]), abs=1e-12)


def test_undefined_metrics_are_nan() -> None:
    one_class = metrics.compute(np.ones(5), np.linspace(0.1, 0.9, 5), "binary_classification")
    assert math.isnan(one_class["roc_auc"])
    assert one_class["pr_auc"] == 1.0  # all positives: average precision is defined
    assert math.isfinite(one_class["log_loss"])
    assert math.isnan(metrics.compute(np.zeros(4), np.full(4, 0.2), "binary_classification")
                      ["pr_auc"])
    assert math.isnan(metrics.compute(np.full(5, 2.0), np.arange(5.0), "regression")["r2"])
    broken = metrics.compute(np.array([0, 1, 0]), np.array([0.1, np.nan, 0.3]),
                             "binary_classification")
    assert all(math.isnan(v) for v in broken.values())
    assert all(math.isnan(v) for v in metrics.compute(np.array([]), np.array([]),
                                                      "regression").values())
    with pytest.raises(ValueError, match="rows"):
        metrics.compute(np.zeros(3), np.zeros(4), "regression")


def test_ece_by_hand() -> None:
    # Bin [0.2, 0.3): predicted 0.2 twice, observed 1 of 2 -> |1 - 0.4| = 0.6.
    # Bin [0.9, 1.0]: predicted 1.0 and 0.9, observed 2 of 2 -> |2 - 1.9| = 0.1. Over 4 rows.
    y = np.array([0, 1, 1, 1])
    p = np.array([0.2, 0.2, 1.0, 0.9])
    assert metrics.expected_calibration_error(y, p) == pytest.approx(0.7 / 4)
    assert metrics.compute(y, p, "binary_classification")["ece"] == pytest.approx(0.7 / 4)


def test_ece_of_calibrated_and_miscalibrated_predictors() -> None:
    rng = np.random.default_rng(0)
    p = rng.random(100_000)
    y = (rng.random(100_000) < p).astype(int)  # y ~ Bernoulli(p): p is calibrated
    calibrated = metrics.expected_calibration_error(y, p)
    overconfident = metrics.expected_calibration_error(y, np.clip(1.6 * (p - 0.5) + 0.5, 0, 1))
    shifted = metrics.expected_calibration_error(y, np.clip(p + 0.15, 0, 1))
    assert calibrated < 0.01
    assert overconfident > 0.08
    assert shifted > 0.1
    # A constant prediction equal to the base rate is calibrated, however useless.
    assert metrics.expected_calibration_error(y, np.full(len(y), y.mean())) < 1e-12


# --- the first model ---------------------------------------------------------------------------


def test_first_model_above_the_floor_is_promoted() -> None:
    w = World(2000)
    p = w.model(0.5)
    d = decide(AUC, w.y, p, None)
    assert d.promote and d.mode == "first_model"
    assert "first model" in d.reason and "clears the floor 0.7" in d.reason
    assert d.bootstrap is None and d.baseline_value is None and d.baseline_metrics is None
    assert d.candidate_value == pytest.approx(skm.roc_auc_score(w.y, p), abs=1e-12)
    assert set(d.candidate_metrics) == set(metrics.BINARY_METRICS)
    assert d.holdout_rows == 2000


def test_first_model_below_the_floor_is_kept_out() -> None:
    w = World(2000)
    d = decide(AUC, w.y, w.model(4.0), None)  # very noisy: AUC ~ 0.6
    assert d.candidate_value < 0.7
    assert not d.promote
    assert "does not clear the floor 0.7" in d.reason


def test_first_model_at_the_floor_is_promoted() -> None:
    y = np.array([0, 0, 1, 1, 0, 1])
    p = np.array([0.1, 0.6, 0.5, 0.7, 0.3, 0.2])  # AUC 5/9
    floor = metrics.metric("roc_auc", y, p)
    assert decide(replace(AUC, floor=floor), y, p, None).promote


# --- challenger vs champion: the decision table ------------------------------------------------


def test_clearly_better_challenger_is_promoted() -> None:
    w = World(4000)
    champion, challenger = w.model(1.2), w.model(0.4)
    d = decide(AUC, w.y, challenger, champion)
    assert d.promote and d.mode == "superiority"
    b = d.bootstrap
    assert b is not None
    assert b.improvement_low > 0 and b.ci_low <= b.diff <= b.ci_high
    assert b.diff == pytest.approx(d.candidate_value - d.baseline_value)
    assert "lower bound > min_improvement 0.0" in d.reason
    assert d.baseline_metrics is not None and set(d.baseline_metrics) == set(d.candidate_metrics)


def test_worse_challenger_is_kept_out() -> None:
    w = World(4000)
    d = decide(AUC, w.y, w.model(1.2), w.model(0.4))
    assert not d.promote
    assert d.bootstrap is not None and d.bootstrap.improvement_high < 0
    assert "not above min_improvement" in d.reason and "incumbent stays" in d.reason


def test_identical_predictions_tie_goes_to_the_incumbent() -> None:
    w = World(2000)
    p = w.model(0.5)
    d = decide(AUC, w.y, p, p.copy())
    assert not d.promote
    assert d.bootstrap is not None
    assert d.bootstrap.ci_low == d.bootstrap.ci_high == 0.0


def test_tie_within_epsilon_is_kept_out() -> None:
    w = World(3000)
    champion = w.model(0.6)
    challenger = np.clip(champion + 1e-4 * w.rng.standard_normal(len(champion)), 0, 1)
    d = decide(AUC, w.y, challenger, champion)
    assert abs(d.candidate_value - d.baseline_value) < 1e-3
    assert not d.promote


def test_better_by_less_than_the_ci_width_is_kept_out() -> None:
    # A small holdout: the challenger is better on the point estimate, but the interval of the
    # difference straddles zero. The old point-estimate rule would have promoted it.
    w = World(300, seed=4)
    champion, challenger = w.model(0.8), w.model(0.7)
    d = decide(AUC, w.y, challenger, champion)
    b = d.bootstrap
    assert b is not None
    assert d.candidate_value > d.baseline_value
    assert AUC.better(d.candidate_value, d.baseline_value)  # the old rule: promote
    assert b.improvement_low <= 0 < b.improvement < b.improvement_high - b.improvement_low
    assert not d.promote
    assert "lower bound not above min_improvement" in d.reason


def test_min_improvement_applies_to_the_lower_bound() -> None:
    w = World(4000)
    champion, challenger = w.model(1.2), w.model(0.4)
    assert decide(AUC, w.y, challenger, champion).promote
    strict = replace(AUC, min_improvement=0.2)
    d = decide(strict, w.y, challenger, champion)
    assert not d.promote and "min_improvement 0.2" in d.reason


def test_better_overall_but_worse_on_a_slice_is_kept_out() -> None:
    w = World(5000, seed=2)
    region = np.where(np.arange(5000) < 4000, "north", "south")
    champion = w.model(1.0)
    good, bad = w.model(0.3), w.model(2.5)
    challenger = np.where(region == "north", good, bad)  # much better up north, worse down south
    policy = replace(AUC, slices=(SliceSpec("region"),), slice_tolerance=0.02, min_slice_rows=100)
    d = decide(policy, w.y, challenger, champion, slices={"region": region})
    assert d.bootstrap is not None and d.bootstrap.improvement_low > 0  # better overall
    assert not d.promote
    assert len(d.reasons) == 1 and "slice region=south" in d.reason
    assert "more than the tolerance 0.02" in d.reason
    by_value = {s.value: s for s in d.slices}
    assert by_value["north"].status == "ok" and by_value["north"].improvement > 0
    south = by_value["south"]
    assert south.status == "violated" and south.rows == 1000
    assert south.diff == pytest.approx(south.challenger - south.champion)
    assert south.improvement < -0.02
    assert d.violated_slices == (south,)
    # A looser tolerance lets it through.
    assert decide(replace(policy, slice_tolerance=0.5), w.y, challenger, champion,
                  slices={"region": region}).promote


def test_small_and_undefined_slices_are_reported_but_not_judged() -> None:
    w = World(3000, seed=5)
    champion, challenger = w.model(1.2), w.model(0.4)
    label = np.full(3000, "big", dtype=object)
    label[:50] = "tiny"
    challenger = challenger.copy()
    challenger[:50] = 1.0 - challenger[:50]  # terrible on the tiny slice
    one_class = np.flatnonzero(w.y == 1)[-150:]
    label[one_class] = "positives_only"
    d = decide(AUC, w.y, challenger, champion, slices={"segment": label})
    status = {s.value: s.status for s in d.slices}
    assert status == {"big": "ok", "tiny": "too_few_rows", "positives_only": "undefined"}
    assert d.promote
    assert "no slice guardrail violated (1 of 3 slices" in d.reason


def test_slices_on_a_minimize_metric() -> None:
    rng = np.random.default_rng(8)
    y = 5.0 + rng.standard_normal(2000)
    group = np.where(np.arange(2000) % 4 == 0, "a", "b")
    champion = y + 1.0 * rng.standard_normal(2000)
    challenger = np.where(group == "b", y + 0.5 * rng.standard_normal(2000),
                          y + 1.5 * rng.standard_normal(2000))
    policy = replace(RMSE, slice_tolerance=0.1)
    d = decide(policy, y, challenger, champion, slices={"group": group})
    a = next(s for s in d.slices if s.value == "a")
    assert a.challenger > a.champion and a.improvement == pytest.approx(a.champion - a.challenger)
    assert a.status == "violated" and not d.promote


def test_champion_artifact_missing_fails_closed() -> None:
    w = World(2000)
    d = decide(AUC, w.y, w.model(0.2), "MlflowException: RESOURCE_DOES_NOT_EXIST")
    assert not d.promote
    assert "RESOURCE_DOES_NOT_EXIST" in d.reason and "could not be evaluated" in d.reason
    assert d.baseline_error == "MlflowException: RESOURCE_DOES_NOT_EXIST"
    assert d.mode == "superiority" and d.bootstrap is None and d.baseline_metrics is None


def test_champion_with_undefined_metric_fails_closed() -> None:
    w = World(500)
    champion = w.model(1.0)
    champion[3] = np.nan
    d = decide(AUC, w.y, w.model(0.3), champion)
    assert not d.promote and "champion roc_auc is undefined" in d.reason


def test_non_finite_challenger_is_never_promoted() -> None:
    w = World(500)
    challenger = w.model(0.3)
    challenger[0] = np.inf
    for champion in (None, w.model(1.0)):
        d = decide(AUC, w.y, challenger, champion)
        assert not d.promote and "not a finite number" in d.reason


# --- degenerate challengers --------------------------------------------------------------------


def test_constant_predictor_is_kept_out() -> None:
    w = World(1000)
    constant = np.full(1000, w.y.mean())
    for champion in (None, w.model(1.0)):
        d = decide(replace(AUC, floor=0.0), w.y, constant, champion)
        assert not d.promote
        assert "predicts a constant" in d.reason


def test_suspiciously_perfect_challenger_is_kept_out() -> None:
    w = World(1000)
    leaked = np.where(w.y == 1, 0.99, 0.01)  # the target itself, thinly disguised
    d = decide(AUC, w.y, leaked, None)
    assert d.candidate_value == 1.0
    assert not d.promote and "leakage ceiling 0.999" in d.reason
    assert not decide(AUC, w.y, leaked, w.model(1.0)).promote
    assert decide(replace(AUC, leakage_ceiling=None), w.y, leaked, None).promote
    assert decide(replace(AUC, leakage_ceiling=1.01), w.y, leaked, None).promote


def test_regression_leakage_ceiling_reads_r2() -> None:
    rng = np.random.default_rng(0)
    y = rng.standard_normal(500)
    d = decide(RMSE, y, y + 1e-3 * rng.standard_normal(500), None)
    assert d.candidate_metrics["r2"] > 0.999
    assert not d.promote and "r2=" in d.reason


def test_every_failing_check_is_a_reason() -> None:
    w = World(1000)
    d = decide(replace(AUC, floor=0.9), w.y, np.full(1000, 0.3), "timeout")
    assert not d.promote
    assert len(d.reasons) == 3  # constant, below the floor, champion unavailable


# --- a metric to minimize ----------------------------------------------------------------------


def test_rmse_lower_challenger_is_promoted_and_higher_is_kept() -> None:
    rng = np.random.default_rng(1)
    y = 3.0 * rng.standard_normal(3000)
    good, poor = y + 1.0 * rng.standard_normal(3000), y + 1.5 * rng.standard_normal(3000)
    d = decide(RMSE, y, good, poor)
    b = d.bootstrap
    assert d.promote and b is not None
    assert b.diff < 0 and b.improvement == pytest.approx(-b.diff)  # lower rmse is better
    assert b.improvement_low == pytest.approx(-b.ci_high)
    assert b.improvement_high == pytest.approx(-b.ci_low)
    assert d.candidate_value < d.baseline_value
    kept = decide(RMSE, y, poor, good)
    assert not kept.promote and kept.bootstrap is not None and kept.bootstrap.improvement < 0


def test_rmse_first_model_floor() -> None:
    rng = np.random.default_rng(2)
    y = rng.standard_normal(400)
    assert decide(RMSE, y, y + rng.standard_normal(400), None).promote
    assert not decide(replace(RMSE, floor=0.5), y, y + rng.standard_normal(400), None).promote


# --- non-inferiority ---------------------------------------------------------------------------


def test_non_inferiority_promotes_a_challenger_that_is_not_worse_and_observed_better() -> None:
    w = World(800, seed=4)
    champion, challenger = w.model(0.8), w.model(0.7)
    superiority = decide(AUC, w.y, challenger, champion)
    assert not superiority.promote  # the CI straddles zero
    ni = replace(AUC, non_inferiority_margin=0.02)
    d = decide(ni, w.y, challenger, champion)
    b = d.bootstrap
    assert b is not None and -0.02 < b.improvement_low <= 0 < b.improvement
    assert d.promote and d.mode == "non_inferiority"
    assert "not worse by more than the margin 0.02" in d.reason


def test_non_inferiority_keeps_a_challenger_worse_on_the_holdout() -> None:
    w = World(800, seed=4)
    champion, challenger = w.model(0.7), w.model(0.75)
    d = decide(replace(AUC, non_inferiority_margin=0.05), w.y, challenger, champion)
    assert d.bootstrap is not None and d.bootstrap.improvement <= 0
    assert d.bootstrap.improvement_low > -0.05  # within the margin, but not observed better
    assert not d.promote and "is not above min_improvement" in d.reason


def test_non_inferiority_keeps_a_challenger_that_may_be_worse_than_the_margin() -> None:
    w = World(800, seed=4)
    champion, challenger = w.model(0.6), w.model(0.65)
    d = decide(replace(AUC, non_inferiority_margin=0.001), w.y, challenger, champion)
    assert not d.promote and "non-inferiority margin 0.001" in d.reason


# --- the paired bootstrap ----------------------------------------------------------------------


def test_bootstrap_is_deterministic_for_a_seed() -> None:
    w = World(1500)
    a, b = w.model(0.6), w.model(0.9)
    first = paired_bootstrap(w.y, a, b, "roc_auc", "maximize", samples=300, seed=5)
    again = paired_bootstrap(w.y, a, b, "roc_auc", "maximize", samples=300, seed=5)
    other = paired_bootstrap(w.y, a, b, "roc_auc", "maximize", samples=300, seed=6)
    assert first == again
    assert (other.ci_low, other.ci_high) != (first.ci_low, first.ci_high)
    assert other.diff == first.diff  # the point estimate does not depend on the seed
    assert decide(AUC, w.y, a, b) == decide(AUC, w.y, a, b)


def test_bootstrap_ci_contains_the_true_difference() -> None:
    # The population: 200k rows, two fixed models. Holdouts are samples of it; the 90% interval
    # of each should contain the population difference about 9 times in 10.
    rng = np.random.default_rng(11)
    n = 200_000
    s = rng.standard_normal(n)
    y = (rng.random(n) < sigmoid(2.0 * s)).astype(int)
    a = sigmoid(s + 0.6 * rng.standard_normal(n))
    b = sigmoid(s + 0.9 * rng.standard_normal(n))
    true_diff = metrics.metric("roc_auc", y, a) - metrics.metric("roc_auc", y, b)
    assert true_diff > 0.01
    covered = 0
    for k in range(20):
        rows = rng.choice(n, 1500, replace=False)
        r = paired_bootstrap(y[rows], a[rows], b[rows], "roc_auc", "maximize", samples=400,
                             confidence=0.9, seed=k)
        assert r.ci_low < r.diff < r.ci_high
        covered += r.ci_low <= true_diff <= r.ci_high
    assert covered >= 15


def test_bootstrap_ignores_resamples_where_the_metric_is_undefined() -> None:
    y = np.array([1] + [0] * 9)  # one positive: many resamples miss it
    a, b = np.linspace(0.9, 0.0, 10), np.linspace(0.0, 0.9, 10)
    r = paired_bootstrap(y, a, b, "roc_auc", "maximize", samples=200, seed=0)
    assert 0 < r.n_valid < 200
    assert math.isfinite(r.ci_low)
    never = paired_bootstrap(np.ones(10), a, b, "roc_auc", "maximize", samples=200, seed=0)
    assert never.n_valid == 0 and math.isnan(never.ci_low) and math.isnan(never.improvement_low)


def test_bootstrap_of_10k_rows_is_fast() -> None:
    w = World(10_000)
    a, b = w.model(0.6), w.model(0.8)
    started = time.perf_counter()
    r = paired_bootstrap(w.y, a, b, "roc_auc", "maximize", samples=1000, seed=0)
    elapsed = time.perf_counter() - started
    assert r.n_valid == 1000
    assert elapsed < 10.0, f"1000 resamples of 10k rows took {elapsed:.1f}s"


# --- slices helpers and the record -------------------------------------------------------------


def test_quantile_bins_and_slice_columns() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, np.nan])
    labels = quantile_bins(values, 4)
    assert labels[-1] == "missing"
    counts = {v: int((labels == v).sum()) for v in set(labels[:-1])}
    assert len(counts) == 4 and sorted(counts.values()) == [2, 2, 2, 2]
    assert labels[0].startswith("q1 [1, ") and labels[7].endswith("8]")
    assert set(quantile_bins(np.zeros(5), 3)) == {"[0, 0]"}  # all tied: one bin
    cols = slice_columns({"region": np.array(["n", "s"], dtype=object),
                          "income": np.array([1.0, 9.0])},
                         (SliceSpec("region"), SliceSpec("income", bins=2)))
    assert list(cols["region"]) == ["n", "s"]
    assert len(set(cols["income"])) == 2


def test_to_dict_is_json_without_nan() -> None:
    w = World(1500)
    region = np.where(w.rng.random(1500) < 0.5, "a", "b")
    d = decide(replace(AUC, slices=(SliceSpec("region"),)), w.y, w.model(0.3), w.model(1.0),
               slices={"region": region})
    raw = json.loads(json.dumps(d.to_dict(), allow_nan=False))
    assert raw["decision"] == "promote" and raw["reasons"] == list(d.reasons)
    assert raw["bootstrap"]["n_boot"] == 500 and raw["bootstrap"]["seed"] == 1
    assert {s["value"] for s in raw["slices"]} == {"a", "b"}
    assert raw["policy"]["slices"] == [{"column": "region", "bins": None}]
    assert raw["candidate_metrics"]["roc_auc"] == d.candidate_value
    undefined = decide(AUC, np.ones(10), np.linspace(0, 1, 10), None)
    assert json.loads(json.dumps(undefined.to_dict(), allow_nan=False))["candidate_value"] is None


def test_decision_is_a_frozen_value() -> None:
    w = World(500)
    d = decide(AUC, w.y, w.model(0.3), None)
    assert isinstance(d, Decision)
    with pytest.raises(AttributeError):
        d.decision = "keep"  # type: ignore[misc]


def test_mismatched_rows_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="same rows"):
        decide(AUC, np.zeros(3), np.zeros(4), None)
    with pytest.raises(ValueError, match="labels"):
        decide(AUC, np.array([0, 1]), np.array([0.2, 0.8]), None,
               slices={"region": np.array(["a"])})


# --- multiclass ---------------------------------------------------------------------------------

LOG_LOSS = MetricPolicy("log_loss", "minimize", floor=1.0, bootstrap_samples=500,
                        bootstrap_seed=1)
MACRO_F1 = MetricPolicy("macro_f1", "maximize", floor=0.3, bootstrap_samples=500,
                        bootstrap_seed=1)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class MulticlassWorld:
    """Three classes with logits `scale * s`: labels drawn from them, and models that predict
    softmax(logits + noise), so less noise is a better model."""

    def __init__(self, n: int, k: int = 3, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.logits = 2.0 * self.rng.standard_normal((n, k))
        p = softmax(self.logits)
        u = self.rng.random(n)[:, None]
        self.y = np.minimum((u > np.cumsum(p, axis=1)).sum(axis=1), k - 1)

    def model(self, noise: float) -> np.ndarray:
        return softmax(self.logits + noise * self.rng.standard_normal(self.logits.shape))


@pytest.mark.parametrize("seed", range(4))
def test_multiclass_metrics_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, 50)
    p = softmax(rng.standard_normal((50, 4)))
    m = metrics.compute(y, p, "multiclass_classification")

    assert m["log_loss"] == pytest.approx(skm.log_loss(y, p, labels=range(4)))
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, p.argmax(axis=1)))
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, p.argmax(axis=1), average="macro"))
    # A class nobody has nor predicts is left out, as scikit-learn does without `labels`.
    y3, p3 = y % 3, np.column_stack([p[:, :3], np.zeros(50)])
    assert metrics.metric("macro_f1", y3, p3) == pytest.approx(
        skm.f1_score(y3, p3.argmax(axis=1), average="macro"))


def test_multiclass_ece_is_top_label() -> None:
    y = np.array([0, 1, 2, 2])
    p = np.array([[0.9, 0.05, 0.05], [0.1, 0.2, 0.7], [0.3, 0.3, 0.4], [0.05, 0.05, 0.9]])
    # Confidences 0.9 (right), 0.7 (wrong), 0.4 (right), 0.9 (right): bins 0.9, 0.7 and 0.4.
    expected = (abs(2 - 1.8) + abs(0 - 0.7) + abs(1 - 0.4)) / 4
    assert metrics.expected_calibration_error(y, p) == pytest.approx(expected)
    assert metrics.compute(y, p, "multiclass_classification")["ece"] == pytest.approx(expected)


def test_multiclass_bootstrap_weights_index_rows() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 60)
    p = softmax(rng.standard_normal((60, 3)))
    w = metrics.bootstrap_weights(60, 4, np.random.default_rng(9))
    for name in metrics.MULTICLASS_METRICS:
        batch = metrics.weighted(name, y.astype(float), p, w)
        for k in range(4):
            rows = np.repeat(np.arange(60), w[k].astype(int))
            assert batch[k] == pytest.approx(metrics.metric(name, y[rows], p[rows]), abs=1e-12)


def test_multiclass_shapes_and_labels_are_checked() -> None:
    p = softmax(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="class indices"):
        metrics.compute(np.array([0, 1, 3, 0]), p, "multiclass_classification")
    with pytest.raises(ValueError, match="probabilities"):
        metrics.compute(np.array([0, 1, 2, 0]), p[:, 0], "multiclass_classification")
    with pytest.raises(ValueError, match="one prediction per row"):
        metrics.compute(np.array([0, 1, 1, 0]), p, "binary_classification")
    with pytest.raises(ValueError, match="not a multiclass metric"):
        decide(AUC, np.array([0, 1, 2, 0]), p, None)
    with pytest.raises(ValueError, match="needs"):
        decide(MACRO_F1, np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.8, 0.2]), None)
    assert math.isnan(metrics.metric("log_loss", np.array([0, 1]), np.array([[np.nan, 1.0],
                                                                              [0.5, 0.5]])))


@pytest.mark.parametrize("policy", [LOG_LOSS, MACRO_F1], ids=lambda p: p.name)
def test_multiclass_decision_table(policy: MetricPolicy) -> None:
    w = MulticlassWorld(3000)
    good, bad = w.model(0.3), w.model(2.5)

    first = decide(policy, w.y, good, None)
    assert first.promote and first.mode == "first_model"
    assert set(first.candidate_metrics) == set(metrics.MULTICLASS_METRICS)

    better = decide(policy, w.y, good, bad)
    assert better.promote, better.reason
    assert better.bootstrap is not None and better.bootstrap.improvement_low > 0
    assert better.direction == ("minimize" if policy.name == "log_loss" else "maximize")

    worse = decide(policy, w.y, bad, good)
    assert not worse.promote and "incumbent stays" in worse.reason

    tie = decide(policy, w.y, good, good.copy())
    assert not tie.promote


def test_multiclass_log_loss_direction_is_lower_is_better() -> None:
    w = MulticlassWorld(3000, seed=2)
    good, bad = w.model(0.3), w.model(2.5)
    d = decide(LOG_LOSS, w.y, good, bad)
    assert d.candidate_value < d.baseline_value  # type: ignore[operator]
    assert d.bootstrap is not None
    assert d.bootstrap.diff < 0 < d.bootstrap.improvement  # lower loss: a positive improvement


def test_multiclass_constant_predictor_is_kept_out() -> None:
    w = MulticlassWorld(1000)
    prior = np.bincount(w.y, minlength=3) / len(w.y)
    constant = np.tile(prior, (len(w.y), 1))
    loose = replace(LOG_LOSS, floor=5.0)  # the prior's log loss clears a loose floor...
    d = decide(loose, w.y, constant, None)
    assert not d.promote  # ...but a constant vector is no model
    assert any("predicts a constant" in r for r in d.reasons)
    assert not decide(loose, w.y, constant, w.model(2.5)).promote


def test_multiclass_leakage_reads_accuracy() -> None:
    w = MulticlassWorld(1000)
    leak = np.eye(3)[w.y] * 0.9 + 0.1 / 3  # right on every row: accuracy 1.0
    d = decide(LOG_LOSS, w.y, leak, None)
    assert not d.promote
    assert any("accuracy=1.0000 is at or above the leakage ceiling" in r for r in d.reasons)
    assert decide(replace(LOG_LOSS, leakage_ceiling=None), w.y, leak, None).promote


def test_multiclass_slices_index_rows() -> None:
    w = MulticlassWorld(3000, seed=5)
    good = w.model(0.3)
    region = np.where(np.arange(3000) % 2 == 0, "north", "south")
    worse_in_south = good.copy()
    south = region == "south"
    worse_in_south[south] = w.model(3.0)[south]  # a much worse model on every second row
    champion = w.model(0.5)
    d = decide(replace(LOG_LOSS, slice_tolerance=0.05, min_slice_rows=100), w.y,
               worse_in_south, champion, slices={"region": region})
    by_value = {s.value: s for s in d.slices}
    assert by_value["north"].status == "ok" and by_value["south"].status == "violated"
    assert by_value["north"].rows == by_value["south"].rows == 1500
    assert by_value["south"].challenger == pytest.approx(
        metrics.metric("log_loss", w.y[south], worse_in_south[south]))
    assert not d.promote


def test_multiclass_champion_with_another_class_count_fails_closed() -> None:
    w = MulticlassWorld(500)
    d = decide(LOG_LOSS, w.y, w.model(0.3), softmax(np.zeros((500, 4))))
    assert not d.promote and d.baseline_error is not None
    assert "class set changed" in d.reason
