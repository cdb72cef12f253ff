"""Pipeline specs: one YAML file per model drives the DAGs, the contract and training."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import yaml

from mlops_lib.batches import Completion, CompletionMode

log = logging.getLogger(__name__)

TaskType = Literal["binary_classification", "multiclass_classification", "regression"]
Dtype = Literal["float", "int", "bool", "category", "string", "datetime"]
FileFormat = Literal["parquet", "csv"]
ExtraColumnsPolicy = Literal["reject", "drop"]
PromotionMode = Literal["auto", "manual"]
Bound = float | datetime  # a range bound: a number, or an aware UTC datetime for datetime features

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
DEFAULT_MAX_FILE_BYTES = 2 * 1024**3  # 2 GiB: source.max_file_bytes when the spec gives none
_METRIC_DIRECTIONS = {
    "roc_auc": "maximize",
    "pr_auc": "maximize",
    "accuracy": "maximize",
    "f1": "maximize",
    "macro_f1": "maximize",
    "log_loss": "minimize",
    "brier": "minimize",
    "rmse": "minimize",
    "mae": "minimize",
    "r2": "maximize",
}
_TASK_METRICS: dict[str, set[str]] = {
    "binary_classification": {"roc_auc", "pr_auc", "accuracy", "f1", "log_loss", "brier"},
    "multiclass_classification": {"log_loss", "macro_f1", "accuracy"},
    "regression": {"rmse", "mae", "r2"},
}
_CLASSIFICATION_TASKS = ("binary_classification", "multiclass_classification")
_TARGET_KEYS = {"column", "task", "classes"}


class SpecError(ValueError):
    """A pipeline spec is malformed; the message names the file and the field."""


@dataclass(frozen=True)
class Feature:
    name: str
    dtype: Dtype
    categories: tuple[str, ...] = ()
    nullable: bool = True                 # false: no nulls at all (max_null_share 0)
    max_null_share: float | None = None   # share of null rows tolerated; None: any
    min_value: Bound | None = None        # inclusive range of numeric and datetime features
    max_value: Bound | None = None
    max_new_category_share: float = 0.0   # share of rows with labels outside `categories`

    @property
    def null_limit(self) -> float | None:
        """The largest share of null rows this feature tolerates; None when unlimited."""
        return 0.0 if not self.nullable else self.max_null_share


@dataclass(frozen=True)
class Freshness:
    """The newest timestamp of `column` must be at most `max_age_hours` old, and no timestamp
    may lie more than `allow_future_minutes` ahead of the validation clock."""

    column: str
    max_age_hours: float
    allow_future_minutes: float = 5.0


@dataclass(frozen=True)
class Contract:
    """Batch-level rules of the data contract; the defaults check nothing beyond today's."""

    min_rows: int | None = None
    max_rows: int | None = None
    max_duplicate_share: float | None = None    # share of rows that repeat an earlier row
    freshness: Freshness | None = None
    extra_columns: ExtraColumnsPolicy = "drop"  # drop (with a warning) or reject
    min_rows_per_class: int | None = None       # classification: rows of each class


@dataclass(frozen=True)
class Source:
    bucket: str
    prefix: str
    format: FileFormat = "parquet"
    marker: str = "_SUCCESS"
    completion: CompletionMode = "marker"
    quiet_period_s: float = 60.0
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES  # larger files: FILE_TOO_LARGE, not downloaded

    @property
    def completion_rule(self) -> Completion:
        return Completion(mode=self.completion, marker=self.marker,
                          quiet_period_s=self.quiet_period_s)


@dataclass(frozen=True)
class SliceSpec:
    """A slice guardrail column: categorical as is, numeric cut into `bins` quantile bins."""

    column: str
    bins: int | None = None


