"""Whether a column holds a single distinct value, without counting all of its values.

The constant-columns warning only asks whether `nunique() == 1`; counting every distinct value
of every feature hashed the whole batch once per column and grew faster than the row count
(most of `validate_batch`'s time at 2M rows). `single_value` answers the same question from
a column's extremes, its category codes, or a comparison with its first value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api import types as pdt

# Numbers, booleans and timestamps: one distinct value exactly when min == max, as pandas'
# hash table equates values by == too (0.0 and -0.0 are one value to both).
_ORDERED_KINDS = "iufbmM"


def single_value(s: pd.Series) -> bool:
    """What `s.nunique(dropna=True) == 1` says, False where nunique raises (unhashable cells,
    DTYPE_MISMATCH's business)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes = np.asarray(s.cat.codes)
        used = codes[codes >= 0]  # -1 is a null
        return bool(used.size and used.min() == used.max())
    # Masked dtypes (Int64, Float64) stay with nunique's own reading: a NaN that is not NA
    # counts as a value there, and min/max would skip it.
    if (isinstance(s.dtype, np.dtype) or pdt.is_datetime64_any_dtype(s.dtype)) \
            and s.dtype.kind in _ORDERED_KINDS:
        low, high = s.min(), s.max()  # skip NaN/NaT; NaN/NaT when no value is left
        return bool(pd.notna(low) and low == high)
    return _single_by_first(s)


def _single_by_first(s: pd.Series) -> bool:
    """Any other dtype: a vectorised comparison with the first value finds a second value in
    most columns; nunique decides what that cannot (all equal, or a comparison that is not
    pandas' notion of distinct)."""
    values = s.dropna()
    if values.empty:
        return False
    first = values.iloc[0]
    try:
        hash(first)
    except TypeError:
        return False  # nunique raises on it
    if pdt.is_scalar(first):  # a tuple would be broadcast by the comparison
        try:
            differs = np.flatnonzero(np.asarray(values != first, dtype=bool))
        except (TypeError, ValueError):  # cells whose comparison is no bool (arrays)
            differs = np.array([], dtype=np.intp)
        if differs.size and _nunique(values.iloc[[0, int(differs[0])]]) == 2:
            return False  # two distinct values by pandas' own count
    return _nunique(values) == 1


def _nunique(values: pd.Series) -> int | None:
    try:
        return int(values.nunique(dropna=True))
    except TypeError:  # unhashable cells
        return None
