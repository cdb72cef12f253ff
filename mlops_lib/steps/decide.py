"""The end and the start of a training run: record the decision (moving the champion on
promote), and make MLflow's `champion` alias say what the store says.

Light: these read no data. MLflow is imported when the registry is first used.
"""

from __future__ import annotations

import logging

from mlops_lib.evaluation.approval import ApprovalOutcome, apply_approval
from mlops_lib.operations.champion import follow_alias, reconcile
from mlops_lib.services import Services
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps.records import Decision, Evaluation, ReconcileResult, ReportSet, TrainingPlan
from mlops_lib.steps.shared import remove_scratch
from mlops_lib.stores.registry import CHAMPION
from mlops_lib.stores.store import DecisionRecord

log = logging.getLogger(__name__)


def decide(svc: Services, spec: PipelineSpec, plan: TrainingPlan, evaluation: Evaluation,
           reports: ReportSet, dag_run_id: str,
           approval: ApprovalOutcome | None = None) -> Decision:
    """Record the decision and, on promote, move the champion: one transaction, then the alias.

    No promotion without the run's reports: a failed report turns promote into keep. A shadow
    run (a backfill) records `shadow` where the gate said promote. A champion that moved since
    the evaluation makes this run's promote `superseded`. With `promotion: manual`, a promote
    needs `approval` (the person's answer, recorded in the details): a reject or a timeout
    records `rejected`, and an approved move is audited under the approver's name. With
    `promotion.require_live_rows`, a promote over a champion records `pending_live` and waits
    for its judgement on live rows (`steps.live_judgement`).
    """
    decision, reason = evaluation.decision, evaluation.reason
    if decision == "promote" and reports.error:
        decision, reason = "keep", f"no promotion: report missing ({reports.error})"
    if decision == "promote":
        shadow = _shadow_reason(svc, spec, plan)
        if shadow:
            decision, reason = "shadow", f"{reason}; not promoted: {shadow}"
    if decision == "promote" and spec.require_live_rows and evaluation.baseline_version:
        decision = "pending_live"  # steps.live_judgement decides once the live rows exist
        reason = (f"{reason}; waits for {spec.require_live_rows} labelled rows scored by both "
                  "it (in shadow) and the champion (promotion.require_live_rows)")
    actor, approved = run_actor(plan), None
    if spec.promotion == "manual":
        approved = apply_approval(decision, reason, approval, timeout_h=spec.approval_timeout_h)
        decision, reason, actor = approved.decision, approved.reason, approved.actor
    record, moved = svc.store.record_decision_and_move(DecisionRecord(
        pipeline=spec.name, dag_run_id=dag_run_id,
        candidate_version=evaluation.candidate_version,
        baseline_version=evaluation.baseline_version, metric=evaluation.metric,
        candidate_value=evaluation.candidate_value,
        baseline_value=evaluation.baseline_value, decision=decision, reason=reason,
        data_rev=evaluation.data_rev,
        details={**evaluation.verdict, "judged_on": "holdout",
                 "holdout_rows": evaluation.holdout_rows,
                 "champion_epoch": evaluation.champion_epoch,
                 "reports": dict(reports.reports)}
        | ({"approval": approved.approval} if approved and approved.approval else {})),
        expected_epoch=evaluation.champion_epoch, actor=actor)
    after_decision(svc, spec, dag_run_id, record, moved)
    remove_scratch(svc, spec, dag_run_id)
    return Decision(decision=record.decision, reason=record.reason, metric=record.metric,
                    candidate_version=record.candidate_version,
                    candidate_value=record.candidate_value,
                    baseline_version=record.baseline_version,
                    baseline_value=record.baseline_value, moved=moved)


def after_decision(svc: Services, spec: PipelineSpec, dag_run_id: str, record: DecisionRecord,
                   moved: bool) -> None:
    """Tag the MLflow run, make the alias follow the store, republish the index page, and
    raise or resolve the alerts the decision answers."""
    from mlops_lib.alerting import events

    events.decided(svc.store, svc.settings, spec, record, moved)
    run = svc.store.get_training_run(spec.name, dag_run_id)
    if run and run.get("mlflow_run_id"):
        svc.registry.log_run_data(run["mlflow_run_id"], tags={
            "ct.decision": record.decision, "ct.decision_reason": record.reason[:5000]})
    log.info("Decision: %s v%s. %s", record.decision.upper(), record.candidate_version,
             record.reason)
    synced = follow_alias(svc, spec.name)  # a move that happened is never failed over the alias
    if record.promote and not synced.pending:
        log.info("%s v%s is @%s (store epoch %s)", spec.registered_model_name,
                 record.candidate_version, CHAMPION, "moved now" if moved else "already")
    elif synced.changed:
        log.warning("Alias repaired to the store's champion v%s", synced.store_version)
    try:  # the index page is a convenience: a failure to publish it changes no decision
        from mlops_lib.reports.index import publish_index

        log.info("Report index: %s", publish_index(svc, spec))
    except Exception as exc:
        log.error("Report index not published: %s: %s", type(exc).__name__, exc)


def reconcile_champion(svc: Services, spec: PipelineSpec) -> ReconcileResult:
    """Start of every run: the alias must say what the store says before anything else."""
    result = reconcile(svc, spec.name)
    return ReconcileResult(champion=result.store_version, alias_before=result.alias_before,
                           repaired=result.changed)


def _shadow_reason(svc: Services, spec: PipelineSpec, plan: TrainingPlan) -> str | None:
    """Why a run that the gate would promote must not move the champion, if it must not."""
    trigger = plan.trigger
    if not plan.may_promote:
        return (f"{trigger.get('type', 'this')} runs are shadow runs (decision recorded, "
                "champion kept); give the run promote=true to let it promote")
    if trigger.get("type") != "backfill":
        return None
    champion = svc.store.get_champion(spec.name)
    if champion is None:
        return None
    run = svc.store.get_training_run(spec.name, champion.dag_run_id)
    theirs = (run or {}).get("trigger", {}).get("data_watermark")
    ours = trigger.get("data_watermark")
    if theirs and ours and ours <= theirs:
        return (f"backfilled data (arrived up to {ours}) is not newer than the champion's "
                f"(arrived up to {theirs})")
    return None


def run_actor(plan: TrainingPlan) -> str:
    """Who a champion move of this run is audited under: the user who started a manual or
    backfill run ("pipeline" when Airflow does not say), the pipeline itself otherwise."""
    if plan.trigger.get("type") in ("manual", "backfill") and plan.trigger.get("user"):
        return str(plan.trigger["user"])
    return "pipeline"
