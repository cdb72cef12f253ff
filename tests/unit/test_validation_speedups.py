"""The fast constant-column, category and label-kind readings equal the per-row ones they
replace, on the values where they could part: nulls of every kind, NaN, -0.0 beside 0.0,
unused categories, text, mixed objects, timestamps with NaT and booleans.

Each old implementation is kept here as the oracle.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from mlops_lib.spec import Feature, PipelineSpec
from mlops_lib.validation.checks import validate_batch
from mlops_lib.validation.distinct import single_value
from mlops_lib.validation.dtypes import _label_kind, dtype_problem
from mlops_lib.validation.feature_checks import check_categories
from mlops_lib.validation.reasons import ReasonCode
from mlops_lib.validation.report import CheckResult
from mlops_lib.validation.unknown_labels import unknown_labels
from mlops_lib.validation.values import category_labels, inferred_kind

pytestmark = pytest.mark.unit

_NAT = pd.NaT
_STAMP = pd.Timestamp("2024-01-01")


def _old_distinct(s: pd.Series) -> int | None:
    try:
        return int(s.nunique(dropna=True))
    except TypeError:
        return None


def _old_unknown_labels(s: pd.Series, known: tuple[str, ...]) -> tuple[int, list[str]]:
    labels = category_labels(s).dropna()
    unknown_mask = ~labels.isin(known)
    return int(unknown_mask.sum()), sorted(set(labels[unknown_mask]))


def _old_check_categories(s: pd.Series, feature: Feature) -> CheckResult:
    """check_categories before it read each distinct value's label once."""
    name = f"categories:{feature.name}"
    limit = feature.max_new_category_share
    if dtype_problem(s, "category") is not None:
        return CheckResult(name, True, "skipped: wrong dtype", "known categories")
    n_unknown, unknown = _old_unknown_labels(s, feature.categories)
    share = n_unknown / len(s)
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


