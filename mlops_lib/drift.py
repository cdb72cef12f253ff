"""Drift decision statistics: a current batch against a reference, per feature, on all rows.

Reports (`reports.py`) are for people and may be built on a sample; the *decision* to retrain is
taken on these statistics, which use every row and stay fast because the hot path is numpy: one
sort per numeric column and side, then `searchsorted`/`bincount` and array arithmetic. No Python
loop runs over rows (only over features and, for categoricals, over category *levels*).

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

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

import numpy as np
import pandas as pd

from mlops_lib.spec import PipelineSpec

Method = Literal["auto", "wasserstein", "jensenshannon", "psi"]
FeatureKind = Literal["numeric", "categorical"]

METHODS: tuple[str, ...] = ("auto", "wasserstein", "jensenshannon", "psi")
DEFAULT_THRESHOLD = 0.1  # Evidently's default for normed Wasserstein, Jensen-Shannon and PSI
DEFAULT_BINS = 10
DEFAULT_EPS = 1e-4
DEFAULT_SHARE_DRIFTED = 0.5  # DataDriftPreset's drift_share

_NUMERIC_DTYPES = {"float", "int"}
_CATEGORICAL_DTYPES = {"category", "bool", "string"}
_WASSERSTEIN_NORM_FLOOR = 0.001  # Evidently: max(std(reference), 0.001)
_FEW_VALUES = 5  # Evidently: numeric columns with <= 5 distinct values are judged by JS
_JS_VALUE_BINS_MAX = 20  # Evidently bins numbers per distinct value up to 20 reference values
_FLOAT_GRID_LIMIT = 2.0**50  # W1 grid arithmetic in float64 below n*m of this, else int64


@dataclass(frozen=True)
class FeatureDrift:
    """Drift statistics and verdict of one feature; statistics that do not apply are None."""

    feature: str
    kind: FeatureKind
    method: str  # the statistic the verdict was taken on: wasserstein | jensenshannon | psi
    threshold: float
    score: float | None  # value of that statistic
    drifted: bool
    psi: float | None
    wasserstein: float | None  # normed by the reference std; numeric features only
    js: float | None
    unseen_share: float | None  # categorical features only
    null_share: float  # of the current batch
    reference_null_share: float
    n_reference: int  # non-null values compared
    n_current: int
    n_distinct_reference: int  # distinct non-null values
    n_distinct_current: int
    few_values: bool  # <= 5 distinct values in both frames together (Evidently then uses JS)
    note: str = ""

    @property
    def comparable(self) -> bool:
        return self.score is not None


@dataclass(frozen=True)
class DriftResult:
    features: tuple[FeatureDrift, ...]
    method: str
    threshold: float | None  # None: each method's default
    n_reference_rows: int
    n_current_rows: int
    skipped: tuple[str, ...] = ()
    n_compared: int = field(init=False)
    n_drifted: int = field(init=False)
    share_drifted: float = field(init=False)
    drifted_features: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        compared = [f for f in self.features if f.comparable]
        drifted = tuple(f.feature for f in compared if f.drifted)
        object.__setattr__(self, "n_compared", len(compared))
        object.__setattr__(self, "n_drifted", len(drifted))
        object.__setattr__(self, "share_drifted", len(drifted) / len(compared) if compared else 0.0)
        object.__setattr__(self, "drifted_features", drifted)

    def feature(self, name: str) -> FeatureDrift:
        for f in self.features:
            if f.feature == name:
                return f
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (XCom, `_REASON.json`, MLflow tags)."""
        return {
            "method": self.method,
            "threshold": self.threshold,
            "n_reference_rows": self.n_reference_rows,
            "n_current_rows": self.n_current_rows,
            "n_compared": self.n_compared,
            "n_drifted": self.n_drifted,
            "share_drifted": self.share_drifted,
            "drifted_features": list(self.drifted_features),
            "skipped": list(self.skipped),
            "features": [asdict(f) for f in self.features],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftResult:
        names = {f.name for f in fields(FeatureDrift)}
        feats = tuple(FeatureDrift(**{k: v for k, v in f.items() if k in names})
                      for f in data["features"])
        return cls(features=feats, method=data["method"], threshold=data["threshold"],
                   n_reference_rows=int(data["n_reference_rows"]),
                   n_current_rows=int(data["n_current_rows"]),
                   skipped=tuple(data.get("skipped", ())))


@dataclass(frozen=True)
class DriftPolicy:
    """When drift is enough to retrain.

    Crossed when the share of drifted features reaches ``share_drifted_threshold`` (None: never
    on the share), or when a named feature's PSI reaches its threshold in ``psi_thresholds``.
    ``method``/``threshold`` decide which features count as drifted (see module doc).
    """

    share_drifted_threshold: float | None = DEFAULT_SHARE_DRIFTED
    psi_thresholds: Mapping[str, float] = field(default_factory=dict)
    method: Method = "auto"
    threshold: float | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"drift method {self.method!r} is not one of {list(METHODS)}")
        s = self.share_drifted_threshold
        if s is not None and not 0.0 < s <= 1.0:
            raise ValueError(f"share_drifted_threshold must be within (0, 1], got {s}")
        for name, value in self.psi_thresholds.items():
            if not value > 0:
                raise ValueError(f"PSI threshold of {name!r} must be > 0, got {value}")
        if self.threshold is not None and not self.threshold > 0:
            raise ValueError(f"threshold must be > 0, got {self.threshold}")

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> DriftPolicy:
        """From a spec section: {share_drifted, psi: {feature: threshold}, method, threshold}."""
        known = {"share_drifted", "psi", "method", "threshold"}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown drift policy keys {sorted(unknown)}; use {sorted(known)}")
        share = raw.get("share_drifted", DEFAULT_SHARE_DRIFTED)
        threshold = raw.get("threshold")
        return cls(share_drifted_threshold=None if share is None else float(share),
                   psi_thresholds={str(k): float(v) for k, v in (raw.get("psi") or {}).items()},
                   method=raw.get("method", "auto"),
                   threshold=None if threshold is None else float(threshold))


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
            stats = _numeric_stats(reference[name], current[name], n_bins, eps)
            kind: FeatureKind = "numeric"
        elif dtype in _CATEGORICAL_DTYPES:
            stats = _categorical_stats(reference[name], current[name], eps)
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


