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
Datetime features and the columns of role id, event_time or ignore are not compared (listed
in ``DriftResult.skipped``).

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

Verdicts know their sample size (`SampleSizeRule`, from the spec's ``trigger.drift``): a feature
with fewer than ``min_rows_per_test`` non-null values on either side is not tested (verdict
``insufficient_data``, statistics None, never drifted, not in the dataset share), and a tested
feature is drifted only when its score also reaches its noise floor, the statistic's
``noise_floor_quantile`` over same-sized resamples of the reference (`drift_noise`). On large
batches the floor is far below the threshold and the verdicts are the threshold's alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol

import pandas as pd

from mlops_lib.monitoring.drift_categorical import categorical_stats
from mlops_lib.monitoring.drift_noise import (
    DEFAULT_RESAMPLES,
    ReferenceColumn,
    ReferenceProfile,
    noise_floor,
)
from mlops_lib.monitoring.drift_numeric import numeric_stats
from mlops_lib.monitoring.drift_result import (
    INSUFFICIENT,
    DriftResult,
    FeatureDrift,
    FeatureKind,
    Verdict,
)
from mlops_lib.monitoring.drift_stats import ColumnStats
from mlops_lib.spec import DriftPolicy, PipelineSpec

__all__ = [
    "DEFAULT_BINS",
    "DEFAULT_EPS",
    "DEFAULT_THRESHOLD",
    "METHODS",
    "DriftResult",
    "FeatureDrift",
    "FeatureKind",
    "Method",
    "NO_SAMPLE_SIZE_RULE",
    "FrameReference",
    "Reference",
    "ReferenceSide",
    "CurrentColumns",
    "SampleSizeRule",
    "compared_kinds",
    "compute",
    "profile",
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


@dataclass(frozen=True)
class SampleSizeRule:
    """How a verdict accounts for the batch's size (the spec's `trigger.drift`): features with
    fewer than `min_rows` non-null values on either side are not tested; the others are drifted
    only at or above their noise floor too (`drift_noise`; `quantile` None: no floor)."""

    min_rows: int = 0
    quantile: float | None = None
    resamples: int = DEFAULT_RESAMPLES

    @classmethod
    def of(cls, policy: DriftPolicy) -> SampleSizeRule:
        return cls(policy.min_rows_per_test, policy.noise_floor_quantile,
                   policy.noise_floor_resamples)


NO_SAMPLE_SIZE_RULE = SampleSizeRule()


def profile(reference: pd.DataFrame, spec: PipelineSpec,
            features: Sequence[str] | None = None) -> ReferenceProfile:
    """The reference reduced once for many `compute` calls (sorted values, cell shares)."""
    kinds = _kinds(spec, features)
    return ReferenceProfile(reference, [(n, k) for n, k in kinds.items() if k is not None])


def compared_kinds(spec: PipelineSpec) -> dict[str, FeatureKind]:
    """The spec's features that drift is measured on, and how (numeric or categorical)."""
    return {name: kind for name, kind in _kinds(spec, None).items() if kind is not None}


@dataclass(frozen=True)
class ReferenceSide:
    """One reference feature as the statistics take it: reduced (`column`) and, for a
    categorical feature, its values (`series`, in any row order)."""

    column: ReferenceColumn
    series: pd.Series | None = None


class Reference(Protocol):
    """The reference of a comparison, handed over one feature at a time, so that a caller
    with a stored reference (`drift_reference.StoredReference`) holds one column at most."""

    @property
    def n_rows(self) -> int: ...

    def has(self, name: str) -> bool: ...

    def side(self, name: str, kind: FeatureKind) -> ReferenceSide: ...


class CurrentColumns(Protocol):
    """A current batch handed over one column at a time (`drift_reference.ParquetColumns`)."""

    columns: Sequence[str]

    def __len__(self) -> int: ...

    def __getitem__(self, name: str) -> pd.Series: ...


class FrameReference:
    """A reference held as a frame, reduced once (`profile`)."""

    def __init__(self, frame: pd.DataFrame, reduced: ReferenceProfile) -> None:
        self.frame, self.reduced = frame, reduced

    @property
    def n_rows(self) -> int:
        return len(self.frame)

    def has(self, name: str) -> bool:
        return name in self.frame.columns

    def side(self, name: str, kind: FeatureKind) -> ReferenceSide:
        return ReferenceSide(self.reduced.columns[name],
                             self.frame[name] if kind == "categorical" else None)


def compute(
    reference: pd.DataFrame | Reference,
    current: pd.DataFrame | CurrentColumns,
    spec: PipelineSpec,
    *,
    method: Method = "auto",
    threshold: float | None = None,
    n_bins: int = DEFAULT_BINS,
    eps: float = DEFAULT_EPS,
    features: Sequence[str] | None = None,
    sample_size: SampleSizeRule | None = None,
    reference_profile: ReferenceProfile | None = None,
) -> DriftResult:
    """Drift of `current` against `reference` for the spec's features (or `features`).

    `reference`: a frame, or a `Reference` that hands over one feature at a time (the
    monitor's stored one); `current` likewise a frame or a batch read column by column. The
    statistics are the same either way. `sample_size`: by default the spec's
    (`trigger.drift`); `NO_SAMPLE_SIZE_RULE` judges on the threshold alone.
    `reference_profile`: `profile(reference, ...)`, when the caller compares many batches with
    one reference frame."""
    if method not in METHODS:
        raise ValueError(f"drift method {method!r} is not one of {list(METHODS)}")
    if n_bins < 2:
        raise ValueError(f"n_bins must be >= 2, got {n_bins}")
    if not 0 < eps < 1:
        raise ValueError(f"eps must be within (0, 1), got {eps}")
    kinds = _kinds(spec, features)
    if isinstance(reference, pd.DataFrame):
        reference = FrameReference(reference, reference_profile or profile(
            reference, spec, [n for n in kinds if n in reference.columns]))
    missing = [n for n in kinds if not reference.has(n) or n not in current.columns]
    if missing:
        raise ValueError(f"features {missing} are missing from the reference or current frame")
    rule = SampleSizeRule.of(spec.trigger.drift) if sample_size is None else sample_size
    why = {f.name: f"{f.dtype} features are" if f.role == "feature" else f"role {f.role} is"
           for f in spec.features}
    judge = _Judge(method, threshold, rule, n_bins, eps)
    results: list[FeatureDrift] = []
    skipped: list[str] = []
    for name, kind in kinds.items():
        if kind is None:
            skipped.append(f"{name}: {why[name]} not compared")
            continue
        side = reference.side(name, kind)
        column = side.column
        if kind == "numeric":
            stats = numeric_stats((column.sorted, column.n_rows), current[name], n_bins, eps,
                                  column.distinct)
        else:
            assert side.series is not None, f"categorical reference {name!r} without values"
            stats = categorical_stats(side.series, current[name], eps)
        results.append(judge(name, kind, stats, column))
        del side, column  # a stored reference's column is freed before the next is read
    return DriftResult(features=tuple(results), method=method, threshold=threshold,
                       n_reference_rows=reference.n_rows, n_current_rows=len(current),
                       skipped=tuple(skipped), min_rows_per_test=rule.min_rows,
                       noise_floor_quantile=rule.quantile)


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


def _kinds(spec: PipelineSpec, features: Sequence[str] | None) -> dict[str, FeatureKind | None]:
    """The features to compare and how (None: a dtype or a role that is not compared)."""
    wanted = list(spec.feature_names if features is None else features)
    by_name = {f.name: f for f in spec.features}
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise ValueError(f"features {unknown} are not in spec {spec.name!r}")
    kinds: dict[str, FeatureKind | None] = {}
    for name in wanted:
        dtype = by_name[name].dtype
        # an id is new on every batch and time always moves: either would drift every time
        kinds[name] = (None if by_name[name].role != "feature"
                       else "numeric" if dtype in _NUMERIC_DTYPES
                       else "categorical" if dtype in _CATEGORICAL_DTYPES else None)
    return kinds


@dataclass(frozen=True)
class _Judge:
    method: Method
    threshold: float | None
    rule: SampleSizeRule
    n_bins: int
    eps: float

    def __call__(self, name: str, kind: FeatureKind, s: ColumnStats,
                 column: ReferenceColumn) -> FeatureDrift:
        stat = _statistic_for(kind, s.few_values, self.method)
        limit = DEFAULT_THRESHOLD if self.threshold is None else float(self.threshold)
        fewest = min(s.n_reference, s.n_current)
        if 0 < fewest < self.rule.min_rows:
            side = "batch" if s.n_current == fewest else "reference"
            s = replace(s, psi=None, wasserstein=None, js=None, unseen_share=None,
                        note=f"insufficient data: {fewest} non-null values in the {side}, "
                             f"fewer than min_rows_per_test {self.rule.min_rows}; not tested")
        score = {"wasserstein": s.wasserstein, "jensenshannon": s.js, "psi": s.psi}[stat]
        floor = None
        if score is not None and self.rule.quantile is not None:
            floor = noise_floor(column, stat, s.n_current, feature=name,
                                quantile=self.rule.quantile, resamples=self.rule.resamples,
                                n_bins=self.n_bins, eps=self.eps)
        drifted = score is not None and score >= max(limit, floor or 0.0)
        verdict: Verdict = ("drifted" if drifted else "not_drifted" if score is not None
                            else INSUFFICIENT if fewest > 0 else "not_compared")
        return FeatureDrift(
            feature=name, kind=kind, method=stat, threshold=limit, score=score,
            drifted=drifted, psi=s.psi, wasserstein=s.wasserstein, js=s.js,
            unseen_share=s.unseen_share, null_share=s.null_share,
            reference_null_share=s.reference_null_share, n_reference=s.n_reference,
            n_current=s.n_current, n_distinct_reference=s.n_distinct_reference,
            n_distinct_current=s.n_distinct_current, few_values=s.few_values, note=s.note,
            noise_floor=floor, verdict=verdict)
