"""Training from the versioned parquet file, in memory or from XGBoost's external memory.

The in-memory path (`trainer.train_model`) holds the training set as an Arrow table, its float32
copy and the quantised matrix at once. When that is estimated, from the parquet metadata alone,
to exceed `training.memory_budget_gib`, the model trains on an ``ExtMemQuantileDMatrix``
instead: a `DataIter` reads the file a slice of rows at a time and converts each slice with the
same `feature_matrices` / `labels` as the in-memory path, and XGBoost keeps the quantised pages
in a cache folder on disk.

The rows are the in-memory path's, exactly: the holdout, the training-row cap and the
early-stopping rows are decided by `split` from the target and time columns alone (a table of
those columns gives the same positions as the whole table), then each slice keeps its share of
those positions. Only the quantile cuts differ (sketched slice by slice and merged), so the
model is close to the in-memory one, not identical; the slice size is fixed by the number of
model inputs, so the same data and spec always give the same model.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xgboost as xgb

from mlops_lib.spec import PipelineSpec
from mlops_lib.training.environment import choose_device
from mlops_lib.training.matrix import feature_matrices, feature_types, labels
from mlops_lib.training.split import holdout_mask
from mlops_lib.training.tabular import ParquetTable, Tabular
from mlops_lib.training.trainer import (
    TrainedModel,
    finished_model,
    fit_booster,
    train_model,
    training_params,
    training_row_sets,
)

log = logging.getLogger(__name__)

IN_MEMORY = "in_memory"
EXTERNAL_MEMORY = "external_memory"

# float32 values per slice: 64 MiB of matrix, so a slice's Arrow columns, its float32 copy and
# XGBoost's page of it stay far below the budget, while the pages stay few and large
_SLICE_VALUES = 16 * 2**20


def estimated_matrix_bytes(path: Path, spec: PipelineSpec) -> int:
    """What the in-memory path holds at its peak, from the parquet metadata (no data read):
    the table as Arrow holds it (a fixed-width column's width per row, any other column its
    uncompressed size in the file), the float32 matrix (4 B per row and model input) and the
    quantised matrix (1 B per row and input), and per row the label, the split's masks and
    positions and XGBoost's gradients (~32 B)."""
    parquet = pq.ParquetFile(path)
    meta = parquet.metadata
    rows = meta.num_rows
    table = 0
    for j, field in enumerate(parquet.schema_arrow):
        try:  # numbers, bools (rounded up to a byte), timestamps: exact
            table += rows * max(1, field.type.bit_width // 8)
        except ValueError:  # strings, dictionaries: as written, uncompressed
            table += sum(meta.row_group(i).column(j).total_uncompressed_size
                         for i in range(meta.num_row_groups))
    inputs = len(spec.model_inputs)
    return int(table + rows * (inputs * 5 + 32))


def slice_rows(spec: PipelineSpec) -> int:
    """Rows per slice of the external-memory path: fixed by the spec, so runs are repeatable."""
    return max(1024, _SLICE_VALUES // max(1, len(spec.model_inputs)))


def train_from_parquet(path: Path, spec: PipelineSpec, scratch: Path, *,
                       rows_per_slice: int | None = None) -> TrainedModel:
    """Train on the training rows (all but the holdout) of the parquet file at `path`.

    In memory, as `train_model` on the whole table, while the estimate fits
    `training.memory_budget_gib` (or the engine is dask); above it from external memory, with
    XGBoost's page cache in a temporary folder under `scratch`, removed afterwards. The model
    records which path it took and the estimate (`matrix`, `matrix_estimate_bytes`, and the
    environment's `training_matrix`)."""
    estimate = estimated_matrix_bytes(path, spec)
    budget = spec.training.memory_budget_gib * 2**30
    if spec.training.engine == "dask" or estimate <= budget:
        table = ParquetTable(path)  # read a column at a time into the matrices
        rows = np.flatnonzero(~_holdout(table, spec))
        model = train_model(table, spec, rows=rows)
        return _recorded(model, IN_MEMORY, estimate)
    log.warning("Training from external memory: the in-memory path would need ~%.1f GiB, over "
                "training.memory_budget_gib %s", estimate / 2**30, spec.training.memory_budget_gib)
    with tempfile.TemporaryDirectory(prefix="xgb-extmem-", dir=scratch) as cache:
        model = _train_external(path, spec, Path(cache), rows_per_slice or slice_rows(spec))
    return _recorded(model, EXTERNAL_MEMORY, estimate)


def _holdout(data: Tabular, spec: PipelineSpec) -> np.ndarray:
    cfg = spec.training
    mask: np.ndarray = holdout_mask(data, cfg.holdout_share, cfg.seed, cfg.time_column)
    return mask


def _recorded(model: TrainedModel, path: str, estimate: int) -> TrainedModel:
    model.matrix = path
    model.matrix_estimate_bytes = estimate
    model.environment["training_matrix"] = f"{path} (estimate {estimate / 2**30:.2f} GiB)"
    return model


def _train_external(path: Path, spec: PipelineSpec, cache: Path,
                    rows_per_slice: int) -> TrainedModel:
    started = time.perf_counter()
    device = choose_device(spec.training.device)
    params = training_params(spec, device)
    # the split reads only the target and the time column: the same positions as the table's
    columns = [spec.target, *([spec.training.time_column] if spec.training.time_column else [])]
    split_table = pq.read_table(path, columns=list(dict.fromkeys(columns)))
    rows = np.flatnonzero(~_holdout(split_table, spec))
    available = len(rows)
    row_sets = training_row_sets(split_table, spec, rows)
    del split_table
    assert all(r is not None for r in row_sets)  # positions, never "all rows" (rows is given)
    train_rows, *validation = (np.asarray(r) for r in row_sets)
    max_bin = params.get("max_bin")  # must match the booster's max_bin
    common: dict[str, Any] = {"nthread": int(params["nthread"]), "enable_categorical": True,
                              "max_bin": None if max_bin is None else int(max_bin)}
    dtrain = xgb.ExtMemQuantileDMatrix(
        ParquetRows(path, spec, train_rows, cache / "train", rows_per_slice), **common)
    evals: list[tuple[xgb.DMatrix, str]] = [(xgb.ExtMemQuantileDMatrix(
        ParquetRows(path, spec, validation[0], cache / "validation", rows_per_slice),
        ref=dtrain, **common), "validation")] if validation else []
    matrix_seconds = time.perf_counter() - started
    started = time.perf_counter()
    booster = fit_booster(params, dtrain, evals, spec)
    train_seconds = time.perf_counter() - started
    del dtrain, evals  # their cache files go with them, before the folder is removed
    return finished_model(booster, spec, params, device, train_rows=len(train_rows),
                          validation_rows=len(validation[0]) if validation else None,
                          rows_available=available, matrix_seconds=matrix_seconds,
                          train_seconds=train_seconds)


class ParquetRows(xgb.DataIter):
    """The rows at `positions` (sorted, of the whole file) of a parquet file, as XGBoost batches:
    slices of `rows_per_slice` file rows, each converted as the in-memory path converts the
    table (model inputs in model order, categories as the spec's codes)."""

    def __init__(self, path: Path, spec: PipelineSpec, positions: np.ndarray, cache_prefix: Path,
                 rows_per_slice: int) -> None:
        self._path = path
        self._spec = spec
        self._positions = positions
        self._rows_per_slice = rows_per_slice
        self._columns = list(dict.fromkeys([*spec.model_inputs, spec.target]))
        self._slices: Iterator[tuple[int, pa.Table]] | None = None
        self.batches_read = 0  # over every pass XGBoost makes (tests and logs read it)
        super().__init__(cache_prefix=str(cache_prefix))

    def _read(self) -> Iterator[tuple[int, pa.Table]]:
        """(first file row, rows) of each slice, in file order. A reader's batches end at row
        group ends: they are joined up to `rows_per_slice`, so small row groups do not make
        many small pages (each page is read once per boosting round)."""
        start = 0
        pending: list[pa.RecordBatch] = []
        with pq.ParquetFile(self._path) as parquet:
            for batch in parquet.iter_batches(batch_size=self._rows_per_slice,
                                              columns=self._columns, use_threads=False):
                pending.append(batch)
                if sum(b.num_rows for b in pending) >= self._rows_per_slice:
                    table = pa.Table.from_batches(pending)
                    yield start, table
                    start += table.num_rows
                    pending = []
        if pending:
            yield start, pa.Table.from_batches(pending)

    def reset(self) -> None:
        self._slices = None

    def next(self, input_data: Callable[..., None]) -> bool:
        if self._slices is None:
            self._slices = self._read()
        for start, data in self._slices:
            lo, hi = np.searchsorted(self._positions, [start, start + data.num_rows])
            if lo == hi:  # no row of this set in the slice
                continue
            local = self._positions[lo:hi] - start
            x = feature_matrices(data, self._spec, local)[0]
            y = labels(data, self._spec, local)[0]
            input_data(data=x, label=y, feature_names=self._spec.model_inputs,
                       feature_types=feature_types(self._spec))
            self.batches_read += 1
            return True
        return False