_COLUMNS: dict[str, pd.Series] = {
    "empty float": pd.Series([], dtype=float),
    "empty object": pd.Series([], dtype=object),
    "all-null float": pd.Series([np.nan, np.nan]),
    "all-null object": pd.Series([None, np.nan, pd.NA], dtype=object),
    "all-null Int64": pd.Series([pd.NA, pd.NA], dtype="Int64"),
    "NaN only": pd.Series([np.nan]),
    "one float and nulls": pd.Series([np.nan, 2.5, np.nan, 2.5]),
    "one float": pd.Series([2.5]),
    "two floats": pd.Series([2.5, np.nan, 3.5]),
    "zero and minus zero": pd.Series([0.0, -0.0, np.nan]),
    "minus zero only": pd.Series([-0.0, -0.0]),
    "inf and nulls": pd.Series([np.inf, np.nan, np.inf]),
    "inf and -inf": pd.Series([np.inf, -np.inf]),
    "float32": pd.Series(np.array([1.0, 1.0, np.nan], dtype=np.float32)),
    "int constant": pd.Series([7, 7, 7]),
    "int two": pd.Series([7, 8, 7]),
    "uint64 extremes": pd.Series(np.array([2**64 - 1, 2**64 - 1], dtype=np.uint64)),
    "Int64 one and NA": pd.Series([3, pd.NA, 3], dtype="Int64"),
    "Int64 two": pd.Series([3, pd.NA, 4], dtype="Int64"),
    "Float64 unmasked NaN": pd.Series(pd.array([0.0, 0.0], dtype="Float64")) / 0.0,
    "bool constant": pd.Series([True, True]),
    "bool two": pd.Series([True, False]),
    "boolean NA": pd.Series([True, pd.NA, True], dtype="boolean"),
    "datetimes with NaT": pd.Series([_STAMP, _NAT, _STAMP]),
    "datetimes two": pd.Series([_STAMP, _NAT, _STAMP + pd.Timedelta(1, "ns")]),
    "NaT only": pd.Series([_NAT, _NAT], dtype="datetime64[ns]"),
    "aware datetimes, one instant": pd.Series(
        [pd.Timestamp("2024-01-01T00:00Z"), pd.Timestamp("2024-01-01T00:00Z"), _NAT]),
    "aware datetimes across the DST fold": pd.Series(pd.to_datetime(
        ["2024-10-27T00:30Z", "2024-10-27T01:30Z"]).tz_convert("Europe/Berlin")),
    "timedeltas": pd.Series([pd.Timedelta(1, "s"), pd.NaT, pd.Timedelta(1, "s")]),
    "categorical one used, unused categories": pd.Series(
        pd.Categorical(["b", None, "b"], categories=["a", "b", "c"])),
    "categorical two": pd.Series(pd.Categorical(["b", "a", None], categories=["a", "b", "c"])),
    "categorical all null": pd.Series(pd.Categorical([None, None], categories=["a"])),
    "categorical no categories": pd.Series(pd.Categorical([None, None])),
    "categorical int labels": pd.Series(pd.Categorical([3, 3, None], categories=[1, 3])),
    "categorical mixed labels": pd.Series(
        pd.Categorical(["x", 1, "x"], categories=[1, "x", "y"])),
    "strings one and nulls": pd.Series(["a", None, "a", np.nan], dtype=object),
    "strings two": pd.Series(["a", "b", None], dtype=object),
    "StringDtype one": pd.Series(["a", pd.NA, "a"], dtype="string"),
    "StringDtype two": pd.Series(["a", "b"], dtype="string"),
    "pyarrow strings": pd.Series(["a", None, "a"], dtype="string[pyarrow]"),
    "mixed 1 and True": pd.Series([1, True, 1], dtype=object),
    "mixed 1 and 1.0": pd.Series([1, 1.0, None], dtype=object),
    "mixed 1 and '1'": pd.Series([1, "1"], dtype=object),
    "mixed int and text": pd.Series(["x", 1, "x", 1], dtype=object),
    "int objects": pd.Series([1, np.int64(1), None], dtype=object),
    "int objects two": pd.Series([1, 2, None], dtype=object),
    "tuples equal": pd.Series([(1, 2), (1, 2), None], dtype=object),
    "tuples two": pd.Series([(1, 2), (1, 3)], dtype=object),
    "lists": pd.Series([[1], [1]], dtype=object),
    "text then a list": pd.Series(["a", ["a"], "a"], dtype=object),
    "text then arrays": pd.Series(["a", np.array([1, 2]), "a"], dtype=object),
    "text then an empty array": pd.Series(["a", np.array([]), "a"], dtype=object),
    "decimal NaN": pd.Series([pd.NA, float("nan"), "a"], dtype=object),
    "object timestamps": pd.Series([_STAMP, None, _STAMP.to_pydatetime()], dtype=object),
    "object floats with NaN": pd.Series([np.nan, 1.5, 1.5], dtype=object),
    "integral floats": pd.Series([1.0, np.nan, 1.0, 3.0]),
}


@pytest.mark.parametrize("name", list(_COLUMNS))
def test_single_value_says_what_nunique_said(name: str) -> None:
    s = _COLUMNS[name]
    assert single_value(s) == (_old_distinct(s) == 1)


def test_single_value_of_large_columns_agrees() -> None:
    rng = np.random.default_rng(3)
    n = 50_000
    varied = {
        "floats": pd.Series(rng.normal(size=n)),
        "constant with NaN": pd.Series(np.where(rng.random(n) < 0.5, np.nan, 4.0)),
        "late second value": pd.Series(["a"] * (n - 1) + ["b"], dtype=object),
        "late second category": pd.Series(pd.Categorical(["a"] * (n - 1) + ["b"])),
        "late NaT": pd.Series([_STAMP] * (n - 1) + [_NAT]),
    }
    for name, s in varied.items():
        assert single_value(s) == (_old_distinct(s) == 1), name


