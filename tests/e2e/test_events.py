"""Events mode on the real local stack: S3 bucket notification → SQS → Airflow's AssetWatcher
(the amazon provider's SqsSensorTrigger, in the triggerer) → the ingest DAG.

The stack runs moto's server as S3 *and* SQS (`CT_S3_SERVER=moto`); `mlops stack up` creates
the pipeline's queue and the bucket's notification (marker keys only). A batch dropped with
boto3 must start exactly one ingest run, by an asset event, and train once; the same batch
uploaded again must start nothing that trains.
"""

from __future__ import annotations

import time

import pytest

from mlops_dev.demo import drop_batch, wait_for_batch
from mlops_lib.stores.registry import CHAMPION
from tests.e2e.live import LiveStack
from tests.e2e.pipelines import EVENTS as PIPELINE

pytestmark = pytest.mark.e2e
SHARED_STACK = "moto"  # S3 + SQS, shared with test_bad_inputs (tests/e2e/conftest.py)

TIMEOUT = 420


def ingest_runs(stack: LiveStack) -> list[dict[str, object]]:
    return stack.api.dag_runs(f"ct_{PIPELINE}_ingest", limit=100)


def test_a_notification_runs_ingest_once_and_trains_once(stack: LiveStack) -> None:
    dropped = drop_batch(PIPELINE, rows=3000, seed=301, settings=stack.settings)

    outcome = wait_for_batch(stack.store, PIPELINE, dropped.batch_id, timeout=TIMEOUT,
                             api=stack.api)

    assert outcome.dag_run_state == "success", outcome.reason
    runs = ingest_runs(stack)
    [run] = [r for r in runs if r["dag_run_id"] == outcome.ingest_run_id]
    assert run["run_type"] == "asset_triggered" and run["state"] == "success"
    decision = stack.store.get_decision(PIPELINE, outcome.dag_run_id)
    assert decision is not None and decision.promote
    assert stack.registry.alias_version(f"ct_{PIPELINE}", CHAMPION) == decision.candidate_version
    trained = stack.store.training_runs_of_batch(PIPELINE, dropped.batch_id)
    assert [r["dag_run_id"] for r in trained] == [outcome.dag_run_id]

    # The same bytes again: a notification arrives, the run finds nothing new, nothing trains.
    before = {r["dag_run_id"] for r in runs}
    drop_batch(PIPELINE, rows=3000, seed=301, batch_id=dropped.batch_id,
               settings=stack.settings)
    deadline = time.monotonic() + 120
    new: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        new = [r for r in ingest_runs(stack) if r["dag_run_id"] not in before]
        if new and all(r["state"] in ("success", "failed") for r in new):
            break
        time.sleep(2)
    assert new and all(r["state"] == "success" for r in new), new
    tis = stack.api.task_instances(f"ct_{PIPELINE}_ingest", str(new[0]["dag_run_id"]))
    assert {t["task_id"]: t["state"] for t in tis}["find_batches"] == "skipped"
    assert stack.store.get_batch(PIPELINE, dropped.batch_id).dag_run_id == outcome.ingest_run_id
    assert stack.store.training_runs_of_batch(PIPELINE, dropped.batch_id) == trained
