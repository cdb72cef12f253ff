"""Prediction drift and calibration drift of a scored batch, against the model's own holdout.

The reference is what the version predicted on its holdout when it was trained (stored by the
evaluate step, `steps.holdout_scores`). Prediction drift compares the batch's score distribution
with the holdout's: PSI on the holdout's deciles, the Kolmogorov-Smirnov test (scipy), and the
shift of the mean. It needs no label, so it is known as soon as a batch is scored. Calibration
drift compares the expected calibration error of the labelled rows with the holdout's: it needs
labels. One score per row: the probability of class 1 (binary), the top-class probability
(multiclass), the prediction (regression).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from mlops_lib.evaluation import metrics
from mlops_lib.monitoring.drift_stats import psi

_BINS = 10
_EPS = 1e-4


@dataclass(frozen=True)
class PredictionDrift:
    psi: float
    ks_statistic: float
    ks_pvalue: float
    mean_holdout: float
    mean_batch: float
    holdout_rows: int
    batch_rows: int

    def to_dict(self) -> dict[str, Any]:
        return {k: _finite(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class CalibrationDrift:
    ece_holdout: float
    ece_window: float
    rows: int

    @property
    def shift(self) -> float:
        return self.ece_window - self.ece_holdout

    def to_dict(self) -> dict[str, Any]:
        return {"ece_holdout": _finite(self.ece_holdout), "ece_window": _finite(self.ece_window),
                "shift": _finite(self.shift), "rows": self.rows}


def one_score(p: np.ndarray) -> np.ndarray:
    """A score per row: itself, or the top-class probability of a (rows, k) matrix."""
    p = np.asarray(p, dtype="float64")
    return p.max(axis=1) if p.ndim == 2 else p.ravel()


def prediction_drift(holdout: np.ndarray, batch: np.ndarray) -> PredictionDrift:
    """The batch's scores against the holdout's."""
    ref, cur = one_score(holdout), one_score(batch)
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if ref.size == 0 or cur.size == 0:
        return PredictionDrift(math.nan, math.nan, math.nan, math.nan, math.nan, int(ref.size),
                               int(cur.size))
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, _BINS + 1)[1:-1]))
    ref_counts = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=edges.size + 1)
    cur_counts = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=edges.size + 1)
    ks = stats.ks_2samp(ref, cur)
    return PredictionDrift(psi(ref_counts.astype("float64"), cur_counts.astype("float64"), _EPS),
                           float(ks.statistic), float(ks.pvalue), float(ref.mean()),
                           float(cur.mean()), int(ref.size), int(cur.size))


def calibration_drift(holdout_y: np.ndarray, holdout_p: np.ndarray, window_y: np.ndarray,
                      window_p: np.ndarray) -> CalibrationDrift:
    """ECE of the labelled window against ECE of the holdout (classification)."""
    return CalibrationDrift(metrics.expected_calibration_error(holdout_y, holdout_p),
                            metrics.expected_calibration_error(window_y, window_p),
                            int(np.asarray(window_y).shape[0]))


def _finite(x: float | int) -> float | int | None:
    return None if isinstance(x, float) and not math.isfinite(x) else x
