"""A data set as training reads it: a pandas frame, an Arrow table, or a parquet file read a
column at a time (`ParquetTable`, the versioned parquet as the training task reads it), with
the few accessors that treat them alike."""

from __future__ import annotations

from pathlib import Path
from typing import TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


class ParquetTable:
    """A parquet file as training reads an Arrow table (`num_rows`, `column`), each column
    read from the file when asked for: the task never holds the whole data set, only the
    matrices it builds column by column (10M rows x 29 columns are 2.2 GB as a table)."""

    def __init__(self, path: Path) -> None:
        self._file = pq.ParquetFile(path)
        self.num_rows = int(self._file.metadata.num_rows)
        self.column_names: list[str] = self._file.schema_arrow.names

    def column(self, name: str) -> pa.ChunkedArray:
        return self._file.read(columns=[name]).column(0)


Tabular: TypeAlias = pd.DataFrame | pa.Table | ParquetTable


def column_series(data: Tabular, name: str) -> pd.Series:
    """One column as pandas: the frame's own, or converted alone from an Arrow table."""
    series: pd.Series = (data[name] if isinstance(data, pd.DataFrame)
                         else data.column(name).to_pandas())
    return series


def n_rows(data: Tabular, rows: np.ndarray | None = None) -> int:
    """Rows of `data`, or of the subset `rows` (positions) when given."""
    if rows is not None:
        return len(rows)
    return len(data) if isinstance(data, pd.DataFrame) else int(data.num_rows)