def evaluate(result: DriftResult, policy: DriftPolicy) -> tuple[bool, list[str]]:
    """Is the policy crossed? Returns (crossed, reasons); reasons are empty when not crossed.

    Verdicts are re-taken with the policy's method and threshold from the stored statistics,
    so a result computed (or stored) under other settings is judged by the policy's own.
    """
    unknown = [n for n in policy.psi_thresholds if n not in {f.feature for f in result.features}]
    if unknown:
        raise ValueError(f"drift policy names features {unknown} that were not compared")
    reasons: list[str] = []
    judged = [(f, verdict(f, policy.method, policy.threshold)) for f in result.features]
    compared = [(f, v) for f, v in judged if v[1] is not None]
    drifted = [f.feature for f, v in compared if v[3]]
    share = len(drifted) / len(compared) if compared else 0.0
    limit = policy.share_drifted_threshold
    if limit is not None and compared and share >= limit:
        reasons.append(f"share of drifted features {share:.2f} >= {limit:.2f} "
                       f"({len(drifted)}/{len(compared)}: {', '.join(drifted)})")
    for name, psi_limit in policy.psi_thresholds.items():
        psi = result.feature(name).psi
        if psi is not None and psi >= psi_limit:
            reasons.append(f"feature {name!r} PSI {psi:.3f} >= {psi_limit:.3f}")
    return bool(reasons), reasons


# --- verdicts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Stats:
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


def _statistic_for(kind: FeatureKind, few_values: bool, method: Method) -> str:
    if method == "psi":
        return "psi"
    if method == "jensenshannon" or kind == "categorical":
        return "jensenshannon"
    if method == "wasserstein":
        return "wasserstein"
    return "jensenshannon" if few_values else "wasserstein"


