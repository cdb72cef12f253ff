"""The rows of a category column whose label the spec does not know, reading each distinct
value's label once.

`category_labels` turns values into text one Python call per row; on a batch of millions of
rows that call, not the comparison with the spec, was the cost of the categories check. Values
that are equal are read as the same label, so the label of each distinct value (a category, or
a value `pd.factorize` finds) says what the label of every row holding it is.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.api import types as pdt

from mlops_lib.validation.values import category_labels, inferred_kind

# Object columns whose equal values always have equal text: a column mixing types (1 and True
# are equal to pandas' hash table, "1" and "True" as text) keeps the reading of every row.
_UNIFORM_KINDS = ("string", "integer")


def unknown_labels(s: pd.Series, known: Sequence[str]) -> tuple[int, list[str]]:
    """The non-null rows of `s` whose label is not in `known`, and those labels, sorted."""
    distinct = _distinct_values(s)
    if distinct is None:
        labels = category_labels(s).dropna()
        unknown_mask = ~labels.isin(known)
        return int(unknown_mask.sum()), sorted(set(labels[unknown_mask]))
    codes, values = distinct
    rows = np.bincount(codes[codes >= 0], minlength=len(values))  # -1 is a null
    labels = category_labels(values)
    unknown = ~np.asarray(labels.isin(known), dtype=bool) & (rows > 0)
    return int(rows[unknown].sum()), sorted(set(labels[unknown]))


def _distinct_values(s: pd.Series) -> tuple[npt.NDArray[np.intp], pd.Series] | None:
    """Each row's code (-1 for a null) and the distinct values as a Series of `s`'s dtype;
    None where equal values may have different labels."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        # Every category once, as a column of the same dtype: its labels are read as the
        # rows' are. Unused categories count no rows.
        n = len(s.cat.categories)
        values = pd.Series(pd.Categorical.from_codes(np.arange(n), dtype=s.dtype))
        return np.asarray(s.cat.codes, dtype=np.intp), values
    if s.dtype == object:
        if inferred_kind(s) not in _UNIFORM_KINDS:
            return None
    elif not (pdt.is_integer_dtype(s) or pdt.is_float_dtype(s) or pdt.is_string_dtype(s)):
        return None
    codes, uniques = pd.factorize(s)
    return np.asarray(codes, dtype=np.intp), pd.Series(uniques, dtype=s.dtype)