_KNOWN = ("a", "b", "1", "3")
_LABEL_COLUMNS: dict[str, pd.Series] = {
    **_COLUMNS,
    "categorical unknown, unused unknown": pd.Series(
        pd.Categorical(["a", "z", None, "z", "y"], categories=["a", "q", "y", "z"])),
    "categorical known only, unused unknown": pd.Series(
        pd.Categorical(["a", "b", None], categories=["a", "b", "q"])),
    "text unknown": pd.Series(["a", "z", None, "zz", "z"], dtype=object),
    "StringDtype unknown": pd.Series(["a", "z", pd.NA], dtype="string"),
    "ints": pd.Series([1, 2, 3, 2]),
    "floats with gaps": pd.Series([1.0, np.nan, 2.0, -0.0, 0.0]),
    "Int64 labels": pd.Series([1, pd.NA, 4], dtype="Int64"),
    "mixed int and text unknown": pd.Series([1, "1", True, "z", 1.0], dtype=object),
    "int objects unknown": pd.Series([1, np.int64(2), 2, None], dtype=object),
}


@pytest.mark.parametrize("name", list(_LABEL_COLUMNS))
def test_unknown_labels_match_reading_every_row(name: str) -> None:
    s = _LABEL_COLUMNS[name]
    if dtype_problem(s, "category") is not None:
        return  # check_categories skips such a column before reading its labels
    try:
        expected = _old_unknown_labels(s, _KNOWN)
    except OverflowError:
        with pytest.raises(OverflowError):
            unknown_labels(s, _KNOWN)
        return
    assert unknown_labels(s, _KNOWN) == expected


@pytest.mark.parametrize("limit", [0.0, 0.3])
@pytest.mark.parametrize("name", list(_LABEL_COLUMNS))
def test_check_categories_reports_as_before(name: str, limit: float) -> None:
    s = _LABEL_COLUMNS[name]
    if s.empty:
        return  # check_categories runs on a non-empty batch only
    feature = Feature("f", "category", _KNOWN, max_new_category_share=limit)
    try:
        expected = _old_check_categories(s, feature)
    except OverflowError:  # +/-inf passes the category dtype rule, then fails as a label
        with pytest.raises(OverflowError):
            check_categories(s, feature)
        return
    assert check_categories(s, feature) == expected


@pytest.mark.parametrize("name", list(_LABEL_COLUMNS))
def test_label_kind_is_the_kind_of_every_row(name: str) -> None:
    values = _LABEL_COLUMNS[name].dropna()
    assert _label_kind(values) == inferred_kind(values.astype(object))


@pytest.mark.parametrize("order", [["x", 1], [1, "x"], [1.5, 1], [1, 1.5], [True, "x"],
                                   [2, True], [_STAMP, "x"], ["x", "y"], [2, 1]])
def test_label_kind_of_a_categorical_follows_the_rows_order(order: list[object]) -> None:
    rows = [order[1], order[0], order[1]] * 3
    s = pd.Series(pd.Categorical(rows, categories=list(order)))
    assert _label_kind(s) == inferred_kind(s.astype(object))


def test_constant_columns_warning_is_unchanged(spec: PipelineSpec) -> None:
    n = 20
    frame = pd.DataFrame({f.name: _column_for(f, n) for f in spec.features})
    frame[spec.target] = [0, 1] * (n // 2)
    first = spec.features[0].name
    frame[first] = frame[first].iloc[0]
    report = validate_batch(frame, spec, batch_id="b", now=datetime(2024, 1, 2, tzinfo=UTC))
    constant = [c for c in report.checks if c.name == "constant_columns"]
    assert constant and first in constant[0].observed


def _column_for(feature: Feature, n: int) -> pd.Series:
    rng = np.random.default_rng(0)
    if feature.dtype == "category":
        return pd.Series(rng.choice(list(feature.categories), n))
    if feature.dtype == "datetime":
        return pd.Series(pd.date_range("2024-01-01", periods=n, freq="min"))
    if feature.dtype == "bool":
        return pd.Series([True, False] * (n // 2))
    if feature.dtype == "string":
        return pd.Series([f"s{i}" for i in range(n)])
    return pd.Series(np.arange(n) + rng.random(n) * (feature.dtype == "float"))
