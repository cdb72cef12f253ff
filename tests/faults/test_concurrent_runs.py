"""Two training DAG runs on the same data revision at once, each in its own process, held at
the model claim until both have trained: one registers, the other waits for that version and
uses it; both end cleanly, each with a decision on the one version, and at most one of them
moves the champion (the other's promote is superseded)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.faults import checks
from tests.faults.case import INGEST_STEPS, TRAINING_STEPS
from tests.faults.stack import Stack

pytestmark = [pytest.mark.faults, pytest.mark.integration]

CLAIM = "mlops_lib.stores.claims:ClaimTables.claim_model"


def test_two_runs_on_the_same_data_revision_register_one_version(stack: Stack) -> None:
    case = stack.new_case(batches=2)
    stack.land(case)
    stack.succeed(case, INGEST_STEPS, "ingest")
    runs = ("manual__a", "manual__b")
    started = [stack.start(replace(case.with_run(run), rendezvous=(CLAIM, len(runs))),
                           TRAINING_STEPS, None, run) for run in runs]
    codes = [stack.finish(case, proc) for proc in started]
    assert codes == [0, 0], "\n".join(stack.log(case, run) for run in runs)

    version = checks.assert_trained(stack, case, *runs)
    svc = stack.services()
    stored = [svc.store.get_training_run(case.name, run) for run in runs]
    assert len({s["mlflow_run_id"] for s in stored if s}) == 2  # each kept its own MLflow run
    decisions = [svc.store.get_decision(case.name, run) for run in runs]
    assert {d.candidate_version for d in decisions if d} == {version}
    assert len(list((case.path / "rendezvous").iterdir())) == 2  # both reached the claim
