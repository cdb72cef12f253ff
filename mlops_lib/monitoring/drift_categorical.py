"""Drift statistics of a categorical feature (spec dtype `category`, `bool` or `string`).

Counts per category with one `bincount` per side over shared integer codes; Python loops run
over category levels only, never over rows.
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


def categorical_stats(ref_col: pd.Series, cur_col: pd.Series, eps: float) -> ColumnStats:
    rc, cc, k = _category_codes(ref_col, cur_col)
    r_all = np.bincount(rc + 1, minlength=k + 1)  # slot 0 counts missing values
    c_all = np.bincount(cc + 1, minlength=k + 1)
    r_counts, c_counts = r_all[1:].astype(np.float64), c_all[1:].astype(np.float64)
    n, m = int(r_counts.sum()), int(c_counts.sum())
    null_share = share(int(c_all[0]), len(cc))
    ref_null_share = share(int(r_all[0]), len(rc))
    seen = (r_counts + c_counts) > 0
    n_ref_cats, n_cur_cats = int(np.count_nonzero(r_counts)), int(np.count_nonzero(c_counts))
    few = int(np.count_nonzero(seen)) <= FEW_VALUES
    if n == 0 or m == 0:
        return not_compared(n, m, null_share, ref_null_share, n_ref_cats, n_cur_cats, few)
    r_counts, c_counts = r_counts[seen], c_counts[seen]
    unseen = float(c_counts[r_counts == 0].sum()) / m
    note = "reference has a single category" if n_ref_cats == 1 else ""
    return ColumnStats(psi(r_counts, c_counts, eps), None, jensenshannon(r_counts, c_counts),
                       unseen, null_share, ref_null_share, n, m, n_ref_cats, n_cur_cats, few,
                       note)


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
