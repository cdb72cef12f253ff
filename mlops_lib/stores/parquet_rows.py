"""Some rows of a parquet file without the rest: a sample of a large file read row group by
row group, so that it never costs the whole file's memory."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def read_positions(source: pq.ParquetFile, columns: list[str],
                   positions: np.ndarray | None) -> pa.Table:
    """The rows at sorted `positions` (None: all) of `columns`, read row group by row group:
    a sample of a large file never costs the whole file's memory."""
    if positions is None:
        return source.read(columns=columns)
    parts, start = [], 0
    for group in range(source.num_row_groups):
        n = source.metadata.row_group(group).num_rows
        lo, hi = np.searchsorted(positions, [start, start + n])
        if hi > lo:
            parts.append(source.read_row_group(group, columns=columns).take(
                pa.array(positions[lo:hi] - start)))
        start += n
    if not parts:
        return pa.schema([source.schema_arrow.field(c) for c in columns]).empty_table()
    return pa.concat_tables(parts)