@dataclass(frozen=True)
class MetricPolicy:
    """The promotion policy: primary metric, floor, and the statistical gate's settings."""

    name: str
    direction: Literal["maximize", "minimize"]
    floor: float
    min_improvement: float = 0.0
    threshold: float = 0.5                      # decision threshold for accuracy and F1
    bootstrap_samples: int = 1000
    bootstrap_confidence: float = 0.95
    bootstrap_seed: int = 0
    non_inferiority_margin: float | None = None
    slices: tuple[SliceSpec, ...] = ()
    slice_tolerance: float = 0.02
    min_slice_rows: int = 100
    leakage_ceiling: float | None = 0.999       # keep when roc_auc / accuracy / r2 reaches this

    def better(self, candidate: float, baseline: float) -> bool:
        """True when the candidate beats the baseline by more than min_improvement."""
        gain = candidate - baseline if self.direction == "maximize" else baseline - candidate
        return gain > self.min_improvement

    def clears_floor(self, value: float) -> bool:
        return value >= self.floor if self.direction == "maximize" else value <= self.floor


TrainingEngine = Literal["local", "dask"]


@dataclass(frozen=True)
class DaskConfig:
    """Where `training.engine: dask` trains: the Dask scheduler at `scheduler_address`, or
    (None) a LocalCluster of `n_workers` processes x `threads_per_worker` threads started for
    the run and closed after it."""

    scheduler_address: str | None = None
    n_workers: int = 2
    threads_per_worker: int = 1


@dataclass(frozen=True)
class TrainingConfig:
    seed: int = 42
    holdout_share: float = 0.2
    num_boost_round: int = 200
    device: Literal["auto", "cpu", "cuda"] = "auto"
    params: dict[str, Any] = field(default_factory=dict)
    time_column: str | None = None  # set: the holdout is the newest rows, not a random share
    early_stopping_rounds: int = 20  # stop when the validation metric has not improved; 0: off
    validation_share: float = 0.1    # share of the training rows held back for early stopping
    # More training rows than this: train on a seeded sample of them (stratified by class for
    # classification); the holdout is never sampled. None: every row (see docs/benchmarks.md,
    # "Limits", for what fits in memory).
    max_train_rows: int | None = None
    engine: TrainingEngine = "local"  # local: xgb.train in the task; dask: xgboost.dask
    dask: DaskConfig = DaskConfig()   # engine dask: the cluster


@dataclass(frozen=True)
class DriftPolicy:
    """When drift of arriving batches (against the champion's training data) asks for a
    retrain: the share of drifted features reaches `share_drifted`, or a named feature's PSI
    reaches its limit in `feature_psi`; for `consecutive_batches` batches in a row; at most
    once per `cooldown_minutes`."""

    share_drifted: float | None = 0.5
    feature_psi: dict[str, float] = field(default_factory=dict)
    consecutive_batches: int = 1
    cooldown_minutes: float = 60.0


RetrainCause = Literal["arrival", "drift"]
ArrivalMode = Literal["polling", "events"]


@dataclass(frozen=True)
class TriggerConfig:
    """Why training runs: `retrain_on` new accepted batches and/or drift crossings (Airflow
    Assets), plus an optional cron `schedule`; manual runs always work.

    Arrival is seen by `polling` (a deferred S3 sensor) or by `events` (S3 bucket notification
    → SQS queue `sqs_queue` → an AssetWatcher). A training run takes the accepted batches no
    earlier live run trained on, oldest first, at most `max_batches_per_run`; with fewer than
    `min_new_rows` rows among them it waits for more data.
    """

    poke_interval_s: float = 5.0
    mode: ArrivalMode = "polling"
    sqs_queue: str | None = None
    retrain_on: tuple[RetrainCause, ...] = ("arrival",)
    schedule: str | None = None
    drift: DriftPolicy = DriftPolicy()
    min_new_rows: int = 0
    max_batches_per_run: int = 10


