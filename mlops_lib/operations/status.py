"""`mlops status <pipeline>`: where a pipeline stands, and why new data has not retrained it.

The questions an operator asks after dropping a batch: was it accepted, did a run train on it,
and if not, what the run is waiting for (the trigger, `min_new_rows`, or the drift policy, whose
verdict is evaluated now, cooldown included, exactly as the drift monitor would).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from mlops_lib.monitoring.drift_policy import evaluate
from mlops_lib.operations.quarantine import QuarantinedBatch, quarantined
from mlops_lib.spec import PipelineSpec
from mlops_lib.stores.records import BatchRecord, ChampionRecord
from mlops_lib.stores.store import Store

RECENT = 5


@dataclass(frozen=True)
class ChampionView:
    version: str
    since: str
    age_s: float
    dag_run_id: str
    metric: str | None  # the decision's metric when it was promoted by a training run
    at_promotion: float | None  # its holdout value then
    realized: float | None  # its newest realized value on labelled rows, if any
    realized_window: str | None

    def text(self) -> str:
        promoted = ("" if self.metric is None or self.at_promotion is None else
                    f"; {self.metric} {self.at_promotion:.4g} at promotion")
        realized = ("" if self.realized is None else
                    f", realized {self.realized:.4g} ({self.realized_window})")
        return (f"v{self.version} since {self.since} (run {self.dag_run_id}), "
                f"age {age_text(self.age_s)}{promoted}{realized}")


@dataclass(frozen=True)
class BatchView:
    batch_id: str
    arrived_at: str
    status: str  # claimed | accepted | rejected
    reason_code: str | None
    reason: str | None

    def text(self) -> str:
        why = f" [{self.reason_code}] {self.reason or ''}".rstrip() if self.reason_code else ""
        return f"{self.batch_id} arrived {self.arrived_at}: {self.status}{why}"


@dataclass(frozen=True)
class AlertView:
    kind: str
    subject: str
    severity: str
    summary: str
    runbook: str
    created_at: str

    def text(self) -> str:
        return (f"{self.created_at}  {self.severity:<6} {self.kind} {self.subject}: "
                f"{self.summary} (runbook {self.runbook})")


@dataclass(frozen=True)
class PendingApproval:
    dag_run_id: str
    model_version: str
    since: str
    waiting_for: str  # "approval" (manual promotion) or "decision" (being judged)

    def text(self) -> str:
        return f"v{self.model_version} (run {self.dag_run_id}) waits for {self.waiting_for} " \
               f"since {self.since}"


@dataclass(frozen=True)
class PipelineStatus:
    pipeline: str
    champion: str
    last_decision: str | None
    recent_batches: tuple[str, ...]  # newest first, one line each
    untrained: str  # accepted batches no live run has trained on yet
    waiting_for: tuple[str, ...]  # what would start the next training run, cause by cause
    champion_detail: ChampionView | None = None
    last_batch: BatchView | None = None
    open_alerts: tuple[AlertView, ...] = ()
    pending_approvals: tuple[PendingApproval, ...] = ()
    quarantined: tuple[QuarantinedBatch, ...] = ()

    def lines(self) -> list[str]:
        more = "\n          "
        return [
            f"pipeline  {self.pipeline}",
            f"champion  {self.champion}",
            f"last batch {'none yet' if self.last_batch is None else self.last_batch.text()}",
            f"decision  {self.last_decision or 'none yet'}",
            "batches   " + (more.join(self.recent_batches) or "none yet"),
            "alerts    " + (more.join(a.text() for a in self.open_alerts) or "none open"),
            "approvals " + (more.join(p.text() for p in self.pending_approvals) or "none"),
            "quarantine " + (more.join(q.line() for q in self.quarantined) or "none"),
            f"untrained {self.untrained}",
            "next run  " + more.join(self.waiting_for),
        ]


def pipeline_status(store: Store, spec: PipelineSpec,
                    now: datetime | None = None) -> PipelineStatus:
    now = now or datetime.now(UTC)
    champion = store.get_champion(spec.name)
    decisions = store.decisions(spec.name)
    untrained = store.accepted_batches(spec.name, untrained_only=True)
    rows = sum(b.rows_accepted or 0 for b in untrained)
    recent = store.recent_batches(spec.name, RECENT)
    detail = None if champion is None else champion_view(store, champion, now)
    return PipelineStatus(
        pipeline=spec.name,
        champion="none yet" if detail is None else detail.text(),
        last_decision=None if not decisions else (
            f"{decisions[-1].decision.upper()} v{decisions[-1].candidate_version} "
            f"(run {decisions[-1].dag_run_id}) at {decisions[-1].created_at}: "
            f"{decisions[-1].reason}"),
        recent_batches=tuple(_batch_line(store, b) for b in recent),
        untrained=(f"{len(untrained)} accepted batch(es), {rows} rows: "
                   f"{', '.join(b.batch_id for b in untrained)}" if untrained else "none"),
        waiting_for=_waiting_for(store, spec, rows, has_untrained=bool(untrained),
                                 has_champion=champion is not None, now=now),
        champion_detail=detail,
        last_batch=None if not recent else BatchView(
            recent[0].batch_id, recent[0].arrived_at, recent[0].status, recent[0].reason_code,
            recent[0].reason),
        open_alerts=tuple(AlertView(a.kind, a.subject, a.severity, a.summary, a.runbook,
                                    a.created_at)
                          for a in store.alerts(spec.name, open_only=True)),
        pending_approvals=tuple(PendingApproval(
            str(r["dag_run_id"]), str(r["model_version"]), str(r["updated_at"]),
            "approval" if spec.promotion == "manual" else "decision")
            for r in store.undecided_runs(spec.name)),
        quarantined=tuple(quarantined(store, spec.name)))


def champion_view(store: Store, champion: ChampionRecord, now: datetime) -> ChampionView:
    """The champion with the metric it was promoted on and its newest realized value."""
    promoted = [d for d in store.decisions(champion.pipeline)
                if d.candidate_version == champion.model_version]
    decision = next((d for d in reversed(promoted) if d.promote),
                    promoted[-1] if promoted else None)
    realized = [w for w in store.performance(champion.pipeline,
                                             model_version=champion.model_version)
                if w.value is not None]
    newest = max(realized, key=lambda w: (w.scored_to or "", w.computed_at), default=None)
    return ChampionView(
        version=champion.model_version, since=champion.updated_at,
        age_s=max(0.0, (now - parse_time(champion.updated_at)).total_seconds()),
        dag_run_id=champion.dag_run_id,
        metric=None if decision is None else decision.metric,
        at_promotion=None if decision is None else decision.candidate_value,
        realized=None if newest is None else newest.value,
        realized_window=None if newest is None else f"{newest.window_kind} {newest.window_key}")


def parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def age_text(seconds: float) -> str:
    """`3d 4h`, `2h 5m`, `42s`: an age at a glance."""
    s = int(seconds)
    days, hours, minutes = s // 86400, s % 86400 // 3600, s % 3600 // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m" if minutes else f"{s}s"


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
