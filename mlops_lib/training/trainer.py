"""Training and scoring XGBoost models: seeded, on the GPU when one is there.

The hot path: the training rows (capped, split into training and early-stopping validation
rows: `split`) become float32 matrices (`matrix`); the training rows a ``QuantileDMatrix``, the
validation rows a second one built with ``ref=`` the first, so it reuses the training cuts.
Prediction goes through the same conversion, so a category means the same code at training and
at scoring time.

A multiclass target is each label's index in the spec's `classes` (``multi:softprob`` with
``num_class`` k), so ``predict`` returns a (rows, k) probability matrix whose column j is class
``spec.classes[j]``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from mlops_lib.evaluation import metrics
from mlops_lib.spec import PipelineSpec
from mlops_lib.training.environment import (
    available_cores,
    capture_environment,
    choose_device,
    git_sha,
)
from mlops_lib.training.matrix import (
    feature_matrices,
    feature_types,
    labels,
    quantile_matrix,
    target_values,
    to_dmatrix,
)
from mlops_lib.training.split import capped_rows, holdout_mask, validation_mask
from mlops_lib.training.tabular import Tabular, n_rows

# git_sha, holdout_mask and target_values are re-exported: the steps import them from here.
__all__ = ["TrainedModel", "git_sha", "holdout_mask", "load_booster", "predict", "score",
           "target_values", "train_model", "training_params"]

log = logging.getLogger(__name__)

_OBJECTIVES = {
    "binary_classification": ("binary:logistic", "auc"),
    "multiclass_classification": ("multi:softprob", "mlogloss"),
    "regression": ("reg:squarederror", "rmse"),
}


@dataclass
class TrainedModel:
    booster: xgb.Booster
    params: dict[str, Any]
    num_boost_round: int
    device: str
    train_rows: int
    train_seconds: float
    environment: dict[str, str] = field(default_factory=dict)
    best_iteration: int = -1        # 0-based index of the last tree kept; trees = this + 1
    best_score: float | None = None  # validation metric at best_iteration (None: no validation)
    validation_rows: int = 0        # rows carved from the training frame for early stopping
    matrix_seconds: float = 0.0     # frame -> float32 -> QuantileDMatrix (train + validation)
    rows_available: int = 0         # training rows before training.max_train_rows sampled them
    matrix: str = "in_memory"       # in_memory | external_memory (training.memory_budget_gib)
    matrix_estimate_bytes: int = 0  # the in-memory estimate that chose it (0: not estimated)

    @property
    def sampled(self) -> bool:
        return self.train_rows + self.validation_rows < self.rows_available

    @property
    def stopped_early(self) -> bool:
        return self.best_iteration + 1 < self.num_boost_round

    def to_json_bytes(self) -> bytes:
        """XGBoost's own JSON format: portable, inspectable, never pickled."""
        return bytes(self.booster.save_raw(raw_format="json"))


def training_params(spec: PipelineSpec, device: str) -> dict[str, Any]:
    objective, eval_metric = _OBJECTIVES[spec.task]
    params: dict[str, Any] = {
        "objective": objective, "eval_metric": eval_metric, "tree_method": "hist",
        "device": device, "seed": spec.training.seed, "nthread": available_cores(),
        **spec.training.params,
    }
    if spec.task == "multiclass_classification":
        params["num_class"] = len(spec.classes)  # always the spec's: the columns of predict
    return params


def train_model(train_data: Tabular, spec: PipelineSpec,
                rows: np.ndarray | None = None) -> TrainedModel:
    """Train on `rows` (positions) of `train_data`, or on all of it.

    A pandas frame or an Arrow table (the versioned parquet as read): the same rows give the
    same model, byte for byte. Passing the whole table with the training rows' positions
    spares a copy of the training part of the data set.
    """
    cfg = spec.training
    device = choose_device(cfg.device)
    params = training_params(spec, device)
    started = time.perf_counter()
    available = n_rows(train_data, rows)
    row_sets = training_row_sets(train_data, spec, rows)
    validation = len(row_sets) == 2
    xs = feature_matrices(train_data, spec, *row_sets)
    ys = labels(train_data, spec, *row_sets)
    if cfg.engine == "dask":
        matrix_seconds = time.perf_counter() - started
        started = time.perf_counter()
        booster = _fit_on_dask(params, xs, ys, spec, validation=validation)
    else:
        dtrain = quantile_matrix(xs[0], ys[0], spec, params)
        evals: list[tuple[xgb.DMatrix, str]] = []
        if validation:
            evals = [(quantile_matrix(xs[1], ys[1], spec, params, ref=dtrain), "validation")]
        del xs  # the quantile matrices hold their own compressed copy
        matrix_seconds = time.perf_counter() - started

        started = time.perf_counter()
        booster = fit_booster(params, dtrain, evals, spec)
    train_seconds = time.perf_counter() - started
    return finished_model(booster, spec, params, device, train_rows=len(ys[0]),
                          validation_rows=len(ys[1]) if validation else None,
                          rows_available=available, matrix_seconds=matrix_seconds,
                          train_seconds=train_seconds)


