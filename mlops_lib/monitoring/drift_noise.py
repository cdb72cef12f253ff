"""The noise floor of a drift statistic at a batch's size, and the reference it is drawn from.

A distance between two samples is never zero: a batch of n rows drawn from the very
distribution of the reference still lands some way from it, further the smaller n is (normed
Wasserstein and Jensen-Shannon shrink like 1/sqrt(n)). A fixed threshold of 0.1 is a large
effect on a million rows and ordinary noise on a hundred. The *noise floor* is the `quantile`
(0.99) of the statistic over `resamples` (200) batches drawn from the reference itself, each of
the batch's size; the monitor calls a feature drifted only when its statistic reaches
``max(threshold, floor)``, so a same-distribution batch of any size is called drifted about
once in a hundred features at most.

The statistic between a batch and the reference carries the sampling noise of both, so the
resamples are of ``n * N / (n + N)`` rows (the variance of both samples together, N the
reference's non-null values), not n. Cheap by construction: each reference column is reduced
once per monitor run (`ReferenceProfile`) to the probabilities of its cells (categories,
distinct values, bins) and, for Wasserstein, to a quantile grid of at most 1000 points; a floor
is then one multinomial draw of (resamples x cells) counts and vectorised arithmetic,
whatever the sizes. Seeded by the feature's name and the batch's size: the same batch gets the
same floor on a retry.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from functools import cached_property

import numpy as np
import pandas as pd

from mlops_lib.monitoring.drift_numeric import (
    closed_bin_counts,
    quantile_bin_counts,
    sorted_finite,
    sturges_edges,
    value_counts_sorted,
)
from mlops_lib.monitoring.drift_result import FeatureKind
from mlops_lib.monitoring.drift_stats import Counts

DEFAULT_QUANTILE = 0.99
DEFAULT_RESAMPLES = 200
SEED = 17  # issue 17: any constant; the floor of a batch must not change between runs
GRID_POINTS = 1000  # quantile grid of a numeric reference for the Wasserstein floor
_JS_VALUE_BINS_MAX = 20  # as drift_numeric: per distinct value up to 20 reference values
_WASSERSTEIN_NORM_FLOOR = 0.001


class ReferenceColumn:
    """One reference column reduced to what the statistics and their floors need."""

    def __init__(self, kind: FeatureKind, series: pd.Series) -> None:
        if kind == "numeric":
            finite, n_rows = sorted_finite(series)
            self._numeric(finite, n_rows, value_counts_sorted(finite))
            return
        counts = series.value_counts(dropna=True).to_numpy(dtype=np.float64)
        self.kind: FeatureKind = kind
        self.sorted, self.n_rows = np.zeros(0), len(series)
        self._count(counts[counts > 0])

    @classmethod
    def numeric(cls, sorted_values: np.ndarray, n_rows: int,
                distinct: tuple[np.ndarray, np.ndarray]) -> ReferenceColumn:
        """A numeric column already reduced: its finite values sorted, of `n_rows` rows, and
        their `value_counts_sorted`."""
        column = cls.__new__(cls)
        column._numeric(sorted_values, n_rows, distinct)
        return column

    def _numeric(self, sorted_values: np.ndarray, n_rows: int,
                 distinct: tuple[np.ndarray, np.ndarray]) -> None:
        self.kind, self.sorted, self.n_rows = "numeric", sorted_values, n_rows
        self.distinct = distinct  # (values, counts): the statistics take them too
        self._count(distinct[1])

    def _count(self, counts: np.ndarray) -> None:
        self.counts: Counts = counts.astype(np.float64)
        self.n = int(self.counts.sum())  # non-null values

    @cached_property
    def grid(self) -> np.ndarray:
        """The reference's quantiles at (g + 0.5) / G: G equally likely values."""
        if self.n <= GRID_POINTS:
            return self.sorted
        at = ((np.arange(GRID_POINTS) + 0.5) * self.n / GRID_POINTS).astype(np.intp)
        return self.sorted[at]

    @cached_property
    def norm(self) -> float:
        return max(float(np.std(self.sorted)), _WASSERSTEIN_NORM_FLOOR)

    def cells(self, statistic: str, n_current: int, n_bins: int) -> Counts:
        """The reference's probabilities over the cells `statistic` compares on."""
        if self.kind == "categorical":
            return self.counts / self.n
        if statistic == "psi":
            ref, _ = quantile_bin_counts(self.sorted, self.sorted[:1], n_bins)
            return ref / self.n
        if len(self.counts) <= _JS_VALUE_BINS_MAX:  # one bin per distinct value
            return self.counts / self.n
        edges = sturges_edges(float(self.sorted[0]), float(self.sorted[-1]),
                              self.n + n_current)
        return closed_bin_counts(self.sorted, edges) / self.n


