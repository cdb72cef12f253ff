"""Slices of the holdout (a value of a slice column each) and the gate's guardrail on them."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from mlops_lib.evaluation import metrics
from mlops_lib.spec import MetricPolicy, SliceSpec

SliceStatus = Literal["ok", "violated", "too_few_rows", "undefined"]


@dataclass(frozen=True)
class SliceResult:
    column: str
    value: str
    rows: int
    challenger: float
    champion: float | None
    diff: float | None          # challenger - champion
    improvement: float | None   # oriented: negative means the challenger is worse
    status: SliceStatus


def slice_columns(columns: Mapping[str, np.ndarray],
                  slices: tuple[SliceSpec, ...]) -> dict[str, np.ndarray]:
    """Slice labels per spec slice column: categorical values as they are, numeric columns with
    `bins` cut into that many quantile bins of these rows (labelled by their range)."""
    out: dict[str, np.ndarray] = {}
    for s in slices:
        values = np.asarray(columns[s.column])
        out[s.column] = quantile_bins(values, s.bins) if s.bins else values.astype(str)
    return out


def quantile_bins(values: np.ndarray, bins: int) -> np.ndarray:
    """Labels of `bins` equal-frequency bins ("[lo, hi]"); ties can merge bins; NaN: "missing"."""
    x = np.asarray(values, dtype="float64")
    labels = np.full(len(x), "missing", dtype=object)
    finite = np.isfinite(x)
    if not finite.any():
        return labels.astype(str)
    edges = np.unique(np.quantile(x[finite], np.linspace(0.0, 1.0, bins + 1)))
    if len(edges) == 1:
        labels[finite] = f"[{edges[0]:.6g}, {edges[0]:.6g}]"
        return labels.astype(str)
    codes = np.clip(np.searchsorted(edges, x[finite], side="right") - 1, 0, len(edges) - 2)
    names = np.array([f"q{i + 1} [{edges[i]:.6g}, {edges[i + 1]:.6g}"
                      f"{']' if i == len(edges) - 2 else ')'}" for i in range(len(edges) - 1)],
                     dtype=object)
    labels[finite] = names[codes]
    return labels.astype(str)


def judge_slices(policy: MetricPolicy, y: np.ndarray, chal: np.ndarray,
                 champ: np.ndarray | None,
                 slices: Mapping[str, np.ndarray] | None) -> tuple[SliceResult, ...]:
    """The primary metric of both models on every slice, and its status: `too_few_rows` below
    `min_slice_rows`, `undefined` where either metric is, `violated` where the challenger is
    worse by more than `slice_tolerance`, else `ok` (always `ok` without a champion)."""
    if not slices:
        return ()
    sign = 1.0 if policy.direction == "maximize" else -1.0
    results: list[SliceResult] = []
    for column, raw_labels in slices.items():
        labels = np.asarray(raw_labels).astype(str)
        if labels.shape != y.shape:
            raise ValueError(f"slice column {column!r} has {len(labels)} labels for "
                             f"{len(y)} rows")
        for value in np.unique(labels):
            mask = labels == value
            rows = int(mask.sum())
            c = metrics.metric(policy.name, y[mask], chal[mask], policy.threshold)
            b = (None if champ is None
                 else metrics.metric(policy.name, y[mask], champ[mask], policy.threshold))
            diff = None if b is None else c - b
            improvement = None if diff is None else sign * diff
            results.append(SliceResult(column=column, value=str(value), rows=rows,
                                       challenger=c, champion=b, diff=diff,
                                       improvement=improvement,
                                       status=_status(policy, rows, c, b, improvement)))
    return tuple(results)


def _status(policy: MetricPolicy, rows: int, challenger: float, champion: float | None,
            improvement: float | None) -> SliceStatus:
    if rows < policy.min_slice_rows:
        return "too_few_rows"
    if not math.isfinite(challenger) or (champion is not None and not math.isfinite(champion)):
        return "undefined"
    if improvement is not None and improvement < -policy.slice_tolerance:
        return "violated"
    return "ok"
