"""Prediction drift and calibration drift against a version's own holdout: no services."""

from __future__ import annotations

import numpy as np
import pytest

from mlops_lib.monitoring.prediction_drift import (
    calibration_drift,
    one_score,
    prediction_drift,
)

pytestmark = pytest.mark.unit


def scores(n: int, seed: int, a: float = 2.0, b: float = 5.0) -> np.ndarray:
    return np.random.default_rng(seed).beta(a, b, n)


def test_the_same_score_distribution_does_not_drift() -> None:
    drift = prediction_drift(scores(5000, 1), scores(2000, 2))
    assert drift.psi < 0.02 and drift.ks_pvalue > 0.01
    assert (drift.holdout_rows, drift.batch_rows) == (5000, 2000)
    assert drift.mean_batch == pytest.approx(drift.mean_holdout, abs=0.01)


def test_shifted_scores_drift_on_every_measure() -> None:
    drift = prediction_drift(scores(5000, 1), scores(2000, 2, a=5.0, b=2.0))
    assert drift.psi > 1.0 and drift.ks_statistic > 0.5 and drift.ks_pvalue < 1e-6
    assert drift.mean_batch - drift.mean_holdout > 0.3


def test_multiclass_scores_are_the_top_class_probability() -> None:
    p = np.array([[0.2, 0.5, 0.3], [0.9, 0.05, 0.05]])
    assert one_score(p).tolist() == [0.5, 0.9]
    assert prediction_drift(p, p).psi == pytest.approx(0.0, abs=1e-9)


def test_nothing_to_compare_is_not_a_number_and_reads_as_null() -> None:
    drift = prediction_drift(scores(100, 1), np.array([np.nan]))
    assert drift.batch_rows == 0 and drift.to_dict()["psi"] is None


def test_labels_that_stop_agreeing_with_the_scores_show_as_calibration_drift() -> None:
    rng = np.random.default_rng(3)
    p_holdout, p_window = scores(5000, 4), scores(2000, 5)
    y_holdout = (rng.random(5000) < p_holdout).astype(float)  # calibrated on the holdout
    y_same = (rng.random(2000) < p_window).astype(float)
    y_changed = (rng.random(2000) < 1 - p_window).astype(float)  # the concept flipped
    same = calibration_drift(y_holdout, p_holdout, y_same, p_window)
    changed = calibration_drift(y_holdout, p_holdout, y_changed, p_window)
    assert same.ece_holdout < 0.03 and abs(same.shift) < 0.03
    assert changed.shift > 0.3 and changed.to_dict()["rows"] == 2000