def _judge(name: str, kind: FeatureKind, s: _Stats, method: Method,
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


# --- numeric features --------------------------------------------------------------------------


def _sorted_finite(series: pd.Series) -> tuple[np.ndarray, int]:
    """Finite values sorted (always a fresh array: never sorts the caller's frame in place)."""
    x = series.to_numpy(dtype=np.float64, na_value=np.nan)
    ok = np.isfinite(x)
    if ok.all():
        return np.sort(x), len(x)
    x = x[ok]  # a copy
    x.sort()
    return x, len(ok)


def _numeric_stats(ref_col: pd.Series, cur_col: pd.Series, n_bins: int, eps: float) -> _Stats:
    r, n_r_rows = _sorted_finite(ref_col)
    c, n_c_rows = _sorted_finite(cur_col)
    n, m = len(r), len(c)
    null_share = _share(n_c_rows - m, n_c_rows)
    ref_null_share = _share(n_r_rows - n, n_r_rows)
    ur, cr = _value_counts_sorted(r)
    uc, cc = _value_counts_sorted(c)
    few = len(ur) <= _FEW_VALUES and len(uc) <= _FEW_VALUES \
        and len(np.union1d(ur, uc)) <= _FEW_VALUES
    if n == 0 or m == 0:
        side = "reference" if n == 0 else "current batch"
        return _Stats(None, None, None, None, null_share, ref_null_share, n, m, len(ur), len(uc),
                      few, note=f"no non-null values in the {side}: not compared")

    std = float(np.std(r))
    wasserstein = _wasserstein_sorted(r, c) / max(std, _WASSERSTEIN_NORM_FLOOR)
    if len(ur) > _JS_VALUE_BINS_MAX:
        rp, cp = _sturges_counts(r, c)
    else:
        keys = np.union1d(ur, uc)
        rp, cp = _counts_on_keys(keys, ur, cr), _counts_on_keys(keys, uc, cc)
    js = _jensenshannon(rp, cp)
    psi = _psi(*_quantile_bin_counts(r, c, n_bins), eps)
    note = "reference is constant" if len(ur) == 1 else ""
    return _Stats(psi, wasserstein, js, None, null_share, ref_null_share, n, m, len(ur), len(uc),
                  few, note)


def _value_counts_sorted(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(s) == 0:
        return s, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1])))
    return s[starts], np.diff(np.append(starts, len(s)))


