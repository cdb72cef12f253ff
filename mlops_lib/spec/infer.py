"""A first pipeline spec (features, target, contract) inferred from a reference batch.

`mlops contract infer <file> --name <pipeline> --target <column>` prints YAML to edit, not to
trust: ranges are the observed ones widened by `margin` of their span and at least 3 standard
deviations, null limits twice the observed share, categories the observed labels. Then
`load_spec` checks the edited file.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from mlops_lib.spec.source import CsvOptions

MAX_CATEGORIES = 50  # more distinct labels than this: a free-text `string`, not a category


def infer_spec(df: pd.DataFrame, *, name: str, target: str, bucket: str = "ct-landing",
               fmt: str = "parquet", margin: float = 0.1) -> dict[str, Any]:
    if target not in df.columns:
        raise ValueError(f"target column {target!r} is not in the batch; columns: "
                         f"{sorted(map(str, df.columns))}")
    y = df[target].dropna()
    binary = y.nunique() == 2
    # Labels that are not numbers, more than two and few enough to be classes: multiclass (a
    # numeric target with a few values stays regression; edit the task if it is a class id).
    multiclass = (not binary and not pd.api.types.is_numeric_dtype(y)
                  and 2 < y.nunique() <= MAX_CATEGORIES)
    if not binary and not multiclass and not pd.api.types.is_numeric_dtype(y):
        raise ValueError(f"target {target!r} has {y.nunique()} labels and is not numeric: only "
                         f"binary and multiclass (at most {MAX_CATEGORIES} classes) "
                         "classification and regression are supported")
    features = [_feature(str(c), df[c], margin) for c in df.columns if c != target]
    duplicates = float(df.duplicated().mean()) if len(df) else 0.0
    contract: dict[str, Any] = {
        "min_rows": max(1, min(100, len(df) // 10)),
        "max_duplicate_share": min(1.0, round(max(0.01, 2 * duplicates), 4)),  # a share
        "extra_columns": "drop",
    }
    if binary or multiclass:
        contract["target"] = {"min_rows_per_class": max(1, min(10, int(y.value_counts().min())))}
    metric = ({"name": "roc_auc", "direction": "maximize", "floor": 0.6} if binary else
              # the log loss of predicting 1/k for every class: any model must beat a guess
              {"name": "log_loss", "direction": "minimize",
               "floor": _round_up(math.log(y.nunique()))} if multiclass else
              {"name": "rmse", "direction": "minimize", "floor": _round_up(float(y.std()) * 2)})
    target_section: dict[str, Any] = {
        "column": target, "task": "binary_classification" if binary else
        "multiclass_classification" if multiclass else "regression"}
    if multiclass:
        target_section["classes"] = _labels(y)
    return {
        "name": name,
        "description": f"Inferred from a reference batch of {len(df)} rows; edit before use.",
        "source": {"bucket": bucket, "prefix": f"landing/{name}/", "format": fmt},
        "target": target_section,
        "features": features,
        "contract": contract,
        "metric": metric,
    }


def infer_file(path: Path, **kwargs: Any) -> str:
    fmt = "csv" if path.suffix.lower() == ".csv" else "parquet"
    # CSV cells read as the validate step reads them: only the default null cells are nulls.
    df = (pd.read_csv(path, keep_default_na=False, na_values=list(CsvOptions().null_values))
          if fmt == "csv" else pd.read_parquet(path))
    spec = infer_spec(df, fmt=fmt, **kwargs)
    header = "# Inferred by `mlops contract infer`: review every bound before use.\n"
    return header + yaml.safe_dump(spec, sort_keys=False, default_flow_style=None, width=100)


def _feature(name: str, s: pd.Series, margin: float) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "dtype": _dtype(s)}
    null_share = float(s.isna().mean()) if len(s) else 0.0
    if null_share == 0:
        out["nullable"] = False
    else:
        out["max_null_share"] = min(1.0, _round_up(2 * null_share, 3))
    values = s.dropna()
    if out["dtype"] == "category":
        out["categories"] = _labels(values)
    elif out["dtype"] in ("int", "float") and len(values):
        lo, hi = float(values.min()), float(values.max())
        # A reference batch only samples the tails: widen by the margin, and by at least 3 std.
        pad = max((hi - lo) * margin, 3 * float(values.astype(float).std() or 0.0))
        low, high = lo - pad, hi + pad
        if out["dtype"] == "int":
            low, high = math.floor(low), math.ceil(high)
        out["min"], out["max"] = _plain(low), _plain(high)
    return out


def _labels(values: pd.Series) -> list[str]:
    """Distinct labels as text, as the spec holds them: 1 and "1" in an object column are one
    label, which the spec would refuse to list twice."""
    return sorted({str(v) for v in values.unique()})


def _dtype(s: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(s):
        return "bool"
    if pd.api.types.is_integer_dtype(s):
        return "int"
    if pd.api.types.is_float_dtype(s):
        values = s.dropna()
        return "int" if len(values) and (values == values.round()).all() else "float"
    if pd.api.types.is_datetime64_any_dtype(s):
        return "datetime"
    if isinstance(s.dtype, pd.CategoricalDtype) or s.nunique(dropna=True) <= MAX_CATEGORIES:
        return "category"
    return "string"


def _round_up(value: float, digits: int = 3) -> float:
    factor: int = 10**digits  # int ** int is typed Any (a negative exponent gives a float)
    return math.ceil(value * factor) / factor


def _plain(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(float(value), 6)
