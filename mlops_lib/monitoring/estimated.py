"""Estimated performance before labels arrive (binary classification), CBPE-style.

If the champion's probabilities are calibrated, row i is positive with probability p_i, so
every metric has an expected value that needs no label: the expected confusion counts at the
threshold give accuracy and F1 (as ratios of expectations, as NannyML's CBPE does), and the
expected ROC AUC weighs every ordered pair (i, j) by p_i (1 - p_j). Probabilities are first
mapped through an isotonic calibrator fitted on the champion's holdout, so a model that is
sharp but miscalibrated is still read right.

Its blind spot: the estimate assumes P(y | x) is what it was on the holdout. Under concept
drift (the same inputs, a different outcome) it stays where it was; only labels show it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import isotonic_regression

ESTIMABLE = ("roc_auc", "accuracy", "f1", "brier", "log_loss")
_CLIP = 1e-7


@dataclass(frozen=True)
class Calibrator:
    """A non-decreasing map of raw probabilities to observed positive rates, fitted on the
    holdout: `knots` (raw probabilities, sorted) and `rates` (the isotonic fit at each)."""

    knots: tuple[float, ...]
    rates: tuple[float, ...]

    def apply(self, p: np.ndarray) -> np.ndarray:
        if not self.knots:
            return np.asarray(p, dtype="float64")
        mapped = np.interp(np.asarray(p, dtype="float64"), self.knots, self.rates)
        return np.asarray(mapped, dtype="float64")


def fit_calibrator(y: np.ndarray, p: np.ndarray) -> Calibrator:
    """Isotonic regression of the holdout labels on the holdout probabilities."""
    p = np.asarray(p, dtype="float64")
    if p.size == 0:
        return Calibrator((), ())
    order = np.argsort(p, kind="stable")
    fitted = isotonic_regression(np.asarray(y, dtype="float64")[order]).x
    knots, first = np.unique(p[order], return_index=True)
    # tied probabilities share one fitted value (the fit is constant across a tie's block)
    return Calibrator(tuple(float(k) for k in knots), tuple(float(fitted[i]) for i in first))


@dataclass(frozen=True)
class EstimatedPerformance:
    metric: str
    value: float
    rows: int


def estimate(p: np.ndarray, metric: str, *, threshold: float = 0.5,
             calibrator: Calibrator | None = None) -> EstimatedPerformance:
    """The expected value of `metric` on rows scored `p` (P(class 1))."""
    if metric not in ESTIMABLE:
        raise ValueError(f"{metric!r} cannot be estimated without labels; one of {ESTIMABLE}")
    raw = np.asarray(p, dtype="float64").ravel()
    q = calibrator.apply(raw) if calibrator is not None else raw
    if q.size == 0:
        return EstimatedPerformance(metric, math.nan, 0)
    value = _EXPECTED[metric](q, raw, threshold)
    return EstimatedPerformance(metric, float(value), int(q.size))


def _accuracy(q: np.ndarray, raw: np.ndarray, t: float) -> float:
    return float(np.mean(np.where(raw >= t, q, 1.0 - q)))


def _f1(q: np.ndarray, raw: np.ndarray, t: float) -> float:
    flagged = raw >= t
    tp, fp, fn = q[flagged].sum(), (1.0 - q[flagged]).sum(), q[~flagged].sum()
    denominator = 2 * tp + fp + fn
    return float(2 * tp / denominator) if denominator > 0 else 0.0


def _brier(q: np.ndarray, raw: np.ndarray, _: float) -> float:
    return float(np.mean(q * (1 - raw) ** 2 + (1 - q) * raw**2))


def _log_loss(q: np.ndarray, raw: np.ndarray, _: float) -> float:
    r = np.clip(raw, _CLIP, 1 - _CLIP)
    return float(-np.mean(q * np.log(r) + (1 - q) * np.log1p(-r)))


def _roc_auc(q: np.ndarray, raw: np.ndarray, _: float) -> float:
    """Pairs ranked by the raw score, weighted by how likely each is (positive, negative)."""
    order = np.argsort(raw, kind="stable")
    scores, pos = raw[order], q[order]
    neg = 1.0 - pos
    starts = np.flatnonzero(np.r_[True, scores[1:] != scores[:-1]])
    g_pos, g_neg = np.add.reduceat(pos, starts), np.add.reduceat(neg, starts)
    neg_below = np.cumsum(g_neg) - g_neg
    self_pairs = float(np.sum(pos * neg))  # a row is never paired with itself
    won = float(np.sum(g_pos * (neg_below + 0.5 * g_neg))) - 0.5 * self_pairs
    total = float(pos.sum() * neg.sum()) - self_pairs
    return won / total if total > 0 else math.nan


_EXPECTED = {"roc_auc": _roc_auc, "accuracy": _accuracy, "f1": _f1, "brier": _brier,
             "log_loss": _log_loss}
