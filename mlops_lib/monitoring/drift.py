"""Drift decision statistics: a current batch against a reference, per feature, on all rows.

Reports (`mlops_lib.reports`) are for people and may be built on a sample; the *decision* to
retrain is taken on these statistics, which use every row and stay fast because the hot path is
numpy: one sort per numeric column and side, then `searchsorted`/`bincount` and array
arithmetic. No Python loop runs over rows (only over features and, for categoricals, over
category *levels*). The statistics live in `drift_numeric` and `drift_categorical`, the records
in `drift_result`; this module picks the statistic per feature and takes the verdicts.

Per numeric feature (spec dtype `float` or `int`):

* ``psi``: population stability index on reference-quantile bins: ``n_bins`` (default 10) bins
  whose inner edges are the reference's quantiles (numpy's default linear interpolation), plus
  one bin below the reference minimum and one above its maximum, so values outside the range the
  reference ever took count as change. Bin shares are floored at ``eps`` (1e-4) before
  ``sum((cur - ref) * ln(cur / ref))``. Tied quantiles (discrete values) merge into one edge.
* ``wasserstein``: the exact first Wasserstein distance between the two empirical distributions
  (``scipy.stats.wasserstein_distance``), divided by ``max(std(reference), 0.001)`` (population
  std): Evidently's "Wasserstein distance (normed)". A 1-std mean shift gives ~1.0.
* ``js``: Jensen-Shannon distance (natural log, ``scipy.spatial.distance.jensenshannon``) as
  Evidently bins numbers: with more than 20 distinct reference values, Sturges' equal-width bins
  over the combined range; otherwise one bin per distinct value.

Per categorical feature (`category`, `bool`, `string`): ``psi`` over the categories seen in
either frame (same ``eps`` floor), ``js`` over the same categories, and ``unseen_share``: the
share of the current batch's non-null rows whose category never occurs in the reference.
Datetime features are not compared (listed in ``DriftResult.skipped``).

Missing values (NaN, None, and ±inf, which Evidently also drops) are left out of every statistic;
``null_share`` reports their share of the current batch (``reference_null_share`` of the
reference). A feature with no non-null value on either side cannot be compared: its statistics
are ``None``, ``drifted`` is False, ``note`` says why, and it does not count in the dataset share.

A constant reference column is compared like any other: the PSI bins become "below the constant",
"the constant" and "above it"; the Wasserstein norm takes Evidently's floor of 0.001 (an absolute
value), so a constant that starts to vary by more than ~1e-4 on average is drifted — the feature
changed nature — and ``note`` says the reference was constant.

Verdicts (``method="auto"``, the default) follow what Evidently's ``DataDriftPreset`` picks for
a reference of more than 1000 rows: numeric features with more than 5 distinct values (both
frames together) are judged by normed Wasserstein, the others and all categoricals by
Jensen-Shannon; the default threshold is 0.1 for each, and a score at or above the threshold is
drift. With a reference of 1000 rows or fewer Evidently switches to p-value tests (KS, chi², z)
which we do not: p-values on large samples flag negligible changes, effect sizes do not. The
method can be forced to ``"wasserstein"`` (numeric; categoricals then use Jensen-Shannon),
``"jensenshannon"`` or ``"psi"``, with any threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import pandas as pd

from mlops_lib.monitoring.drift_categorical import categorical_stats
from mlops_lib.monitoring.drift_numeric import numeric_stats
from mlops_lib.monitoring.drift_result import DriftResult, FeatureDrift, FeatureKind
from mlops_lib.monitoring.drift_stats import ColumnStats
from mlops_lib.spec import PipelineSpec

__all__ = [
    "DEFAULT_BINS",
    "DEFAULT_EPS",
    "DEFAULT_THRESHOLD",
    "METHODS",
    "DriftResult",
    "FeatureDrift",
    "FeatureKind",
    "Method",
    "compute",
    "verdict",
]

Method = Literal["auto", "wasserstein", "jensenshannon", "psi"]

METHODS: tuple[str, ...] = ("auto", "wasserstein", "jensenshannon", "psi")
DEFAULT_THRESHOLD = 0.1  # Evidently's default for normed Wasserstein, Jensen-Shannon and PSI
DEFAULT_BINS = 10
DEFAULT_EPS = 1e-4

_NUMERIC_DTYPES = {"float", "int"}
_CATEGORICAL_DTYPES = {"category", "bool", "string"}


# --- public functions --------------------------------------------------------------------------


def compute(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    spec: PipelineSpec,
    *,
    method: Method = "auto",
    threshold: float | None = None,
    n_bins: int = DEFAULT_BINS,
    eps: float = DEFAULT_EPS,
    features: Sequence[str] | None = None,
) -> DriftResult:
    """Drift of `current` against `reference` for the spec's features (or `features`)."""
    if method not in METHODS:
        raise ValueError(f"drift method {method!r} is not one of {list(METHODS)}")
    if n_bins < 2:
        raise ValueError(f"n_bins must be >= 2, got {n_bins}")
    if not 0 < eps < 1:
        raise ValueError(f"eps must be within (0, 1), got {eps}")
    wanted = list(spec.feature_names if features is None else features)
    by_name = {f.name: f for f in spec.features}
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise ValueError(f"features {unknown} are not in spec {spec.name!r}")
    missing = [n for n in wanted if n not in reference.columns or n not in current.columns]
    if missing:
        raise ValueError(f"features {missing} are missing from the reference or current frame")

    results: list[FeatureDrift] = []
    skipped: list[str] = []
    for name in wanted:
        dtype = by_name[name].dtype
        if dtype in _NUMERIC_DTYPES:
            stats = numeric_stats(reference[name], current[name], n_bins, eps)
            kind: FeatureKind = "numeric"
        elif dtype in _CATEGORICAL_DTYPES:
            stats = categorical_stats(reference[name], current[name], eps)
            kind = "categorical"
        else:
            skipped.append(f"{name}: {dtype} features are not compared")
            continue
        results.append(_judge(name, kind, stats, method, threshold))
    return DriftResult(features=tuple(results), method=method, threshold=threshold,
                       n_reference_rows=len(reference), n_current_rows=len(current),
                       skipped=tuple(skipped))


