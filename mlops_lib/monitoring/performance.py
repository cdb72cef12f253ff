"""Realized performance: how a model version did on the scored rows whose labels came back.

For one window of labelled rows (a scoring batch, or a rolling run of rows or days) it gives
the task's whole metric set as the gate computes it (`evaluation.metrics`), a bootstrap
interval of the spec's metric (percentile, seeded), the label coverage, and for
classification the reliability bins behind the ECE: per equal-width probability bin, the rows,
the mean predicted probability and the observed positive share (top-label for multiclass).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from mlops_lib.evaluation import metrics
from mlops_lib.monitoring.label_join import Labelled

BOOTSTRAP_SAMPLES = 500
CONFIDENCE = 0.95


@dataclass(frozen=True)
class ReliabilityBin:
    low: float
    high: float
    rows: int
    mean_predicted: float  # NaN for an empty bin
    observed: float        # the share of positives (top-label: of right answers)


@dataclass(frozen=True)
class MetricValue:
    name: str
    value: float


@dataclass(frozen=True)
class RealizedPerformance:
    """One window of one model version: the spec's metric with its interval, every metric of
    the task, coverage and calibration."""

    metric: str
    value: float
    ci_low: float
    ci_high: float
    rows_labelled: int
    rows_scored: int
    metrics: tuple[MetricValue, ...]
    reliability: tuple[ReliabilityBin, ...]

    @property
    def coverage(self) -> float:
        return self.rows_labelled / self.rows_scored if self.rows_scored else 0.0

    def get(self, name: str) -> float:
        return next((m.value for m in self.metrics if m.name == name), math.nan)


def realized(labelled: Labelled, *, task: str, metric: str, threshold: float = 0.5,
             samples: int = BOOTSTRAP_SAMPLES, confidence: float = CONFIDENCE,
             seed: int = 0) -> RealizedPerformance:
    """The window's performance; NaN where a metric is undefined (no labels, one class)."""
    y, p = labelled.y, metrics.as_predictions(labelled.p)
    if p.ndim == 2 and y.size == 0:
        p = p.reshape(0, p.shape[1])
    values = metrics.compute(y, p, task, threshold)
    low, high = metric_interval(y, p, metric, threshold=threshold, samples=samples,
                                confidence=confidence, seed=seed)
    bins = reliability_bins(y, p) if task != "regression" else ()
    return RealizedPerformance(
        metric=metric, value=values.get(metric, metrics.metric(metric, y, p, threshold)),
        ci_low=low, ci_high=high, rows_labelled=labelled.rows, rows_scored=labelled.rows_scored,
        metrics=tuple(MetricValue(k, v) for k, v in values.items()), reliability=bins)


def metric_interval(y: np.ndarray, p: np.ndarray, metric: str, *, threshold: float = 0.5,
                    samples: int = BOOTSTRAP_SAMPLES, confidence: float = CONFIDENCE,
                    seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of `metric` over resampled rows; NaNs when fewer than
    half of the resamples define it."""
    n = len(y)
    if n == 0:
        return math.nan, math.nan
    w = metrics.bootstrap_weights(n, samples, np.random.default_rng(seed))
    draws = metrics.weighted(metric, np.asarray(y, dtype="float64"), p, w, threshold)
    valid = draws[np.isfinite(draws)]
    if len(valid) < max(1, samples // 2):
        return math.nan, math.nan
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(valid, [alpha, 1.0 - alpha])
    return float(low), float(high)


def reliability_bins(y: np.ndarray, p: np.ndarray,
                     n_bins: int = metrics.ECE_BINS) -> tuple[ReliabilityBin, ...]:
    """The bins of `metrics.expected_calibration_error`, with what is in each."""
    y = np.asarray(y, dtype="float64")
    if p.ndim == 2:  # top-label: the arg-max probability against whether it was right
        y = (p.argmax(axis=1) == y).astype("float64") if len(y) else y
        p = p.max(axis=1)
    index = np.clip(np.floor(p * n_bins).astype("int64"), 0, n_bins - 1)
    out = []
    for b in range(n_bins):
        inside = index == b
        rows = int(inside.sum())
        out.append(ReliabilityBin(
            low=b / n_bins, high=(b + 1) / n_bins, rows=rows,
            mean_predicted=float(p[inside].mean()) if rows else math.nan,
            observed=float(y[inside].mean()) if rows else math.nan))
    return tuple(out)


def rolling_windows(order: np.ndarray, size: int) -> Iterator[np.ndarray]:
    """Row positions of consecutive windows of `size` rows in the order of `order` (e.g.
    scoring times); the last, shorter window only when it is the only one."""
    ranked = np.argsort(order, kind="stable")
    full = len(ranked) // size
    for i in range(full):
        yield ranked[i * size:(i + 1) * size]
    if full == 0 and len(ranked):
        yield ranked
