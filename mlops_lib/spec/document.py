"""`PipelineDocument`: a `pipelines/<name>.yaml` file as written, with the checks that span
sections (a slice column must be a feature, the metric must fit the task, ...), and its
conversion to the `PipelineSpec` record the code uses."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic.dataclasses import dataclass

from mlops_lib.spec.alerts import AlertsConfig
from mlops_lib.spec.base import (
    SPEC_CONFIG,
    Loc,
    OrEmpty,
    Positive,
    labels,
    problem,
    raise_problems,
)
from mlops_lib.spec.contract import ContractSection
from mlops_lib.spec.features import Feature
from mlops_lib.spec.labels import LabelsConfig
from mlops_lib.spec.metric import METRIC_DIRECTIONS, TASK_METRICS, MetricSection, TaskType
from mlops_lib.spec.pipeline import PipelineSpec
from mlops_lib.spec.promotion import Promotion, PromotionSection
from mlops_lib.spec.scoring import ScoringConfig
from mlops_lib.spec.source import Source
from mlops_lib.spec.training import TrainingConfig
from mlops_lib.spec.trigger import TriggerConfig

log = logging.getLogger(__name__)

NAME_PATTERN = r"^[a-z][a-z0-9_]{1,62}$"  # it becomes DAG ids and a registered model's name
DEFAULT_APPROVAL_TIMEOUT_H = 72.0
_CLASSIFICATION_TASKS = ("binary_classification", "multiclass_classification")
Problems = Iterator[tuple[Loc, str]]


@dataclass(frozen=True, config=SPEC_CONFIG)
class TargetSection:
    """The label column and the task."""

    column: str
    """The label column (never also a feature)."""
    task: TaskType
    """binary_classification (0/1 labels) | multiclass_classification | regression."""
    classes: tuple[str, ...] | None = None
    """multiclass_classification: the class labels, in the order that fixes their indices
    0..k-1 (strings or integers; quote yes/no/true)."""

    @field_validator("classes", mode="before")
    @classmethod
    def _classes_are_text(cls, value: Any) -> tuple[str, ...] | None:
        return None if value is None else labels(value, numbers=(int,),
                                                 kinds="strings or integers")

    @model_validator(mode="after")
    def _classes_fit_the_task(self) -> TargetSection:
        if self.task != "multiclass_classification":
            if self.classes is not None:
                raise problem("classes", "applies to multiclass_classification only, not "
                                         f"{self.task} (binary labels are 0/1 or False/True)")
        elif self.classes is None:
            raise problem("classes", "required for multiclass_classification: the list of "
                                     "class labels, in the order that fixes their indices")
        elif len(self.classes) < 2:
            raise problem("classes", f"needs at least two classes, got {list(self.classes)}")
        return self


@dataclass(frozen=True, config=SPEC_CONFIG)
class PipelineDocument:
    """A pipeline spec: one YAML file per model drives its DAGs, data contract and training."""

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    """The pipeline's name: DAG ids ct_<name>, ct_<name>_ingest, ct_<name>_drift_monitor."""
    source: Source
    """Where batches land and how a batch is known to be complete."""
    target: TargetSection
    """The label column and the task."""
    features: tuple[Feature, ...]
    """The feature columns and their per-column rules, in order."""
    metric: MetricSection
    """The promotion policy."""
    training: Annotated[TrainingConfig, OrEmpty] = TrainingConfig()
    """The split and XGBoost's settings."""
    trigger: Annotated[TriggerConfig, OrEmpty] = TriggerConfig()
    """Why training runs."""
    contract: Annotated[ContractSection, OrEmpty] = ContractSection()
    """Batch-level rules of the data contract."""
    scoring: Annotated[ScoringConfig | None, OrEmpty] = None
    """Where unlabelled batches land to be scored by the champion (the section, even empty,
    makes the scoring DAG ct_<name>_score); see docs/scoring.md."""
    labels: Annotated[LabelsConfig | None, OrEmpty] = None
    """Where the late labels of scored rows land, to measure how each model version really
    does; needs the id column the scored rows carry. See docs/monitoring.md."""
    promotion: Promotion = PromotionSection()
    """auto | manual (the mode alone), or the section: mode, require_live_rows, auto_rollback."""
    approval_timeout_h: Positive | None = None
    """promotion manual: hours to wait for an answer (default 72); none counts as a reject."""
    alerts: Annotated[AlertsConfig | None, OrEmpty] = None
    """Which alerts are sent where (webhooks, Airflow notifiers), the freshness SLA and the
    runbooks' base URL; see docs/alerting.md. Without it alerts are only recorded."""
    owner: str = "data-engineering"
    description: str = ""

    @field_validator("features")
    @classmethod
    def _some_features(cls, features: tuple[Feature, ...]) -> tuple[Feature, ...]:
        if not features:
            raise ValueError("at least one feature is required")
        return features

    @model_validator(mode="after")
    def _sections_agree(self) -> PipelineDocument:
        raise_problems([*_feature_problems(self), *_metric_problems(self),
                        *_training_problems(self), *_trigger_problems(self),
                        *_contract_problems(self), *_promotion_problems(self),
                        *_scoring_problems(self), *_labels_problems(self),
                        *_performance_problems(self)])
        return self

    def to_spec(self, path: str) -> PipelineSpec:
        classes = self.target.classes or ()
        if len(classes) == 2:
            log.warning("%s: target.classes: multiclass_classification with two classes; "
                        "binary_classification (0/1 labels) is preferred: ROC AUC, PR AUC and "
                        "a decision threshold", path)
        return PipelineSpec(
            name=self.name, source=self.source, target=self.target.column,
            task=self.target.task, features=self.features, metric=self.metric.policy(),
            training=self.training, trigger=self.trigger, contract=self.contract.contract(),
            scoring=self.scoring or ScoringConfig(), scoring_dag=self.scoring is not None,
            labels=self.labels,
            classes=classes, promotion=self.promotion.mode,
            require_live_rows=self.promotion.require_live_rows,
            auto_rollback=self.promotion.auto_rollback,
            approval_timeout_h=self.approval_timeout_h or DEFAULT_APPROVAL_TIMEOUT_H,
            alerts=self.alerts,
            owner=self.owner, description=self.description, path=path)

    def feature(self, name: str) -> Feature | None:
        return next((f for f in self.features if f.name == name), None)


