"""An exact count of the rows that repeat an earlier row, at column speed.

`DataFrame.duplicated` factorizes every column through a hash table and keeps one int64 label
array per column: at 10M rows x 29 columns that is most of the validate step's time and 2 GiB.
Here each column becomes one uint64 key per row with vectorized numpy (its bits, its category
codes, or, for the dtypes without a cheap exact key, its factorize labels), the keys fold into a
single mixed row hash, and only the rows whose hash occurs more than once are handed to
`DataFrame.duplicated`. Rows pandas calls equal always share a key in every column, hence a row
hash, so each group of duplicates lies wholly among those candidates; a hash collision can only
add a candidate, never change the count, which therefore equals
`df.duplicated(keep="first").sum()` exactly, whatever pandas' rules for NaN, -0.0, None or
categories are.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

# splitmix64's finalizer: a bijection of uint64 that spreads every input bit over the output,
# so that small keys (category codes, flags, small integers) do not cancel out between columns.
_MUL_1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL_2 = np.uint64(0x94D049BB133111EB)

Hashes = NDArray[np.uint64]


def count_duplicate_rows(df: pd.DataFrame) -> int:
    """How many rows equal an earlier row over all columns: `df.duplicated().sum()`, exactly.

    Raises TypeError where `DataFrame.duplicated` does (unhashable cells)."""
    if len(df) < 2 or df.shape[1] == 0:
        return int(df.duplicated(keep="first").sum())
    candidates = candidate_rows(row_hashes(df))
    if not len(candidates):
        return 0
    # The candidates keep their order, so "first" means the same row as in the whole frame.
    return int(df.iloc[candidates].duplicated(keep="first").sum())


def row_hashes(df: pd.DataFrame) -> Hashes:
    """One hash per row, equal for rows `DataFrame.duplicated` calls equal."""
    hashes = np.zeros(len(df), dtype=np.uint64)
    scratch = np.empty_like(hashes)
    for position in range(df.shape[1]):
        # Positions, not names: a frame may hold a name twice.
        np.bitwise_xor(hashes, column_key(df.iloc[:, position]), out=hashes)
        _mix(hashes, scratch)
    return hashes


def candidate_rows(hashes: Hashes) -> NDArray[np.intp]:
    """The positions, ascending, of the rows whose hash another row shares."""
    ordered = np.sort(hashes)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if not len(repeated):
        return np.empty(0, dtype=np.intp)
    return np.flatnonzero(np.isin(hashes, repeated))


def column_key(column: pd.Series) -> Hashes:
    """A uint64 per value, equal for the values pandas' factorize puts in one group.

    May be a view of the column's own data: callers must not write to it."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        # Codes stand for values within one column's categories; NaN is code -1.
        return np.asarray(column.cat.codes, dtype=np.int64).view(np.uint64)
    if isinstance(dtype, np.dtype):
        if dtype.kind == "f":
            return _float_key(np.asarray(column, dtype=np.float64))
        if dtype == np.uint64:  # beyond int64, which holds every value of the other kinds
            return np.asarray(column, dtype=np.uint64)
        if dtype.kind in "biu":
            return np.asarray(column, dtype=np.int64).view(np.uint64)
        if dtype.kind in "mM":
            return np.asarray(column).view(np.int64).view(np.uint64)
    # Object, string, nullable and other extension dtypes: pandas' own labels, so whatever it
    # deems equal (1 == 1.0 == True, the nulls of a column) stays equal.
    labels, _ = pd.factorize(column)
    return np.asarray(labels, dtype=np.int64).view(np.uint64)


def _float_key(values: NDArray[np.float64]) -> Hashes:
    """The bits of each float, with the values pandas treats as one made one: -0.0 as 0.0 and
    every NaN (any payload, any sign) as the same NaN."""
    normal = values + 0.0  # IEEE: -0.0 + 0.0 is +0.0; and a fresh array, free to write
    normal[np.isnan(normal)] = np.nan
    return normal.view(np.uint64)


def _mix(hashes: Hashes, scratch: Hashes) -> None:
    """splitmix64's finalizer, in place (scratch is overwritten); uint64 arithmetic wraps."""
    for shift, multiplier in ((30, _MUL_1), (27, _MUL_2)):
        np.right_shift(hashes, shift, out=scratch)
        np.bitwise_xor(hashes, scratch, out=hashes)
        np.multiply(hashes, multiplier, out=hashes)
    np.right_shift(hashes, 31, out=scratch)
    np.bitwise_xor(hashes, scratch, out=hashes)
