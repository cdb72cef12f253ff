"""Human approval of a promotion (`promotion: manual`): the answer of Airflow's HITL approval
task turned into the recorded decision (evaluation.approval), and `steps.decide` recording it
with the approver, on a real store and a fake registry."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from mlops_lib.evaluation.approval import (
    APPROVE,
    REJECT,
    ApprovalOutcome,
    apply_approval,
    approval_skip_reason,
    render_summary,
)
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps.decide import decide, run_actor
from mlops_lib.steps.records import Evaluation, ReportSet, TrainingPlan
from mlops_lib.stores.store import Store
from tests.support import migrated

pytestmark = pytest.mark.unit

GATE = "challenger roc_auc=0.9031 vs champion 0.8767: improvement +0.0264"


def response(option: str, user: str | None = "alice", **extra: Any) -> dict[str, Any]:
    """What `approve_promotion` returns (ct_airflow.approval.PromotionApprovalOperator)."""
    return {"chosen_options": [option], "params_input": extra.pop("params_input", {}),
            "responded_at": "2026-11-24T01:30:00+00:00",
            "responded_by_user": None if user is None else {"id": user, "name": user},
            "timed_out": False, **extra}


# --- the answer --------------------------------------------------------------------------------


def test_an_approval_names_its_user() -> None:
    outcome = ApprovalOutcome.from_response(response(APPROVE,
                                                     params_input={"comment": " looks good "}))
    assert outcome == ApprovalOutcome(approved=True, user="alice", user_id="alice",
                                      responded_at="2026-11-24T01:30:00+00:00",
                                      comment="looks good")
    assert outcome.status == "approved"
    assert outcome.to_dict()["status"] == "approved"


def test_a_datetime_response_time_becomes_iso() -> None:
    at = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)
    outcome = ApprovalOutcome.from_response({**response(REJECT), "responded_at": at})
    assert outcome.responded_at == at.isoformat() and outcome.status == "rejected"


def test_a_timeout_never_approves() -> None:
    """The timeout answers the default (Reject) with no user; even an Approve without a user
    (a default someone changed) is no approval."""
    timed_out = ApprovalOutcome.from_response(response(REJECT, user=None, timed_out=True))
    assert (timed_out.approved, timed_out.timed_out, timed_out.user) == (False, True, None)
    assert timed_out.status == "timed_out"
    assert not ApprovalOutcome.from_response(response(APPROVE, user=None)).approved


# --- the decision ------------------------------------------------------------------------------


def test_approved_promotes_as_the_approver() -> None:
    outcome = ApprovalOutcome(approved=True, user="alice", comment="ship it")
    result = apply_approval("promote", GATE, outcome, timeout_h=72)
    assert result.decision == "promote"
    assert result.reason == f"approved by alice: ship it; {GATE}"
    assert result.actor == "alice"
    assert result.approval is not None and result.approval["user"] == "alice"


def test_rejected_keeps_the_champion_and_says_who() -> None:
    outcome = ApprovalOutcome(approved=False, user="bob", comment="wait for Q4 data")
    result = apply_approval("promote", GATE, outcome, timeout_h=72)
    assert result.decision == "rejected"
    assert result.reason.startswith("rejected by bob: wait for Q4 data; not promoted")
    assert GATE in result.reason and result.actor == "pipeline"
    assert result.approval == {"status": "rejected", **outcome.__dict__}


def test_a_timeout_is_a_reject() -> None:
    outcome = ApprovalOutcome(approved=False, timed_out=True)
    result = apply_approval("promote", GATE, outcome, timeout_h=1.5)
    assert result.decision == "rejected"
    assert "no answer within approval_timeout_h 1.5 h" in result.reason
    assert result.approval is not None and result.approval["status"] == "timed_out"


def test_a_promote_without_an_answer_fails_closed() -> None:
    result = apply_approval("promote", GATE, None, timeout_h=72)
    assert result.decision == "keep" and "no approval was recorded" in result.reason
    assert result.approval == {"status": "missing"}


@pytest.mark.parametrize("decision", ["keep", "shadow"])
def test_other_decisions_need_no_approval(decision: str) -> None:
    result = apply_approval(decision, GATE, None, timeout_h=72)
    assert (result.decision, result.reason, result.approval) == (decision, GATE, None)
    answered = apply_approval(decision, GATE, ApprovalOutcome(approved=True, user="a"),
                              timeout_h=72)
    assert answered.decision == decision and answered.approval is not None


def test_approval_is_asked_only_when_the_run_would_promote() -> None:
    plan = {"may_promote": True}
    assert approval_skip_reason({"decision": "promote"}, {}, plan) is None
    assert "gate says keep" in str(approval_skip_reason({"decision": "keep"}, {}, plan))
    assert "report missing" in str(approval_skip_reason({"decision": "promote"},
                                                        {"error": "boom"}, plan))
    assert "shadow" in str(approval_skip_reason({"decision": "promote"}, {},
                                                {"may_promote": False}))


# --- what the approver sees --------------------------------------------------------------------


def evaluation(decision: str = "promote") -> dict[str, Any]:
    return {
        "candidate_version": "3", "baseline_version": "2", "champion_epoch": 2,
        "data_rev": "abc", "decision": decision, "reason": GATE, "metric": "roc_auc",
        "candidate_value": 0.9031, "baseline_value": 0.8767, "holdout_rows": 1000,
        "verdict": {
            "decision": decision, "reasons": [GATE, "no slice guardrail violated"],
            "metric": "roc_auc", "direction": "maximize",
            "candidate_metrics": {"roc_auc": 0.9031, "log_loss": 0.31},
            "baseline_metrics": {"roc_auc": 0.8767, "log_loss": 0.35},
            "bootstrap": {"diff": 0.0264, "ci_low": 0.0148, "ci_high": 0.0388,
                          "confidence": 0.95, "improvement_low": 0.0148, "n_boot": 1000,
                          "n_valid": 1000},
            "slices": [{"column": "region", "value": "north", "status": "ok"},
                       {"column": "region", "value": "south", "status": "violated"}]},
        "performance_reports": {"model_performance.html": "s3://art/reports/p/r/mp.html"}}


REPORTS = {"reports": {"data_drift.html": "s3://art/reports/p/r/data_drift.html",
                       "data_drift.json": "s3://art/reports/p/r/data_drift.json"},
           "run_page": "http://mlflow/#/experiments/1/runs/abc/artifacts"}


def test_the_summary_shows_the_decision_numbers_and_report_links() -> None:
    body = render_summary("credit_default", evaluation(), REPORTS, timeout_h=72,
                          s3_http_base="http://127.0.0.1:9000",
                          index_uri="s3://art/reports/credit_default/index.html")
    assert "**PROMOTE** challenger v3 (champion v2)" in body
    assert "| roc_auc (primary) | 0.9031 | 0.8767 |" in body
    assert "95% CI [+0.0148, +0.0388]" in body
    assert "2 checked, 1 violated: region=south" in body
    assert f"- {GATE}" in body and "- no slice guardrail violated" in body
    assert ("[MLflow](http://mlflow/#/experiments/1/runs/abc/artifacts/reports/"
            "data_drift.html)") in body
    assert "[http](http://127.0.0.1:9000/art/reports/p/r/data_drift.html)" in body
    assert "model_performance.html" in body and "data_drift.json" not in body
    assert "`s3://art/reports/credit_default/index.html`" in body
    assert "no answer within 72 h, keeps champion v2" in body


def test_the_summary_of_a_first_model() -> None:
    first = evaluation()
    first.update(baseline_version=None, baseline_value=None)
    first["verdict"].update(baseline_metrics=None, bootstrap=None, slices=[])
    body = render_summary("credit_default", first, {}, timeout_h=24)
    assert "(no champion yet)" in body and "| roc_auc (primary) | 0.9031 | n/a |" in body


# --- steps.decide records it -------------------------------------------------------------------


class FakeRegistry:
    """The MLflow alias, in memory: `reconcile` makes it follow the store."""

    def __init__(self) -> None:
        self.aliases: dict[tuple[str, str], str] = {}

    def alias_version(self, name: str, alias: str) -> str | None:
        return self.aliases.get((name, alias))

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.aliases[(name, alias)] = version

    def delete_alias(self, name: str, alias: str) -> None:
        self.aliases.pop((name, alias), None)


class FakeS3:
    def put_object(self, **kwargs: Any) -> None:  # the report index page
        pass


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Any]:
    store = Store(migrated(f"sqlite:///{tmp_path / 'store.db'}"))
    yield SimpleNamespace(store=store, registry=FakeRegistry(), s3=FakeS3(),
                          settings=SimpleNamespace(artifact_bucket="art", s3_endpoint_url=None,
                                                   mlflow_tracking_uri="http://mlflow"))
    store.engine.dispose()


def first_model() -> dict[str, Any]:
    first = evaluation()
    first.update(baseline_version=None, baseline_value=None, champion_epoch=0)
    return first


PLAN = {"trigger": {"type": "arrival"}, "may_promote": True}


def decide_inputs() -> tuple[TrainingPlan, Evaluation, ReportSet]:
    """PLAN, the first model's evaluation and REPORTS, as the records `decide` takes."""
    return (TrainingPlan(trigger=PLAN["trigger"], batch_ids=("b1",), may_promote=True,
                         dataset_key="b1", skip_reason=None, champion=None),
            Evaluation(**first_model()), ReportSet(**REPORTS))


