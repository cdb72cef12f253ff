"""Reading a column's values the one way the checks and `conform` both rely on.

Shared by the dtype rules, the checks and the casts, so a value the checks accept is a value
the casts can convert.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.api import types as pdt

EXAMPLES = 3  # offending values quoted in a check's message
_BOOL_STRINGS = {"true": True, "false": False, "1": True, "0": False}
_ISO_YEAR = r"^\s*([+-]?\d{4,})-"  # the year an ISO 8601 date starts with


def is_number_dtype(s: pd.Series) -> bool:
    return pdt.is_numeric_dtype(s) and not pdt.is_bool_dtype(s)


def inferred_kind(values: pd.Series) -> str:
    """pandas' name for what the non-null values are ('integer', 'string', 'mixed', ...)."""
    return str(pdt.infer_dtype(values, skipna=True))


def not_number(v: object) -> bool:
    return isinstance(v, bool | np.bool_) or not isinstance(v, int | float | np.number)


def is_number_text(v: object) -> bool:
    """Text that reads as a number ("38", "1e39", "inf")."""
    if not isinstance(v, str):
        return False
    try:
        float(v)
    except ValueError:
        return False
    return True


def examples(values: pd.Series, keep: Callable[[object], bool] | None = None) -> list[Any]:
    picked = [v for v in values.tolist() if keep is None or keep(v)]
    return picked[:EXAMPLES]


def as_float(s: pd.Series) -> npt.NDArray[np.float64]:
    """The values as float64, NaN for nulls and for anything that is not a number."""
    # asarray: to_numpy's result is untyped; an array already float64 is not copied.
    return np.asarray(pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64",
                                                                 na_value=np.nan),
                      dtype=np.float64)


def is_integral(values: pd.Series) -> bool:
    numbers = as_float(values)
    finite = numbers[np.isfinite(numbers)]
    return bool((finite == np.round(finite)).all())


def to_bool(v: object) -> bool | None:
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | float | np.number) and v in (0, 1):
        return bool(v)
    if isinstance(v, str):
        return _BOOL_STRINGS.get(v.strip().lower())
    return None


def category_labels(s: pd.Series) -> pd.Series:
    """Labels as text with None for nulls; integral floats lose their `.0` (CSV gaps)."""
    if pdt.is_float_dtype(s):
        s = s.astype("Int64")
    text = s.astype(object).map(str, na_action="ignore")
    return text.where(s.notna().to_numpy(), None)


def clock(now: datetime | None) -> pd.Timestamp:
    """`now` as an aware UTC timestamp (a naive value means UTC); the current time if None."""
    if now is None:
        return pd.Timestamp.now(tz=UTC)
    stamp = pd.Timestamp(now)
    return stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)


def utc_stamps(s: pd.Series) -> pd.Series:
    """Timestamps as aware UTC; naive ones are UTC already (conform() keeps them so)."""
    if pdt.is_datetime64_any_dtype(s):
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            return s.dt.tz_convert(UTC)
        return s.dt.tz_localize(UTC)
    return parse_datetimes(s, errors="coerce")


def show_value(v: object) -> str:
    """A bound or an extreme value for a message: ISO timestamps, `%g` numbers."""
    if isinstance(v, datetime):
        return str(pd.Timestamp(v).isoformat())
    if isinstance(v, float | np.floating):
        return f"{float(v):g}"
    return str(v)


def parse_datetimes(values: pd.Series, *, errors: Literal["raise", "coerce"]) -> pd.Series:
    """ISO 8601 text (or date/datetime objects) as aware UTC timestamps; a value beyond
    datetime64[ns] raises, or with errors="coerce" becomes NaT."""
    # ISO 8601 only: "01/02/2024" means different days to different producers.
    parsed = pd.Series(pd.to_datetime(values, errors=errors, format="ISO8601", utc=True),
                       index=values.index)
    wrapped = _wrapped_around(values, parsed)
    if wrapped.any():
        if errors == "raise":
            raise pd.errors.OutOfBoundsDatetime(
                f"{int(wrapped.sum())} timestamps beyond datetime64[ns], such as "
                f"{examples(values[wrapped].head())}")
        parsed[wrapped] = pd.NaT
    return parsed


def _wrapped_around(values: pd.Series, parsed: pd.Series) -> npt.NDArray[np.bool_]:
    """Stamps pandas 2 wrapped around: an offset that takes a time past one end of
    datetime64[ns] lands it at the other ("2262-04-11T23:00-05:00" parses as 1677-09-21),
    without an error. Such a result is in the first or last year of the range while the text
    states a year more than one away (an offset moves a stamp by less than a day)."""
    years = parsed.dt.year
    edge = np.array(years.isin([pd.Timestamp.min.year, pd.Timestamp.max.year]), dtype=bool)
    if not edge.any():
        return edge
    stated = pd.to_numeric(values[edge].astype(str).str.extract(_ISO_YEAR, expand=False),
                           errors="coerce").to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):  # NaN: no year stated (a date object), not wrapped
        edge[edge] = np.abs(stated - years.to_numpy(dtype=float)[edge]) > 1
    return edge
