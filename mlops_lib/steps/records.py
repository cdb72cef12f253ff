"""What the pipeline steps hand each other, one frozen record per hand-off.

A batch goes from the sensor to a promotion through these, in order:

    BatchRef (landing) → ValidatedBatch → TrainingPlan → DatasetVersion → TrainedModel
        → Evaluation (+ ReportSet) → Decision

and the drift monitor through DriftMeasurement → DriftVerdict. The Airflow adapter turns them
into XCom JSON and back in one place (`ct_airflow.xcom`); nothing here knows about XCom.

Light on purpose: the tasks that only register, plan or decide import this module, so it
imports no pandas, numpy, pyarrow or MLflow. Fields that hold documents stored as JSON
elsewhere (the trigger provenance, the gate's verdict, a validation report) stay mappings, so
that what the store and MLflow keep does not change shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlops_lib.landing.batches import BatchRef
from mlops_lib.monitoring.drift_policy import DriftVerdict
from mlops_lib.stores.versioning import DataVersion
from mlops_lib.training.window import RowSelection

DatasetVersion = DataVersion  # the DVC version of a run's training set (tag, rev, md5, ...)

__all__ = [
    "BatchDriftReport",
    "BatchRef",
    "ChampionSnapshot",
    "DatasetVersion",
    "Decision",
    "DriftMeasurement",
    "DriftVerdict",
    "Evaluation",
    "LandedFile",
    "ReconcileResult",
    "ReportSet",
    "TrainedModel",
    "TrainingPlan",
    "ValidatedBatch",
]


@dataclass(frozen=True)
class LandedFile:
    """A data file of an accepted batch, pinned by the ETag it was validated with."""

    key: str
    etag: str


@dataclass(frozen=True)
class ValidatedBatch:
    """An accepted batch: checked, conformed to the spec's dtypes and staged for training."""

    batch_id: str
    fingerprint: str
    rows: int
    staged_uri: str
    files: tuple[LandedFile, ...]
    report: Mapping[str, Any]  # ValidationReport.to_dict(), as the store keeps it


@dataclass(frozen=True)
class ChampionSnapshot:
    """The champion as a run saw it when it planned: the baseline it is evaluated against."""

    version: str
    data_rev: str | None
    epoch: int
    dag_run_id: str | None


@dataclass(frozen=True)
class TrainingPlan:
    """Why a training run fired, what it trains on, and the champion it must beat."""

    trigger: Mapping[str, Any]  # provenance: the JSON recorded in the store and on MLflow
    batch_ids: tuple[str, ...]
    may_promote: bool  # False: a shadow run (decision recorded, champion kept)
    dataset_key: str  # names the training set ("-" when there is nothing to train)
    skip_reason: str | None  # set: nothing to train, the run ends at the plan
    champion: ChampionSnapshot | None  # the one to beat (a backfill: the champion of its time)
    rows: RowSelection = RowSelection()  # which rows of the batches the training set keeps


@dataclass(frozen=True)
class TrainedModel:
    """The challenger: its MLflow run and registered model version."""

    mlflow_run_id: str
    model_version: str


@dataclass(frozen=True)
class Evaluation:
    """Challenger and champion scored on one holdout, and the gate's verdict on them."""

    candidate_version: str
    baseline_version: str | None
    champion_epoch: int  # the store epoch evaluated against: a later move supersedes the run
    data_rev: str
    verdict: Mapping[str, Any]  # the gate's Verdict.to_dict(): kept in the decision's details
    decision: str
    reason: str
    metric: str
    candidate_value: float
    baseline_value: float | None
    holdout_rows: int
    performance_reports: Mapping[str, str] = field(default_factory=dict)  # file name -> URI


@dataclass(frozen=True)
class ReportSet:
    """The run's data reports (file name -> URI); `error` set when they could not be built,
    which turns a promotion into a keep."""

    reports: Mapping[str, str] = field(default_factory=dict)
    run_page: str = ""
    downloads: Mapping[str, str] = field(default_factory=dict)
    skipped: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class Decision:
    """What the run decided (promote, keep, shadow, superseded, rejected) and whether the
    champion moved."""

    decision: str
    reason: str
    metric: str
    candidate_version: str
    candidate_value: float
    baseline_version: str | None
    baseline_value: float | None
    moved: bool


@dataclass(frozen=True)
class DriftReferenceResult:
    """The champion's drift reference after a training run (`steps.drift_reference`): where it
    is, and whether this run built it (False: it was there, or the run promoted nothing)."""

    champion: str | None
    uri: str
    built: bool
    reason: str


@dataclass(frozen=True)
class ReconcileResult:
    """The `champion` alias before a run started, and whether it had to be repaired."""

    champion: str | None
    alias_before: str | None
    repaired: bool


@dataclass(frozen=True)
class BatchDriftReport:
    """A monitored batch's Evidently drift report (`steps.drift_reports`): file name -> s3://
    URI (empty: none built, `skipped` says why), its HTTP URL where the bucket is served, and
    Evidently's drifted columns beside the monitor's."""

    batch_id: str
    reports: Mapping[str, str] = field(default_factory=dict)
    url: str = ""
    evidently_drifted: tuple[str, ...] = ()
    monitor_drifted: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # where the two may differ, and why
    skipped: tuple[str, ...] = ()


@dataclass(frozen=True)
class DriftMeasurement:
    """The batches whose drift against the champion's data is stored (new or from before),
    and the drift reports built now; `url`: the newest report's (the task's report link)."""

    measured: tuple[str, ...]
    champion: str | None  # the champion version measured against; None: no champion yet
    reports: tuple[BatchDriftReport, ...] = ()
    url: str = ""