def test_decide_promotes_an_approved_run_as_the_approver(svc: Any,
                                                         spec: PipelineSpec) -> None:
    manual = replace(spec, promotion="manual")
    outcome = ApprovalOutcome.from_response(response(APPROVE, user="ct_service"))

    result = decide(svc, manual, *decide_inputs(), "run-1", approval=outcome)

    assert result.decision == "promote" and result.moved
    champion = svc.store.get_champion(spec.name)
    assert champion is not None and champion.model_version == "3"
    [move] = svc.store.champion_moves(spec.name)
    assert move["actor"] == "ct_service"
    record = svc.store.get_decision(spec.name, "run-1")
    assert record.reason.startswith("approved by ct_service; ")
    assert record.details["approval"]["user"] == "ct_service"
    assert record.details["approval"]["status"] == "approved"


def test_decide_records_a_rejection_and_moves_nothing(svc: Any, spec: PipelineSpec) -> None:
    manual = replace(spec, promotion="manual")
    outcome = ApprovalOutcome.from_response(response(REJECT, user="bob",
                                                     params_input={"comment": "not now"}))

    result = decide(svc, manual, *decide_inputs(), "run-1", approval=outcome)

    assert result.decision == "rejected" and not result.moved
    assert svc.store.get_champion(spec.name) is None
    assert svc.store.champion_moves(spec.name) == []
    record = svc.store.get_decision(spec.name, "run-1")
    assert record.reason.startswith("rejected by bob: not now; not promoted")
    assert record.details["approval"] == {
        "status": "rejected", "approved": False, "user": "bob", "user_id": "bob",
        "responded_at": "2026-11-24T01:30:00+00:00", "timed_out": False, "comment": "not now"}


