"""`mlops status <pipeline>`: where a pipeline stands, and why new data has not retrained it.

The questions an operator asks after dropping a batch: was it accepted, did a run train on it,
and if not, what the run is waiting for (the trigger, `min_new_rows`, or the drift policy, whose
verdict is evaluated now, cooldown included, exactly as the drift monitor would).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from mlops_lib.monitoring.drift_policy import evaluate
from mlops_lib.spec import PipelineSpec
from mlops_lib.stores.records import BatchRecord
from mlops_lib.stores.store import Store

RECENT = 5


@dataclass(frozen=True)
class PipelineStatus:
    pipeline: str
    champion: str
    last_decision: str | None
    recent_batches: tuple[str, ...]  # newest first, one line each
    untrained: str  # accepted batches no live run has trained on yet
    waiting_for: tuple[str, ...]  # what would start the next training run, cause by cause

    def lines(self) -> list[str]:
        return [
            f"pipeline  {self.pipeline}",
            f"champion  {self.champion}",
            f"decision  {self.last_decision or 'none yet'}",
            "batches   " + ("\n          ".join(self.recent_batches) or "none yet"),
            f"untrained {self.untrained}",
            "next run  " + "\n          ".join(self.waiting_for),
        ]


def pipeline_status(store: Store, spec: PipelineSpec,
                    now: datetime | None = None) -> PipelineStatus:
    now = now or datetime.now(UTC)
    champion = store.get_champion(spec.name)
    decisions = store.decisions(spec.name)
    untrained = store.accepted_batches(spec.name, untrained_only=True)
    rows = sum(b.rows_accepted or 0 for b in untrained)
    return PipelineStatus(
        pipeline=spec.name,
        champion=("none yet" if champion is None else
                  f"v{champion.model_version} since {champion.updated_at} "
                  f"(run {champion.dag_run_id})"),
        last_decision=None if not decisions else (
            f"{decisions[-1].decision.upper()} v{decisions[-1].candidate_version} "
            f"(run {decisions[-1].dag_run_id}): {decisions[-1].reason}"),
        recent_batches=tuple(_batch_line(store, b) for b in
                             store.recent_batches(spec.name, RECENT)),
        untrained=(f"{len(untrained)} accepted batch(es), {rows} rows: "
                   f"{', '.join(b.batch_id for b in untrained)}" if untrained else "none"),
        waiting_for=_waiting_for(store, spec, rows, has_untrained=bool(untrained),
                                 has_champion=champion is not None, now=now))


def _batch_line(store: Store, batch: BatchRecord) -> str:
    if batch.status == "rejected":
        what = f"quarantined [{batch.reason_code}] {batch.reason or ''}".rstrip()
    elif batch.status == "accepted":
        runs = [r["dag_run_id"] for r in store.training_runs_of_batch(batch.pipeline,
                                                                      batch.batch_id)
                if r["live"]]
        what = (f"accepted, {batch.rows_accepted} rows, "
                + (f"trained by {runs[0]}" if runs else "not trained yet"))
    else:
        what = batch.status
    return f"{batch.batch_id}  arrived {batch.arrived_at}  {what}"


def _waiting_for(store: Store, spec: PipelineSpec, rows: int, *, has_untrained: bool,
                 has_champion: bool, now: datetime) -> tuple[str, ...]:
    trigger = spec.trigger
    reasons: list[str] = []
    if has_untrained and trigger.min_new_rows and rows < trigger.min_new_rows:
        reasons.append(f"min_new_rows: {rows} of {trigger.min_new_rows} new rows; a run "
                       "waits for more data (a manual run with force trains now)")
    if "arrival" in trigger.retrain_on:
        reasons.append("arrival: the next accepted batch starts a run")
    if "drift" in trigger.retrain_on:
        reasons.append("drift: " + _drift_now(store, spec, has_champion=has_champion, now=now))
    if trigger.schedule:
        reasons.append(f"schedule: {trigger.schedule} (UTC) takes whatever is untrained")
    reasons.append("manual: `mlops trigger " + spec.name + " --reason ...`")
    return tuple(reasons)


def _drift_now(store: Store, spec: PipelineSpec, *, has_champion: bool, now: datetime) -> str:
    if not has_champion:
        return "no champion yet: the next accepted batch trains the first model"
    history = store.drift_history(spec.name)
    if history:  # the newest batch's crossing starts the cooldown it would otherwise report
        newest = history[-1].batch_id
        announced = next((c for c in store.drift_crossings(spec.name)
                          if c["batch_id"] == newest), None)
        if announced is not None:
            return (f"retrain announced at {announced['created_at']} on batch {newest}: "
                    f"{announced['reason']}")
    last = store.last_drift_crossing(spec.name)
    verdict = evaluate(history, spec.trigger.drift,
                       last_crossing_at=None if last is None else str(last["created_at"]),
                       now=now)
    if verdict.crossed:
        return f"retrain due (the drift monitor announces it): {verdict.reason}"
    return f"no retrain: {verdict.reason}"
