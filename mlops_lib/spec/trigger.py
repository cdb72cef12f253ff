"""Why training runs: new batches, drift crossings, performance drops, a schedule; and how
arrival is seen."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, Strict, field_validator, model_validator
from pydantic.dataclasses import dataclass

from mlops_lib.spec.base import (
    SPEC_CONFIG,
    Count,
    NonNegative,
    Number,
    OrEmpty,
    Positive,
    Share,
    problem,
)

RetrainCause = Literal["arrival", "drift", "performance"]
WindowKind = Literal["batch", "rows", "days"]
ArrivalMode = Literal["polling", "events"]


@dataclass(frozen=True, config=SPEC_CONFIG)
class DriftPolicy:
    """When drift of arriving batches (against the champion's training data) asks for a
    retrain: the share of drifted features reaches `share_drifted`, or a named feature's PSI
    reaches its limit in `feature_psi`; for `consecutive_batches` batches in a row; at most
    once per `cooldown_minutes`. A feature is tested only with `min_rows_per_test` values,
    and drifted only above its noise floor at the batch's size (docs/triggers.md)."""

    share_drifted: Share | None = 0.5
    """Share of drifted features that counts as a crossing; null: not on the share."""
    feature_psi: Annotated[dict[str, Positive], OrEmpty] = Field(default_factory=dict)
    """Feature name -> the PSI at which that feature alone counts as a crossing."""
    consecutive_batches: Count = 1
    """Crossings needed in a row."""
    cooldown_minutes: NonNegative = 60.0
    """At most one drift retrain per this many minutes."""
    min_rows_per_test: Count = 50
    """A feature with fewer non-null values in the batch (or the reference) is not tested:
    its verdict is insufficient data, never drifted."""
    noise_floor_quantile: Annotated[float, Strict(), Field(gt=0, lt=1)] | None = 0.99
    """A feature is drifted only when its statistic also reaches this quantile of the same
    statistic on batches of the batch's size resampled from the reference (its noise floor);
    null: on the threshold alone."""
    noise_floor_resamples: Annotated[int, Strict(), Field(ge=20, le=5000)] = 200
    """Resamples the noise floor is estimated from."""

    @model_validator(mode="after")
    def _something_to_watch(self) -> DriftPolicy:
        if self.share_drifted is None and not self.feature_psi:
            raise problem((), "give share_drifted and/or feature_psi")
        return self


@dataclass(frozen=True, config=SPEC_CONFIG)
class PerformancePolicy:
    """When realized performance of the champion (late labels joined to its predictions) asks
    for a retrain: a labelled window of `window` kind, with at least `min_labelled_rows`
    labels, whose bootstrap interval lies wholly beyond `max_drop` below the champion's
    holdout metric at promotion (or beyond `floor`); for `consecutive_windows` windows in a
    row; at most once per `cooldown_minutes`. See docs/monitoring.md."""

    max_drop: NonNegative | None = 0.05
    """How far the metric may fall from its value at promotion (absolute, in the metric's
    units; a rise for metrics to minimize); null: not judged against promotion."""
    floor: Number | None = None
    """An absolute limit the metric must stay on the right side of; null: none."""
    min_labelled_rows: Count = 200
    """A window with fewer labelled rows is not judged."""
    consecutive_windows: Count = 1
    """Breaching windows needed in a row (the newest ones)."""
    cooldown_minutes: NonNegative = 60.0
    """At most one performance retrain per this many minutes."""
    window: WindowKind = "batch"
    """batch: one window per scored batch | rows: rolling windows of labels.window_rows rows |
    days: windows of labels.window_days days of scoring time."""
    alert_on_estimate: bool = False
    """Warn (log and run note, no retrain) when a batch's label-free estimate already breaches
    the same limits: an early signal, blind to concept drift."""

    @model_validator(mode="after")
    def _something_to_judge(self) -> PerformancePolicy:
        if self.max_drop is None and self.floor is None:
            raise problem((), "give max_drop and/or floor")
        return self


def _one_or_more(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


@dataclass(frozen=True, config=SPEC_CONFIG)
class TriggerConfig:
    """Why training runs: `retrain_on` new accepted batches and/or drift crossings (Airflow
    Assets), plus an optional cron `schedule`; manual runs always work.

    Arrival is seen by `polling` (a deferred S3 sensor) or by `events` (S3 bucket notification
    → SQS queue `sqs_queue` → an AssetWatcher). A training run takes the accepted batches no
    earlier live run trained on, oldest first, at most `max_batches_per_run`; with fewer than
    `min_new_rows` rows among them it waits for more data.
    """

    poke_interval_s: Positive = 5.0
    """polling: seconds between listings of the landing prefix."""
    mode: ArrivalMode = "polling"
    """polling (a deferred S3 sensor) | events (S3 notifications -> SQS -> an AssetWatcher)."""
    sqs_queue: str | None = None
    """events: the SQS queue that receives the landing bucket's notifications."""
    retrain_on: Annotated[tuple[RetrainCause, ...], BeforeValidator(_one_or_more)] = (
        "arrival",)
    """arrival: every accepted batch | drift: when the drift policy is crossed |
    performance: when the performance policy is crossed (needs a `labels:` section)."""
    schedule: str | None = None
    """A 5-field cron expression (UTC) or a preset such as @daily; absent: none."""
    drift: Annotated[DriftPolicy, OrEmpty] = DriftPolicy()
    """Measured per accepted batch against the champion's training data."""
    performance: Annotated[PerformancePolicy, OrEmpty] = PerformancePolicy()
    """Judged on the champion's realized performance each time labels arrive."""
    min_new_rows: Annotated[int, Field(ge=0, strict=True)] = 0
    """A run with fewer new rows waits for more data (manual runs can force)."""
    max_batches_per_run: Count = 10
    """A run takes at most this many new batches, oldest first."""

    @field_validator("retrain_on")
    @classmethod
    def _once_each(cls, causes: tuple[RetrainCause, ...]) -> tuple[RetrainCause, ...]:
        return tuple(dict.fromkeys(causes))

    @field_validator("min_new_rows", mode="before")
    @classmethod
    def _none_is_zero(cls, rows: Any) -> Any:
        return 0 if rows is None else rows

    @field_validator("schedule")
    @classmethod
    def _cron_or_preset(cls, schedule: str | None) -> str | None:
        if schedule is None:
            return None
        schedule = schedule.strip()
        if len(schedule.split()) != 5 and not schedule.startswith("@"):
            raise ValueError(f"{schedule!r} must be a 5-field cron expression or a preset such "
                             "as @daily")
        return schedule

    @model_validator(mode="after")
    def _events_need_a_queue(self) -> TriggerConfig:
        if self.mode == "events" and not self.sqs_queue:
            raise problem("sqs_queue", "trigger.mode events needs trigger.sqs_queue (the SQS "
                                       "queue that receives the landing bucket's notifications)")
        return self
