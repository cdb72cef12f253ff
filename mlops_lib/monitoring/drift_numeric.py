"""Drift statistics of a numeric feature (spec dtype `float` or `int`), on all rows.

One sort per side, then `searchsorted`, `diff` and array arithmetic: no Python loop over rows.
The statistics are described in `mlops_lib.monitoring.drift`'s module documentation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlops_lib.monitoring.drift_stats import (
    FEW_VALUES,
    ColumnStats,
    jensenshannon,
    not_compared,
    psi,
    share,
)

_WASSERSTEIN_NORM_FLOOR = 0.001  # Evidently: max(std(reference), 0.001)
_JS_VALUE_BINS_MAX = 20  # Evidently bins numbers per distinct value up to 20 reference values
_FLOAT_GRID_LIMIT = 2.0**50  # W1 grid arithmetic in float64 below n*m of this, else int64


def numeric_stats(sorted_ref: tuple[np.ndarray, int], cur_col: pd.Series, n_bins: int,
                  eps: float, ref_distinct: tuple[np.ndarray, np.ndarray]) -> ColumnStats:
    """`sorted_ref`: the reference column's `sorted_finite`, `ref_distinct` its
    `value_counts_sorted` (both reduced once per reference, not once per batch)."""
    r, n_r_rows = sorted_ref
    c, n_c_rows = sorted_finite(cur_col)
    n, m = len(r), len(c)
    null_share = share(n_c_rows - m, n_c_rows)
    ref_null_share = share(n_r_rows - n, n_r_rows)
    ur, cr = ref_distinct
    uc, cc = value_counts_sorted(c)
    few = len(ur) <= FEW_VALUES and len(uc) <= FEW_VALUES \
        and len(np.union1d(ur, uc)) <= FEW_VALUES
    if n == 0 or m == 0:
        return not_compared(n, m, null_share, ref_null_share, len(ur), len(uc), few)

    std = float(np.std(r))
    wasserstein = wasserstein_sorted(r, c) / max(std, _WASSERSTEIN_NORM_FLOOR)
    if len(ur) > _JS_VALUE_BINS_MAX:
        rp, cp = _sturges_counts(r, c)
    else:
        keys = np.union1d(ur, uc)
        rp, cp = _counts_on_keys(keys, ur, cr), _counts_on_keys(keys, uc, cc)
    js = jensenshannon(rp, cp)
    psi_value = psi(*quantile_bin_counts(r, c, n_bins), eps)
    note = "reference is constant" if len(ur) == 1 else ""
    return ColumnStats(psi_value, wasserstein, js, None, null_share, ref_null_share, n, m,
                       len(ur), len(uc), few, note)


def sorted_finite(series: pd.Series) -> tuple[np.ndarray, int]:
    """Finite values sorted (always a fresh array: never sorts the caller's frame in place)."""
    x = series.to_numpy(dtype=np.float64, na_value=np.nan)
    ok = np.isfinite(x)
    if ok.all():
        return np.sort(x), len(x)
    x = x[ok]  # a copy
    x.sort()
    return x, len(ok)


def value_counts_sorted(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(s) == 0:
        return s, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1])))
    return s[starts], np.diff(np.append(starts, len(s)))


def _counts_on_keys(keys: np.ndarray, values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    out = np.zeros(len(keys), dtype=np.float64)
    out[np.searchsorted(keys, values)] = counts
    return out


def quantile_bin_counts(r: np.ndarray, c: np.ndarray,
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
    edges = sturges_edges(min(r[0], c[0]), max(r[-1], c[-1]), len(r) + len(c))
    return closed_bin_counts(r, edges), closed_bin_counts(c, edges)


def sturges_edges(lo: float, hi: float, n_total: int) -> np.ndarray:
    """np.histogram_bin_edges(x, "sturges") of `n_total` values spanning [lo, hi]."""
    width = (hi - lo) / (np.log2(n_total) + 1.0)
    n_edges = int(np.ceil((hi - lo) / width)) + 1 if width > 0 else 2
    return np.linspace(lo, hi, n_edges) if width > 0 else np.array([lo - 0.5, hi + 0.5])


def closed_bin_counts(s: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of sorted `s` in `edges`' bins, the last one closed, as in np.histogram."""
    left = np.searchsorted(s, edges[:-1], side="left")
    right = np.append(left[1:], np.searchsorted(s, edges[-1], side="right"))
    return (right - left).astype(np.float64)


def wasserstein_sorted(r: np.ndarray, c: np.ndarray) -> float:
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
