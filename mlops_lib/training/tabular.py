"""A data set as training reads it: a pandas frame or an Arrow table (the versioned parquet as
read), with the few accessors that treat both alike."""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa

Tabular: TypeAlias = pd.DataFrame | pa.Table


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
