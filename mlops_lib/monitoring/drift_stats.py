"""What the numeric and the categorical drift statistics share: the per-column record, the
distances on counts, and the rule for "few values"."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FEW_VALUES = 5  # Evidently: numeric columns with <= 5 distinct values are judged by JS

Counts = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ColumnStats:
    """One feature's statistics before a verdict; None where a statistic does not apply."""

    psi: float | None
    wasserstein: float | None
    js: float | None
    unseen_share: float | None
    null_share: float
    reference_null_share: float
    n_reference: int
    n_current: int
    n_distinct_reference: int
    n_distinct_current: int
    few_values: bool
    note: str = ""


def not_compared(n_reference: int, n_current: int, null_share: float,
                 reference_null_share: float, n_distinct_reference: int,
                 n_distinct_current: int, few_values: bool) -> ColumnStats:
    """The statistics of a feature with no non-null value on one side: none, and a note why."""
    side = "reference" if n_reference == 0 else "current batch"
    return ColumnStats(None, None, None, None, null_share, reference_null_share, n_reference,
                       n_current, n_distinct_reference, n_distinct_current, few_values,
                       note=f"no non-null values in the {side}: not compared")


def psi(ref_counts: Counts, cur_counts: Counts, eps: float) -> float:
    p = np.maximum(ref_counts / ref_counts.sum(), eps)
    q = np.maximum(cur_counts / cur_counts.sum(), eps)
    return float(np.sum((q - p) * np.log(q / p)))


def jensenshannon(ref_counts: Counts, cur_counts: Counts) -> float:
    """scipy.spatial.distance.jensenshannon(p, q) with the natural log (0 ln 0 = 0)."""
    p = ref_counts / ref_counts.sum()
    q = cur_counts / cur_counts.sum()
    mid = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.where(p > 0, p * np.log(p / mid), 0.0)
        right = np.where(q > 0, q * np.log(q / mid), 0.0)
    return math.sqrt(max(float(left.sum() + right.sum()) / 2, 0.0))


def share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0