@dataclass(frozen=True)
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
    # multiclass_classification: the class labels as text, in the order that gives their
    # indices 0..k-1 (the model's probability columns); empty for the other tasks.
    classes: tuple[str, ...] = ()
    # manual: a promotion the gate allows waits for a person's approval in Airflow (HITL);
    # no answer within approval_timeout_h counts as a reject.
    promotion: PromotionMode = "auto"
    approval_timeout_h: float = 72.0
    owner: str = "data-engineering"
    description: str = ""
    path: str = ""

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def model_inputs(self) -> list[str]:
        """Features the model consumes. Datetime and free-string columns are validated and kept
        (a datetime may order the holdout) but XGBoost has no type for them."""
        return [f.name for f in self.features if f.dtype in ("float", "int", "bool", "category")]

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
    def batches_asset_uri(self) -> str:
        return f"ct://{self.name}/accepted-batches"

    @property
    def drift_asset_uri(self) -> str:
        return f"ct://{self.name}/drift-crossings"

    @property
    def landing_asset_uri(self) -> str:
        """Events mode: the S3 notifications of the landing prefix, watched on SQS."""
        return f"s3://{self.source.bucket}/{self.source.prefix}"

    @property
    def columns(self) -> list[str]:
        return [*self.feature_names, self.target]


def load_spec(path: str | Path) -> PipelineSpec:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: expected a mapping at the top level")
    try:
        return _parse(raw, str(path))
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, SpecError):
            raise
        raise SpecError(f"{path}: {type(exc).__name__}: {exc}") from exc


def load_specs(directory: str | Path) -> list[PipelineSpec]:
    """Every `*.yaml`/`*.yml` spec in a directory, sorted by name; names must be unique."""
    specs = [load_spec(p) for p in sorted(Path(directory).glob("*.y*ml"))]
    names = [s.name for s in specs]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise SpecError(f"{directory}: duplicate pipeline names {sorted(duplicates)}")
    return specs


def _parse(raw: dict[str, Any], path: str) -> PipelineSpec:
    name = str(raw["name"])
    if not _NAME_RE.fullmatch(name):
        raise SpecError(f"{path}: name {name!r} must match {_NAME_RE.pattern}")
    task = raw["target"]["task"]
    if task not in _TASK_METRICS:
        raise SpecError(f"{path}: target.task {task!r} is not one of {sorted(_TASK_METRICS)}")
    unknown_target = sorted(set(raw["target"]) - _TARGET_KEYS)
    if unknown_target:
        raise SpecError(f"{path}: unknown target keys {unknown_target}; known: "
                        f"{sorted(_TARGET_KEYS)}")
    classes = _parse_classes(raw["target"].get("classes"), task, path)
    features = tuple(_parse_feature(f, path) for f in raw["features"])
    if not features:
        raise SpecError(f"{path}: at least one feature is required")
    target = str(raw["target"]["column"])
    if target in {f.name for f in features}:
        raise SpecError(f"{path}: target {target!r} is also listed as a feature")
    src = raw["source"]
    prefix = str(src["prefix"]).strip("/") + "/"
    fmt = src.get("format", "parquet")
    if fmt not in ("parquet", "csv"):
        raise SpecError(f"{path}: source.format {fmt!r} must be parquet or csv")
    return PipelineSpec(
        name=name,
        source=_parse_source(src, prefix, fmt, path),
        target=target,
        task=task,
        features=features,
        metric=_parse_metric(raw["metric"], task, path, features),
        training=_parse_training(raw.get("training") or {}, path, features),
        trigger=_parse_trigger(raw.get("trigger"), features, path),
        contract=_parse_contract(raw.get("contract"), task, features, path),
        classes=classes,
        **_parse_promotion(raw, path),
        owner=str(raw.get("owner", "data-engineering")),
        description=str(raw.get("description", "")),
        path=path,
    )


def _parse_classes(raw: Any, task: str, path: str) -> tuple[str, ...]:
    """target.classes: required for multiclass, refused elsewhere. Strings or integers; each
    becomes its text ("2" for 2), which is how a batch's labels are matched to it, so 2, 2.0
    and "2" in the data are one class. The order gives the class indices 0..k-1."""
    where = f"{path}: target.classes"
    if task != "multiclass_classification":
        if raw is not None:
            raise SpecError(f"{where} applies to multiclass_classification only, not {task} "
                            "(binary labels are 0/1 or False/True)")
        return ()
    if not isinstance(raw, list) or not raw:
        raise SpecError(f"{where} is required for multiclass_classification: the list of "
                        "class labels, in the order that fixes their indices")
    bad = [c for c in raw if isinstance(c, bool) or not isinstance(c, str | int)]
    if bad:
        raise SpecError(f"{where}: labels are strings or integers, not {bad!r} (quote labels "
                        "such as yes/no, which YAML reads as booleans)")
    classes = tuple(str(c) for c in raw)
    duplicates = sorted({c for c in classes if classes.count(c) > 1})
    if duplicates:
        raise SpecError(f"{where} lists {duplicates} more than once")
    if len(classes) < 2:
        raise SpecError(f"{where} needs at least two classes, got {list(classes)}")
    if len(classes) == 2:
        log.warning("%s: multiclass_classification with two classes; binary_classification "
                    "(0/1 labels) is preferred: ROC AUC, PR AUC and a decision threshold",
                    where)
    return classes


