"""What the docs promise after a command block, checked on the stack `make demo` left.

A block marked `<!-- doc-test: run; check: <name> -->` is followed by CHECKS[name](stack,
output): the doc's own words, such as "the champion stays" or "creates nothing new", held
against the store, the Airflow REST API and the MLflow registry of that stack."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from ct_airflow.rest_api import AirflowApi
from mlflow import MlflowClient

from mlops_dev import devstack
from mlops_lib.stores.store import Store

PIPELINE = "credit_default"
DAG_ID = f"ct_{PIPELINE}"
HISTORY = ["2026-11-01", "2026-11-02", "2026-11-03"]  # docs/backfill.md's partitions
WAIT_S = 600


@dataclass
class DocStack:
    """The demo's stack as the checks see it, and what they remember between blocks."""

    cfg: devstack.StackConfig
    store: Store
    api: AirflowApi
    memo: dict[str, Any] = field(default_factory=dict)

    def model_versions(self) -> list[str]:
        with _service_env(self.cfg):
            client = MlflowClient(tracking_uri=self.cfg.mlflow_url)
            found = client.search_model_versions(f"name = '{DAG_ID}'")
        return sorted((v.version for v in found), key=int)


@contextmanager
def _service_env(cfg: devstack.StackConfig) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        for key, value in cfg.service_env().items():
            mp.setenv(key, value)
        yield


@contextmanager
def doc_stack(env: dict[str, str]) -> Iterator[DocStack]:
    """The stack of the user's shell `env` (its CT_HOME and ports)."""
    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith(("CT_", "AIRFLOW__"))]:
            mp.delenv(key)
        for key, value in env.items():
            mp.setenv(key, value)
        cfg = devstack.StackConfig.from_env()
    store = Store(cfg.effective_store_url)
    try:
        yield DocStack(cfg, store, AirflowApi(cfg.airflow_url, devstack.AIRFLOW_USER,
                                              devstack.airflow_password(cfg) or ""))
    finally:
        store.engine.dispose()


def _wait(what: str, done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"after {WAIT_S}s still waiting for {what}")
        time.sleep(3)


def _quiet(stack: DocStack) -> bool:
    """No drift monitor or training run queued or running (a live run could move the
    champion). The ingest DAG always has a run waiting for the next batch: not counted."""
    return not any(r["state"] in ("queued", "running")
                   for dag in (f"{DAG_ID}_drift_monitor", DAG_ID)
                   for r in stack.api.dag_runs(dag, limit=20))


def _backfill_runs(stack: DocStack, days: list[str]) -> list[dict[str, Any]]:
    """The backfill runs of `days` (their logical dates), once every backfill has finished."""
    _wait(f"the backfill of {days}", lambda: all(
        b["completed_at"] for b in stack.api.backfills(DAG_ID)))
    _wait("the pipeline's runs to finish", lambda: _quiet(stack))
    return sorted((r for r in stack.api.dag_runs(DAG_ID, limit=100)
                   if r["run_type"] == "backfill" and r["logical_date"][:10] in days),
                  key=lambda r: r["logical_date"])


def operator(stack: DocStack, out: str) -> None:
    """README's operator block after the demo (champion v2): status, champion, history, a
    manual promotion of v1, a rollback to v2, reconcile."""
    assert "champion  v2 since " in out, out  # mlops status
    assert "→ v1" in out and "v1 → v2" in out, out  # history: readable moves
    moves = [json.loads(line) for line in out.splitlines()
             if line.startswith("{") and '"epoch"' in line]
    assert [(m["previous"], m["version"]) for m in moves[-2:]] == [("2", "1"), ("1", "2")], out
    assert "credit_default: champion 2; alias in sync" in out, out


def history_landed(stack: DocStack, out: str) -> None:
    """The three partitions, landed at once, are accepted and belong to their own days; the
    drift monitor asked for no retrain, so the champion is the demo's."""
    ids = [f"dt={day}" for day in HISTORY]

    def accepted() -> bool:
        batches = [stack.store.get_batch(PIPELINE, i) for i in ids]
        return all(b is not None and b.status in ("accepted", "rejected") for b in batches)

    _wait(f"the verdicts on {ids}", accepted)
    _wait("the pipeline's runs to finish", lambda: _quiet(stack))
    for batch_id, day in zip(ids, HISTORY, strict=True):
        batch = stack.store.get_batch(PIPELINE, batch_id)
        assert batch is not None and batch.status == "accepted", batch
        assert batch.event_time == f"{day}T00:00:00.000+00:00" and batch.arrived_at > day
    stack.memo.update(champion=stack.store.get_champion(PIPELINE),
                      moves=stack.store.champion_moves(PIPELINE))