class ReferenceProfile:
    """The reference columns of one monitor run, each reduced once (`ReferenceColumn`)."""

    def __init__(self, reference: pd.DataFrame, kinds: Iterable[tuple[str, FeatureKind]]) -> None:
        self.n_rows = len(reference)
        self.columns = {name: ReferenceColumn(kind, reference[name]) for name, kind in kinds}


def noise_floor(column: ReferenceColumn, statistic: str, n_current: int, *, feature: str,
                quantile: float = DEFAULT_QUANTILE, resamples: int = DEFAULT_RESAMPLES,
                n_bins: int = 10, eps: float = 1e-4) -> float | None:
    """The `quantile` of `statistic` on batches of `n_current` rows drawn from the reference
    (see the module); None when either side has no value."""
    if column.n == 0 or n_current <= 0:
        return None
    size = max(1, round(n_current * column.n / (n_current + column.n)))
    rng = np.random.default_rng([SEED, zlib.crc32(feature.encode("utf-8")), n_current])
    if statistic == "wasserstein":
        values = _wasserstein_null(column, size, resamples, rng)
    else:
        probs = column.cells(statistic, n_current, n_bins)
        counts = rng.multinomial(size, probs / probs.sum(), size=resamples).astype(np.float64)
        values = (_js_rows(probs, counts / size) if statistic == "jensenshannon"
                  else _psi_rows(probs, counts / size, eps))
    return float(np.quantile(values, quantile))


def _wasserstein_null(column: ReferenceColumn, size: int, resamples: int,
                      rng: np.random.Generator) -> np.ndarray:
    """Normed W1 between `resamples` draws of `size` grid values and the grid: on one support,
    W1 is the sum over its gaps of |F_sample - F_grid| times the gap."""
    grid = column.grid
    g = len(grid)
    if size <= g:  # draw the rows: cheaper than g binomials when the batch is small
        rows = rng.integers(0, g, size=(resamples, size)) + np.arange(resamples)[:, None] * g
        counts = np.bincount(rows.ravel(), minlength=resamples * g).reshape(resamples, g)
    else:
        counts = rng.multinomial(size, np.full(g, 1.0 / g), size=resamples)
    cdf = np.cumsum(counts[:, :-1], axis=1) / size
    ref_cdf = np.arange(1, g) / g
    return np.abs(cdf - ref_cdf) @ np.diff(grid) / column.norm


def _js_rows(p: Counts, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distance (natural log) of `p` to each row of `q`."""
    mid = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.where(p > 0, p * np.log(p / mid), 0.0).sum(axis=1)
        right = np.where(q > 0, q * np.log(q / mid), 0.0).sum(axis=1)
    out: np.ndarray = np.sqrt(np.maximum((left + right) / 2, 0.0))
    return out


def _psi_rows(p: Counts, q: np.ndarray, eps: float) -> np.ndarray:
    p, q = np.maximum(p, eps), np.maximum(q, eps)
    out: np.ndarray = np.sum((q - p) * np.log(q / p), axis=1)
    return out
