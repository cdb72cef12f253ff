"""Estimated performance without labels (CBPE-style) against the truth on synthetic data where
the labelling function is known: labels are drawn from the probabilities themselves."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlops_lib.evaluation import metrics
from mlops_lib.monitoring.estimated import ESTIMABLE, estimate, fit_calibrator

pytestmark = pytest.mark.unit

ROWS = 200_000


def _world(seed: int, rows: int = ROWS) -> tuple[np.ndarray, np.ndarray]:
    """True probabilities and the labels drawn from them."""
    rng = np.random.default_rng(seed)
    truth = rng.beta(1.5, 2.5, rows)
    return (rng.random(rows) < truth).astype("float64"), truth


@pytest.mark.parametrize("metric", ESTIMABLE)
def test_calibrated_scores_estimate_the_true_metric(metric: str) -> None:
    y, p = _world(1)
    estimated = estimate(p, metric)
    assert estimated.rows == ROWS
    assert estimated.value == pytest.approx(metrics.metric(metric, y, p), abs=0.005)


def test_a_miscalibrated_model_is_read_right_through_the_holdout_s_calibrator() -> None:
    holdout_y, holdout_truth = _world(2, 50_000)
    y, truth = _world(3)
    raw = truth**2  # the same ranking, probabilities too low
    calibrator = fit_calibrator(holdout_y, holdout_truth**2)
    for metric in ("accuracy", "brier", "roc_auc"):
        true_value = metrics.metric(metric, y, raw)
        naive = estimate(raw, metric).value
        calibrated = estimate(raw, metric, calibrator=calibrator).value
        assert calibrated == pytest.approx(true_value, abs=0.01), metric
        if metric != "roc_auc":  # the raw probabilities mislead these
            assert abs(naive - true_value) > 3 * abs(calibrated - true_value), metric


def test_the_estimate_cannot_see_concept_drift() -> None:
    """The same scores, a different labelling function: the truth moves, the estimate not."""
    _, p = _world(4)
    flipped = (np.random.default_rng(5).random(ROWS) < 1 - p).astype("float64")
    assert metrics.metric("roc_auc", flipped, p) < 0.4
    assert estimate(p, "roc_auc").value > 0.6


def test_nothing_to_estimate_and_metrics_that_need_labels() -> None:
    assert math.isnan(estimate(np.array([]), "roc_auc").value)
    with pytest.raises(ValueError, match="cannot be estimated"):
        estimate(np.array([0.5]), "pr_auc")


def test_the_calibrator_is_monotone_and_maps_ties_alike() -> None:
    y = np.array([0, 1, 0, 1, 1, 1], dtype="float64")
    p = np.array([0.1, 0.2, 0.2, 0.6, 0.6, 0.9])
    calibrator = fit_calibrator(y, p)
    assert calibrator.knots == (0.1, 0.2, 0.6, 0.9)
    mapped = calibrator.apply(np.array([0.0, 0.1, 0.2, 0.4, 0.6, 0.9, 1.0]))
    assert np.all(np.diff(mapped) >= 0)
    assert mapped[2] == pytest.approx(0.5)  # the tied pair at 0.2: one positive of two