def backfill_shadow_runs(stack: DocStack, out: str) -> None:
    """One run per day, each on the partitions of that day and before (the window `all`: the
    demo's own batches arrived today, after every interval), judged against the champion of
    its day: none on the first, then the model the earlier days would have promoted; shadow
    (or keep) decisions, and the champion and its audit trail unchanged."""
    runs = _backfill_runs(stack, HISTORY)
    assert [r["state"] for r in runs] == ["success"] * 3, runs
    champion_then = None
    for i, run in enumerate(runs):
        plan = stack.store.get_training_run(PIPELINE, run["dag_run_id"])
        assert plan is not None and plan["trigger"]["type"] == "backfill", plan
        assert stack.store.training_batch_ids(PIPELINE, run["dag_run_id"]) == [
            f"dt={day}" for day in HISTORY[:i + 1]]
        assert plan["trigger"]["training_window"]["firing"] == [f"dt={HISTORY[i]}"]
        decision = stack.store.get_decision(PIPELINE, run["dag_run_id"])
        assert decision is not None and decision.decision in ("shadow", "keep"), decision
        assert decision.baseline_version == champion_then, (i, decision)
        assert (plan["trigger"]["judged_against"] or {}).get("version") == champion_then
        if decision.decision == "shadow":  # the gate would have promoted it then
            champion_then = decision.candidate_version
    assert stack.store.get_champion(PIPELINE) == stack.memo["champion"]
    assert stack.store.champion_moves(PIPELINE) == stack.memo["moves"]
    stack.memo.update(runs=[r["dag_run_id"] for r in runs], versions=stack.model_versions(),
                      decisions=stack.store.decisions(PIPELINE))


def backfill_again_changes_nothing(stack: DocStack, out: str) -> None:
    """Re-running the completed runs: the same run ids, model versions and decisions."""
    runs = _backfill_runs(stack, HISTORY)
    assert [r["dag_run_id"] for r in runs] == stack.memo["runs"]
    assert [r["state"] for r in runs] == ["success"] * 3, runs
    assert stack.model_versions() == stack.memo["versions"]
    assert stack.store.decisions(PIPELINE) == stack.memo["decisions"]
    assert stack.store.get_champion(PIPELINE) == stack.memo["champion"]
    assert stack.store.champion_moves(PIPELINE) == stack.memo["moves"]


def backfill_may_promote(stack: DocStack, out: str) -> None:
    """The fourth day's run may promote: the gate decides, and a promotion is an audited move
    by that run; a keep leaves the champion."""
    [run] = _backfill_runs(stack, ["2026-11-04"])
    assert run["state"] == "success", run
    assert stack.store.training_batch_ids(PIPELINE, run["dag_run_id"]) == [
        f"dt={day}" for day in [*HISTORY, "2026-11-04"]]
    decision = stack.store.get_decision(PIPELINE, run["dag_run_id"])
    assert decision is not None and decision.decision in ("promote", "keep"), decision
    # it may replace today's champion, so it is judged against it
    assert decision.baseline_version == stack.memo["champion"].model_version, decision
    champion = stack.store.get_champion(PIPELINE)
    moves = stack.store.champion_moves(PIPELINE)
    if decision.promote:
        assert champion is not None and champion.model_version == decision.candidate_version
        assert len(moves) == len(stack.memo["moves"]) + 1 and moves[-1]["dag_run_id"] == (
            run["dag_run_id"]), moves[-1]
    else:
        assert champion == stack.memo["champion"] and moves == stack.memo["moves"]


CHECKS: dict[str, Callable[[DocStack, str], None]] = {
    "operator": operator,
    "history landed": history_landed,
    "backfill shadow runs": backfill_shadow_runs,
    "backfill again changes nothing": backfill_again_changes_nothing,
    "backfill may promote": backfill_may_promote,
}
