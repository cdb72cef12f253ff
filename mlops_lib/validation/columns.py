"""A batch as the contract's checks see it: its column names, its rows, one column at a time.

Every check but the duplicate-rows rule looks at one column at a time, so a batch need not be
one frame to be judged: `FrameColumns` serves a frame's columns; `reading.ParquetColumns` reads
each column of a batch's parquet files when it is asked for, so a large scoring batch is
validated in the memory of one column.
"""

from __future__ import annotations

from typing import Protocol

import pandas as pd


class BatchColumns(Protocol):
    @property
    def names(self) -> list[str]:
        """The batch's column names, in order, a name twice if the batch has it twice."""

    @property
    def n_rows(self) -> int: ...

    def column(self, name: str) -> pd.Series:
        """A column present once, all rows, as reading the batch into one frame gives it."""

    def frame(self) -> pd.DataFrame:
        """The whole batch (the duplicate-rows rule needs every column at once)."""


class FrameColumns:
    def __init__(self, df: pd.DataFrame) -> None:
        self._df = df

    @property
    def names(self) -> list[str]:
        return [str(c) for c in self._df.columns]

    @property
    def n_rows(self) -> int:
        return len(self._df)

    def column(self, name: str) -> pd.Series:
        return self._df[name]

    def frame(self) -> pd.DataFrame:
        return self._df