def _feature_problems(doc: PipelineDocument) -> Problems:
    first: dict[str, int] = {}
    nulls = set(doc.source.csv.null_values) if doc.source.format == "csv" else set()
    times = [i for i, f in enumerate(doc.features) if f.role == "event_time"]
    for i in times[1:]:
        # training windows and reports order the data by one time, not by a choice of them
        yield ("features", i, "role"), (f"event_time is already features[{times[0]}] "
                                        f"({doc.features[times[0]].name!r}): at most one "
                                        "event_time column")
    for i, feature in enumerate(doc.features):
        if swallowed := sorted(nulls.intersection(feature.categories)):
            # read as nulls before any check sees them: the label could never occur
            yield ("features", i, "categories"), (f"{swallowed} are also source.csv.null_values "
                                                  "(read as null, never as this label)")
        if feature.name in first:
            yield ("features", i, "name"), (f"{feature.name!r} is listed twice (first as "
                                            f"features[{first[feature.name]}])")
        first.setdefault(feature.name, i)
        if feature.name == doc.target.column:
            yield ("features", i, "name"), (f"the target {feature.name!r} is also listed as a "
                                            "feature")


def _metric_problems(doc: PipelineDocument) -> Problems:
    fitting = TASK_METRICS[doc.target.task]
    if doc.metric.name not in fitting:
        yield ("metric", "name"), (f"{doc.metric.name!r} does not fit task "
                                   f"{doc.target.task!r}; choose one of: {', '.join(fitting)}")
    implied = METRIC_DIRECTIONS[doc.metric.name]
    if doc.metric.direction not in (None, implied):
        yield ("metric", "direction"), f"metric {doc.metric.name!r} is always {implied}d"
    for i, piece in enumerate(doc.metric.slices):
        feature = doc.feature(piece.column)
        where: Loc = ("metric", "slices", i)
        if feature is None:
            yield (*where, "column"), f"{piece.column!r} is not a feature"
        elif piece.bins is not None and feature.dtype not in ("float", "int"):
            yield (*where, "bins"), (f"bins need a numeric column, not {feature.dtype} "
                                     f"({piece.column!r})")
        elif piece.bins is None and feature.dtype == "float":
            yield where, (f"{piece.column!r} is a float column: give it `bins` (quantile "
                          "bins)")


def _training_problems(doc: PipelineDocument) -> Problems:
    column = doc.training.time_column
    feature = None if column is None else doc.feature(column)
    if column is not None and feature is None:
        yield ("training", "time_column"), f"{column!r} is not a feature"
    elif feature is not None and feature.dtype not in ("datetime", "int", "float"):
        yield ("training", "time_column"), (f"{column!r} must be a datetime or numeric "
                                            f"column, not {feature.dtype}")
    window = doc.training.window.column
    found = None if window is None else doc.feature(window)
    if window is not None and (found is None or found.dtype != "datetime"):
        yield ("training", "window", "event_time", "column"), (
            f"{window!r} must be a datetime feature (the data's own time)"
            + ("" if found is None else f", not {found.dtype}"))


def _trigger_problems(doc: PipelineDocument) -> Problems:
    for name in doc.trigger.drift.feature_psi:
        feature = doc.feature(name)
        where: Loc = ("trigger", "drift", "feature_psi", name)
        # drift is measured on the numeric and categorical columns of role feature only: a
        # limit on another could never be reached
        if feature is None:
            yield where, f"{name!r} is not a feature"
        elif feature.role != "feature":
            yield where, f"{name!r} has role {feature.role}, and its drift is not measured"
        elif feature.dtype == "datetime":
            yield where, f"{name!r} is a datetime feature, and drift is not measured on datetimes"


