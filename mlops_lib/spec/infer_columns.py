"""One column of a reference batch as a drafted feature: its dtype, role, null limit and range,
and a note on the evidence behind each inferred rule (the comments `contract infer` prints).

A reference batch is one sample of a process that goes on: ids and timestamps grow with every
batch, and its extremes are only the tails it happened to draw. So an id gets no range, a
timestamp none either, and a number the range of its 0.1 % and 99.9 % quantiles widened by a
margin of their span (never narrower than what was observed), cut at 0 when nothing negative
was seen.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

MAX_CATEGORIES = 50  # more distinct labels than this: a free-text `string`, not a category
LOW_QUANTILE, HIGH_QUANTILE = 0.001, 0.999
MIN_ID_ROWS = 10  # fewer rows than this say nothing about a column being a key

_ID_NAME = re.compile(r"(^|_)(id|key|uuid|guid)$")
_CAMEL_ID = re.compile(r"[a-z0-9](Id|ID|Key|Uuid|UUID)$")
_TIME_NAME = re.compile(r"(^|_)(at|time|timestamp|date|datetime|ts)$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


@dataclass
class Drafted:
    """A feature's YAML fields, the note beside each of them, and for a timestamp how likely it
    is to be the data's own time (0: not a timestamp) and why."""

    fields: dict[str, Any]
    notes: dict[str, str] = field(default_factory=dict)
    time_score: int = 0
    time_note: str = ""

    def set_role(self, role: str, note: str) -> None:
        """The role, written right after the dtype."""
        first = {k: self.fields.pop(k) for k in ("name", "dtype")}
        self.fields = {**first, "role": role, **self.fields}
        self.notes["role"] = note


def draft_feature(name: str, s: pd.Series, *, margin: float,
                  allow_negative: bool) -> Drafted:
    stamps = _timestamps(s)
    if stamps is not None:
        return _datetime_feature(name, s, stamps)
    dtype = _dtype(s)
    evidence = _id_evidence(name, s, dtype)
    if evidence is not None and dtype == "category":
        dtype = "string"  # a few rows of distinct labels: keys, not a category
    draft = Drafted({"name": name, "dtype": dtype})
    if evidence is not None:
        draft.set_role("id", evidence)
    _null_rule(draft, s)
    values = s.dropna()
    if dtype == "category":
        draft.fields["categories"] = labels(values)
        draft.notes["categories"] = f"the {values.nunique()} labels observed"
    elif dtype == "string":
        draft.notes["dtype"] = f"more than {MAX_CATEGORIES} distinct labels: free text"
    elif dtype in ("int", "float") and evidence is None and len(values):
        _numeric_range(draft, values.astype(float), margin, allow_negative)
    return draft


def labels(values: pd.Series) -> list[str]:
    """Distinct labels as text, as the spec holds them: 1 and "1" in an object column are one
    label, which the spec would refuse to list twice."""
    return sorted({str(v) for v in values.unique()})


def round_up(value: float, digits: int = 3) -> float:
    factor: int = 10**digits  # int ** int is typed Any (a negative exponent gives a float)
    return math.ceil(value * factor) / factor


# --- timestamps --------------------------------------------------------------------------------


def _timestamps(s: pd.Series) -> pd.Series | None:
    """The column as UTC timestamps when it holds them: a datetime dtype, or text that is all
    ISO 8601 (what the contract reads as a datetime); else None."""
    if pd.api.types.is_datetime64_any_dtype(s):
        return pd.Series(pd.to_datetime(s, utc=True))
    values = s.dropna()
    if (pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s) or not len(values)
            or not all(isinstance(v, str) and _ISO_DATE.match(v) for v in values)):
        return None
    parsed = pd.to_datetime(values, format="ISO8601", utc=True, errors="coerce")
    return None if parsed.isna().any() else pd.Series(parsed)


