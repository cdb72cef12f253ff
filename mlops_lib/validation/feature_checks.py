"""Checks of one feature column against its spec: dtype, finiteness, nulls, categories, range,
and values the staged batch and the model can hold (`limits`).

A check that needs the values read as the spec dtype passes as "skipped" when the dtype check
failed: the batch is rejected for DTYPE_MISMATCH already, and one cause is reported once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from mlops_lib.spec import Feature
from mlops_lib.validation.dtypes import dtype_problem
from mlops_lib.validation.limits import (
    FLOAT32_MAX,
    INT64_MAX,
    INT64_MIN,
    STAMP_MAX,
    STAMP_MIN,
    beyond_float32,
    beyond_int64,
    limit_check,
    stamps_beyond_ns,
)
from mlops_lib.validation.reasons import ReasonCode
from mlops_lib.validation.report import CheckResult
from mlops_lib.validation.unknown_labels import unknown_labels
from mlops_lib.validation.values import (
    as_float,
    show_value,
    utc_stamps,
)


def check_feature_dtype(s: pd.Series, feature: Feature) -> CheckResult:
    problem = dtype_problem(s, feature.dtype)
    observed = f"{feature.name}: {problem}" if problem else f"{feature.name}: {s.dtype}"
    return CheckResult(f"dtype:{feature.name}", problem is None, observed, feature.dtype,
                       ReasonCode.DTYPE_MISMATCH if problem else None)


def infinite_values(s: pd.Series, feature: Feature) -> int:
    """+/-inf values in a float or int feature whose dtype check passed (0 for other dtypes)."""
    # NaN is fine (XGBoost treats it as missing); +/-inf is not a value any producer means.
    if feature.dtype not in ("float", "int"):
        return 0
    return int(np.isinf(as_float(s.dropna())).sum())


def finite_features_result(offending: dict[str, int]) -> CheckResult:
    """The one finite_features check of a batch: the +/-inf count of each offending feature."""
    return CheckResult(
        "finite_features", not offending,
        f"infinite values in features: {offending}" if offending else "all finite",
        "no +/-inf in numeric features",
        ReasonCode.NON_FINITE_FEATURES if offending else None,
        value=sum(offending.values()), threshold=0,
    )


def check_nulls(s: pd.Series, feature: Feature) -> CheckResult:
    n = len(s)
    nulls = int(s.isna().sum())
    share = nulls / n
    limit = feature.null_limit
    observed = f"{feature.name}: {nulls} null rows ({share:.2%})"
    if nulls == n:
        # Nothing to learn from and nothing to check a dtype against: a broken export.
        return CheckResult(f"nulls:{feature.name}", False, f"{feature.name}: all {n} rows null",
                           "at least one non-null value", ReasonCode.ALL_NULL_COLUMN,
                           value=share, threshold=limit)
    if limit is None:
        return CheckResult(f"nulls:{feature.name}", True, observed, "nulls allowed",
                           value=share, threshold=None)
    ok = share <= limit
    return CheckResult(
        f"nulls:{feature.name}", ok, observed,
        "no nulls" if limit == 0 else f"at most {limit:.2%} null rows",
        None if ok else ReasonCode.NULLS_ABOVE_LIMIT, value=share, threshold=limit)


def check_categories(s: pd.Series, feature: Feature) -> CheckResult:
    name = f"categories:{feature.name}"
    limit = feature.max_new_category_share
    if dtype_problem(s, "category") is not None:
        return CheckResult(name, True, "skipped: wrong dtype", "known categories")
    n_unknown, unknown = unknown_labels(s, feature.categories)
    share = n_unknown / len(s)
    # With no tolerance any unknown label rejects (UNKNOWN_CATEGORIES, as always); with one,
    # unknown labels become missing values in conform() until their share exceeds it.
    ok = n_unknown == 0 if limit == 0 else share <= limit
    code = ReasonCode.UNKNOWN_CATEGORIES if limit == 0 else ReasonCode.NEW_CATEGORIES_ABOVE_LIMIT
    expected = f"one of {list(feature.categories)}"
    if limit:
        expected += f", or other labels in at most {limit:.2%} of rows"
    return CheckResult(
        name, ok,
        f"{feature.name}: unknown categories {unknown[:10]} in {n_unknown} rows ({share:.2%})"
        if unknown else f"{feature.name}: all known",
        expected, None if ok else code, value=share, threshold=limit,
    )


def check_range(s: pd.Series, feature: Feature) -> CheckResult:
    name = f"range:{feature.name}"
    low, high = feature.min_value, feature.max_value
    expected = f"within [{show_value(low) if low is not None else '-inf'}, " \
               f"{show_value(high) if high is not None else '+inf'}]"
    if dtype_problem(s, feature.dtype) is not None:
        return CheckResult(name, True, "skipped: wrong dtype", expected)
    if feature.dtype == "datetime":
        values: Any = utc_stamps(s)
        present = values.notna().to_numpy()
        bound: Callable[[Any], Any] = pd.Timestamp
    else:
        values = as_float(s)
        present = np.isfinite(values)  # NaN is a null, +/-inf is NON_FINITE_FEATURES' business
        bound = float
    outside = np.zeros(len(s), dtype=bool)
    if low is not None:
        outside |= np.asarray(values < bound(low)) & present
    if high is not None:
        outside |= np.asarray(values > bound(high)) & present
    n_out = int(outside.sum())
    kept = values[present]
    seen = f"[{show_value(kept.min())}, {show_value(kept.max())}]" if present.any() else "no values"
    return CheckResult(
        name, n_out == 0, f"{feature.name}: {n_out} rows out of range; values span {seen}",
        expected, ReasonCode.OUT_OF_RANGE if n_out else None, value=n_out, threshold=0)


def check_unique_ids(s: pd.Series, feature: Feature) -> CheckResult:
    """An id column (role id) names each row once: a repeated id would join a prediction or a
    label to two rows. Nulls are the null limit's business."""
    name = f"unique_ids:{feature.name}"
    expected = "each id at most once in the batch"
    if dtype_problem(s, feature.dtype) is not None:
        return CheckResult(name, True, "skipped: wrong dtype", expected)
    values = s.dropna()
    repeats = values[values.duplicated(keep="first")]
    if repeats.empty:
        return CheckResult(name, True, f"{feature.name}: {len(values)} distinct ids", expected,
                           value=0, threshold=0)
    shown = [_show_id(v) for v in repeats.drop_duplicates().head(5)]
    return CheckResult(
        name, False, f"{feature.name}: {len(repeats)} rows repeat an id of an earlier row "
                     f"({repeats.nunique()} distinct ids, e.g. {', '.join(shown)})",
        expected, ReasonCode.DUPLICATE_IDS, value=len(repeats), threshold=0)


