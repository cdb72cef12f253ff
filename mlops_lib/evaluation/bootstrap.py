"""The paired bootstrap of the gate: challenger - champion on the same resampled rows."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mlops_lib.evaluation import metrics

# Resamples per chunk are sized so a chunk's weight matrix holds about this many cells (16 MB).
_CHUNK_CELLS = 2_000_000


@dataclass(frozen=True)
class BootstrapResult:
    """Paired bootstrap of the primary metric. `diff_*` are challenger - champion; the
    improvement is the same difference oriented so that positive means the challenger is
    better (negated for metrics to minimize)."""

    metric: str
    diff: float             # challenger - champion on the whole holdout
    mean_diff: float        # mean over the resamples
    ci_low: float           # interval of challenger - champion
    ci_high: float
    improvement: float      # oriented point estimate
    improvement_low: float  # oriented lower bound: the number the gate compares
    improvement_high: float
    n_boot: int
    n_valid: int            # resamples on which both metrics were defined
    confidence: float
    seed: int


def paired_bootstrap(y: np.ndarray, challenger: np.ndarray, champion: np.ndarray, metric: str,
                     direction: str, *, samples: int = 1000, confidence: float = 0.95,
                     seed: int = 0, threshold: float = 0.5) -> BootstrapResult:
    """Percentile interval of challenger - champion on the same resampled rows.

    Each resample is a row of an index matrix drawn with replacement; both models are scored on
    exactly those rows, so the noise they share cancels out of the difference.
    """
    y = np.asarray(y, dtype="float64").ravel()
    chal = metrics.as_predictions(challenger)  # (rows, k) stays a matrix: resamples pick rows
    champ = metrics.as_predictions(champion)
    n = len(y)
    sign = 1.0 if direction == "maximize" else -1.0
    point = metrics.metric(metric, y, chal, threshold) - metrics.metric(metric, y, champ,
                                                                        threshold)
    rng = np.random.default_rng(seed)
    diffs = np.empty(samples)
    chunk = max(1, min(samples, _CHUNK_CELLS // max(n, 1)))
    for start in range(0, samples, chunk):
        k = min(chunk, samples - start)
        if n == 0:
            diffs[start:start + k] = np.nan
            continue
        w = metrics.bootstrap_weights(n, k, rng)
        diffs[start:start + k] = (metrics.weighted(metric, y, chal, w, threshold)
                                  - metrics.weighted(metric, y, champ, w, threshold))
    valid = diffs[np.isfinite(diffs)]
    alpha = (1.0 - confidence) / 2.0
    if len(valid) >= max(1, samples // 2):
        low, high = (float(q) for q in np.quantile(valid, [alpha, 1.0 - alpha]))
        mean = float(valid.mean())
    else:
        low = high = mean = math.nan
    return BootstrapResult(
        metric=metric, diff=float(point), mean_diff=mean, ci_low=low, ci_high=high,
        improvement=float(sign * point),
        improvement_low=low if sign > 0 else -high,
        improvement_high=high if sign > 0 else -low,
        n_boot=samples, n_valid=int(len(valid)), confidence=confidence, seed=seed)
