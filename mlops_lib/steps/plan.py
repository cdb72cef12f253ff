"""The first step of a training run: why it fired and which accepted batches it trains on.

The decision itself is pure (`steps.planning`); this step feeds it the store's candidates,
takes the chosen batches and records the plan. Light: no data is read here.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from mlops_lib.services import Services
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps import planning
from mlops_lib.steps.planning import Candidate, RunContext
from mlops_lib.steps.records import TrainingPlan
from mlops_lib.steps.shared import champion_snapshot
from mlops_lib.stores.store import BatchRecord, BatchTaken, Store

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
            champion=champion_snapshot(svc, spec))
    live_cutoff = ctx.interval_end if ctx.run_type == "scheduled" else None
    wanted = [str(b) for b in (ctx.params or {}).get("batches") or []]
    accepted = store.accepted_batches(spec.name)
    the_plan = planning.plan(
        ctx, spec.trigger,
        new=_candidates(store.accepted_batches(spec.name, arrived_before=live_cutoff,
                                               untrained_only=True)),
        in_interval=_candidates(_in_window(store, spec.name, ctx)),
        named=_candidates([b for b in accepted if b.batch_id in wanted]),
        newest=_candidates(accepted),
        batches_uri=spec.batches_asset_uri, drift_uri=spec.drift_asset_uri,
        performance_uri=spec.performance_asset_uri)
    trigger = {**the_plan.trigger, "may_promote": the_plan.may_promote}
    batch_ids = list(the_plan.batch_ids)
    if batch_ids:
        try:
            batch_ids = store.take_training_batches(spec.name, ctx.dag_run_id, batch_ids,
                                                    live=the_plan.consume)
        except BatchTaken as exc:
            trigger["skipped"] = f"another live run took these batches first ({exc})"
            batch_ids = []
    key = dataset_key(store, spec.name, batch_ids) if batch_ids else "-"
    store.start_training_run(spec.name, ctx.dag_run_id, key, trigger)
    _log_plan(spec, ctx.dag_run_id, trigger)
    return TrainingPlan(trigger=trigger, batch_ids=tuple(batch_ids),
                        may_promote=the_plan.may_promote, dataset_key=key,
                        skip_reason=trigger.get("skipped"),
                        champion=champion_snapshot(svc, spec))


def dataset_key(store: Store, pipeline: str, batch_ids: Sequence[str]) -> str:
    """The name of a training set: its one batch, or a digest of its batches' contents."""
    if len(batch_ids) == 1:
        return batch_ids[0]
    digest = hashlib.sha256()
    for batch_id in batch_ids:
        record = store.get_batch(pipeline, batch_id)
        digest.update(f"{batch_id}\0{record.fingerprint if record else ''}\n".encode())
    return f"set-{digest.hexdigest()[:20]}"


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
                      arrived_at=r.arrived_at) for r in records]
