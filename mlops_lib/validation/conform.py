"""Casting a batch that passed validation to exactly the spec's columns and dtypes."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
from pandas.api import types as pdt

from mlops_lib.spec import Feature, PipelineSpec
from mlops_lib.validation.labels import binary_labels, class_codes
from mlops_lib.validation.limits import beyond_int64
from mlops_lib.validation.values import as_float, category_labels, parse_datetimes, to_bool


def conform(df: pd.DataFrame, spec: PipelineSpec) -> pd.DataFrame:
    """A new frame with exactly the spec's columns and dtypes, for a batch that passed."""
    missing = [c for c in spec.columns if c not in df.columns]
    if missing:
        raise ValueError(f"cannot conform: missing columns {missing}; validate the batch first")
    out = {f.name: _CASTS[f.dtype](df[f.name], f) for f in spec.features}
    out[spec.target] = _conform_target(df[spec.target], spec)
    # copy=False: the casts already made new arrays where the dtype changed; copying (and
    # consolidating) them again would hold a third copy of a large batch.
    return pd.DataFrame(out, columns=spec.columns, index=df.index.copy(), copy=False)


def _cast_float(s: pd.Series, _: Feature) -> pd.Series:
    return pd.Series(as_float(s), index=s.index, dtype="float64")


def _cast_int(s: pd.Series, feature: Feature) -> pd.Series:
    if s.isna().any():
        # int64 cannot hold NaN; float64 concatenates with int64 batches without going to object.
        return _cast_float(s, feature)
    # numpy's casts wrap (uint64 2**64-1 becomes -1, float 1e19 the int64 minimum) without a
    # word: refuse what validation reports as VALUE_OVERFLOW rather than stage another number.
    beyond = beyond_int64(s)
    if beyond.any():
        raise ValueError(f"cannot conform: {int(beyond.sum())} values of {feature.name!r} beyond "
                         "int64; validate the batch first")
    if pdt.is_integer_dtype(s):
        return s.astype("int64")
    # to_numeric keeps Python ints exact (as int64); through float64 they would round
    return pd.to_numeric(s).astype("int64")


def _cast_bool(s: pd.Series, _: Feature) -> pd.Series:
    if pdt.is_bool_dtype(s) and not s.isna().any():
        return s.astype("bool")
    flags = s.map(to_bool)
    if flags.isna().any():
        # pandas' nullable boolean keeps the gaps and stays boolean when concatenated with bool.
        return pd.Series(pd.array(flags.tolist(), dtype="boolean"), index=s.index)
    return flags.astype("bool")


def _cast_category(s: pd.Series, feature: Feature) -> pd.Series:
    # Spec order fixes the category codes, so code 2 means the same label in every batch.
    labels = category_labels(s)
    return pd.Series(pd.Categorical(labels, categories=list(feature.categories)), index=s.index)


def _cast_string(s: pd.Series, _: Feature) -> pd.Series:
    labels = category_labels(s)
    return labels.astype(object)


def _cast_datetime(s: pd.Series, _: Feature) -> pd.Series:
    if pdt.is_datetime64_any_dtype(s):
        stamps = s
    else:
        stamps = parse_datetimes(s, errors="raise")
    if isinstance(stamps.dtype, pd.DatetimeTZDtype):
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return stamps.astype("datetime64[ns]")


_CASTS: dict[str, Callable[[pd.Series, Feature], pd.Series]] = {
    "float": _cast_float,
    "int": _cast_int,
    "bool": _cast_bool,
    "category": _cast_category,
    "string": _cast_string,
    "datetime": _cast_datetime,
}


def _conform_target(s: pd.Series, spec: PipelineSpec) -> pd.Series:
    if spec.task == "regression":
        return pd.Series(as_float(s), index=s.index, dtype="float64")
    if spec.task == "multiclass_classification":
        # Like a category feature: the labels as text, categories in the spec's class order, so
        # a label's code is its class index 0..k-1, the index training and evaluation use.
        codes = class_codes(s, spec.classes)
        if (codes < 0).any():
            raise ValueError(f"cannot conform: labels of {spec.target!r} outside the class set; "
                             "validate the batch first")
        return pd.Series(pd.Categorical.from_codes(codes, categories=list(spec.classes)),
                         index=s.index)
    return binary_labels(s).astype("int64")