def _parse_source(src: dict[str, Any], prefix: str, fmt: FileFormat, path: str) -> Source:
    completion = src.get("completion", "marker")
    if completion not in ("marker", "manifest", "quiet"):
        raise SpecError(f"{path}: source.completion {completion!r} must be marker, manifest or "
                        "quiet")
    default_marker = "_manifest.json" if completion == "manifest" else "_SUCCESS"
    marker = str(src.get("marker", default_marker))
    if "/" in marker or not marker.startswith(("_", ".")):
        raise SpecError(f"{path}: source.marker {marker!r} must be a file name starting with _ "
                        "(so it is never mistaken for data)")
    quiet = float(src.get("quiet_period_s", 60.0))
    if quiet <= 0:
        raise SpecError(f"{path}: source.quiet_period_s must be positive")
    max_bytes = src.get("max_file_bytes", DEFAULT_MAX_FILE_BYTES)
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
        raise SpecError(f"{path}: source.max_file_bytes must be a positive integer (bytes), "
                        f"not {max_bytes!r}")
    return Source(bucket=str(src["bucket"]), prefix=prefix, format=fmt, marker=marker,
                  completion=completion, quiet_period_s=quiet, max_file_bytes=max_bytes)


_FEATURE_KEYS = {"name", "dtype", "categories", "nullable", "max_null_share", "min", "max",
                 "max_new_category_share"}
_CONTRACT_KEYS = {"min_rows", "max_rows", "max_duplicate_share", "freshness", "extra_columns",
                  "target"}


def _parse_feature(raw: dict[str, Any], path: str) -> Feature:
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: each feature is a mapping {{name, dtype, ...}}, not {raw!r}")
    dtype = raw["dtype"]
    if dtype not in ("float", "int", "bool", "category", "string", "datetime"):
        raise SpecError(f"{path}: feature {raw.get('name')!r} has unknown dtype {dtype!r}")
    name = str(raw["name"])
    where = f"{path}: feature {name!r}"
    unknown = sorted(set(raw) - _FEATURE_KEYS)
    if unknown:
        raise SpecError(f"{where}: unknown keys {unknown}; known: {sorted(_FEATURE_KEYS)}")
    categories = tuple(str(c) for c in raw.get("categories", ()))
    if dtype == "category" and not categories:
        raise SpecError(f"{path}: categorical feature {name!r} needs `categories`")
    if "nullable" in raw and "max_null_share" in raw:
        raise SpecError(f"{where}: give `nullable` or `max_null_share`, not both")
    nullable = raw.get("nullable", True)
    if not isinstance(nullable, bool):
        raise SpecError(f"{where}: nullable must be true or false, not {nullable!r}")
    max_null_share = raw.get("max_null_share")
    if max_null_share is not None:
        max_null_share = _share(max_null_share, f"{where}: max_null_share")
    new_share = raw.get("max_new_category_share")
    if new_share is not None and dtype != "category":
        raise SpecError(f"{where}: max_new_category_share applies to category features only")
    low, high = (_bound(raw.get(key), dtype, f"{where}: {key}") for key in ("min", "max"))
    if low is not None and high is not None and low > high:  # type: ignore[operator]
        raise SpecError(f"{where}: min {raw['min']!r} is greater than max {raw['max']!r}")
    return Feature(name=name, dtype=dtype, categories=categories, nullable=nullable,
                   max_null_share=max_null_share, min_value=low, max_value=high,
                   max_new_category_share=0.0 if new_share is None
                   else _share(new_share, f"{where}: max_new_category_share"))


