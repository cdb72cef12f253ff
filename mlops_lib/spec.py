"""Pipeline specs: one YAML file per model drives the DAGs, the contract and training."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from mlops_lib.batches import Completion, CompletionMode

TaskType = Literal["binary_classification", "regression"]
Dtype = Literal["float", "int", "bool", "category", "string", "datetime"]
FileFormat = Literal["parquet", "csv"]

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
_METRIC_DIRECTIONS = {
    "roc_auc": "maximize",
    "accuracy": "maximize",
    "log_loss": "minimize",
    "rmse": "minimize",
    "mae": "minimize",
    "r2": "maximize",
}
_TASK_METRICS: dict[str, set[str]] = {
    "binary_classification": {"roc_auc", "accuracy", "log_loss"},
    "regression": {"rmse", "mae", "r2"},
}


class SpecError(ValueError):
    """A pipeline spec is malformed; the message names the file and the field."""


@dataclass(frozen=True)
class Feature:
    name: str
    dtype: Dtype
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class Source:
    bucket: str
    prefix: str
    format: FileFormat = "parquet"
    marker: str = "_SUCCESS"
    completion: CompletionMode = "marker"
    quiet_period_s: float = 60.0

    @property
    def completion_rule(self) -> Completion:
        return Completion(mode=self.completion, marker=self.marker,
                          quiet_period_s=self.quiet_period_s)


@dataclass(frozen=True)
class MetricPolicy:
    name: str
    direction: Literal["maximize", "minimize"]
    floor: float
    min_improvement: float = 0.0

    def better(self, candidate: float, baseline: float) -> bool:
        """True when the candidate beats the baseline by more than min_improvement."""
        gain = candidate - baseline if self.direction == "maximize" else baseline - candidate
        return gain > self.min_improvement

    def clears_floor(self, value: float) -> bool:
        return value >= self.floor if self.direction == "maximize" else value <= self.floor


@dataclass(frozen=True)
class TrainingConfig:
    seed: int = 42
    holdout_share: float = 0.2
    num_boost_round: int = 200
    device: Literal["auto", "cpu", "cuda"] = "auto"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TriggerConfig:
    poke_interval_s: float = 5.0


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
    owner: str = "data-engineering"
    description: str = ""
    path: str = ""

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def registered_model_name(self) -> str:
        return f"ct_{self.name}"

    @property
    def dag_id(self) -> str:
        return f"ct_{self.name}"

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
        metric=_parse_metric(raw["metric"], task, path),
        training=_parse_training(raw.get("training") or {}, path),
        trigger=TriggerConfig(**(raw.get("trigger") or {})),
        owner=str(raw.get("owner", "data-engineering")),
        description=str(raw.get("description", "")),
        path=path,
    )


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
    return Source(bucket=str(src["bucket"]), prefix=prefix, format=fmt, marker=marker,
                  completion=completion, quiet_period_s=quiet)


def _parse_feature(raw: dict[str, Any], path: str) -> Feature:
    dtype = raw["dtype"]
    if dtype not in ("float", "int", "bool", "category", "string", "datetime"):
        raise SpecError(f"{path}: feature {raw.get('name')!r} has unknown dtype {dtype!r}")
    categories = tuple(str(c) for c in raw.get("categories", ()))
    if dtype == "category" and not categories:
        raise SpecError(f"{path}: categorical feature {raw['name']!r} needs `categories`")
    return Feature(name=str(raw["name"]), dtype=dtype, categories=categories)


def _parse_metric(raw: dict[str, Any], task: str, path: str) -> MetricPolicy:
    name = raw["name"]
    if name not in _TASK_METRICS[task]:
        raise SpecError(f"{path}: metric {name!r} does not fit task {task!r}; "
                        f"choose one of {sorted(_TASK_METRICS[task])}")
    direction = raw.get("direction", _METRIC_DIRECTIONS[name])
    if direction != _METRIC_DIRECTIONS[name]:
        raise SpecError(f"{path}: metric {name!r} is always {_METRIC_DIRECTIONS[name]}d")
    return MetricPolicy(name=name, direction=direction, floor=float(raw["floor"]),
                        min_improvement=float(raw.get("min_improvement", 0.0)))


def _parse_training(raw: dict[str, Any], path: str) -> TrainingConfig:
    cfg = TrainingConfig(**raw)
    if not 0.05 <= cfg.holdout_share <= 0.5:
        raise SpecError(f"{path}: training.holdout_share must be within [0.05, 0.5]")
    if cfg.device not in ("auto", "cpu", "cuda"):
        raise SpecError(f"{path}: training.device must be auto, cpu or cuda")
    return cfg