def test_a_manual_runs_move_is_audited_under_the_user_who_started_it(
        svc: Any, spec: PipelineSpec) -> None:
    plan, evaluated, reports = decide_inputs()
    manual = replace(plan, trigger={"type": "manual", "user": "alice", "reason": "new data"})
    assert decide(svc, spec, manual, evaluated, reports, "run-1").moved
    assert [m["actor"] for m in svc.store.champion_moves(spec.name)] == ["alice"]
    # a scheduled or arrival run's move is the pipeline's own
    assert run_actor(plan) == "pipeline"
    assert run_actor(replace(plan, trigger={"type": "manual", "user": None})) == "pipeline"


def test_decide_in_auto_mode_needs_no_approval(svc: Any, spec: PipelineSpec) -> None:
    result = decide(svc, spec, *decide_inputs(), "run-1")
    assert result.decision == "promote" and result.moved
    assert "approval" not in svc.store.get_decision(spec.name, "run-1").details


# --- the Airflow side: ct_airflow.approval.PromotionApprovalOperator ---------------------------


def approval_operator() -> Any:
    """The approval task with promote_champion downstream, as in a manual pipeline's DAG."""
    from tests.support import isolate_airflow_home

    isolate_airflow_home()  # before the first Airflow import
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG
    from ct_airflow.approval import PromotionApprovalOperator

    with DAG("ct_credit_default", schedule=None, start_date=datetime(2026, 1, 1)):
        op = PromotionApprovalOperator(task_id="approve_promotion", pipeline="credit_default",
                                       plan=PLAN, evaluation=evaluation(), reports=REPORTS,
                                       timeout_h=12)
        op >> EmptyOperator(task_id="promote_champion")
    return op


