"""Model inputs as XGBoost reads them: one float32 matrix, categories as codes.

Every model input becomes one column of a float32 matrix (Fortran order, so each column is
written contiguously): numeric and bool columns as their values, category columns as their code
in the spec's category order with feature type ``c`` (XGBoost's native categorical support; an
unknown or missing label is a missing value). Training and scoring both go through here, so a
category means the same code at training and at scoring time.

A multiclass target is encoded the same way: each label's index in the spec's `classes`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import xgboost as xgb

from mlops_lib.scoring.ct_serving import category_codes, numeric_values
from mlops_lib.spec import Feature, PipelineSpec
from mlops_lib.training.environment import available_cores
from mlops_lib.training.tabular import Tabular, column_series, n_rows
from mlops_lib.validation.labels import class_codes


def model_features(spec: PipelineSpec) -> list[Feature]:
    """The spec's features the model consumes, in model column order (spec.model_inputs)."""
    inputs = set(spec.model_inputs)
    return [f for f in spec.features if f.name in inputs]


def feature_types(spec: PipelineSpec) -> list[str]:
    """XGBoost feature types of the model columns: ``c`` (categorical) or ``q`` (numeric)."""
    return ["c" if f.dtype == "category" else "q" for f in model_features(spec)]


def feature_matrices(data: Tabular, spec: PipelineSpec,
                     *row_sets: np.ndarray | None) -> list[np.ndarray]:
    """One float32 (rows x model inputs) matrix per row set (row positions; None: all rows).

    Column by column, without a 2-D float64 intermediate: numeric and bool values cast to
    float32 (missing: NaN); category columns as their code in the spec's category order
    (unknown or missing: NaN). Fortran order, so each column is one contiguous write. An Arrow
    table is read column by column too, never as a whole pandas frame: the same values as
    its pandas conversion would give, bit for bit.
    """
    if not row_sets:
        row_sets = (None,)
    features = model_features(spec)
    n = n_rows(data)
    out = [np.empty((n if rows is None else len(rows), len(features)), dtype=np.float32,
                    order="F") for rows in row_sets]
    for j, feature in enumerate(features):
        values = (_column_values(data[feature.name], feature) if isinstance(data, pd.DataFrame)
                  else _arrow_column_values(data.column(feature.name), feature))
        for matrix, rows in zip(out, row_sets, strict=True):
            matrix[:, j] = values if rows is None else values[rows]
    return out


def feature_matrix(df: pd.DataFrame, spec: PipelineSpec) -> np.ndarray:
    return feature_matrices(df, spec, None)[0]


def _column_values(series: pd.Series, feature: Feature) -> np.ndarray:
    """A column as a 1-D numeric array ready to be cast to float32 (NaN for missing): the
    serving contract's own encoding, which every registered model carries (scoring.ct_serving)."""
    if feature.dtype == "category":
        return category_codes(series, list(feature.categories))
    return numeric_values(series)


def _arrow_column_values(column: pa.ChunkedArray, feature: Feature) -> np.ndarray:
    """An Arrow column as _column_values gives its pandas conversion (NaN for missing)."""
    if feature.dtype == "category":  # pandas' categorical holds int codes: cheap to convert
        return _column_values(column.to_pandas(), feature)
    # unsafe: int64 beyond 2**24 rounds to the nearest float32, as numpy's cast does
    values: np.ndarray = pc.cast(column, pa.float32(), safe=False).to_numpy(zero_copy_only=False)
    return values


def labels(data: Tabular, spec: PipelineSpec, *row_sets: np.ndarray | None) -> list[np.ndarray]:
    """The target as float32 XGBoost labels, one array per row set (None: all rows; no row
    set: one array of all rows, as feature_matrices)."""
    if not row_sets:
        row_sets = (None,)
    y = (target_values(data, spec).astype(np.float32)
         if spec.task == "multiclass_classification"
         else column_series(data, spec.target).to_numpy(dtype=np.float32))
    return [y if rows is None else y[rows] for rows in row_sets]


def target_values(data: Tabular, spec: PipelineSpec) -> np.ndarray:
    """The target as the metrics and the model see it: 0/1 (binary), the value (regression), or
    the class index in spec.classes (multiclass; a label outside them is an error, which
    validation reports first as TARGET_INVALID_CLASS)."""
    target = column_series(data, spec.target)
    if spec.task != "multiclass_classification":
        values: np.ndarray = target.to_numpy()
        return values
    codes = class_codes(target, spec.classes)
    if (codes < 0).any():
        raise ValueError(f"{int((codes < 0).sum())} labels of {spec.target!r} are null or "
                         f"outside the classes {list(spec.classes)}")
    return codes


def to_dmatrix(df: pd.DataFrame, spec: PipelineSpec, *, with_label: bool = True) -> xgb.DMatrix:
    """A DMatrix through the same float32 / native-categorical conversion as training."""
    label = labels(df, spec)[0] if with_label else None
    return xgb.DMatrix(feature_matrix(df, spec), label=label, feature_names=spec.model_inputs,
                       feature_types=feature_types(spec), enable_categorical=True,
                       nthread=available_cores())


def quantile_matrix(x: np.ndarray, y: np.ndarray, spec: PipelineSpec, params: dict[str, Any],
                    ref: xgb.QuantileDMatrix | None = None) -> xgb.QuantileDMatrix:
    """The training matrix (or, with `ref=` it, the validation matrix on the same cuts)."""
    max_bin = params.get("max_bin")  # must match the booster's max_bin
    return xgb.QuantileDMatrix(x, label=y, feature_names=spec.model_inputs,
                               feature_types=feature_types(spec), enable_categorical=True,
                               nthread=int(params["nthread"]), ref=ref,
                               max_bin=None if max_bin is None else int(max_bin))