def training_row_sets(data: Tabular, spec: PipelineSpec,
                      rows: np.ndarray | None) -> tuple[np.ndarray | None, ...]:
    """The positions that train: (training rows,) or, with early stopping, (training rows,
    validation rows); `rows` (None: all) cut to training.max_train_rows first. Only the target
    and the time column are read, so a table of those columns alone gives the same rows."""
    rows = capped_rows(data, spec, rows)
    mask = validation_mask(data, spec, rows)
    if mask is None:
        return (rows,)
    base = np.arange(len(mask)) if rows is None else rows
    return base[~mask], base[mask]


def fit_booster(params: dict[str, Any], dtrain: xgb.DMatrix,
                evals: list[tuple[xgb.DMatrix, str]], spec: PipelineSpec) -> xgb.Booster:
    """xgb.train on a training matrix (in memory or external), early stopping on `evals`."""
    cfg = spec.training
    return xgb.train(params, dtrain, num_boost_round=cfg.num_boost_round, evals=evals,
                     early_stopping_rounds=cfg.early_stopping_rounds if evals else None,
                     verbose_eval=False)


def finished_model(booster: xgb.Booster, spec: PipelineSpec, params: dict[str, Any],
                   device: str, *, train_rows: int, validation_rows: int | None,
                   rows_available: int, matrix_seconds: float,
                   train_seconds: float) -> TrainedModel:
    """The trained model cut to its best iteration, with what the run records about it."""
    booster, best_iteration, best_score = _best_model(booster, spec, params,
                                                      validation_rows=validation_rows)
    log.info("Matrix build %.2fs, training %.2fs on %s, nthread %s, %d rows x %d features",
             matrix_seconds, train_seconds, device, params["nthread"], train_rows,
             len(spec.model_inputs))
    return TrainedModel(booster=booster, params=params,
                        num_boost_round=spec.training.num_boost_round, device=device,
                        train_rows=train_rows, train_seconds=train_seconds,
                        environment=capture_environment(device), best_iteration=best_iteration,
                        best_score=best_score, validation_rows=validation_rows or 0,
                        rows_available=rows_available, matrix_seconds=matrix_seconds)


def _best_model(booster: xgb.Booster, spec: PipelineSpec, params: dict[str, Any], *,
                validation_rows: int | None) -> tuple[xgb.Booster, int, float | None]:
    """The booster cut to its best iteration (with early stopping), that iteration and its
    validation score (None without validation rows)."""
    if validation_rows is None:
        best_iteration = booster.num_boosted_rounds() - 1
        log.info("No early stopping: %d trees", best_iteration + 1)
        return booster, best_iteration, None
    best_iteration = int(booster.best_iteration)
    best_score = float(booster.best_score)
    rounds_trained = booster.num_boosted_rounds()
    if rounds_trained > best_iteration + 1:
        booster = booster[: best_iteration + 1]  # the registered model is the best one
    log.info("Early stopping: best iteration %d (%d trees kept; %d of at most %d rounds "
             "trained); validation %s %.6f on %d rows", best_iteration, best_iteration + 1,
             rounds_trained, spec.training.num_boost_round, params["eval_metric"], best_score,
             validation_rows)
    return booster, best_iteration, best_score


def _fit_on_dask(params: dict[str, Any], xs: list[np.ndarray], ys: list[np.ndarray],
                 spec: PipelineSpec, *, validation: bool) -> xgb.Booster:
    # dask is imported only by pipelines that use it
    from mlops_lib.training import dask_engine

    cfg = spec.training
    return dask_engine.fit(
        params, xs[0], ys[0], xs[1] if validation else None, ys[1] if validation else None,
        feature_names=spec.model_inputs, feature_types=feature_types(spec),
        num_boost_round=cfg.num_boost_round,
        early_stopping_rounds=cfg.early_stopping_rounds if validation else None,
        config=cfg.dask)


def load_booster(model_json: bytes) -> xgb.Booster:
    booster = xgb.Booster()
    booster.load_model(bytearray(model_json))
    return booster


def predict(booster: xgb.Booster, df: pd.DataFrame, spec: PipelineSpec) -> np.ndarray:
    return booster.predict(to_dmatrix(df, spec, with_label=False))


def score(y_true: np.ndarray, y_pred: np.ndarray, task: str,
          threshold: float = 0.5) -> dict[str, float]:
    """All metrics of the task type (see evaluation.metrics); the primary metric is one."""
    return metrics.compute(y_true, y_pred, task, threshold)
