"""The pipeline's Airflow Assets and the training DAG's schedule, from its spec."""

from __future__ import annotations

import functools
import operator
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, AssetOrTimeSchedule, CronDataIntervalTimetable

if TYPE_CHECKING:
    from mlops_lib.spec import PipelineSpec


def batches_asset(spec: PipelineSpec) -> Asset:
    """Updated by the ingest DAG for every accepted batch (extra: id, fingerprint, rows, keys
    and ETags)."""
    return Asset(uri=spec.batches_asset_uri, name=f"{spec.name}_accepted_batches")


def drift_asset(spec: PipelineSpec) -> Asset:
    """Updated by the drift monitor when the spec's drift policy is crossed (extra: verdict)."""
    return Asset(uri=spec.drift_asset_uri, name=f"{spec.name}_drift_crossings")


def performance_asset(spec: PipelineSpec) -> Asset:
    """Updated by the labels DAG when the performance policy is crossed (extra: verdict)."""
    return Asset(uri=spec.performance_asset_uri, name=f"{spec.name}_performance_drops")


def training_schedule(spec: PipelineSpec) -> Any:
    """One training DAG serves every trigger: the assets the spec retrains on (accepted
    batches, drift crossings), or'ed with its cron; manual runs always work.

    The cron uses data intervals (not trigger times) so that a backfill run knows the
    interval whose arrivals it retrains on.
    """
    by_cause = {"arrival": batches_asset(spec), "drift": drift_asset(spec),
                "performance": performance_asset(spec)}
    assets = [by_cause[cause] for cause in spec.trigger.retrain_on]
    condition = functools.reduce(operator.or_, assets) if assets else None
    if spec.trigger.schedule is None:
        return condition
    timetable = CronDataIntervalTimetable(spec.trigger.schedule, timezone="UTC")
    if condition is None:
        return timetable
    return AssetOrTimeSchedule(timetable=timetable, assets=condition)
