"""`mlops drop` and `mlops trigger` on the local stack: do it, say where to watch it, and with
`--wait` wait for the outcome and say what it was, including why nothing retrained."""

from __future__ import annotations

import argparse
import time
from typing import Any

from ct_airflow.rest_api import AirflowApi

from mlops_dev import devstack
from mlops_dev.demo import BatchOutcome, drop_batch, wait_for_batch, wait_for_drift_verdict
from mlops_lib.reports.index import index_key
from mlops_lib.settings import Settings
from mlops_lib.spec import PipelineSpec, load_specs
from mlops_lib.stores.store import Store

TIMEOUT = 480.0  # well inside the quarter of an hour nobody waits for a silent command


def drop(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    dropped = drop_batch(args.pipeline, rows=args.rows, drift=args.drift, seed=args.seed,
                         batch_id=args.batch_id, settings=settings)
    print(dropped.uri)
    cfg, spec = devstack.StackConfig.from_env(), _spec(settings, args.pipeline)
    print(f"watch: {cfg.airflow_url}/dags/{spec.dag_id}_ingest (validation), "
          f"{cfg.airflow_url}/dags/{spec.monitor_dag_id} (drift), "
          f"{cfg.airflow_url}/dags/{spec.dag_id} (training)")
    print(f"reports: {_index_url(settings, spec)}")
    if not args.wait:
        return 0
    return _await_batch(settings, _api(cfg), spec, dropped.batch_id)


def trigger(args: argparse.Namespace) -> int:
    settings, cfg = Settings.from_env(), devstack.StackConfig.from_env()
    spec, api = _spec(settings, args.pipeline), _api(cfg)
    conf: dict[str, Any] = {"reason": args.reason, "force": args.force,
                            **({"batches": args.batches} if args.batches else {})}
    run = api.trigger(spec.dag_id, conf, note=f"manual: {args.reason}")
    run_id = str(run["dag_run_id"])
    print(f"started {spec.dag_id} run {run_id}")
    print(f"watch: {cfg.airflow_url}/dags/{spec.dag_id}/runs/{run_id}")
    if not args.wait:
        return 0
    state = _await_run(api, spec.dag_id, run_id, say=print)
    store = Store(settings.store_url)
    decision = store.get_decision(spec.name, run_id)
    note = api.dag_run(spec.dag_id, run_id).get("note") or ""
    if decision is not None:
        print(f"decision: {decision.decision.upper()} v{decision.candidate_version} — "
              f"{decision.reason}")
    else:
        print(f"run {state}, no decision: {note}")
    return 0 if state == "success" else 1


def _await_batch(settings: Settings, api: AirflowApi, spec: PipelineSpec,
                 batch_id: str) -> int:
    store = Store(settings.store_url)
    print(f"waiting (up to {TIMEOUT:.0f}s) for the validation of {batch_id}")
    verdict = wait_for_batch(store, spec.name, batch_id, timeout=TIMEOUT, api=api,
                             trained=False)
    if verdict.status != "accepted":
        print(f"{verdict.status}: {verdict.reason}")
        return 1
    print("accepted")
    if "arrival" not in spec.trigger.retrain_on:
        print(f"waiting (up to {TIMEOUT:.0f}s) for the drift monitor")
        drift = wait_for_drift_verdict(store, spec.name, batch_id, timeout=TIMEOUT, api=api)
        drifted = sum(1 for row in drift["rows"] if row["drifted"])
        note = api.dag_run(spec.monitor_dag_id, drift["monitor_run_id"]).get("note") or ""
        print(f"drift: {drifted} of {len(drift['rows'])} features drifted; {note}")
        if not drift["crossed"]:
            return 0
    print(f"waiting (up to {TIMEOUT:.0f}s) for the training run and its decision")
    _print_decision(wait_for_batch(store, spec.name, batch_id, timeout=TIMEOUT, api=api))
    return 0


def _print_decision(outcome: BatchOutcome) -> None:
    if outcome.decision is None:
        print(f"training run {outcome.dag_run_id}: {outcome.dag_run_state} — {outcome.reason}")
        return
    d = outcome.decision
    print(f"decision: {d.decision.upper()} v{d.candidate_version} "
          f"({d.metric}={d.candidate_value:.4f}) — {d.reason}")


def _await_run(api: AirflowApi, dag_id: str, run_id: str, *, say: Any) -> str:
    say(f"waiting (up to {TIMEOUT:.0f}s) for the run to finish")
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        state = str(api.dag_run(dag_id, run_id).get("state"))
        if state in ("success", "failed"):
            return state
        time.sleep(2)
    states = {t["task_id"]: t["state"] for t in api.task_instances(dag_id, run_id)}
    raise TimeoutError(f"{dag_id} run {run_id} still not finished after {TIMEOUT:.0f}s: "
                       f"{states}")


def _spec(settings: Settings, pipeline: str) -> PipelineSpec:
    found = [s for s in load_specs(*settings.spec_dirs) if s.name == pipeline]
    if not found:
        raise SystemExit(f"no pipeline {pipeline!r} in {settings.pipelines_dir}")
    return found[0]


def _api(cfg: devstack.StackConfig) -> AirflowApi:
    return AirflowApi(cfg.airflow_url, devstack.AIRFLOW_USER, devstack.airflow_password(cfg) or "")


def _index_url(settings: Settings, spec: PipelineSpec) -> str:
    index = f"s3://{settings.artifact_bucket}/{index_key(spec.name)}"
    return settings.http_url(index) or index