def _share(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise SpecError(f"{where} must be a number within [0, 1], not {value!r}")
    return float(value)


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError(f"{where} must be an integer >= 1, not {value!r}")
    return value


def _positive(value: Any, where: str, *, zero_ok: bool = False) -> float:
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or value < 0 or (value == 0 and not zero_ok)):
        raise SpecError(f"{where} must be a number {'>=' if zero_ok else '>'} 0, not {value!r}")
    return float(value)


def _bound(value: Any, dtype: str, where: str) -> Bound | None:
    """A range bound: a number for float/int features, an ISO 8601 timestamp for datetimes."""
    if value is None:
        return None
    if dtype in ("float", "int"):
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise SpecError(f"{where} must be a number for a {dtype} feature, not {value!r}")
        return float(value)
    if dtype == "datetime":
        if isinstance(value, date) and not isinstance(value, datetime):
            value = datetime(value.year, value.month, value.day)
        elif isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                raise SpecError(f"{where} must be an ISO 8601 timestamp, not {value!r}") from None
        if not isinstance(value, datetime):
            raise SpecError(f"{where} must be an ISO 8601 timestamp, not {value!r}")
        # Naive timestamps mean UTC, as they do in the data (conform() keeps UTC).
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    raise SpecError(f"{where}: ranges apply to float, int and datetime features, not {dtype}")


def _parse_contract(raw: Any, task: str, features: tuple[Feature, ...], path: str) -> Contract:
    if raw is None:
        return Contract()
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: contract must be a mapping of {sorted(_CONTRACT_KEYS)}")
    unknown = sorted(set(raw) - _CONTRACT_KEYS)
    if unknown:
        raise SpecError(f"{path}: unknown contract keys {unknown}; known: "
                        f"{sorted(_CONTRACT_KEYS)}")
    min_rows = None if raw.get("min_rows") is None else _count(raw["min_rows"],
                                                               f"{path}: contract.min_rows")
    max_rows = None if raw.get("max_rows") is None else _count(raw["max_rows"],
                                                               f"{path}: contract.max_rows")
    if min_rows is not None and max_rows is not None and min_rows > max_rows:
        raise SpecError(f"{path}: contract.min_rows {min_rows} is greater than "
                        f"contract.max_rows {max_rows}")
    dup = raw.get("max_duplicate_share")
    policy = raw.get("extra_columns", "drop")
    if policy not in ("reject", "drop"):
        raise SpecError(f"{path}: contract.extra_columns {policy!r} must be reject or drop")
    target = raw.get("target") or {}
    if not isinstance(target, dict) or set(target) - {"min_rows_per_class"}:
        raise SpecError(f"{path}: contract.target takes min_rows_per_class only")
    per_class = target.get("min_rows_per_class")
    if per_class is not None:
        per_class = _count(per_class, f"{path}: contract.target.min_rows_per_class")
        if task not in _CLASSIFICATION_TASKS:
            raise SpecError(f"{path}: contract.target.min_rows_per_class needs a "
                            f"classification task, not {task}")
    return Contract(
        min_rows=min_rows, max_rows=max_rows,
        max_duplicate_share=None if dup is None else _share(
            dup, f"{path}: contract.max_duplicate_share"),
        freshness=_parse_freshness(raw.get("freshness"), features, path),
        extra_columns=policy, min_rows_per_class=per_class)


def _parse_freshness(raw: Any, features: tuple[Feature, ...], path: str) -> Freshness | None:
    if raw is None:
        return None
    keys = {"column", "max_age_hours", "allow_future_minutes"}
    if not isinstance(raw, dict) or set(raw) - keys or not {"column", "max_age_hours"} <= set(raw):
        raise SpecError(f"{path}: contract.freshness is {{column, max_age_hours, "
                        "allow_future_minutes (optional)}")
    column = str(raw["column"])
    feature = next((f for f in features if f.name == column), None)
    if feature is None or feature.dtype != "datetime":
        raise SpecError(f"{path}: contract.freshness.column {column!r} must be a datetime "
                        "feature")
    return Freshness(
        column=column,
        max_age_hours=_positive(raw["max_age_hours"], f"{path}: contract.freshness.max_age_hours"),
        allow_future_minutes=_positive(raw.get("allow_future_minutes", 5.0),
                                       f"{path}: contract.freshness.allow_future_minutes",
                                       zero_ok=True))