def _show_id(v: object) -> str:
    # int ids with nulls are read as floats: %g would print 1234567.0 as 1.23457e+06
    return str(int(v)) if isinstance(v, float) and v.is_integer() else show_value(v)


def check_value_limits(s: pd.Series, feature: Feature) -> CheckResult | None:
    """Values of a float, int or datetime feature that the staged batch or the model cannot
    hold: beyond float32 (the model's type), int64 (an int feature's staged type) or
    datetime64[ns]; None for the other dtypes."""
    if feature.dtype not in _LIMITS:
        return None
    expected, code, outside = _LIMITS[feature.dtype]
    # No dtype gate: each mask counts only values read as the dtype (numbers, timestamps), so a
    # column of the wrong dtype is not blamed twice, and a large one is not parsed once more.
    return limit_check(f"limits:{feature.name}", feature.name, s, outside(s), expected, code)


def float32_overflow(s: pd.Series) -> np.ndarray:
    return beyond_float32(as_float(s))


# What each dtype must fit: (expected, reason code, the mask of values that do not).
_LIMITS: dict[str, tuple[str, ReasonCode, Callable[[pd.Series], np.ndarray]]] = {
    "float": (f"|value| at most float32's {FLOAT32_MAX:g}", ReasonCode.VALUE_OVERFLOW,
              float32_overflow),
    "int": (f"within int64 [{INT64_MIN}, {INT64_MAX}]", ReasonCode.VALUE_OVERFLOW,
            beyond_int64),
    "datetime": (f"within datetime64[ns] [{STAMP_MIN.isoformat()}, {STAMP_MAX.isoformat()}]",
                 ReasonCode.TIMESTAMP_OUT_OF_RANGE, stamps_beyond_ns),
}
