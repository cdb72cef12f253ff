"""One attempt of a fault case, in its own process: the same step functions, with the same
inputs, in the same order as the Airflow tasks (`plugins/ct_airflow/tasks.py`), each step's
record saved as its XCom JSON so that the next attempt (a retry) starts where Airflow would.

The fork server imports this module once; every attempt is a fork of it, so an attempt costs
no imports (mlflow, xgboost, pandas, Evidently, DVC), and a SIGKILL ends only the attempt.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import dvc.api  # noqa: F401 - preloaded for the attempts
import mlflow.xgboost  # noqa: F401 - preloaded for the attempts
from ct_airflow.xcom import from_xcom, to_xcom

import mlops_lib.reports.builders  # noqa: F401 - Evidently, preloaded for the attempts
import mlops_lib.reports.index  # noqa: F401 - preloaded for the attempts
from mlops_lib.landing.batches import BatchRef, completed_batches
from mlops_lib.services import Services
from mlops_lib.settings import Settings
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps import dataset, decide, evaluate, ingest, plan, registration, reports, train
from mlops_lib.steps.planning import RunContext
from mlops_lib.steps.records import (
    DatasetVersion,
    Evaluation,
    ReportSet,
    TrainedModel,
    TrainingPlan,
)
from mlops_lib.stores import s3io
from mlops_lib.training import trainer
from mlops_lib.validation.reasons import BatchRejected
from tests.faults.case import Case
from tests.faults.injector import Fault, Point, install

Step = Callable[[Services, PipelineSpec, Case, dict[str, Any]], Any]


def run_attempt(case: Case, steps: tuple[str, ...], fault: Fault | None, label: str) -> None:
    """Run `steps` in order; the fault is installed just before its step starts, so the steps
    before it run as they would. A rejected batch ends the ingest steps (Airflow fails the
    task without retries); anything else raised ends the attempt with exit code 1."""
    log = open(case.path / f"{label}.log", "ab")  # noqa: SIM115 - lives as long as the process
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    os.environ.update(case.env)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True,
                        format=f"%(asctime)s {label} %(name)s %(levelname)s %(message)s")
    trainer.git_sha = lambda: case.code_sha
    registration.CLAIM_STALE_SECONDS = case.claim_stale_seconds
    registration.POLL_SECONDS = 0.2
    if case.rendezvous is not None:
        _meet(case, *case.rendezvous, label)
    svc, spec = Services(Settings.from_env(case.env)), case.spec()
    for step in steps:
        if fault is not None and fault.point.step == step:
            install(fault, case.marker())
        state = case.state()
        logging.info("step %s", step)
        state[step] = to_xcom(STEP_FUNCTIONS[step](svc, spec, case, state))
        _save(case, state)
        if step == "validate" and any("rejected" in v for v in state[step].values()):
            return


def _save(case: Case, state: dict[str, Any]) -> None:
    partial = case.state_file().with_suffix(".partial")
    partial.write_text(json.dumps(state))
    partial.replace(case.state_file())  # a killed attempt leaves the last whole state


def _meet(case: Case, target: str, parties: int, label: str) -> None:
    """Hold the first call of `target` until `parties` attempts have all reached it."""
    owner, attr = Point("rendezvous", "", target).resolve()
    real, folder = getattr(owner, attr), case.path / "rendezvous"
    folder.mkdir(exist_ok=True)

    def meet(*args: Any, **kwargs: Any) -> Any:
        setattr(owner, attr, real)
        (folder / label).touch()
        deadline = time.monotonic() + 120
        while len(list(folder.iterdir())) < parties:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{label}: the other attempts never reached {target}")
            time.sleep(0.05)
        return real(*args, **kwargs)

    setattr(owner, attr, meet)


# -- the steps, as the task callables call them ------------------------------------------------
def _register(svc: Services, spec: PipelineSpec, case: Case, state: dict[str, Any]) -> Any:
    listing = s3io.list_objects(svc.s3, spec.source.bucket, spec.source.prefix)
    landed = {b.batch_id: b for b in completed_batches(listing, spec.source.prefix,
                                                       spec.source.completion_rule)}
    return {b: ingest.register_batch(svc, spec, landed[b], case.ingest_run)
            for b in case.batch_ids}


def _validate(svc: Services, spec: PipelineSpec, case: Case, state: dict[str, Any]) -> Any:
    validated: dict[str, Any] = {}
    for batch_id, ref in state["register"].items():
        try:
            validated[batch_id] = ingest.validate(svc, spec, from_xcom(BatchRef, ref),
                                                  case.ingest_run)
        except BatchRejected as exc:  # the task fails without retries: bad data stays bad
            validated[batch_id] = {"rejected": str(exc.code)}
    return validated


def _plan(svc: Services, spec: PipelineSpec, case: Case, state: dict[str, Any]) -> Any:
    return plan.plan_training(svc, spec, RunContext(
        dag_run_id=case.train_run, run_type="manual", triggered_by="fault suite",
        params={"reason": "fault suite", "batches": list(case.batch_ids)}))


def _version(svc: Services, spec: PipelineSpec, case: Case, state: dict[str, Any]) -> Any:
    return dataset.version_dataset(svc, spec, from_xcom(TrainingPlan, state["plan"]),
                                   case.train_run)


def _train(svc: Services, spec: PipelineSpec, case: Case, state: dict[str, Any]) -> Any:
    return train.train(svc, spec, from_xcom(TrainingPlan, state["plan"]),
                       from_xcom(DatasetVersion, state["version"]), case.train_run)


def _evaluate(svc: Services, spec: PipelineSpec, case: Case, state: dict[str, Any]) -> Any:
    return evaluate.evaluate(svc, spec, from_xcom(DatasetVersion, state["version"]),
                             from_xcom(TrainedModel, state["train"]),
                             from_xcom(TrainingPlan, state["plan"]).champion, case.train_run)


def _reports(svc: Services, spec: PipelineSpec, case: Case, state: dict[str, Any]) -> Any:
    return reports.build_reports(svc, spec, from_xcom(DatasetVersion, state["version"]),
                                 from_xcom(TrainedModel, state["train"]),
                                 from_xcom(TrainingPlan, state["plan"]).champion,
                                 case.train_run)


def _decide(svc: Services, spec: PipelineSpec, case: Case, state: dict[str, Any]) -> Any:
    return decide.decide(svc, spec, from_xcom(TrainingPlan, state["plan"]),
                         from_xcom(Evaluation, state["evaluate"]),
                         from_xcom(ReportSet, state["reports"]), case.train_run)


STEP_FUNCTIONS: dict[str, Step] = {
    "register": _register, "validate": _validate,
    "reconcile": lambda svc, spec, case, state: decide.reconcile_champion(svc, spec),
    "plan": _plan, "version": _version, "train": _train, "evaluate": _evaluate,
    "reports": _reports, "decide": _decide,
}
