"""Whether a column can be read as its spec dtype: the rules `conform`'s casts rely on."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from pandas.api import types as pdt

from mlops_lib.validation.limits import beyond_int64, stamps_beyond_ns
from mlops_lib.validation.values import (
    EXAMPLES,
    as_float,
    examples,
    inferred_kind,
    is_integral,
    is_number_dtype,
    is_number_text,
    not_number,
    parse_datetimes,
    to_bool,
)

_NUMBER_KINDS = {"integer", "floating", "mixed-integer-float", "decimal"}
_INTEGER_TEXT = r"\s*[+-]?\d+\s*"


def dtype_problem(s: pd.Series, dtype: str) -> str | None:
    """Why `s` cannot be read as the spec dtype, or None when conform() can cast it."""
    values = s.dropna()
    if values.empty:
        return None  # an all-null column contradicts no dtype
    return _DTYPE_RULES[dtype](s, values)


def float_problem(s: pd.Series, values: pd.Series) -> str | None:
    """Why `s` (with its non-null `values`) is not numbers, or None."""
    if is_number_dtype(s) or inferred_kind(values) in _NUMBER_KINDS:
        return None
    return f"{s.dtype} with non-numeric values such as {_non_numbers(values)}"


def _int_problem(s: pd.Series, values: pd.Series) -> str | None:
    if pdt.is_integer_dtype(s) and not pdt.is_bool_dtype(s):
        return None
    if not (is_number_dtype(s) or inferred_kind(values) in _NUMBER_KINDS):
        if _integer_text_beyond_int64(values):
            return None  # numbers all the same: the limits check says VALUE_OVERFLOW
        return f"{s.dtype} with non-numeric values such as {_non_numbers(values)}"
    numbers = as_float(values)
    # Non-finite values are NON_FINITE_FEATURES' business, not a dtype question.
    finite = numbers[np.isfinite(numbers)]
    fractional = finite[finite != np.round(finite)]
    if len(fractional):
        return f"{s.dtype} with non-integral values such as {fractional[:EXAMPLES].tolist()}"
    return None


def _non_numbers(values: pd.Series) -> list[object]:
    """Examples of the values that are not numbers: text that is no number first (a CSV
    column with one bad cell is all text, and its numbers say nothing), else any."""
    return examples(values, lambda v: not_number(v) and not is_number_text(v)) or examples(
        values, not_number)


def _integer_text_beyond_int64(values: pd.Series) -> bool:
    """Whether every value is an integer written as text and some lie beyond int64: what pandas
    leaves as text when a CSV column holds an integer beyond uint64 (99999999999999999999)."""
    if inferred_kind(values) != "string":
        return False
    if not values.str.fullmatch(_INTEGER_TEXT).all():
        return False
    return bool(beyond_int64(values).any())


def _bool_problem(s: pd.Series, values: pd.Series) -> str | None:
    if pdt.is_bool_dtype(s):
        return None
    bad = values[values.map(to_bool).isna()]
    if len(bad):
        return f"{s.dtype} with values that are not booleans or 0/1: {examples(bad)}"
    return None


def _category_problem(s: pd.Series, values: pd.Series) -> str | None:
    if pdt.is_integer_dtype(s) and not pdt.is_bool_dtype(s):
        return None  # integer labels such as store ids
    if pdt.is_float_dtype(s) and is_integral(values):
        # integer labels read from a CSV with gaps arrive as floats; as labels they are read
        # back as integers, which needs them finite and within int64
        infinite = values[np.isinf(as_float(values))]
        if len(infinite):
            return f"{s.dtype} labels that are not finite such as {examples(infinite)}"
        huge = values[beyond_int64(values)]
        return f"{s.dtype} labels beyond int64 such as {examples(huge)}" if len(huge) else None
    kind = _label_kind(values)
    if pdt.is_numeric_dtype(s) or pdt.is_bool_dtype(s) or pdt.is_datetime64_any_dtype(s):
        return f"{s.dtype} ({kind}) cannot hold labels"
    if kind in ("string", "integer", "mixed-integer"):
        return None
    return f"{s.dtype} ({kind}) cannot hold labels"


def _label_kind(values: pd.Series) -> str:
    """`inferred_kind` of the non-null values as objects. pandas infers it from the first value
    and from which values occur, not how often: a categorical's is that of its categories in
    use, in the order the rows first use them, without a Python object per row."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        used = pd.unique(np.asarray(values.cat.codes))
        values = pd.Series(pd.Categorical.from_codes(used, dtype=values.dtype))
    return inferred_kind(values.astype(object))


def _string_problem(s: pd.Series, values: pd.Series) -> str | None:
    return None if _category_problem(s, values) is None else (
        f"{s.dtype} ({inferred_kind(values)}) is not text")


def _datetime_problem(s: pd.Series, values: pd.Series) -> str | None:
    if pdt.is_datetime64_any_dtype(s):
        return None
    if pdt.is_numeric_dtype(s) or pdt.is_bool_dtype(s):
        return f"{s.dtype} is not a timestamp (epoch numbers are ambiguous about their unit)"
    parsed = parse_datetimes(values, errors="coerce")
    failed = np.array(parsed.isna(), dtype=bool)
    if failed.any():
        # A well-formed stamp beyond datetime64[ns] (year 9999) is TIMESTAMP_OUT_OF_RANGE's.
        failed[failed] = ~stamps_beyond_ns(values[failed])
    bad = values[failed]
    if len(bad):
        return f"{s.dtype} with values that are not ISO 8601 timestamps: {examples(bad)}"
    return None


_DTYPE_RULES: dict[str, Callable[[pd.Series, pd.Series], str | None]] = {
    "float": float_problem,
    "int": _int_problem,
    "bool": _bool_problem,
    "category": _category_problem,
    "string": _string_problem,
    "datetime": _datetime_problem,
}
