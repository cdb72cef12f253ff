"""Rows read row group by row group (`stores.parquet_rows`) are the rows a whole read takes,
and the holdout the split picks from the row count and the time column alone is the one it
picks from the whole table (what `steps.evaluate` and the reports read since issue 19)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from mlops_lib.stores.parquet_rows import read_positions
from mlops_lib.training.trainer import holdout_mask

pytestmark = pytest.mark.unit


def frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({
        "x": rng.normal(size=n),
        "k": pd.array(rng.integers(0, 5, n), dtype="Int64"),
        "c": pd.Categorical(rng.choice(["a", "b", "c"], n), categories=["a", "b", "c"]),
        "at": pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 90, n), unit="D"),
        "y": rng.integers(0, 2, n)})


@pytest.mark.parametrize("time_column", [None, "at"])
def test_the_holdout_from_the_split_columns_is_the_whole_tables(
        tmp_path: Path, time_column: str | None) -> None:
    path = tmp_path / "data.parquet"
    frame(5_000).to_parquet(path, row_group_size=700)
    whole = pq.read_table(path)
    source = pq.ParquetFile(path)
    split = source.read(columns=[] if time_column is None else [time_column])

    expected = np.flatnonzero(holdout_mask(whole, 0.2, 42, time_column))
    picked = np.flatnonzero(holdout_mask(split, 0.2, 42, time_column))

    assert np.array_equal(picked, expected) and 500 < len(picked) < 1_500
    rows = read_positions(source, whole.column_names, picked).to_pandas()
    pd.testing.assert_frame_equal(rows, whole.take(expected).to_pandas())


def test_positions_across_row_group_edges_and_none(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    frame(1_000).to_parquet(path, row_group_size=100)
    source = pq.ParquetFile(path)
    at = np.array([0, 99, 100, 101, 555, 999])

    taken = read_positions(source, ["x", "c"], at)

    assert taken.num_rows == 6
    assert taken.column("x").to_pylist() == pq.read_table(path).column("x").take(at).to_pylist()
    assert read_positions(source, ["x"], None).num_rows == 1_000
    assert read_positions(source, ["x"], np.array([], dtype=np.int64)).num_rows == 0