def test_the_operator_asks_with_the_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    op = approval_operator()
    import ct_airflow.tasks
    from airflow.providers.standard.operators import hitl
    from airflow.sdk.exceptions import TaskAwaitingInput

    asked: dict[str, Any] = {}
    monkeypatch.setattr(hitl, "upsert_hitl_detail", lambda **kw: asked.update(kw))
    monkeypatch.setattr(ct_airflow.tasks, "_services", lambda: SimpleNamespace(
        settings=SimpleNamespace(s3_endpoint_url="http://s3", artifact_bucket="art")))

    with pytest.raises(TaskAwaitingInput) as parked:
        op.execute({"task_instance": SimpleNamespace(id="ti-1")})

    assert parked.value.timeout.total_seconds() == 12 * 3600
    assert asked["options"] == [APPROVE, REJECT] and asked["defaults"] == [REJECT]
    assert asked["subject"] == "Promote credit_default v3 (roc_auc 0.9031 vs v2 0.8767)"
    assert "**PROMOTE** challenger v3" in asked["body"]
    assert "[http](http://s3/art/reports/credit_default/index.html)" in asked["body"]
    assert set(asked["params"]) == {"comment"}  # the form: not the DAG's params


def test_the_operator_does_not_ask_when_the_gate_keeps() -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    op = approval_operator()
    op.evaluation = evaluation("keep")
    with pytest.raises(AirflowSkipException, match="gate says keep"):
        op.execute({"task_instance": SimpleNamespace(id="ti-1")})


@pytest.mark.parametrize(("event", "status"), [
    ({"chosen_options": [REJECT], "params_input": {"comment": "not now"},
      "responded_by_user": {"id": "bob", "name": "bob"}, "timedout": False}, "rejected"),
    ({"chosen_options": [APPROVE], "params_input": {"comment": ""},
      "responded_by_user": {"id": "ann", "name": "ann"}, "timedout": False}, "approved"),
    ({"chosen_options": [REJECT], "params_input": {"comment": ""},
      "responded_by_user": None, "timedout": True}, "timed_out"),
], ids=["reject", "approve", "timeout"])
def test_the_operator_returns_the_answer_and_skips_nothing(event: dict[str, Any],
                                                          status: str) -> None:
    op = approval_operator()
    skipped: list[Any] = []
    op.skip = lambda **kw: skipped.append(kw)  # ApprovalOperator skips downstream on Reject
    at = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)
    returned = op.execute_complete({"ti": SimpleNamespace(), "task": op},
                                   {**event, "responded_at": at})

    assert skipped == []  # promote_champion runs and records the answer
    assert returned["responded_at"] == at.isoformat() and returned["timed_out"] == (
        status == "timed_out")
    outcome = ApprovalOutcome.from_response(returned)
    assert outcome.status == status
    assert outcome.user == (event["responded_by_user"] or {}).get("name")


