"""Which rows train: the holdout split, the early-stopping validation rows, the training cap.

Every split is seeded (or, with `training.time_column`, by time), so the same data and spec
always give the same rows, hence the same model.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from mlops_lib.spec import PipelineSpec
from mlops_lib.training.sampling import stratified_sample
from mlops_lib.training.tabular import Tabular, column_series, n_rows

log = logging.getLogger(__name__)


def split_holdout(df: pd.DataFrame, share: float, seed: int,
                  time_column: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train/holdout; the holdout is never trained on by the challenger.

    Without `time_column`: a seeded random split. With it: the newest `share` of the rows (by
    that column) is the holdout, extended to every row sharing the cut-off time so that no
    timestamp straddles the split (unless that leaves nothing to train on); rows with a missing
    time count as the oldest. Both parts keep the frame's row order.
    """
    mask = holdout_mask(df, share, seed, time_column)
    return df.loc[~mask].reset_index(drop=True), df.loc[mask].reset_index(drop=True)


def holdout_mask(data: Tabular, share: float, seed: int | list[int],
                 time_column: str | None, rows: np.ndarray | None = None) -> np.ndarray:
    """True for the rows held out (see split_holdout), over `rows` of `data` (None: all)."""
    n = n_rows(data, rows)
    if time_column is None:
        rng = np.random.default_rng(seed)
        return rng.random(n) < share
    times = column_series(data, time_column)
    times = (times if rows is None else times.iloc[rows]).reset_index(drop=True)
    n_holdout = min(n, max(1, round(share * n))) if n else 0
    order = times.sort_values(kind="stable", na_position="first").index.to_numpy()
    mask = np.zeros(n, dtype=bool)
    if n_holdout:
        mask[order[n - n_holdout:]] = True
        cutoff = times.iloc[order[n - n_holdout]]
        ties = (times >= cutoff).to_numpy() if not pd.isna(cutoff) else mask
        if not (mask | ties).all():  # keep something to train on when all times are equal
            mask |= ties
    return mask


def validation_mask(train_data: Tabular, spec: PipelineSpec,
                    rows: np.ndarray | None = None) -> np.ndarray | None:
    """Training rows held back for early stopping (over `rows` of `train_data`; None: all
    rows), or None (no early stopping).

    Seeded like the holdout but from its own stream; with a time column, the newest rows. None
    when early stopping is off, when the split would leave either side empty, or when a binary
    target's validation rows hold one class only (AUC is undefined there). Not stratified, for
    binary or multiclass alike; a multiclass split needs no such check (mlogloss is defined on
    any mix of classes).
    """
    cfg = spec.training
    n = n_rows(train_data, rows)
    if cfg.early_stopping_rounds <= 0 or n < 2:
        return None
    mask = holdout_mask(train_data, cfg.validation_share, [cfg.seed, 1], cfg.time_column, rows)
    if not mask.any() or mask.all():
        log.info("Early stopping off: a validation share of %s leaves no rows on one side",
                 cfg.validation_share)
        return None
    if spec.task == "binary_classification":
        target = column_series(train_data, spec.target).to_numpy()
        if np.unique((target if rows is None else target[rows])[mask]).size < 2:
            log.info("Early stopping off: the validation rows hold a single class")
            return None
    return mask


def capped_rows(data: Tabular, spec: PipelineSpec,
                rows: np.ndarray | None) -> np.ndarray | None:
    """`rows` (None: all) cut to `training.max_train_rows` by a seeded sample, stratified by
    class for classification, in the data's row order; unchanged when under the cap."""
    cap = spec.training.max_train_rows
    n = n_rows(data, rows)
    if cap is None or n <= cap:
        return rows
    target = column_series(data, spec.target).to_numpy()
    picked = stratified_sample(target if rows is None else target[rows], spec.task, cap,
                               [spec.training.seed, 2])
    log.warning("Training on a sample: %d of %d training rows (training.max_train_rows, "
                "seeded%s); the holdout keeps every row", cap, n,
                "" if spec.task == "regression" else ", stratified by class")
    return picked if rows is None else rows[picked]
