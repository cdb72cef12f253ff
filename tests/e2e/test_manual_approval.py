"""Manual promotion on the real local stack: a pipeline with `promotion: manual` trains on a good
batch, and its training run waits in Airflow's Human-in-the-loop `approve_promotion` task (state
`awaiting_input`) showing the gate's decision and the report links; nothing moves until a person
answers. Approved through the REST API as `ct_service`, the run promotes, and the decision row,
the champion's audit row and `mlops history` name the approver.
"""

from __future__ import annotations

import time

import pytest

from mlops_dev.demo import drop_batch, wait_for_batch
from mlops_dev.devstack import SERVICE_USER
from mlops_lib import cli
from mlops_lib.stores.registry import CHAMPION
from tests.e2e.live import LiveStack
from tests.e2e.pipelines import MANUAL as PIPELINE

pytestmark = pytest.mark.e2e
SHARED_STACK = "s3rver"  # the default stack, shared with test_cycle (tests/e2e/conftest.py)

DAG_ID = f"ct_{PIPELINE}"
TASK = "approve_promotion"
TIMEOUT = 420  # the first run also waits for the DAG to be parsed
# A person answers minutes after the request, once the scheduler has long seen the parked
# worker exit. Answering within a second of the park races that exit in Airflow 3.3 (the
# resumed task can be failed as "killed externally" and retried, asking again), so the test
# answers only after the task has stayed parked this long.
PARKED_FOR = 15.0


def wait_for_approval_request(stack: LiveStack, batch_id: str, timeout: float) -> str:
    """The training run that took the batch, once its approval task waits for an answer."""
    deadline = time.monotonic() + timeout
    parked_since: float | None = None
    while time.monotonic() < deadline:
        for run in stack.store.training_runs_of_batch(PIPELINE, batch_id):
            states = {t["task_id"]: t["state"]
                      for t in stack.api.task_instances(DAG_ID, run["dag_run_id"])}
            if states.get(TASK) == "awaiting_input":
                parked_since = parked_since or time.monotonic()
                if time.monotonic() - parked_since >= PARKED_FOR:
                    return str(run["dag_run_id"])
                break
            assert "failed" not in states.values(), states
            assert stack.store.get_decision(PIPELINE, run["dag_run_id"]) is None, states
        time.sleep(2)
    raise TimeoutError(f"no run of {DAG_ID} asked for an approval after {timeout:.0f}s")


def test_a_manual_promotion_waits_for_approval_and_records_the_approver(
        stack: LiveStack, capsys: pytest.CaptureFixture[str]) -> None:
    dropped = drop_batch(PIPELINE, rows=3000, seed=401, settings=stack.settings)

    run_id = wait_for_approval_request(stack, dropped.batch_id, TIMEOUT)

    # Waiting: no decision, no champion; the request shows the decision and the reports.
    assert stack.store.get_decision(PIPELINE, run_id) is None
    assert stack.store.get_champion(PIPELINE) is None
    request = stack.api.hitl_detail(DAG_ID, run_id, TASK)
    assert request["options"] == ["Approve", "Reject"] and request["defaults"] == ["Reject"]
    assert not request["response_received"]
    body = request["body"]
    assert "the gate says **PROMOTE**" in body and "roc_auc (primary)" in body, body
    assert "data_summary.html" in body and "/reports/data_summary.html)" in body, body
    assert f"reports/{PIPELINE}/index.html" in body, body

    answer = stack.service_api().respond_hitl(DAG_ID, run_id, TASK, ["Approve"],
                                              {"comment": "checked the drift report"})
    assert answer["responded_by"]["name"] == SERVICE_USER

    outcome = wait_for_batch(stack.store, PIPELINE, dropped.batch_id, timeout=TIMEOUT,
                             api=stack.api)
    assert outcome.dag_run_id == run_id
    assert outcome.dag_run_state == "success", outcome.reason
    states = {t["task_id"]: t["state"] for t in stack.api.task_instances(DAG_ID, run_id)}
    assert set(states.values()) == {"success"}, states
    decision = outcome.decision
    assert decision is not None and decision.promote, decision
    assert decision.reason.startswith(f"approved by {SERVICE_USER}: checked the drift report")
    approval = decision.details["approval"]
    assert (approval["status"], approval["user"]) == ("approved", SERVICE_USER), approval
    assert approval["comment"] == "checked the drift report" and approval["responded_at"]
    champion = stack.store.get_champion(PIPELINE)
    assert champion is not None and champion.model_version == decision.candidate_version
    assert stack.registry.alias_version(DAG_ID, CHAMPION) == decision.candidate_version
    [move] = stack.store.champion_moves(PIPELINE)
    assert move["actor"] == SERVICE_USER and move["dag_run_id"] == run_id

    assert cli.main(["history", PIPELINE]) == 0
    history = capsys.readouterr().out
    assert f"approval: approved by {SERVICE_USER}" in history, history
    assert f"by {SERVICE_USER}: approved by {SERVICE_USER}" in history, history