def _contract_problems(doc: PipelineDocument) -> Problems:
    if doc.contract.min_rows is not None and doc.contract.min_rows > doc.source.max_rows:
        # every batch would be refused: TOO_MANY_ROWS above the one, TOO_FEW_ROWS below the other
        yield ("contract", "min_rows"), (f"{doc.contract.min_rows} is greater than "
                                         f"source.max_rows {doc.source.max_rows}")
    freshness = doc.contract.freshness
    if freshness is not None:
        feature = doc.feature(freshness.column)
        if feature is None or feature.dtype != "datetime":
            yield ("contract", "freshness", "column"), (f"{freshness.column!r} must be a "
                                                        "datetime feature")
    if (doc.contract.target.min_rows_per_class is not None
            and doc.target.task not in _CLASSIFICATION_TASKS):
        yield ("contract", "target", "min_rows_per_class"), (
            f"needs a classification task, not {doc.target.task}")


def _promotion_problems(doc: PipelineDocument) -> Problems:
    promotion = doc.promotion
    if doc.approval_timeout_h is not None and promotion.mode != "manual":
        yield ("approval_timeout_h",), "applies to promotion: manual only"
    if promotion.require_live_rows:
        if promotion.mode != "auto":
            yield ("promotion", "require_live_rows"), "applies to promotion mode auto only"
        if doc.labels is None or doc.scoring is None or not doc.scoring.shadow:
            yield ("promotion", "require_live_rows"), (
                "needs scoring.shadow: true and a `labels:` section: live rows are rows both "
                "models scored, with their labels")
    if promotion.auto_rollback and doc.labels is None:
        yield ("promotion", "auto_rollback"), ("needs a `labels:` section: it acts on "
                                               "realized performance")


def _scoring_problems(doc: PipelineDocument) -> Problems:
    scoring = doc.scoring or ScoringConfig()
    prefix = scoring.prefix or f"scoring/{doc.name}/"
    bucket = scoring.bucket or doc.source.bucket
    if bucket == doc.source.bucket and (prefix.startswith(doc.source.prefix)
                                        or doc.source.prefix.startswith(prefix)):
        yield ("scoring", "prefix"), (f"{prefix!r} overlaps the landing prefix "
                                      f"{doc.source.prefix!r}: an unlabelled batch would be "
                                      "taken for a training batch")
    if scoring.id_column is not None and scoring.id_column == doc.target.column:
        yield ("scoring", "id_column"), "the target cannot be the id column"


def _performance_problems(doc: PipelineDocument) -> Problems:
    """What the performance trigger needs of the `labels:` section."""
    labels = doc.labels
    if doc.trigger.performance.window == "days" and (labels is None
                                                     or labels.window_days is None):
        yield ("trigger", "performance", "window"), "days needs labels.window_days"
    if labels is None and "performance" in doc.trigger.retrain_on:
        yield ("trigger", "retrain_on"), ("performance needs a `labels:` section: realized "
                                          "performance comes from late labels")


def _labels_problems(doc: PipelineDocument) -> Problems:
    labels = doc.labels
    if labels is None:
        return
    scoring = doc.scoring or ScoringConfig()
    yield from _label_id_problems(doc, labels, scoring)
    prefix = labels.prefix or f"labels/{doc.name}/"
    bucket = labels.bucket or doc.source.bucket
    others = {"landing": (doc.source.bucket, doc.source.prefix),
              "scoring": (scoring.bucket or doc.source.bucket,
                          scoring.prefix or f"scoring/{doc.name}/")}
    for what, (other_bucket, other_prefix) in others.items():
        if bucket == other_bucket and (prefix.startswith(other_prefix)
                                       or other_prefix.startswith(prefix)):
            yield ("labels", "prefix"), (f"{prefix!r} overlaps the {what} prefix "
                                         f"{other_prefix!r}")


def _label_id_problems(doc: PipelineDocument, labels: LabelsConfig,
                       scoring: ScoringConfig) -> Problems:
    # the id the predictions carry: scoring.id_column, else the feature of role id
    scored_id = scoring.id_column or next((f.name for f in doc.features if f.role == "id"),
                                          None)
    id_column = labels.id_column or scored_id
    if doc.scoring is None:
        yield ("labels",), ("needs a `scoring:` section: labels are joined to the rows the "
                            "champion scored")
    elif id_column is None:
        yield ("labels", "id_column"), ("required when scoring.id_column is not set and no "
                                        "feature has role id: a label names its scored row by "
                                        "id (a row number is not unique across batches)")
    elif labels.id_column is not None and scored_id not in (None, labels.id_column):
        yield ("labels", "id_column"), (f"{labels.id_column!r} is not scoring.id_column (else "
                                        f"the feature of role id) {scored_id!r}, the id the "
                                        "predictions carry")
    if id_column is not None and id_column == doc.target.column:
        yield ("labels", "id_column"), "the target cannot be the id column"
