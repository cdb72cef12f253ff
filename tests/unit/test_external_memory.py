"""Training from XGBoost's external memory (training.memory_budget_gib): the same rows as the
in-memory path, read a slice at a time, and a model of the same quality."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xgboost as xgb

from mlops_dev.datagen import generate_batch
from mlops_lib.evaluation import metrics
from mlops_lib.spec import PipelineSpec
from mlops_lib.training import external_memory
from mlops_lib.training.external_memory import (
    EXTERNAL_MEMORY,
    IN_MEMORY,
    ParquetRows,
    estimated_matrix_bytes,
    train_from_parquet,
)
from mlops_lib.training.matrix import feature_matrices, labels
from mlops_lib.training.split import holdout_mask
from mlops_lib.training.tabular import ParquetTable
from mlops_lib.training.trainer import (
    TrainedModel,
    predict,
    target_values,
    train_model,
    training_row_sets,
)

pytestmark = pytest.mark.unit

ROWS = 50_000
ROW_GROUP = 6_000      # several small row groups, not aligned with the slices below
SLICE = 13_000         # file rows per external-memory batch: 4 slices
AUC_TOLERANCE = 0.005  # the issue's: same seed, same quality


@pytest.fixture(scope="module")
def small_spec(spec: PipelineSpec) -> PipelineSpec:
    return replace(spec, training=replace(spec.training, device="cpu", num_boost_round=30,
                                          early_stopping_rounds=5))


@pytest.fixture(scope="module")
def parquet(small_spec: PipelineSpec, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("extmem") / "train.parquet"
    frame = generate_batch(small_spec, ROWS, seed=11)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path,
                   row_group_size=ROW_GROUP)
    return path


def _auc(model: TrainedModel, path: Path, spec: PipelineSpec) -> float:
    table = pq.read_table(path)
    cfg = spec.training
    holdout = table.to_pandas().loc[holdout_mask(table, cfg.holdout_share, cfg.seed, None)]
    return metrics.compute(target_values(holdout, spec), predict(model.booster, holdout, spec),
                           spec.task)["roc_auc"]


def test_external_memory_training_matches_in_memory_quality(
        parquet: Path, small_spec: PipelineSpec, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    fit = external_memory.fit_booster

    def watched(params: dict[str, Any], dtrain: xgb.DMatrix,
                evals: list[tuple[xgb.DMatrix, str]], spec: PipelineSpec) -> xgb.Booster:
        seen["matrices"] = [type(dtrain), *(type(m) for m, _ in evals)]
        seen["cache"] = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
        return fit(params, dtrain, evals, spec)

    monkeypatch.setattr(external_memory, "fit_booster", watched)
    fits = replace(small_spec, training=replace(small_spec.training, memory_budget_gib=64.0))
    too_big = replace(small_spec, training=replace(small_spec.training, memory_budget_gib=1e-4))

    in_memory = train_from_parquet(parquet, fits, tmp_path, rows_per_slice=SLICE)
    assert in_memory.matrix == IN_MEMORY and "matrices" not in seen
    external = train_from_parquet(parquet, too_big, tmp_path, rows_per_slice=SLICE)

    assert external.matrix == EXTERNAL_MEMORY
    assert seen["matrices"] == [xgb.ExtMemQuantileDMatrix] * 2  # training and early stopping
    assert any(name.endswith(".page") for name in seen["cache"]), seen["cache"]
    assert not any(p.is_file() for p in tmp_path.rglob("*"))  # the page cache is removed
    assert external.environment["training_matrix"].startswith(EXTERNAL_MEMORY)
    # the same rows: the split is the in-memory path's, only the quantile sketch is streamed
    assert (external.train_rows, external.validation_rows, external.rows_available) == (
        in_memory.train_rows, in_memory.validation_rows, in_memory.rows_available)
    assert in_memory.validation_rows > 0
    auc_in, auc_ext = _auc(in_memory, parquet, fits), _auc(external, parquet, too_big)
    assert auc_in > 0.7
    assert abs(auc_in - auc_ext) <= AUC_TOLERANCE, (auc_in, auc_ext)


def test_the_slices_hold_the_in_memory_rows_and_values(parquet: Path,
                                                      small_spec: PipelineSpec,
                                                      tmp_path: Path) -> None:
    table = pq.read_table(parquet)
    rows = np.flatnonzero(~holdout_mask(table, small_spec.training.holdout_share,
                                        small_spec.training.seed, None))
    train_rows = training_row_sets(table, small_spec, rows)[0]
    assert train_rows is not None
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []

    def collect(*, data: np.ndarray, label: np.ndarray, **_: Any) -> None:
        xs.append(data)
        ys.append(label)

    slices = ParquetRows(parquet, small_spec, train_rows, tmp_path / "c", SLICE)
    while slices.next(collect):
        pass
    assert 1 < len(xs) <= -(-ROWS // SLICE)  # small row groups are joined into slices
    np.testing.assert_array_equal(np.vstack(xs),
                                  feature_matrices(table, small_spec, train_rows)[0])
    np.testing.assert_array_equal(np.concatenate(ys), labels(table, small_spec, train_rows)[0])


def test_the_estimate_covers_the_table_and_the_matrices(parquet: Path,
                                                        small_spec: PipelineSpec) -> None:
    table = pq.read_table(parquet)
    inputs = len(small_spec.model_inputs)
    estimate = estimated_matrix_bytes(parquet, small_spec)
    assert table.nbytes + ROWS * inputs * 5 < estimate < 2 * table.nbytes + ROWS * inputs * 8


def test_in_memory_training_reads_the_file_a_column_at_a_time_into_the_same_model(
        parquet: Path, small_spec: PipelineSpec, tmp_path: Path) -> None:
    fits = replace(small_spec, training=replace(small_spec.training, memory_budget_gib=64.0))
    table = pq.read_table(parquet)
    rows = np.flatnonzero(~holdout_mask(table, fits.training.holdout_share, fits.training.seed,
                                        None))
    from_table = train_model(table, fits, rows=rows)

    from_file = train_from_parquet(parquet, fits, tmp_path)  # ParquetTable: no whole table

    assert from_file.matrix == IN_MEMORY
    assert from_file.to_json_bytes() == from_table.to_json_bytes()
    lazy = ParquetTable(parquet)
    assert lazy.num_rows == table.num_rows and lazy.column_names == table.column_names
    assert lazy.column(fits.target).equals(table.column(fits.target))
