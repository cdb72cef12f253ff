"""The demo CT cycle on the local stack, and the helpers it shares with the end-to-end tests:
drop a batch into S3 the way a producer would, then wait for the service's verdict on it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlops_lib import devstack
from mlops_lib.airflow_api import AirflowApi
from mlops_lib.settings import Settings
from mlops_lib.store import DecisionRecord, Store

DEMO_PIPELINE = "credit_default"


@dataclass(frozen=True)
class BatchOutcome:
    batch_id: str
    status: str  # accepted | rejected
    dag_run_id: str
    decision: DecisionRecord | None
    dag_run_state: str | None
    reason: str | None = None


@dataclass(frozen=True)
class DroppedBatch:
    batch_id: str
    uri: str


def drop_batch(pipeline: str, *, rows: int, drift: float = 0.0, seed: int | None = None,
               batch_id: str | None = None, settings: Settings | None = None) -> DroppedBatch:
    """Generate a synthetic batch and upload it as the spec's producers must: data first, then
    the `_SUCCESS` marker or the manifest (none for quiet-period completion)."""
    from mlops_lib.datagen import generate_batch, to_file_bytes
    from mlops_lib.manifest import build_manifest
    from mlops_lib.s3io import s3_client, upload_batch
    from mlops_lib.spec import load_specs

    settings = settings or Settings.from_env()
    spec = next(s for s in load_specs(settings.pipelines_dir) if s.name == pipeline)
    batch_id = batch_id or datetime.now(UTC).strftime("batch-%Y%m%dT%H%M%S%fZ")
    seed = seed if seed is not None else int(time.time() * 1000) % 2**31
    frame = generate_batch(spec, rows, seed=seed, drift=drift)
    ext = "parquet" if spec.source.format == "parquet" else "csv"
    body = to_file_bytes(frame, spec.source.format)
    files = {f"part-0000.{ext}": body}
    src = spec.source
    marker = None if src.completion == "quiet" else src.marker
    manifest = (build_manifest(files, {name: len(frame) for name in files})
                if src.completion == "manifest" else b"")
    uri = upload_batch(s3_client(settings), src.bucket, src.prefix, batch_id, files,
                       marker=marker, marker_body=manifest)
    return DroppedBatch(batch_id, uri)


def wait_for_batch(store: Store, pipeline: str, batch_id: str, *, timeout: float,
                   api: AirflowApi | None = None, dag_id: str | None = None,
                   poll: float = 2.0) -> BatchOutcome:
    """Block until the batch is rejected, or its run has finished (decision and promotion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = store.get_batch(pipeline, batch_id)
        if batch is not None:
            state = None
            if api is not None and dag_id is not None:
                state = api.dag_run(dag_id, batch.dag_run_id)["state"]
            if batch.status == "rejected" and (api is None or state in ("failed", "success")):
                return BatchOutcome(batch_id, "rejected", batch.dag_run_id, None, state,
                                    reason=f"[{batch.reason_code}] {batch.reason}")
            decision = store.get_decision(pipeline, batch.dag_run_id)
            if decision is not None and (api is None or state in ("failed", "success")):
                reason = _failure(api, dag_id, batch.dag_run_id) if state == "failed" else None
                return BatchOutcome(batch_id, batch.status, batch.dag_run_id, decision, state,
                                    reason=reason)
            if state == "failed":
                return BatchOutcome(batch_id, batch.status, batch.dag_run_id, decision, state,
                                    reason=_failure(api, dag_id, batch.dag_run_id))
        time.sleep(poll)
    raise TimeoutError(f"batch {batch_id} of {pipeline}: no outcome after {timeout:.0f}s")


def wait_until_deferred(api: AirflowApi, dag_id: str, timeout: float = 300) -> str:
    """Block until a run of the DAG waits in the triggerer for the next batch; its run id."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = api.dag_runs(dag_id, state="running")
        for run in runs:
            tis = api.task_instances(dag_id, run["dag_run_id"])
            if any(t["task_id"] == "wait_for_batch" and t["state"] == "deferred" for t in tis):
                return str(run["dag_run_id"])
        time.sleep(1)
    raise TimeoutError(f"no run of {dag_id} is waiting for a batch after {timeout:.0f}s")


def _failure(api: AirflowApi | None, dag_id: str | None, run_id: str) -> str:
    """Which task failed, and the end of its log: what a user would look up first."""
    if api is None or dag_id is None:
        return "DAG run failed; see the Airflow task logs"
    failed = [t for t in api.task_instances(dag_id, run_id) if t["state"] == "failed"]
    if not failed:
        return "DAG run failed; see the Airflow task logs"
    first = failed[0]
    tail = api.task_log(dag_id, run_id, first["task_id"], max(1, first["try_number"]))
    return f"task {first['task_id']} failed; log tail:\n" + "\n".join(tail.splitlines()[-25:])


def run_demo(timeout: float = 900) -> int:
    started = time.monotonic()
    cfg = devstack.StackConfig.from_env()
    say = _stamp(started)
    say("starting the local stack (S3 on disk, MLflow, Airflow scheduler/triggerer/...)")
    devstack.up(cfg, echo=lambda m: say(f"  {m}"))
    settings = Settings.from_env()
    store = Store(settings.store_url)
    password = devstack.airflow_password(cfg) or "?"
    api = AirflowApi(cfg.airflow_url, devstack.AIRFLOW_USER, password)
    dag_id = f"ct_{DEMO_PIPELINE}"
    _wait_for_dag(api, dag_id, say)
    cycles = [("first batch (reference distribution)", 0.0, 11),
              ("second batch (covariate drift 0.6)", 0.6, 12)]
    for title, drift, seed in cycles:
        dropped = drop_batch(DEMO_PIPELINE, rows=6000, drift=drift, seed=seed)
        say(f"dropped {title}: {dropped.uri}")
        outcome = wait_for_batch(store, DEMO_PIPELINE, dropped.batch_id, timeout=timeout, api=api,
                                 dag_id=dag_id)
        _print_outcome(outcome, say)
        if outcome.decision is None:
            say("the cycle did not reach a decision; stopping the demo")
            return 1
        _print_reports(store, settings, outcome, say)
    champion = store.get_champion(DEMO_PIPELINE)
    say(f"champion: {'none' if champion is None else 'v' + champion.model_version}")
    print()
    print(f"Airflow UI  {cfg.airflow_url}/dags/{dag_id}   login {devstack.AIRFLOW_USER} / "
          f"{password}")
    print(f"MLflow UI   {cfg.mlflow_url}/#/models/ct_{DEMO_PIPELINE}")
    print(f"Demo finished in {time.monotonic() - started:.0f}s. The stack keeps running; "
          "stop it with `make down`.")
    return 0


def _wait_for_dag(api: AirflowApi, dag_id: str, say: Any, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            dag = api.dag(dag_id)
        except OSError:
            time.sleep(2)
            continue
        if dag.get("is_paused"):
            api.unpause(dag_id)
        say(f"DAG {dag_id} is active")
        return
    errors = api.import_errors()
    raise TimeoutError(f"DAG {dag_id} did not appear within {timeout:.0f}s; "
                       f"import errors: {errors}")


def _print_outcome(outcome: BatchOutcome, say: Any) -> None:
    if outcome.decision is None:
        say(f"batch {outcome.batch_id}: {outcome.status} — {outcome.reason} "
            f"(run {outcome.dag_run_id}: {outcome.dag_run_state})")
        return
    d = outcome.decision
    baseline = "no champion" if d.baseline_version is None else (
        f"champion v{d.baseline_version} {d.metric}={d.baseline_value:.4f}")
    say(f"decision: {d.decision.upper()} v{d.candidate_version} "
        f"({d.metric}={d.candidate_value:.4f} vs {baseline}) — {d.reason}")
    say(f"  run {outcome.dag_run_id}: {outcome.dag_run_state}; data rev {d.data_rev}")


def _print_reports(store: Store, settings: Settings, outcome: BatchOutcome, say: Any) -> None:
    run = store.get_training_run(DEMO_PIPELINE, outcome.dag_run_id)
    run_id = run["mlflow_run_id"] if run else None
    drift = store.drift_metrics(DEMO_PIPELINE, outcome.batch_id)
    if drift:
        drifted = [row["feature"] for row in drift if row["drifted"]]
        say(f"  drift vs the champion's data: {len(drifted)} of {len(drift)} features "
            f"{drifted}")
    if run_id:
        from mlops_lib.registry import Registry

        exp = Registry(settings.mlflow_tracking_uri).experiment_id(run_id)
        say(f"  reports: {settings.mlflow_tracking_uri}/#/experiments/{exp}/runs/{run_id}"
            "/artifacts (folder reports/)")
    for report in store.reports(DEMO_PIPELINE, outcome.dag_run_id):
        if report["format"] == "html":
            say(f"    {report['kind']:>17}: {report['uri']}")


def _stamp(started: float) -> Any:
    def say(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {message}", flush=True)
    return say