_KEEP_DAG = r'''
import json
from datetime import datetime

from airflow.sdk import DAG, task
from ct_airflow.approval import PromotionApprovalOperator

def plan_training():
    return {"may_promote": True}

def evaluate_challenger():
    return {"decision": "keep", "reason": "no gain"}

def build_reports():
    return {"reports": {}}

def promote_champion(plan, evaluation, reports, approval=None):
    return {"decision": evaluation["decision"], "approval": approval}

# The wiring of dags/ct_pipelines.py for `promotion: manual` (its trigger rule is asserted by
# tests/unit/test_dag_integrity.py).
with DAG("ct_p", start_date=datetime(2026, 1, 1), schedule=None) as dag:
    plan, evaluation, reports = (task(f)() for f in (plan_training, evaluate_challenger,
                                                     build_reports))
    approval = PromotionApprovalOperator(task_id="approve_promotion", pipeline="p", plan=plan,
                                         evaluation=evaluation, reports=reports)
    task(promote_champion, trigger_rule="none_failed_min_one_success")(
        plan, evaluation, reports, approval.output)

if __name__ == "__main__":
    from airflow.utils.db import initdb

    initdb()
    run = dag.test()
    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    print("@@JSON@@" + json.dumps({
        "states": {k: str(ti.state) for k, ti in tis.items()},
        "promoted": tis["promote_champion"].xcom_pull(task_ids="promote_champion")}))
'''


@pytest.mark.integration  # runs Airflow (dag.test() in a fresh interpreter)
def test_a_gate_that_keeps_asks_nobody_and_still_records(tmp_path: Path) -> None:
    """Through Airflow (`dag.test()`, fresh interpreter and metadata DB): the approval task
    skips itself when the gate keeps, and promote_champion still runs, with no answer."""
    from tests.support import run_dag_file

    out = run_dag_file(tmp_path, _KEEP_DAG)

    assert out["states"]["approve_promotion"] == "skipped"
    assert out["states"]["promote_champion"] == "success"
    assert out["promoted"] == {"decision": "keep", "approval": None}


class TriedApi:
    """Airflow's answers per earlier try of the approval task (None: that try's is gone)."""

    def __init__(self, tries: dict[int, dict[str, Any] | None]) -> None:
        self.tries, self.asked = tries, []

    def hitl_detail_of_try(self, dag_id: str, run_id: str, task_id: str, try_number: int, *,
                           map_index: int = -1) -> dict[str, Any]:
        self.asked.append(try_number)
        detail = self.tries[try_number]
        if detail is None:
            raise OSError("HTTP Error 404: Not Found")
        return detail


ANSWERED = {"response_received": True, "chosen_options": [APPROVE],
            "params_input": {"comment": "ok"}, "responded_at": "2026-12-05T02:00:00Z",
            "responded_by_user": {"id": "ann", "name": "ann"}}
UNANSWERED = {"response_received": False, "chosen_options": None}


def test_a_retry_takes_the_answer_an_earlier_try_got() -> None:
    from ct_airflow.approval import earlier_answer

    api = TriedApi({1: ANSWERED, 2: UNANSWERED})
    event = earlier_answer(api, "ct_p", "run-1", "approve_promotion", 3, log=lambda _: None)
    assert api.asked == [2, 1]  # newest first
    assert event is not None and event["chosen_options"] == [APPROVE]
    assert event["responded_at"] == datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
    assert event["responded_by_user"]["name"] == "ann" and event["timedout"] is False

    assert earlier_answer(TriedApi({1: None, 2: UNANSWERED}), "ct_p", "run-1",
                          "approve_promotion", 3, log=lambda _: None) is None


def test_the_operator_on_a_retry_does_not_ask_again(monkeypatch: pytest.MonkeyPatch) -> None:
    op = approval_operator()
    import ct_airflow.tasks
    from airflow.providers.standard.operators import hitl

    asked: list[Any] = []
    monkeypatch.setattr(hitl, "upsert_hitl_detail", lambda **kw: asked.append(kw))
    monkeypatch.setattr(ct_airflow.tasks, "rest_api", lambda: TriedApi({1: ANSWERED}))
    ti = SimpleNamespace(id="ti-1", try_number=2, dag_id="ct_credit_default", run_id="run-1",
                         task_id="approve_promotion", map_index=-1)

    returned = op.execute({"ti": ti, "task_instance": ti, "task": op})

    assert asked == []  # no second question
    outcome = ApprovalOutcome.from_response(returned)
    assert (outcome.status, outcome.user) == ("approved", "ann")
