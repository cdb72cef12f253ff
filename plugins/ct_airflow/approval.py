"""`approve_promotion`: the human approval of a promotion (spec `promotion: manual`).

Airflow 3's HITL `ApprovalOperator` (Approve / Reject, answered in the UI's Required Actions or
through the REST API), with three changes for the training DAG:

- it asks only when the run would promote (`mlops_lib.evaluation.approval.approval_skip_reason`);
  otherwise it skips, and `promote_champion` (trigger rule `none_failed_min_one_success`)
  records the gate's decision without waiting for anyone;
- its body is the decision summary and the report links, rendered from the XComs of
  `evaluate_challenger` and `build_reports` when the task runs;
- a Reject (or the timeout, whose default is Reject) skips nothing: `promote_champion` always
  runs, reads the answer from this task's XCom and records it (`steps.decide`). The stock
  operator would skip `promote_champion`, and the rejection would go unrecorded;
- a retried try (Airflow runs tasks at least once) does not ask again when an earlier try of
  the task was answered: it takes that answer (`earlier_answer`). Airflow 3.3 can fail an
  instantly resumed task as "killed externally" and retry it, which would otherwise put the
  same question to the person a second time and wait until the timeout rejected it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.hitl import ApprovalOperator, HITLOperator
from airflow.sdk import Param
from airflow.sdk.definitions.param import ParamsDict
from airflow.sdk.exceptions import AirflowSkipException

if TYPE_CHECKING:
    from airflow.sdk import Context


class PromotionApprovalOperator(ApprovalOperator):
    """Ask a person to approve the promotion the gate decided; return their answer."""

    template_fields: Sequence[str] = (*ApprovalOperator.template_fields, "plan", "evaluation",
                                      "reports")

    def __init__(self, *, pipeline: str, plan: Any, evaluation: Any, reports: Any,
                 timeout_h: float = 72.0, params: Any = None, **kwargs: Any) -> None:
        # `params` holds the DAG's params (Airflow merges them in); the form is the task's own.
        form = params if isinstance(params, ParamsDict) else ParamsDict(params or {})
        form["comment"] = Param("", type="string", title="Comment", source="task",
                                description="Why; recorded with the decision.")
        super().__init__(
            subject=f"Promote the challenger of {pipeline}?",
            defaults=self.REJECT,  # what the timeout answers: a reject, recorded as such
            params=form, response_timeout=timedelta(hours=timeout_h), **kwargs)
        self.pipeline = pipeline
        self.timeout_h = timeout_h
        self.plan = plan
        self.evaluation = evaluation
        self.reports = reports

    def execute(self, context: Context) -> Any:
        from ct_airflow.tasks import _services
        from mlops_lib.evaluation.approval import approval_skip_reason, render_summary
        from mlops_lib.reports.index import index_key

        why_not = approval_skip_reason(self.evaluation, self.reports, self.plan)
        if why_not:
            raise AirflowSkipException(f"no approval needed: {why_not}")
        if (answered := self._earlier_answer(context)) is not None:
            return self.execute_complete(context, event=answered)
        settings = _services().settings
        evaluation = self.evaluation
        self.subject = (f"Promote {self.pipeline} v{evaluation['candidate_version']} "
                        f"({evaluation['metric']} {evaluation['candidate_value']:.4f} vs "
                        + ("no champion)" if evaluation.get("baseline_version") is None else
                           f"v{evaluation['baseline_version']} "
                           f"{evaluation['baseline_value']:.4f})"))
        self.body = render_summary(
            self.pipeline, evaluation, self.reports, timeout_h=self.timeout_h,
            s3_http_base=settings.s3_endpoint_url,
            index_uri=f"s3://{settings.artifact_bucket}/{index_key(self.pipeline)}")
        from ct_airflow.notifiers import approval_pending

        approval_pending(self.pipeline, _run_id(context), self.subject, self.timeout_h)
        return super().execute(context)

    def _earlier_answer(self, context: Context) -> dict[str, Any] | None:
        from ct_airflow.tasks import rest_api

        ti: Any = context.get("ti") or context.get("task_instance")
        if getattr(ti, "try_number", 1) <= 1:
            return None
        api = rest_api()
        if api is None:
            self.log.warning("Try %d: no ct_airflow_api connection to look for an earlier "
                             "answer; asking again", ti.try_number)
            return None
        return earlier_answer(api, ti.dag_id, ti.run_id, ti.task_id, ti.try_number,
                              -1 if ti.map_index is None else ti.map_index, log=self.log.info)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        # HITLOperator's, not ApprovalOperator's: validate and return, never skip downstream.
        from ct_airflow.notifiers import approval_answered

        answer = HITLOperator.execute_complete(self, context=context, event=event)
        approval_answered(self.pipeline, _run_id(context))
        approved = answer["chosen_options"] == [self.APPROVE] and not event.get("timedout")
        self.hitl_summary_extra["approved"] = approved
        user = answer.get("responded_by_user")
        self.log.info("%s by %s", "Approved" if approved else "Rejected",
                      user["name"] if user else "the timeout (no answer)")
        at = answer.get("responded_at")
        return {"chosen_options": list(answer["chosen_options"]),
                "params_input": dict(answer.get("params_input") or {}),
                "responded_at": at.isoformat() if hasattr(at, "isoformat") else at,
                "responded_by_user": dict(user) if user else None,
                "timed_out": bool(event.get("timedout"))}


def earlier_answer(api: Any, dag_id: str, run_id: str, task_id: str, try_number: int,
                   map_index: int = -1, *, log: Any = print) -> dict[str, Any] | None:
    """The newest answer given to an earlier try of the task, as the resume event Airflow
    would have delivered (`execute_complete`'s `event`); None when no earlier try was answered.
    An earlier try whose request is gone (404) or unreadable counts as unanswered."""
    for earlier in range(try_number - 1, 0, -1):
        try:
            detail = api.hitl_detail_of_try(dag_id, run_id, task_id, earlier,
                                            map_index=map_index)
        except Exception as exc:
            log(f"try {earlier}: no answer to read ({type(exc).__name__}: {exc})")
            continue
        if detail.get("response_received") and detail.get("chosen_options"):
            user = detail.get("responded_by_user")
            log(f"try {earlier} was answered {detail['chosen_options']} by "
                f"{user['name'] if user else 'nobody'}: taking that answer, not asking again")
            at = detail.get("responded_at")
            return {"chosen_options": list(detail["chosen_options"]),
                    "params_input": dict(detail.get("params_input") or {}),
                    "responded_at": datetime.fromisoformat(at.replace("Z", "+00:00"))
                    if isinstance(at, str) else at,
                    "responded_by_user": user, "timedout": False}
    return None


def _run_id(context: Any) -> str | None:
    ti = context.get("ti") or context.get("task_instance")
    run_id = context.get("run_id") or getattr(ti, "run_id", None)
    return None if run_id is None else str(run_id)