def _parse_metric(raw: dict[str, Any], task: str, path: str,
                  features: tuple[Feature, ...] = ()) -> MetricPolicy:
    name = raw["name"]
    if name not in _TASK_METRICS[task]:
        raise SpecError(f"{path}: metric {name!r} does not fit task {task!r}; "
                        f"choose one of {sorted(_TASK_METRICS[task])}")
    direction = raw.get("direction", _METRIC_DIRECTIONS[name])
    if direction != _METRIC_DIRECTIONS[name]:
        raise SpecError(f"{path}: metric {name!r} is always {_METRIC_DIRECTIONS[name]}d")
    known = {"name", "direction", "floor", "min_improvement", "threshold", "bootstrap",
             "non_inferiority_margin", "slices", "slice_tolerance", "min_slice_rows",
             "leakage_ceiling"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SpecError(f"{path}: unknown metric keys {unknown}")
    boot = raw.get("bootstrap") or {}
    if not isinstance(boot, dict) or set(boot) - {"samples", "confidence", "seed"}:
        raise SpecError(f"{path}: metric.bootstrap takes samples, confidence and seed")
    margin = raw.get("non_inferiority_margin")
    ceiling = raw.get("leakage_ceiling", 0.999)
    policy = MetricPolicy(
        name=name, direction=direction, floor=float(raw["floor"]),
        min_improvement=float(raw.get("min_improvement", 0.0)),
        threshold=float(raw.get("threshold", 0.5)),
        bootstrap_samples=int(boot.get("samples", 1000)),
        bootstrap_confidence=float(boot.get("confidence", 0.95)),
        bootstrap_seed=int(boot.get("seed", 0)),
        non_inferiority_margin=None if margin is None else float(margin),
        slices=tuple(_parse_slice(s, path, features) for s in raw.get("slices") or ()),
        slice_tolerance=float(raw.get("slice_tolerance", 0.02)),
        min_slice_rows=int(raw.get("min_slice_rows", 100)),
        leakage_ceiling=None if ceiling is None else float(ceiling))
    checks = [
        (0.0 < policy.threshold < 1.0, "metric.threshold must be within (0, 1)"),
        (100 <= policy.bootstrap_samples <= 100_000,
         "metric.bootstrap.samples must be within [100, 100000]"),
        (0.5 < policy.bootstrap_confidence < 1.0,
         "metric.bootstrap.confidence must be within (0.5, 1)"),
        (policy.min_improvement >= 0, "metric.min_improvement must be >= 0"),
        (policy.non_inferiority_margin is None or policy.non_inferiority_margin >= 0,
         "metric.non_inferiority_margin must be >= 0"),
        (policy.slice_tolerance >= 0, "metric.slice_tolerance must be >= 0"),
        (policy.min_slice_rows >= 1, "metric.min_slice_rows must be >= 1"),
        (len({s.column for s in policy.slices}) == len(policy.slices),
         "metric.slices lists a column twice"),
    ]
    for ok, message in checks:
        if not ok:
            raise SpecError(f"{path}: {message}")
    return policy


def _parse_slice(raw: Any, path: str, features: tuple[Feature, ...]) -> SliceSpec:
    if isinstance(raw, str):
        raw = {"column": raw}
    if not isinstance(raw, dict) or "column" not in raw or set(raw) - {"column", "bins"}:
        raise SpecError(f"{path}: metric.slices entries are {{column, bins (optional)}}")
    column, bins = str(raw["column"]), raw.get("bins")
    feature = next((f for f in features if f.name == column), None)
    if features and feature is None:
        raise SpecError(f"{path}: slice column {column!r} is not a feature")
    if bins is not None:
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
            raise SpecError(f"{path}: slice {column!r}: bins must be an integer >= 2")
        if feature is not None and feature.dtype not in ("float", "int"):
            raise SpecError(f"{path}: slice {column!r}: bins need a numeric column, "
                            f"not {feature.dtype}")
    elif feature is not None and feature.dtype == "float":
        raise SpecError(f"{path}: slice {column!r} is a float column: give it `bins` "
                        "(quantile bins)")
    return SliceSpec(column=column, bins=bins)


_TRIGGER_KEYS = {"poke_interval_s", "mode", "sqs_queue", "retrain_on", "schedule", "drift",
                 "min_new_rows", "max_batches_per_run"}
_DRIFT_KEYS = {"share_drifted", "feature_psi", "consecutive_batches", "cooldown_minutes"}


def _parse_trigger(raw: Any, features: tuple[Feature, ...], path: str) -> TriggerConfig:
    raw = raw or {}
    if not isinstance(raw, dict) or set(raw) - _TRIGGER_KEYS:
        raise SpecError(f"{path}: trigger takes {sorted(_TRIGGER_KEYS)}, got "
                        f"{sorted(raw) if isinstance(raw, dict) else raw!r}")
    mode = raw.get("mode", "polling")
    if mode not in ("polling", "events"):
        raise SpecError(f"{path}: trigger.mode {mode!r} must be polling or events")
    queue = raw.get("sqs_queue")
    if mode == "events" and not queue:
        raise SpecError(f"{path}: trigger.mode events needs trigger.sqs_queue (the SQS queue "
                        "that receives the landing bucket's notifications)")
    retrain_on = raw.get("retrain_on", ["arrival"])
    if isinstance(retrain_on, str):
        retrain_on = [retrain_on]
    if not isinstance(retrain_on, list) or set(retrain_on) - {"arrival", "drift"}:
        raise SpecError(f"{path}: trigger.retrain_on lists arrival and/or drift, not "
                        f"{retrain_on!r}")
    schedule = raw.get("schedule")
    if schedule is not None:
        schedule = str(schedule).strip()
        if len(schedule.split()) != 5 and not schedule.startswith("@"):
            raise SpecError(f"{path}: trigger.schedule {schedule!r} must be a 5-field cron "
                            "expression or a preset such as @daily")
    return TriggerConfig(
        poke_interval_s=_positive(raw.get("poke_interval_s", 5.0),
                                  f"{path}: trigger.poke_interval_s"),
        mode=mode, sqs_queue=None if queue is None else str(queue),
        retrain_on=tuple(dict.fromkeys(retrain_on)), schedule=schedule,
        drift=_parse_drift_policy(raw.get("drift"), features, path),
        min_new_rows=0 if raw.get("min_new_rows") in (None, 0)
        else _count(raw["min_new_rows"], f"{path}: trigger.min_new_rows"),
        max_batches_per_run=_count(raw.get("max_batches_per_run", 10),
                                   f"{path}: trigger.max_batches_per_run"))


def _parse_drift_policy(raw: Any, features: tuple[Feature, ...], path: str) -> DriftPolicy:
    raw = raw or {}
    where = f"{path}: trigger.drift"
    if not isinstance(raw, dict) or set(raw) - _DRIFT_KEYS:
        raise SpecError(f"{where} takes {sorted(_DRIFT_KEYS)}")
    share = raw.get("share_drifted", 0.5)
    psi = raw.get("feature_psi") or {}
    if not isinstance(psi, dict):
        raise SpecError(f"{where}.feature_psi maps feature names to PSI limits")
    names = {f.name for f in features}
    for name, limit in psi.items():
        if name not in names:
            raise SpecError(f"{where}.feature_psi: {name!r} is not a feature")
        _positive(limit, f"{where}.feature_psi.{name}")
    if share is None and not psi:
        raise SpecError(f"{where}: give share_drifted and/or feature_psi")
    return DriftPolicy(
        share_drifted=None if share is None else _share(share, f"{where}.share_drifted"),
        feature_psi={str(k): float(v) for k, v in psi.items()},
        consecutive_batches=_count(raw.get("consecutive_batches", 1),
                                   f"{where}.consecutive_batches"),
        cooldown_minutes=_positive(raw.get("cooldown_minutes", 60.0),
                                   f"{where}.cooldown_minutes", zero_ok=True))


def _parse_training(raw: dict[str, Any], path: str,
                    features: tuple[Feature, ...] = ()) -> TrainingConfig:
    raw = dict(raw)
    engine = raw.pop("engine", "local")
    if engine not in ("local", "dask"):
        raise SpecError(f"{path}: training.engine {engine!r} must be local or dask")
    dask = _parse_dask(raw.pop("dask", None), path)
    cfg = TrainingConfig(**raw, engine=engine, dask=dask)
    if cfg.time_column is not None:
        feature = next((f for f in features if f.name == cfg.time_column), None)
        if features and feature is None:
            raise SpecError(f"{path}: training.time_column {cfg.time_column!r} is not a feature")
        if feature is not None and feature.dtype not in ("datetime", "int", "float"):
            raise SpecError(f"{path}: training.time_column {cfg.time_column!r} must be a "
                            f"datetime or numeric column, not {feature.dtype}")
    if not 0.05 <= cfg.holdout_share <= 0.5:
        raise SpecError(f"{path}: training.holdout_share must be within [0.05, 0.5]")
    if cfg.device not in ("auto", "cpu", "cuda"):
        raise SpecError(f"{path}: training.device must be auto, cpu or cuda")
    rounds = cfg.early_stopping_rounds
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 0:
        raise SpecError(f"{path}: training.early_stopping_rounds must be an integer >= 0 "
                        "(0 turns early stopping off)")
    share = cfg.validation_share
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0.01 <= share <= 0.5:
        raise SpecError(f"{path}: training.validation_share must be within [0.01, 0.5]")
    cap = cfg.max_train_rows
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 100):
        raise SpecError(f"{path}: training.max_train_rows must be an integer >= 100 (or absent "
                        "for every row)")
    return cfg


