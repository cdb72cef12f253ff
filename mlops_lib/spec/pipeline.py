"""`PipelineSpec`: one model's pipeline, as the DAGs, the contract and training use it."""

from __future__ import annotations

from pydantic.dataclasses import dataclass

from mlops_lib.spec.alerts import AlertsConfig
from mlops_lib.spec.base import SPEC_CONFIG, Number
from mlops_lib.spec.contract import Contract
from mlops_lib.spec.features import Feature
from mlops_lib.spec.labels import LabelsConfig
from mlops_lib.spec.metric import MetricPolicy, TaskType
from mlops_lib.spec.promotion import PromotionMode
from mlops_lib.spec.scoring import ScoringConfig
from mlops_lib.spec.source import Source
from mlops_lib.spec.training import TrainingConfig
from mlops_lib.spec.trigger import TriggerConfig


@dataclass(frozen=True, config=SPEC_CONFIG)
class PipelineSpec:
    name: str
    source: Source
    target: str
    task: TaskType
    features: tuple[Feature, ...]
    metric: MetricPolicy
    training: TrainingConfig = TrainingConfig()
    trigger: TriggerConfig = TriggerConfig()
    contract: Contract = Contract()
    scoring: ScoringConfig = ScoringConfig()
    # The spec has a `scoring:` section: its scoring DAG exists. Without one, `mlops score`
    # still scores ad hoc with the defaults above.
    scoring_dag: bool = False
    # The late labels of scored rows (`labels:`); None: the pipeline measures no realized
    # performance.
    labels: LabelsConfig | None = None
    # multiclass_classification: the class labels as text, in the order that gives their
    # indices 0..k-1 (the model's probability columns); empty for the other tasks.
    classes: tuple[str, ...] = ()
    # manual: a promotion the gate allows waits for a person's approval in Airflow (HITL);
    # no answer within approval_timeout_h counts as a reject.
    promotion: PromotionMode = "auto"
    approval_timeout_h: Number = 72.0
    # promotion.require_live_rows: labelled shadow rows a challenger needs before promotion
    # (0: the holdout decides); promotion.auto_rollback: roll back on a performance crossing.
    require_live_rows: int = 0
    auto_rollback: bool = False
    # What is sent where (`alerts:`); None: alerts are recorded in the store, never sent.
    alerts: AlertsConfig | None = None
    owner: str = "data-engineering"
    description: str = ""
    path: str = ""

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def model_inputs(self) -> list[str]:
        """Features the model consumes: role `feature` of a type XGBoost has. Datetime and
        free-string columns are validated and kept (a datetime may order the holdout), as are
        the id, event_time and ignore roles, but none is an input."""
        return [f.name for f in self.features
                if f.role == "feature" and f.dtype in ("float", "int", "bool", "category")]

    @property
    def drift_features(self) -> list[str]:
        """Features whose drift is measured: role `feature`, any dtype but datetime (an id is
        new on every batch and time always moves: either would drift on every batch)."""
        return [f.name for f in self.features if f.role == "feature" and f.dtype != "datetime"]

    @property
    def id_column(self) -> str | None:
        """The first feature of role id, the rows' own key; None without one."""
        return next((f.name for f in self.features if f.role == "id"), None)

    @property
    def event_time_column(self) -> str | None:
        """The feature of role event_time (at most one), the data's own time; None without."""
        return next((f.name for f in self.features if f.role == "event_time"), None)

    @property
    def registered_model_name(self) -> str:
        return f"ct_{self.name}"

    @property
    def dag_id(self) -> str:
        """The training DAG (runs on arrival/drift assets, a schedule, or by hand)."""
        return f"ct_{self.name}"

    @property
    def ingest_dag_id(self) -> str:
        """Waits for batches, validates them and announces the accepted ones."""
        return f"ct_{self.name}_ingest"

    @property
    def monitor_dag_id(self) -> str:
        """Measures drift of each accepted batch and announces policy crossings."""
        return f"ct_{self.name}_drift_monitor"

    @property
    def score_dag_id(self) -> str:
        """Scores each unlabelled batch with the champion (only with a `scoring:` section)."""
        return f"ct_{self.name}_score"

    @property
    def labels_dag_id(self) -> str:
        """Takes label drops, measures realized performance and judges the performance policy
        (only with a `labels:` section)."""
        return f"ct_{self.name}_labels"

    @property
    def freshness_dag_id(self) -> str:
        """Checks the freshness SLA (only with alerts.freshness_sla_h)."""
        return f"ct_{self.name}_freshness"

    @property
    def scoring_sqs_queue(self) -> str | None:
        """Events mode: the queue of the scoring prefix's notifications, `<sqs_queue>-scoring`
        (S3 keeps one notification configuration per queue and prefix)."""
        queue = self.trigger.sqs_queue
        return None if queue is None else f"{queue}-scoring"

    @property
    def scoring_asset_uri(self) -> str:
        """Events mode: the S3 notifications of the scoring prefix, watched on SQS."""
        return f"s3://{self.scoring_bucket}/{self.scoring_prefix}"

    @property
    def scoring_bucket(self) -> str:
        """Where scoring batches land: scoring.bucket, else the landing bucket."""
        return self.scoring.bucket or self.source.bucket

    @property
    def scoring_prefix(self) -> str:
        """The folder of the scoring batches: scoring.prefix, else `scoring/<name>/`."""
        return self.scoring.prefix or f"scoring/{self.name}/"

    @property
    def labels_bucket(self) -> str:
        """Where label drops land: labels.bucket, else the landing bucket."""
        return (self.labels and self.labels.bucket) or self.source.bucket

    @property
    def labels_prefix(self) -> str:
        """The folder of the label drops: labels.prefix, else `labels/<name>/`."""
        return (self.labels and self.labels.prefix) or f"labels/{self.name}/"

    @property
    def scoring_id_column(self) -> str | None:
        """The batch column the predictions carry to be joined back: scoring.id_column, else
        the feature of role id; None: the row number."""
        return self.scoring.id_column or self.id_column

    @property
    def label_id_column(self) -> str | None:
        """The id a label names its scored row by: labels.id_column, else the scoring id."""
        return (self.labels and self.labels.id_column) or self.scoring_id_column

    @property
    def batches_asset_uri(self) -> str:
        return f"ct://{self.name}/accepted-batches"

    @property
    def drift_asset_uri(self) -> str:
        return f"ct://{self.name}/drift-crossings"

    @property
    def performance_asset_uri(self) -> str:
        return f"ct://{self.name}/performance-drops"

    @property
    def landing_asset_uri(self) -> str:
        """Events mode: the S3 notifications of the landing prefix, watched on SQS."""
        return f"s3://{self.source.bucket}/{self.source.prefix}"

    @property
    def columns(self) -> list[str]:
        return [*self.feature_names, self.target]
