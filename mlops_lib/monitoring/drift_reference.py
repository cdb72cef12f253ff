"""A drift reference kept on disk: a training set reduced, once, to what the drift monitor
compares each batch with, so that the monitor never reads the training set again and holds
one reference column at a time.

A folder of:

* `feature_<i>.parquet` per compared feature: the column's distinct values and their counts,
  a histogram with one bin per value. Numeric values are the finite ones, sorted. A
  categorical column keeps its categories (unused ones and their order included), a bool
  column its two values, any other column its distinct values; missing values are counted in
  `reference.json`.
* `report.parquet`: the rows a batch drift report shows (`report_positions`, a seeded sample
  above the reports' row limit).
* `reference.json`, written last: the rows, and each feature's file, kind and encoding. A
  folder without it is an unfinished build.

The histogram is exact: a column expanded again is the training set's column up to the order
of its rows, and no statistic of `drift.compute` depends on that order, so the statistics and
verdicts against a stored reference are those against the training set itself
(tests/unit/test_drift_reference.py holds them to 1e-9). The price is size: a continuous
feature has about as many distinct values as rows, so a reference is about as large as the
compared columns of its training set.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlops_lib.monitoring.drift import ReferenceSide
from mlops_lib.monitoring.drift_noise import ReferenceColumn
from mlops_lib.monitoring.drift_numeric import sorted_finite, value_counts_sorted
from mlops_lib.monitoring.drift_result import FeatureKind
from mlops_lib.stores.parquet_rows import read_positions

FORMAT = 1
META = "reference.json"
REPORT_ROWS = "report.parquet"

Encoding = Literal["numeric", "category", "bool", "values"]


@dataclass(frozen=True)
class StoredFeature:
    name: str
    kind: FeatureKind
    encoding: Encoding
    file: str
    n_missing: int = 0  # categorical: rows without a value (numeric ones are in n_rows)
    ordered: bool = False  # category: an ordered categorical


def fingerprint(kinds: Mapping[str, FeatureKind]) -> str:
    """What a reference depends on besides its data: the compared features, their kinds and
    this format. A spec that changes them gets a new reference."""
    text = json.dumps({"format": FORMAT, "features": sorted(kinds.items())})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_reference(data: Path, kinds: Mapping[str, FeatureKind], out: Path,
                    report_positions: Callable[[int], np.ndarray | None]) -> StoredReference:
    """Reduce the parquet file `data` to a reference in the folder `out` (see the module), one
    column in memory at a time. `report_positions(n_rows)`: the rows the reports show (None:
    all of them)."""
    out.mkdir(parents=True, exist_ok=True)
    source = pq.ParquetFile(data)
    n_rows = source.metadata.num_rows
    features = []
    for i, (name, kind) in enumerate(kinds.items()):
        series = _read_column(source, name)
        feature, table = _reduce(series, name, kind, f"feature_{i}.parquet")
        del series
        pq.write_table(table, out / feature.file, compression="zstd")
        features.append(feature)
    pq.write_table(read_positions(source, list(kinds), report_positions(n_rows)),
                   out / REPORT_ROWS, compression="zstd")
    (out / META).write_text(json.dumps({
        "format": FORMAT, "n_rows": n_rows,
        "features": [feature.__dict__ for feature in features]}, indent=1))
    return StoredReference(out)


class StoredReference:
    """A reference folder read back, one feature at a time (`drift.Reference`)."""

    def __init__(self, folder: Path) -> None:
        meta = json.loads((folder / META).read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"drift reference {folder} has format {meta.get('format')!r}, "
                             f"not {FORMAT}")
        self.folder = folder
        self.n_rows: int = meta["n_rows"]
        self.features = {f["name"]: StoredFeature(**f) for f in meta["features"]}

    def has(self, name: str) -> bool:
        return name in self.features

    def side(self, name: str, kind: FeatureKind) -> ReferenceSide:
        feature = self.features[name]
        if feature.kind != kind:
            raise ValueError(f"drift reference {self.folder}: {name!r} is {feature.kind}, "
                             f"not {kind}")
        table = pq.read_table(self.folder / feature.file)
        counts = table.column("count").to_numpy()
        if feature.encoding == "numeric":
            values = table.column("value").to_numpy()
            return ReferenceSide(ReferenceColumn.numeric(np.repeat(values, counts),
                                                         self.n_rows, (values, counts)))
        series = _expand(feature, table.column("value").to_pandas(), counts)
        return ReferenceSide(ReferenceColumn(kind, series), series)

    def report_rows(self) -> pd.DataFrame:
        return pq.read_table(self.folder / REPORT_ROWS).to_pandas(self_destruct=True,
                                                                   split_blocks=True)


class ParquetColumns:
    """A parquet file as `drift.compute` takes its current batch, read one column at a time:
    the monitor never holds a whole batch (`drift.CurrentColumns`)."""

    def __init__(self, path: Path) -> None:
        self.source = pq.ParquetFile(path)
        self.columns = tuple(self.source.schema_arrow.names)

    def __len__(self) -> int:
        return int(self.source.metadata.num_rows)

    def __getitem__(self, name: str) -> pd.Series:
        return _read_column(self.source, name)

    def rows(self, columns: Sequence[str], positions: np.ndarray | None) -> pd.DataFrame:
        """The rows at sorted `positions` (None: all), as a frame."""
        return read_positions(self.source, list(columns), positions).to_pandas(
            self_destruct=True, split_blocks=True)


def _read_column(source: pq.ParquetFile, name: str) -> pd.Series:
    # as the monitor reads a frame (steps.shared.to_frame), so the dtypes are the same
    return source.read(columns=[name]).to_pandas(self_destruct=True)[name]


def _reduce(series: pd.Series, name: str, kind: FeatureKind,
            file: str) -> tuple[StoredFeature, pa.Table]:
    if kind == "numeric":
        finite, _ = sorted_finite(series)
        values, counts = value_counts_sorted(finite)
        return (StoredFeature(name, kind, "numeric", file),
                pa.table({"value": values, "count": counts.astype(np.int64)}))
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy().astype(np.int64)
        tally = np.bincount(codes + 1, minlength=len(series.cat.categories) + 1)
        return (StoredFeature(name, kind, "category", file, int(tally[0]),
                              bool(series.dtype.ordered)),
                pa.table({"value": pa.array(series.cat.categories.to_numpy()),
                          "count": tally[1:].astype(np.int64)}))
    if series.dtype == np.bool_:
        trues = int(np.count_nonzero(series.to_numpy()))
        return (StoredFeature(name, kind, "bool", file),
                pa.table({"value": [False, True],
                          "count": np.array([len(series) - trues, trues], dtype=np.int64)}))
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    tally = np.bincount(codes.astype(np.int64) + 1, minlength=len(uniques) + 1)
    return (StoredFeature(name, kind, "values", file, int(tally[0])),
            pa.table({"value": pa.array(np.asarray(uniques)),
                      "count": tally[1:].astype(np.int64)}))


def _expand(feature: StoredFeature, values: pd.Series, counts: np.ndarray) -> pd.Series:
    """The column again, its rows grouped by value, missing ones last."""
    codes = np.repeat(np.arange(len(values), dtype=np.int64), counts)
    if feature.encoding == "category":
        codes = np.append(codes, np.full(feature.n_missing, -1, dtype=np.int64))
        return pd.Series(pd.Categorical.from_codes(codes, categories=pd.Index(values),
                                                   ordered=feature.ordered), name=feature.name)
    if feature.encoding == "bool":
        return pd.Series(values.to_numpy(dtype=bool)[codes], name=feature.name)
    expanded = values.iloc[codes].reset_index(drop=True)
    if feature.n_missing:
        dtype = object if expanded.dtype == object else np.float64  # as Arrow gives nulls
        expanded = pd.concat([expanded, pd.Series([None] * feature.n_missing, dtype=dtype)],
                             ignore_index=True)
    return expanded.rename(feature.name)