def verdict(f: FeatureDrift, method: Method = "auto",
            threshold: float | None = None) -> tuple[str, float | None, float, bool]:
    """(statistic, score, threshold, drifted) of a feature under another method/threshold."""
    stat = _statistic_for(f.kind, f.few_values, method)
    score = {"wasserstein": f.wasserstein, "jensenshannon": f.js, "psi": f.psi}[stat]
    limit = DEFAULT_THRESHOLD if threshold is None else float(threshold)
    return stat, score, limit, score is not None and score >= limit


# --- verdicts ----------------------------------------------------------------------------------


def _statistic_for(kind: FeatureKind, few_values: bool, method: Method) -> str:
    if method == "psi":
        return "psi"
    if method == "jensenshannon" or kind == "categorical":
        return "jensenshannon"
    if method == "wasserstein":
        return "wasserstein"
    return "jensenshannon" if few_values else "wasserstein"


def _judge(name: str, kind: FeatureKind, s: ColumnStats, method: Method,
           threshold: float | None) -> FeatureDrift:
    stat = _statistic_for(kind, s.few_values, method)
    score = {"wasserstein": s.wasserstein, "jensenshannon": s.js, "psi": s.psi}[stat]
    limit = DEFAULT_THRESHOLD if threshold is None else float(threshold)
    return FeatureDrift(
        feature=name, kind=kind, method=stat, threshold=limit, score=score,
        drifted=score is not None and score >= limit, psi=s.psi, wasserstein=s.wasserstein,
        js=s.js, unseen_share=s.unseen_share, null_share=s.null_share,
        reference_null_share=s.reference_null_share, n_reference=s.n_reference,
        n_current=s.n_current, n_distinct_reference=s.n_distinct_reference,
        n_distinct_current=s.n_distinct_current, few_values=s.few_values, note=s.note)
