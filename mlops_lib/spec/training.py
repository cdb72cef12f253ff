"""How a pipeline trains: the split, XGBoost's settings, and where it runs (local or Dask)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic.dataclasses import dataclass

from mlops_lib.spec.base import SPEC_CONFIG, Count, Integer, OrEmpty
from mlops_lib.spec.window import TrainingWindow

TrainingEngine = Literal["local", "dask"]
Device = Literal["auto", "cpu", "cuda"]


@dataclass(frozen=True, config=SPEC_CONFIG)
class DaskConfig:
    """Where `training.engine: dask` trains: the Dask scheduler at `scheduler_address`, or
    (None) a LocalCluster of `n_workers` processes x `threads_per_worker` threads started for
    the run and closed after it. Given with `engine: local` it is read (so typos fail early)
    and unused."""

    scheduler_address: str | None = None
    """A running scheduler, e.g. tcp://10.0.0.5:8786; absent: a LocalCluster per run."""
    n_workers: Count = 2
    """LocalCluster: worker processes."""
    threads_per_worker: Count = 1
    """LocalCluster: threads of each worker."""

    @field_validator("scheduler_address", mode="before")
    @classmethod
    def _an_address(cls, address: Any) -> str | None:
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise ValueError("must be a scheduler address such as tcp://10.0.0.5:8786, not "
                             f"{address!r}")
        return None if address is None else address.strip()


@dataclass(frozen=True, config=SPEC_CONFIG)
class TrainingConfig:
    seed: Integer = 42
    """Seeds the split, the sample and XGBoost."""
    holdout_share: float = Field(default=0.2, ge=0.05, le=0.5, strict=True)
    """Share of rows held out for evaluation."""
    num_boost_round: Count = 200
    """Boosting rounds (fewer with early stopping)."""
    device: Device = "auto"
    """auto picks cuda when a GPU is visible."""
    params: Annotated[dict[str, Any], OrEmpty] = Field(default_factory=dict)
    """XGBoost parameters (max_depth, eta, ...)."""
    time_column: str | None = None
    """Set: the holdout is the newest rows by this datetime or numeric feature, not a random
    share."""
    early_stopping_rounds: Annotated[int, Field(ge=0, strict=True)] = 20
    """Stop when the validation metric has not improved for this many rounds; 0: off."""
    validation_share: float = Field(default=0.1, ge=0.01, le=0.5, strict=True)
    """Share of the training rows held back (seeded) for early stopping."""
    max_train_rows: int | None = Field(default=None, ge=100, strict=True)
    """More training rows than this: train on a seeded sample of them (stratified by class for
    classification); the holdout is never sampled. Absent: every row (docs/benchmarks.md,
    "Limits", says what fits in memory)."""
    window: Annotated[TrainingWindow, OrEmpty] = TrainingWindow()
    """Which accepted batches a run trains on: all (default) | new_batches |
    {last_batches: N} | {event_time: {column, days}}, with an optional max_rows."""
    engine: TrainingEngine = "local"
    """local: xgb.train in the task | dask: xgboost.dask on the cluster of `dask`."""
    dask: Annotated[DaskConfig, OrEmpty] = DaskConfig()
    """engine dask: the cluster."""
    memory_budget_gib: float = Field(default=6.0, gt=0, strict=True)
    """engine local: when the in-memory training path is estimated to need more memory than
    this (the training set as read, its float32 matrix and the quantised matrix, from the
    parquet metadata), train from XGBoost's external memory instead, reading the training set
    a slice at a time (the model then differs slightly: AUC within 0.005)."""

