"""The first step of a training run: why it fired and which accepted batches it trains on.

The decision itself is pure (`steps.planning`); this step feeds it the store's candidates,
takes the chosen batches and records the plan. Light: no data is read here.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from mlops_lib.services import Services
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps import planning
from mlops_lib.steps.champion_of_time import judged_against, record_point_in_time
from mlops_lib.steps.event_span import time_column
from mlops_lib.steps.planning import Candidate, RunContext
from mlops_lib.steps.records import TrainingPlan
from mlops_lib.stores.store import BatchRecord, BatchTaken, Store
from mlops_lib.training.window import RowSelection

log = logging.getLogger(__name__)


def plan_training(svc: Services, spec: PipelineSpec, ctx: RunContext) -> TrainingPlan:
    """Decide why this training run fired and which accepted batches it trains on; record it.

    Idempotent: a retried or cleared run gets the plan it recorded the first time.
    """
    store = svc.store
    recorded = store.get_training_run(spec.name, ctx.dag_run_id)
    if recorded is not None:
        trigger = recorded["trigger"]
        return TrainingPlan(
            trigger=trigger,
            batch_ids=tuple(store.training_batch_ids(spec.name, ctx.dag_run_id)
                            or trigger.get("batch_ids", [])),
            may_promote=bool(trigger.get("may_promote", True)),
            dataset_key=recorded["batch_id"], skip_reason=trigger.get("skipped"),
            champion=judged_against(svc, spec, trigger), rows=_recorded_rows(trigger))
    ctx = _normalized(ctx)
    the_plan = _decide(store, spec, ctx)
    trigger = {**the_plan.trigger, "may_promote": the_plan.may_promote}
    batch_ids = list(the_plan.batch_ids)
    if batch_ids:
        try:
            batch_ids = store.take_training_batches(spec.name, ctx.dag_run_id, batch_ids,
                                                    live=the_plan.consume,
                                                    consumed=the_plan.consumed)
        except BatchTaken as exc:
            trigger["skipped"] = f"another live run took these batches first ({exc})"
            batch_ids = []
    record_point_in_time(svc, spec, ctx, the_plan.may_promote, trigger)
    key = dataset_key(store, spec.name, batch_ids, the_plan.rows) if batch_ids else "-"
    store.start_training_run(spec.name, ctx.dag_run_id, key, trigger)
    _log_plan(spec, ctx.dag_run_id, trigger)
    return TrainingPlan(trigger=trigger, batch_ids=tuple(batch_ids),
                        may_promote=the_plan.may_promote, dataset_key=key,
                        skip_reason=trigger.get("skipped"),
                        champion=judged_against(svc, spec, trigger), rows=the_plan.rows)


def _decide(store: Store, spec: PipelineSpec, ctx: RunContext) -> planning.RunPlan:
    """The pure plan, fed the store's candidates."""
    live_cutoff = ctx.interval_end if ctx.run_type == "scheduled" else None
    wanted = [str(b) for b in (ctx.params or {}).get("batches") or []]
    accepted = _candidates(store.accepted_batches(spec.name))
    history = accepted if ctx.run_type != "backfill" else _candidates(store.accepted_batches(
        spec.name, arrived_before=ctx.interval_end, by_data_time=True))
    return planning.plan(
        ctx, spec.trigger,
        new=_candidates(store.accepted_batches(spec.name, arrived_before=live_cutoff,
                                               untrained_only=True)),
        in_interval=_candidates(_in_window(store, spec.name, ctx)),
        named=[c for c in accepted if c.batch_id in wanted], newest=accepted,
        batches_uri=spec.batches_asset_uri, drift_uri=spec.drift_asset_uri,
        performance_uri=spec.performance_asset_uri,
        widening=planning.Widening(window=spec.training.window, history=history,
                                   time_column=time_column(spec), seed=spec.training.seed))


def dataset_key(store: Store, pipeline: str, batch_ids: Sequence[str],
                rows: RowSelection | None = None) -> str:
    """The name of a training set: its one batch (all of its rows), or a digest of its
    batches' contents and of the rows it keeps of them."""
    rows = rows or RowSelection()
    if len(batch_ids) == 1 and rows.keeps_all:
        return batch_ids[0]
    digest = hashlib.sha256()
    for batch_id in batch_ids:
        record = store.get_batch(pipeline, batch_id)
        digest.update(f"{batch_id}\0{record.fingerprint if record else ''}\n".encode())
    if not rows.keeps_all:
        digest.update(f"rows\0{rows.key()}\n".encode())
    return f"set-{digest.hexdigest()[:20]}"


def _recorded_rows(trigger: Mapping[str, Any]) -> RowSelection:
    selection = (trigger.get("training_window") or {}).get("selection")
    return RowSelection(**selection) if selection else RowSelection()


def _normalized(ctx: RunContext) -> RunContext:
    """The run's interval as the store writes times, so that text comparisons hold."""
    return replace(ctx, interval_start=_utc_iso(ctx.interval_start),
                   interval_end=_utc_iso(ctx.interval_end))


def _log_plan(spec: PipelineSpec, dag_run_id: str, trigger: Mapping[str, Any]) -> None:
    log.info("Run %s: %s", dag_run_id, planning.describe(trigger))
    for arrival in trigger.get("arrivals", []):
        for f in arrival.get("files", []):
            log.info("  arrival %s: s3://%s/%s etag %s", arrival.get("batch_id"),
                     spec.source.bucket, f.get("key"), f.get("etag"))
    for crossing in trigger.get("drift", []):
        log.info("  drift crossing: %s %s", crossing.get("reason"),
                 json.dumps(crossing.get("evidence"), sort_keys=True))


def _in_window(store: Store, pipeline: str, ctx: RunContext) -> list[BatchRecord]:
    """Accepted batches whose data belongs to a backfill's interval or a manual run's window:
    by the day of their date partition, else by their arrival."""
    params = ctx.params or {}
    if ctx.run_type == "backfill":
        start, end = ctx.interval_start, ctx.interval_end
    elif params.get("window_start") or params.get("window_end"):
        start, end = (_utc_iso(params.get(k)) for k in ("window_start", "window_end"))
    else:
        return []
    return store.accepted_batches(pipeline, arrived_from=start, arrived_before=end,
                                  by_data_time=True)


def _utc_iso(value: Any) -> str | None:
    """A window bound as the store writes times (UTC, milliseconds), so strings compare."""
    if not value:
        return None
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat(timespec="milliseconds")


def _candidates(records: Sequence[BatchRecord]) -> list[Candidate]:
    return [Candidate(batch_id=r.batch_id, rows=int(r.rows_accepted or 0),
                      arrived_at=r.arrived_at, event_start=r.event_time,
                      event_end=r.event_time_end) for r in records]
