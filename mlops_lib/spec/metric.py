"""The promotion policy: the primary metric, its floor, and the statistical gate's settings.

`MetricPolicy` is the record the code uses; `MetricSection` is the YAML `metric:` section it is
read from (the bootstrap settings nest under `bootstrap:` there)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator
from pydantic.dataclasses import dataclass

from mlops_lib.spec.base import (
    SPEC_CONFIG,
    Count,
    Integer,
    NonNegative,
    Number,
    OrEmpty,
    problem,
)

TaskType = Literal["binary_classification", "multiclass_classification", "regression"]
Direction = Literal["maximize", "minimize"]
MetricName = Literal["roc_auc", "pr_auc", "accuracy", "f1", "macro_f1", "log_loss", "brier",
                     "rmse", "mae", "r2"]
METRIC_DIRECTIONS: dict[str, Direction] = {
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
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "binary_classification": ("roc_auc", "pr_auc", "accuracy", "f1", "log_loss", "brier"),
    "multiclass_classification": ("log_loss", "macro_f1", "accuracy"),
    "regression": ("rmse", "mae", "r2"),
}


@dataclass(frozen=True, config=SPEC_CONFIG)
class SliceSpec:
    """A slice guardrail column: categorical as is, numeric cut into `bins` quantile bins."""

    column: str
    """A feature; a float feature needs `bins`."""
    bins: int | None = Field(default=None, ge=2, strict=True)
    """Numeric columns: the number of quantile bins."""


@dataclass(frozen=True, config=SPEC_CONFIG)
class MetricPolicy:
    """The promotion policy: primary metric, floor, and the statistical gate's settings."""

    name: str
    direction: Direction
    floor: Number
    min_improvement: Number = 0.0
    threshold: Number = 0.5                     # decision threshold for accuracy and F1
    bootstrap_samples: Integer = 1000
    bootstrap_confidence: Number = 0.95
    bootstrap_seed: Integer = 0
    non_inferiority_margin: Number | None = None
    slices: tuple[SliceSpec, ...] = ()
    slice_tolerance: Number = 0.02
    min_slice_rows: Integer = 100
    leakage_ceiling: Number | None = 0.999      # keep when roc_auc / accuracy / r2 reaches this

    def better(self, candidate: float, baseline: float) -> bool:
        """True when the candidate beats the baseline by more than min_improvement."""
        gain = candidate - baseline if self.direction == "maximize" else baseline - candidate
        return gain > self.min_improvement

    def clears_floor(self, value: float) -> bool:
        return value >= self.floor if self.direction == "maximize" else value <= self.floor


_DEFAULT = MetricPolicy("roc_auc", "maximize", floor=0.0)  # the defaults, said once


@dataclass(frozen=True, config=SPEC_CONFIG)
class BootstrapSection:
    """The paired bootstrap of challenger minus champion on the same holdout rows."""

    samples: int = Field(default=_DEFAULT.bootstrap_samples, ge=100, le=100_000, strict=True)
    """Resamples drawn."""
    confidence: float = Field(default=_DEFAULT.bootstrap_confidence, gt=0.5, lt=1, strict=True)
    """Two-sided percentile interval."""
    seed: Integer = _DEFAULT.bootstrap_seed
    """Same seed, same interval."""


def _slices_schema(schema: dict[str, Any]) -> None:
    """A slice may be written as its column's name alone."""
    schema["items"] = {"anyOf": [schema["items"], {"type": "string"}]}


def _slice_entries(value: Any) -> Any:
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return [{"column": v} if isinstance(v, str) else v for v in value]
    return value


@dataclass(frozen=True, config=SPEC_CONFIG)
class MetricSection:
    """The YAML `metric:` section."""

    name: MetricName
    """The primary metric; it must fit the task."""
    floor: Number
    """The first model is promoted only at or beyond this value."""
    direction: Direction | None = None
    """Implied by the metric; if given it must agree."""
    min_improvement: NonNegative = _DEFAULT.min_improvement
    """The CI lower bound of the improvement must exceed this."""
    threshold: float = Field(default=_DEFAULT.threshold, gt=0, lt=1, strict=True)
    """Decision threshold on the probability, for accuracy and F1."""
    bootstrap: Annotated[BootstrapSection, OrEmpty] = BootstrapSection()
    """The paired bootstrap: samples, confidence, seed."""
    non_inferiority_margin: NonNegative | None = _DEFAULT.non_inferiority_margin
    """Set: not worse by this much, and better on the holdout."""
    slices: Annotated[tuple[SliceSpec, ...], BeforeValidator(_slice_entries)] = Field(
        default=_DEFAULT.slices, json_schema_extra=_slices_schema)
    """Guardrails: the challenger may not lose on any slice of these columns."""
    slice_tolerance: NonNegative = _DEFAULT.slice_tolerance
    """Largest loss of the metric allowed on a slice."""
    min_slice_rows: Count = _DEFAULT.min_slice_rows
    """Smaller slices are reported but not judged."""
    leakage_ceiling: Number | None = _DEFAULT.leakage_ceiling
    """A score at or beyond this is a leak, not a model: keep the champion. null: off."""

    @model_validator(mode="after")
    def _slices_once(self) -> MetricSection:
        columns = [s.column for s in self.slices]
        twice = sorted({c for c in columns if columns.count(c) > 1})
        if twice:
            raise problem("slices", f"lists a column twice: {twice}")
        return self

    def policy(self) -> MetricPolicy:
        return MetricPolicy(
            name=self.name, direction=METRIC_DIRECTIONS[self.name], floor=self.floor,
            min_improvement=self.min_improvement, threshold=self.threshold,
            bootstrap_samples=self.bootstrap.samples,
            bootstrap_confidence=self.bootstrap.confidence, bootstrap_seed=self.bootstrap.seed,
            non_inferiority_margin=self.non_inferiority_margin, slices=self.slices,
            slice_tolerance=self.slice_tolerance, min_slice_rows=self.min_slice_rows,
            leakage_ceiling=self.leakage_ceiling)
