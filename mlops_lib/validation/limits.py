"""The values the staged batch and the model can hold, as vectorised masks of those they can't.

Training converts every model input and a regression label to float32; `conform` stages an
int feature as int64 and a datetime as `datetime64[ns]`. A value beyond those types would turn
into inf, wrap around (uint64 2**64-1 becomes -1) or make the cast raise, so the checks reject
it first (VALUE_OVERFLOW, TIMESTAMP_OUT_OF_RANGE) and `conform` refuses to wrap.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.api import types as pdt

from mlops_lib.validation.reasons import ReasonCode
from mlops_lib.validation.report import CheckResult
from mlops_lib.validation.values import as_float, examples, parse_datetimes

Mask = npt.NDArray[np.bool_]

FLOAT32_MAX = float(np.finfo(np.float32).max)  # ~3.4028e38; exactly this value still fits
INT64_MIN, INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)
# datetime64[ns]'s range, as naive UTC: 1677-09-21 00:12:43.145224193 .. 2262-04-11 23:47:16.85
STAMP_MIN, STAMP_MAX = pd.Timestamp.min, pd.Timestamp.max
# An unparsed ISO 8601 text whose year is outside these failed for its range, not its form.
_FIRST_YEAR, _LAST_YEAR = STAMP_MIN.year + 1, STAMP_MAX.year - 1
_ISO_YEAR = r"^\s*([+-]?\d{4,})(-.*)$"


def beyond_float32(numbers: npt.NDArray[np.float64]) -> Mask:
    """Finite values float32 would turn into +/-inf (+/-inf themselves are checked apart)."""
    with np.errstate(invalid="ignore"):
        return np.asarray(np.isfinite(numbers) & (np.abs(numbers) > FLOAT32_MAX), dtype=bool)


def beyond_int64(s: pd.Series) -> Mask:
    """Numbers an int64 cannot hold (uint64 above 2**63-1, floats or Python ints beyond);
    nulls and non-numbers are not counted (the dtype check reports those)."""
    numbers = s if pdt.is_numeric_dtype(s) else pd.to_numeric(s, errors="coerce")
    if pdt.is_bool_dtype(numbers) or pdt.is_signed_integer_dtype(numbers):
        return np.zeros(len(s), dtype=bool)
    if pdt.is_unsigned_integer_dtype(numbers):  # compared as integers: exact at 2**63
        return np.asarray((numbers > INT64_MAX).to_numpy(dtype=bool, na_value=False))
    floats = as_float(numbers)
    # 2**63 is the first float64 above int64's range (2**63-1 has no float64 of its own)
    with np.errstate(invalid="ignore"):
        return np.asarray(np.isfinite(floats) & ((floats >= 2.0**63) | (floats < -(2.0**63))),
                          dtype=bool)


def stamps_beyond_ns(s: pd.Series) -> Mask:
    """Timestamps outside datetime64[ns]'s range, whether typed or ISO 8601 text.

    Typed columns (a parquet timestamp in us/ms/s, naive or aware) are compared as instants in
    UTC. Text that pandas cannot parse is out of range when it parses once its year is replaced
    by 2000 and that year lies outside 1678..2261 (a year-9999 stamp; an offset that pushes
    2262-04-11 past the end); anything else unparsed is not a timestamp at all (DTYPE_MISMATCH).
    """
    if pdt.is_datetime64_any_dtype(s):
        stamps = s.dt.tz_convert("UTC").dt.tz_localize(None) if isinstance(
            s.dtype, pd.DatetimeTZDtype) else s
        outside = (stamps < STAMP_MIN) | (stamps > STAMP_MAX)
        return np.asarray(outside.to_numpy(dtype=bool, na_value=False))
    out = np.zeros(len(s), dtype=bool)
    if pdt.is_numeric_dtype(s) or pdt.is_bool_dtype(s):
        return out  # not timestamps: the dtype check's business
    failed = (parse_datetimes(s, errors="coerce").isna() & s.notna()).to_numpy()
    if not failed.any():
        return out
    parts = s[failed].astype(str).str.extract(_ISO_YEAR)
    years = pd.to_numeric(parts[0], errors="coerce")
    reparsed = parse_datetimes("2000" + parts[1], errors="coerce").notna()
    far = (years < _FIRST_YEAR) | (years > _LAST_YEAR)
    out[failed] = (reparsed & far).to_numpy(dtype=bool)
    return out


def limit_check(name: str, column: str, s: pd.Series, outside: Mask, expected: str,
                code: ReasonCode) -> CheckResult:
    """A limit's check: the column, how many of its values cross the limit and a few of them."""
    n_out = int(outside.sum())
    observed = (f"{column}: {n_out} values beyond the limit, such as "
                f"{examples(s[outside].head())}" if n_out else f"{column}: all within")
    return CheckResult(name, n_out == 0, observed, expected, code if n_out else None,
                       value=n_out, threshold=0)