def _datetime_feature(name: str, s: pd.Series, stamps: pd.Series) -> Drafted:
    draft = Drafted({"name": name, "dtype": "datetime"})
    draft.notes["dtype"] = ("timestamps" if pd.api.types.is_datetime64_any_dtype(s) else
                            "ISO 8601 text that parses as timestamps") + (
        "; no range: time moves on with every batch")
    _null_rule(draft, s)
    hinted = bool(_TIME_NAME.search(name.lower()))
    increasing = stamps.dropna().is_monotonic_increasing
    # a timestamp named as one and in order is most likely the data's own time
    draft.time_score = 1 + 2 * hinted + int(increasing)
    draft.time_note = ", ".join(
        [f"timestamps from {_day(stamps.min())} to {_day(stamps.max())}"]
        + (["named as a time"] if hinted else []) + (["increasing"] if increasing else []))
    return draft


def _day(stamp: Any) -> str:
    return "?" if pd.isna(stamp) else str(pd.Timestamp(stamp).date())


# --- ids ---------------------------------------------------------------------------------------


def _id_evidence(name: str, s: pd.Series, dtype: str) -> str | None:
    """Why the column looks like a key of its rows, or None: every row holds a value of its
    own, and the values run in order or the name (or a UUID shape) says key."""
    if dtype not in ("int", "string", "category") or len(s) < MIN_ID_ROWS or s.isna().any():
        return None
    if not s.is_unique:
        return None
    reasons = [f"{len(s)} distinct values in {len(s)} rows"]
    if s.is_monotonic_increasing:
        reasons.append("increasing")
    elif s.is_monotonic_decreasing:
        reasons.append("decreasing")
    if _ID_NAME.search(name.lower()) or _CAMEL_ID.search(name):
        reasons.append(f"named as a key ({name!r})")
    if dtype != "int" and all(isinstance(v, str) and _UUID.match(v) for v in s):
        reasons.append("UUIDs")
    return ", ".join(reasons) if len(reasons) > 1 else None


# --- dtypes, nulls and ranges ------------------------------------------------------------------


def _dtype(s: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(s):
        return "bool"
    if pd.api.types.is_integer_dtype(s):
        return "int"
    if pd.api.types.is_float_dtype(s):
        values = s.dropna()
        return "int" if len(values) and (values == values.round()).all() else "float"
    if isinstance(s.dtype, pd.CategoricalDtype) or s.nunique(dropna=True) <= MAX_CATEGORIES:
        return "category"
    return "string"


def _null_rule(draft: Drafted, s: pd.Series) -> None:
    null_share = float(s.isna().mean()) if len(s) else 0.0
    if null_share == 0:
        draft.fields["nullable"] = False
        draft.notes["nullable"] = "no null observed"
    else:
        draft.fields["max_null_share"] = min(1.0, round_up(2 * null_share, 3))
        draft.notes["max_null_share"] = f"twice the observed {null_share:.2%}"


def _numeric_range(draft: Drafted, values: pd.Series, margin: float,
                   allow_negative: bool) -> None:
    """min and max: the 0.1 % and 99.9 % quantiles widened by `margin` of their span, at least
    the observed extremes; never below 0 when no value was negative; whole numbers for ints."""
    lo, hi = float(values.min()), float(values.max())
    q_lo, q_hi = (float(q) for q in values.quantile([LOW_QUANTILE, HIGH_QUANTILE]))
    pad = (q_hi - q_lo) * margin
    rule = f"{margin:g} x the 0.1-99.9 % quantile span {q_hi - q_lo:g}"
    low, high = min(lo, q_lo - pad), max(hi, q_hi + pad)
    low_note = (f"0.1 % quantile {q_lo:g} less {rule}" if low < lo else
                "the smallest value observed")
    high_note = (f"99.9 % quantile {q_hi:g} plus {rule}" if high > hi else
                 "the largest value observed")
    if low < 0 <= lo and not allow_negative:
        low, low_note = 0.0, "no negative value observed (0 is a natural bound)"
    if draft.fields["dtype"] == "int":
        low, high = math.floor(low), math.ceil(high)
    draft.fields["min"], draft.fields["max"] = _plain(low), _plain(high)
    draft.notes["min"], draft.notes["max"] = low_note, high_note


def _plain(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(float(value), 6)
