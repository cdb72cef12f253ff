"""Target labels as class indices: the one reading of a label that validation, conform,
training and the reports share, so a label is the same class everywhere."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.api import types as pdt


def class_codes(labels: pd.Series, classes: Sequence[str]) -> npt.NDArray[np.int64]:
    """Class index (0..k-1, the order of `classes`) of each label; -1 for a null or a label
    outside the set. A label matches a class by its text: "2", 2 and 2.0 are class "2"."""
    index = {c: i for i, c in enumerate(classes)}
    values = labels.astype(object)  # a categorical's map would keep the dtype
    mapping = {v: _class_index(v, index) for v in values.dropna().unique()}
    mapped = pd.to_numeric(values.map(mapping), errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan)
    return np.where(np.isnan(mapped), -1, mapped).astype(np.int64)


def _class_index(v: object, index: dict[str, int]) -> int:
    key = _class_key(v)
    return -1 if key is None else index.get(key, -1)


def _class_key(v: object) -> str | None:
    if isinstance(v, str):
        return v
    if isinstance(v, bool | np.bool_):
        return None
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating) and np.isfinite(v) and float(v).is_integer():
        return str(int(v))
    return None


def binary_labels(s: pd.Series) -> pd.Series:
    """`s.map(_to_binary_label)`: 0/1 for each label that is 0, 1, False or True, missing
    otherwise; int64 when every label is valid. Vectorised for bool and real-number columns
    (a per-row Python call was half of validation time on large batches); text, categories and
    mixed objects go through the per-label function."""
    if (pdt.is_bool_dtype(s) or pdt.is_numeric_dtype(s)) and not pdt.is_complex_dtype(s) \
            and not isinstance(s.dtype, pd.CategoricalDtype):
        values = s.astype("float64")  # bools -> 0/1; nullable NA -> NaN
        valid = values.isin((0.0, 1.0))
        return values.astype("int64") if valid.all() else values.where(valid)
    return s.map(_to_binary_label)


def _to_binary_label(v: object) -> int | None:
    if isinstance(v, bool | np.bool_):
        return int(v)
    if isinstance(v, int | float | np.number) and v in (0, 1):
        return int(v)
    return None
