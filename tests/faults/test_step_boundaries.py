"""Raise or kill at every step boundary of the ingest and training DAGs, then retry.

The faulted attempt runs the DAG's steps up to the faulted one, the fault installed when that
step starts; the retry, a fresh process with no fault, runs that step again with the same
inputs (its XCom) and the rest of the DAG. After it, whatever the fault interrupted: one
batch record per batch id in a terminal state, one DVC tag per data revision, one registered
model version per idempotency key, loadable and of the data it was trained on, and a champion
that matches the decision (see `checks`)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.faults import checks
from tests.faults.case import INGEST_STEPS, STEPS, Case
from tests.faults.injector import Fault
from tests.faults.points import INGEST, QUARANTINE, TRAINING, expected_exit, faults
from tests.faults.stack import Stack

pytestmark = [pytest.mark.faults, pytest.mark.integration]


def _fault_then_retry(stack: Stack, case: Case, steps: tuple[str, ...], fault: Fault) -> None:
    if fault.action == "kill":  # a killed claimant's claim is taken over once it looks dead
        case = replace(case, claim_stale_seconds=2.0)
    at = steps.index(fault.point.step)
    code = stack.attempt(case, steps[: at + 1], fault, "faulted")
    log = stack.log(case, "faulted")
    assert case.marker().read_text() == fault.point.name, f"the point was not reached:\n{log}"
    assert code == expected_exit(fault), f"faulted attempt exited {code}:\n{log}"
    stack.succeed(case, steps[at:], "retry")


@pytest.mark.parametrize("fault", faults(INGEST), ids=lambda f: f.id)
def test_ingest_recovers(stack: Stack, fault: Fault) -> None:
    case = stack.new_case()
    stack.land(case)
    _fault_then_retry(stack, case, INGEST_STEPS, fault)
    checks.assert_ingested(stack, case, status="accepted")


@pytest.mark.parametrize("fault", faults(QUARANTINE), ids=lambda f: f.id)
def test_quarantine_recovers(stack: Stack, fault: Fault) -> None:
    case = stack.new_case()
    stack.land(case, bad=True)
    _fault_then_retry(stack, case, INGEST_STEPS, fault)
    checks.assert_ingested(stack, case, status="rejected")


@pytest.mark.parametrize("fault", faults(TRAINING), ids=lambda f: f.id)
def test_training_recovers(stack: Stack, fault: Fault) -> None:
    case = stack.new_case()
    stack.land(case)
    _fault_then_retry(stack, case, STEPS, fault)
    checks.assert_ingested(stack, case, status="accepted")
    checks.assert_trained(stack, case, case.train_run)
