"""The freshness SLA fires with no batch arriving: the pipeline credit_quiet never gets a
batch, its freshness DAG (ct_credit_quiet_freshness) finds it stale, and the stale_data alert
reaches a real webhook receiver with the runbook link in its message; the store holds one
open stale_data alert however often the check runs."""

from __future__ import annotations

import time

import pytest

from tests.alert_receiver import Receiver, alert_receiver
from tests.e2e.live import LiveStack
from tests.e2e.pipelines import QUIET, QUIET_HOOK_PORT, QUIET_SLA_H

pytestmark = pytest.mark.e2e
SHARED_STACK = "s3rver"  # the default stack (tests/e2e/conftest.py): one more quiet pipeline
DAG_ID = f"ct_{QUIET}_freshness"


def _check(stack: LiveStack, timeout_s: float = 90) -> str:
    """Trigger one freshness check and wait for it to end; its state."""
    run = stack.api.trigger(DAG_ID, {})
    deadline = time.monotonic() + timeout_s
    while (state := stack.api.dag_run(DAG_ID, run["dag_run_id"])["state"]) not in (
            "success", "failed"):
        assert time.monotonic() < deadline, f"{DAG_ID} run still {state}"
        time.sleep(1)
    return str(state)


def _until_alerted(stack: LiveStack, receiver: Receiver, timeout_s: float) -> None:
    """Check until the alert arrived: the first check may only start the watch (no batch
    ever: the age counts from it), and the SLA needs its seconds to pass."""
    deadline = time.monotonic() + timeout_s
    while not receiver.bodies:
        assert time.monotonic() < deadline, "no stale_data alert reached the receiver"
        assert _check(stack) == "success"
        if not receiver.bodies:
            time.sleep(QUIET_SLA_H * 3600)


def test_the_freshness_sla_fires_with_no_batch_and_reaches_the_webhook(
        stack: LiveStack) -> None:
    assert stack.store.accepted_batches(QUIET) == []  # nothing ever arrives
    with alert_receiver(port=QUIET_HOOK_PORT) as receiver:
        _until_alerted(stack, receiver, timeout_s=150)
        assert _check(stack) == "success"  # a check in the same stale period sends nothing
    [body] = receiver.bodies
    assert body["kind"] == "stale_data" and body["pipeline"] == QUIET
    assert body["severity"] == "page" and body["resolved"] is False
    assert "No batch ever" in body["text"]
    assert "docs/runbooks/no-data.md" in body["text"]  # which runbook to open
    assert f"/dags/ct_{QUIET}_ingest" in body["text"]  # where to look
    [alert] = [a for a in stack.store.alerts(QUIET, open_only=True)]
    assert alert.kind == "stale_data" and alert.subject == body["subject"]
    assert alert.delivered_at is not None and alert.delivery_error is None