_DASK_KEYS = {"scheduler_address", "n_workers", "threads_per_worker"}


def _parse_dask(raw: Any, path: str) -> DaskConfig:
    """training.dask: the cluster of `engine: dask`; absent: a LocalCluster with the defaults.
    Given with `engine: local` it is parsed (so typos fail early) and unused."""
    where = f"{path}: training.dask"
    if raw is None:
        return DaskConfig()
    if not isinstance(raw, dict):
        raise SpecError(f"{where} must be a mapping of {sorted(_DASK_KEYS)}, not {raw!r}")
    unknown = sorted(set(raw) - _DASK_KEYS)
    if unknown:
        raise SpecError(f"{where}: unknown keys {unknown}; known: {sorted(_DASK_KEYS)}")
    address = raw.get("scheduler_address")
    if address is not None and (not isinstance(address, str) or not address.strip()):
        raise SpecError(f"{where}.scheduler_address must be a scheduler address such as "
                        f"tcp://10.0.0.5:8786, not {address!r}")
    return DaskConfig(
        scheduler_address=None if address is None else address.strip(),
        n_workers=_count(raw.get("n_workers", 2), f"{where}.n_workers"),
        threads_per_worker=_count(raw.get("threads_per_worker", 1),
                                  f"{where}.threads_per_worker"))


def _parse_promotion(raw: dict[str, Any], path: str) -> dict[str, Any]:
    """`promotion: auto | manual` and, for manual, `approval_timeout_h` (hours, default 72)."""
    mode = raw.get("promotion", "auto")
    if mode not in ("auto", "manual"):
        raise SpecError(f"{path}: promotion {mode!r} must be auto (the gate promotes) or manual "
                        "(a person approves each promotion in Airflow)")
    if "approval_timeout_h" in raw and mode != "manual":
        raise SpecError(f"{path}: approval_timeout_h applies to promotion: manual only")
    timeout = _positive(raw.get("approval_timeout_h", 72.0), f"{path}: approval_timeout_h")
    return {"promotion": mode, "approval_timeout_h": timeout}