def _counts_on_keys(keys: np.ndarray, values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    out = np.zeros(len(keys), dtype=np.float64)
    out[np.searchsorted(keys, values)] = counts
    return out


def _quantile_bin_counts(r: np.ndarray, c: np.ndarray,
                         n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts on reference-quantile bins plus one bin below min and one above max (sorted input)."""
    n = len(r)
    pos = np.arange(1, n_bins) / n_bins * (n - 1)  # numpy's "linear" quantile positions
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    inner = r[lo] + (pos - lo) * (r[hi] - r[lo])
    edges = np.unique(np.concatenate(([r[0]], inner, [np.nextafter(r[-1], np.inf)])))
    return _bin_counts_sorted(r, edges), _bin_counts_sorted(c, edges)


def _bin_counts_sorted(s: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts in (-inf, e0), [e0, e1), ..., [e_last, inf) of a sorted array."""
    idx = np.searchsorted(s, edges, side="left")
    return np.diff(np.concatenate(([0], idx, [len(s)]))).astype(np.float64)


def _sturges_counts(r: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.histogram(x, np.histogram_bin_edges(concat(r, c), "sturges")) for sorted r and c."""
    lo, hi = min(r[0], c[0]), max(r[-1], c[-1])
    width = (hi - lo) / (np.log2(len(r) + len(c)) + 1.0)
    n_edges = int(np.ceil((hi - lo) / width)) + 1 if width > 0 else 2
    edges = np.linspace(lo, hi, n_edges) if width > 0 else np.array([lo - 0.5, hi + 0.5])

    def counts(s: np.ndarray) -> np.ndarray:
        left = np.searchsorted(s, edges[:-1], side="left")
        right = np.append(left[1:], np.searchsorted(s, edges[-1], side="right"))
        return (right - left).astype(np.float64)  # last bin is closed, as in np.histogram

    return counts(r), counts(c)


def _wasserstein_sorted(r: np.ndarray, c: np.ndarray) -> float:
    """Exact W1 between the empirical distributions of two sorted samples.

    W1 is the integral over u in (0, 1] of |Q_r(u) - Q_c(u)|, where the empirical quantile
    function Q_r(u) = r[ceil(u n) - 1] steps at i/n and Q_c at j/m. On the grid u * n * m those
    steps are the integers a_i = i*m and b_j = j*n. Each piece of the merged grid ends at an a_i
    or a b_j, and its start and the other sample's index there follow from integer division, so
    the integral is two element-wise passes (one per sample) with no merge, sort or search.
    """
    n, m = len(r), len(c)
    if n == m:
        return float(np.mean(np.abs(r - c)))
    # float64 holds the grid's integers exactly up to 2**53; the floor of a quotient of two of
    # them is exact while n*m stays well below that. int64 beyond (slower, same formula).
    dt = np.float64 if float(n) * float(m) < _FLOAT_GRID_LIMIT else np.int64
    a = np.arange(1, n + 1, dtype=dt) * m
    below_a = _floordiv(a - 1, n)  # count of b_j < a_i: the index into c on the piece
    width_a = a - np.maximum(a - m, below_a * n)
    total = float(np.dot(width_a, np.abs(r - c[below_a.astype(np.intp)])))
    b = np.arange(1, m + 1, dtype=dt) * n
    upto_b = _floordiv(b, m)  # count of a_i <= b_j; off by one only on zero-width ties
    width_b = b - np.maximum(b - n, upto_b * m)
    total += float(np.dot(width_b, np.abs(r[np.minimum(upto_b, n - 1).astype(np.intp)] - c)))
    return total / (float(n) * float(m))


def _floordiv(x: np.ndarray, d: int) -> np.ndarray:
    return np.floor(x / d) if x.dtype == np.float64 else x // d


# --- categorical features ----------------------------------------------------------------------


def _category_codes(ref: pd.Series, cur: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    """Integer codes on one shared set of categories; -1 for missing values."""
    if isinstance(ref.dtype, pd.CategoricalDtype) and isinstance(cur.dtype, pd.CategoricalDtype):
        cats = ref.cat.categories
        rc = ref.cat.codes.to_numpy().astype(np.int64)
        cc = cur.cat.codes.to_numpy().astype(np.int64)
        if not cur.cat.categories.equals(cats):
            extra = cur.cat.categories[~cur.cat.categories.isin(cats)]
            cats = cats.append(extra)
            mapping = np.append(cats.get_indexer(cur.cat.categories), -1)
            cc = mapping[cc]  # code -1 picks the appended -1
        return rc, cc, len(cats)
    if ref.dtype == np.bool_ and cur.dtype == np.bool_:
        return ref.to_numpy().astype(np.int64), cur.to_numpy().astype(np.int64), 2
    codes, uniques = pd.factorize(pd.concat([ref, cur], ignore_index=True), use_na_sentinel=True)
    codes = codes.astype(np.int64)
    return codes[: len(ref)], codes[len(ref):], len(uniques)


def _categorical_stats(ref_col: pd.Series, cur_col: pd.Series, eps: float) -> _Stats:
    rc, cc, k = _category_codes(ref_col, cur_col)
    r_all = np.bincount(rc + 1, minlength=k + 1)  # slot 0 counts missing values
    c_all = np.bincount(cc + 1, minlength=k + 1)
    r_counts, c_counts = r_all[1:].astype(np.float64), c_all[1:].astype(np.float64)
    n, m = int(r_counts.sum()), int(c_counts.sum())
    null_share = _share(int(c_all[0]), len(cc))
    ref_null_share = _share(int(r_all[0]), len(rc))
    seen = (r_counts + c_counts) > 0
    n_ref_cats, n_cur_cats = int(np.count_nonzero(r_counts)), int(np.count_nonzero(c_counts))
    few = int(np.count_nonzero(seen)) <= _FEW_VALUES
    if n == 0 or m == 0:
        side = "reference" if n == 0 else "current batch"
        return _Stats(None, None, None, None, null_share, ref_null_share, n, m, n_ref_cats,
                      n_cur_cats, few, note=f"no non-null values in the {side}: not compared")
    r_counts, c_counts = r_counts[seen], c_counts[seen]
    unseen = float(c_counts[r_counts == 0].sum()) / m
    note = "reference has a single category" if n_ref_cats == 1 else ""
    return _Stats(_psi(r_counts, c_counts, eps), None, _jensenshannon(r_counts, c_counts),
                  unseen, null_share, ref_null_share, n, m, n_ref_cats, n_cur_cats, few, note)


# --- distances on counts -----------------------------------------------------------------------


def _psi(ref_counts: np.ndarray, cur_counts: np.ndarray, eps: float) -> float:
    p = np.maximum(ref_counts / ref_counts.sum(), eps)
    q = np.maximum(cur_counts / cur_counts.sum(), eps)
    return float(np.sum((q - p) * np.log(q / p)))


def _jensenshannon(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """scipy.spatial.distance.jensenshannon(p, q) with the natural log (0 ln 0 = 0)."""
    p = ref_counts / ref_counts.sum()
    q = cur_counts / cur_counts.sum()
    mid = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.where(p > 0, p * np.log(p / mid), 0.0)
        right = np.where(q > 0, q * np.log(q / mid), 0.0)
    return math.sqrt(max(float(left.sum() + right.sum()) / 2, 0.0))


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0
