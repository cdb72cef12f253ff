"""The demo CT cycle on the local stack, and the helpers it shares with the end-to-end tests:
drop a batch into S3 the way a producer would, then wait for the service's verdict on it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ct_airflow.rest_api import AirflowApi

from mlops_dev import devstack
from mlops_lib.reports.index import index_key
from mlops_lib.settings import Settings
from mlops_lib.stores.predictions import Role
from mlops_lib.stores.store import DecisionRecord, PredictionRecord, Store

DEMO_PIPELINE = "credit_default"


@dataclass(frozen=True)
class BatchOutcome:
    """What became of a dropped batch: its ingest run, and the training run that took it."""

    batch_id: str
    status: str  # accepted | rejected
    ingest_run_id: str
    training_run_id: str | None
    decision: DecisionRecord | None
    dag_run_state: str | None  # of the training run (of the ingest run when rejected)
    reason: str | None = None

    @property
    def dag_run_id(self) -> str:
        return self.training_run_id or self.ingest_run_id


@dataclass(frozen=True)
class DroppedBatch:
    batch_id: str
    uri: str


def drop_batch(pipeline: str, *, rows: int, drift: float = 0.0, seed: int | None = None,
               batch_id: str | None = None, settings: Settings | None = None) -> DroppedBatch:
    """Generate a synthetic batch and upload it as the spec's producers must: data first, then
    the `_SUCCESS` marker or the manifest (none for quiet-period completion)."""
    from mlops_dev.datagen import generate_batch, to_file_bytes
    from mlops_lib.landing.manifest import build_manifest
    from mlops_lib.spec import load_specs
    from mlops_lib.stores.s3io import s3_client, upload_batch

    settings = settings or Settings.from_env()
    spec = next(s for s in load_specs(*settings.spec_dirs) if s.name == pipeline)
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


def drop_scoring_batch(pipeline: str, *, rows: int, seed: int | None = None,
                       batch_id: str | None = None, settings: Settings | None = None,
                       drop_columns: tuple[str, ...] = ()) -> DroppedBatch:
    """An unlabelled batch (a synthetic one without the target and `drop_columns`) uploaded
    to the spec's scoring prefix as a producer must: data first, then the marker or manifest."""
    from mlops_dev.datagen import generate_batch, to_file_bytes
    from mlops_lib.landing.manifest import build_manifest
    from mlops_lib.spec import load_specs
    from mlops_lib.stores.s3io import s3_client, upload_batch

    settings = settings or Settings.from_env()
    spec = next(s for s in load_specs(*settings.spec_dirs) if s.name == pipeline)
    batch_id = batch_id or datetime.now(UTC).strftime("score-%Y%m%dT%H%M%S%fZ")
    seed = seed if seed is not None else int(time.time() * 1000) % 2**31
    frame = generate_batch(spec, rows, seed=seed).drop(columns=[spec.target, *drop_columns])
    ext = "parquet" if spec.source.format == "parquet" else "csv"
    files = {f"part-0000.{ext}": to_file_bytes(frame, spec.source.format)}
    rule = spec.scoring
    marker = None if rule.completion == "quiet" else rule.marker
    manifest = (build_manifest(files, {name: len(frame) for name in files})
                if rule.completion == "manifest" else b"")
    uri = upload_batch(s3_client(settings), spec.scoring_bucket, spec.scoring_prefix, batch_id,
                       files, marker=marker, marker_body=manifest)
    return DroppedBatch(batch_id, uri)


def wait_for_predictions(store: Store, pipeline: str, batch_id: str, *, timeout: float,
                         roles: tuple[Role, ...] = ("champion",),
                         poll: float = 1.0) -> list[PredictionRecord]:
    """Block until the scoring batch is logged in the prediction log in each of `roles` (its
    records, in that order); a batch the scoring DAG rejected raises ValueError with its reason
    code."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        quarantined = store.get_quarantine(pipeline, f"scoring/{batch_id}")
        if quarantined is not None:
            raise ValueError(f"scoring batch {batch_id} was rejected: "
                             f"[{quarantined['reason_code']}] {quarantined['reason']}")
        logged = {r.role: r for r in store.predictions(pipeline, batch_id=batch_id)}
        if all(role in logged for role in roles):
            return [logged[role] for role in roles]
        time.sleep(poll)
    claim = store.scoring_claim(pipeline, batch_id)
    raise TimeoutError(f"scoring batch {batch_id} of {pipeline}: no {'/'.join(roles)} "
                       f"predictions after {timeout:.0f}s; claim: {claim}")


def wait_for_batch(store: Store, pipeline: str, batch_id: str, *, timeout: float,
                   api: AirflowApi | None = None, poll: float = 2.0,
                   trained: bool = True) -> BatchOutcome:
    """Block until the batch is rejected, or (with `trained`) a training run that took it has
    finished with a decision; without `trained`, until it is accepted."""
    dag_id, ingest_dag_id = f"ct_{pipeline}", f"ct_{pipeline}_ingest"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = store.get_batch(pipeline, batch_id)
        if batch is None:
            time.sleep(poll)
            continue
        ingest_state = _run_state(api, ingest_dag_id, batch.dag_run_id)
        if batch.status == "rejected" and ingest_state in (None, "failed", "success"):
            return BatchOutcome(batch_id, "rejected", batch.dag_run_id, None, None, ingest_state,
                                reason=f"[{batch.reason_code}] {batch.reason}")
        if batch.status == "accepted" and not trained:
            return BatchOutcome(batch_id, "accepted", batch.dag_run_id, None, None, None)
        if batch.status != "accepted" and ingest_state == "failed":
            return BatchOutcome(batch_id, batch.status, batch.dag_run_id, None, None,
                                ingest_state, reason=_failure(api, ingest_dag_id,
                                                              batch.dag_run_id))
        for run in store.training_runs_of_batch(pipeline, batch_id):
            run_id = run["dag_run_id"]
            state = _run_state(api, dag_id, run_id)
            decision = store.get_decision(pipeline, run_id)
            if state == "failed" or (decision is not None and state in (None, "success")):
                reason = _failure(api, dag_id, run_id) if state == "failed" else None
                return BatchOutcome(batch_id, batch.status, batch.dag_run_id, run_id,
                                    decision, state, reason=reason)
        time.sleep(poll)
    raise TimeoutError(f"batch {batch_id} of {pipeline}: no outcome after {timeout:.0f}s; "
                       + _progress(store, api, pipeline, batch_id))


def _progress(store: Store, api: AirflowApi | None, pipeline: str, batch_id: str) -> str:
    """Where a batch stands: its record and the task states of the runs that took it, so a
    timeout says which task did not move."""
    batch = store.get_batch(pipeline, batch_id)
    if batch is None:
        return "no batch record (no ingest run has claimed it)"
    runs = [(f"ct_{pipeline}_ingest", batch.dag_run_id)] + [
        (f"ct_{pipeline}", r["dag_run_id"]) for r in store.training_runs_of_batch(pipeline,
                                                                                 batch_id)]
    parts = [f"batch {batch.status}"]
    for dag_id, run_id in runs:
        if api is None or not run_id:
            continue
        try:
            # a try number above 1 says Airflow retried the task: worth seeing on a timeout
            states = {t["task_id"] + (f"#{t['try_number']}" if t.get("try_number", 1) > 1
                                      else ""): t["state"]
                      for t in api.task_instances(dag_id, run_id)}
        except OSError as exc:
            states = {"?": str(exc)}
        parts.append(f"{dag_id}/{run_id} ({_run_state(api, dag_id, run_id)}): {states}")
    return "; ".join(parts)


def wait_until_deferred(api: AirflowApi, dag_id: str, timeout: float = 300) -> str:
    """Block until a run of the ingest DAG waits in the triggerer for batches; its run id."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = api.dag_runs(dag_id, state="running")
        for run in runs:
            tis = api.task_instances(dag_id, run["dag_run_id"])
            if any(t["task_id"] == "wait_for_batches" and t["state"] == "deferred"
                   for t in tis):
                return str(run["dag_run_id"])
        time.sleep(1)
    raise TimeoutError(f"no run of {dag_id} is waiting for a batch after {timeout:.0f}s")


def _run_state(api: AirflowApi | None, dag_id: str, run_id: str) -> str | None:
    if api is None:
        return None
    try:
        return str(api.dag_run(dag_id, run_id)["state"])
    except OSError:  # not created yet, or the API is restarting
        return "unknown"


def _failure(api: AirflowApi | None, dag_id: str | None, run_id: str) -> str:
    """Which task failed, and the end of its log: what a user would look up first."""
    if api is None or dag_id is None:
        return "DAG run failed; see the Airflow task logs"
    failed = [t for t in api.task_instances(dag_id, run_id) if t["state"] == "failed"]
    if not failed:
        return "DAG run failed; see the Airflow task logs"
    first = failed[0]
    tail = api.task_log(dag_id, run_id, first["task_id"], max(1, first["try_number"]),
                        map_index=first.get("map_index", -1))
    return f"task {first['task_id']} failed; log tail:\n" + "\n".join(tail.splitlines()[-25:])


def wait_for_drift_verdict(store: Store, pipeline: str, batch_id: str, *, timeout: float,
                           api: AirflowApi | None = None, poll: float = 2.0) -> dict[str, Any]:
    """Block until the drift monitor has measured the batch and its run has finished; returns
    the per-feature rows and whether the batch crossed the spec's drift policy."""
    dag_id = f"ct_{pipeline}_drift_monitor"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = store.drift_metrics(pipeline, batch_id)
        if rows and _run_state(api, dag_id, rows[0]["dag_run_id"]) in (None, "success",
                                                                        "failed"):
            crossing = next((c for c in store.drift_crossings(pipeline)
                             if c["batch_id"] == batch_id), None)
            return {"rows": rows, "crossed": crossing is not None,
                    "monitor_run_id": rows[0]["dag_run_id"], "crossing": crossing}
        time.sleep(poll)
    raise TimeoutError(f"batch {batch_id} of {pipeline}: not measured after {timeout:.0f}s")


@dataclass(frozen=True)
class DemoStack:
    """The local stack a demo runs on, started, with its DAGs active."""

    cfg: devstack.StackConfig
    settings: Settings
    store: Store
    api: AirflowApi
    say: Any


def start_stack(started: float, dag_ids: tuple[str, ...]) -> DemoStack:
    """Start the local stack (idempotent) and wait until each of `dag_ids` is active."""
    cfg = devstack.StackConfig.from_env()
    say = stamp(started)
    say("starting the local stack (S3 on disk, MLflow, Airflow scheduler/triggerer/...)")
    devstack.up(cfg, echo=lambda m: say(f"  {m}"))
    settings = Settings.from_env()
    api = AirflowApi(cfg.airflow_url, devstack.AIRFLOW_USER,
                     devstack.airflow_password(cfg) or "?")
    for dag in dag_ids:
        wait_for_dag(api, dag, say)
    return DemoStack(cfg, settings, Store(settings.store_url), api, say)


def run_demo(timeout: float = 480) -> int:
    started = time.monotonic()
    dag_id = f"ct_{DEMO_PIPELINE}"
    stack = start_stack(started, (f"{dag_id}_ingest", f"{dag_id}_drift_monitor", dag_id,
                                  f"{dag_id}_score"))
    cfg, settings, store, api, say = (stack.cfg, stack.settings, stack.store, stack.api,
                                      stack.say)
    champion = store.get_champion(DEMO_PIPELINE)
    if champion is not None:
        # The story below starts from no model; on a stack that already ran it, the drift
        # cooldown would hold the "first" batch back and the demo would wait for nothing.
        say(f"this stack already ran the demo (champion v{champion.model_version}): scoring one "
            "more batch with it; for the whole story again, run `make reset` then `make demo`")
        _score_one_batch(store, settings, say, timeout, seed=None)
        _print_links(cfg, settings, dag_id, started)
        return 0
    say(f"{DEMO_PIPELINE} retrains on drift (and daily): the first batch trains the first model")
    cycles = [("first batch (reference distribution)", 0.0, 11),
              ("second batch (covariate drift 0.6)", 0.6, 12)]
    for title, drift, seed in cycles:
        dropped = drop_batch(DEMO_PIPELINE, rows=6000, drift=drift, seed=seed)
        say(f"dropped {title}: {dropped.uri}")
        say(f"  waiting (up to {timeout:.0f}s) for its ingest run, then a training run and "
            "its decision")
        outcome = wait_for_batch(store, DEMO_PIPELINE, dropped.batch_id, timeout=timeout,
                                 api=api)
        _print_outcome(store, outcome, say)
        if outcome.decision is None:
            say("the cycle did not reach a decision; stopping the demo")
            return 1
        _print_reports(store, settings, outcome, say)
    dropped = drop_batch(DEMO_PIPELINE, rows=6000, drift=0.6, seed=13)
    say(f"dropped third batch (same distribution as the second): {dropped.uri}")
    say(f"  waiting (up to {timeout:.0f}s) for the drift monitor's verdict on it")
    verdict = wait_for_drift_verdict(store, DEMO_PIPELINE, dropped.batch_id, timeout=timeout,
                                     api=api)
    drifted = [r["feature"] for r in verdict["rows"] if r["drifted"]]
    say(f"drift monitor: {len(drifted)} of {len(verdict['rows'])} features drifted vs the "
        f"champion's data: {'retrain announced' if verdict['crossed'] else 'no retrain'}; "
        "the batch waits for the daily run")
    champion = store.get_champion(DEMO_PIPELINE)
    say(f"champion: {'none' if champion is None else 'v' + champion.model_version}")
    if champion is not None:
        _score_one_batch(store, settings, say, timeout)
    _print_links(cfg, settings, dag_id, started)
    return 0


def _print_links(cfg: devstack.StackConfig, settings: Settings, dag_id: str,
                 started: float) -> None:
    print()
    index = f"s3://{settings.artifact_bucket}/{index_key(DEMO_PIPELINE)}"
    print(f"Reports     {settings.http_url(index) or index}   (every run's decision and reports)")
    print(f"Airflow UI  {cfg.airflow_url}/dags/{dag_id}   login {devstack.AIRFLOW_USER}, "
          f"password in {devstack.passwords_file(cfg)}")
    print(f"MLflow UI   {cfg.mlflow_url}/#/models/ct_{DEMO_PIPELINE}   login "
          f"{devstack.MLFLOW_ADMIN}, password in {cfg.run_dir / 'mlflow_admin_password'}")
    print(f"Demo finished in {time.monotonic() - started:.0f}s. The stack keeps running; "
          "stop it with `make down`; `make reset` deletes its state.")


def _score_one_batch(store: Store, settings: Settings, say: Any, timeout: float,
                     seed: int | None = 14) -> None:
    """The champion at work: an unlabelled batch on the scoring prefix, and its predictions."""
    dropped = drop_scoring_batch(DEMO_PIPELINE, rows=2000, seed=seed, settings=settings)
    say(f"dropped an unlabelled batch to score: {dropped.uri}")
    say(f"  waiting (up to {timeout:.0f}s) for the scoring DAG's predictions")
    [record] = wait_for_predictions(store, DEMO_PIPELINE, dropped.batch_id, timeout=timeout)
    say(f"scored: {record.rows_scored} rows by ct_{DEMO_PIPELINE} v{record.model_version} "
        f"-> {record.predictions_uri}")
    if url := settings.http_url(record.predictions_uri):
        say(f"  over HTTP: {url}")
    say(f"  the prediction log: `mlops predictions {DEMO_PIPELINE}`")


def wait_for_dag(api: AirflowApi, dag_id: str, say: Any, timeout: float = 180) -> None:
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


def _print_outcome(store: Store, outcome: BatchOutcome, say: Any) -> None:
    if outcome.decision is None:
        say(f"batch {outcome.batch_id}: {outcome.status} — {outcome.reason} "
            f"(run {outcome.dag_run_id}: {outcome.dag_run_state})")
        return
    from mlops_lib.steps.planning import describe

    run = store.get_training_run(DEMO_PIPELINE, outcome.dag_run_id) or {}
    say(f"  training run {outcome.dag_run_id} fired: {describe(run.get('trigger', {}))}")
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
        from mlops_lib.stores.registry import Registry

        exp = Registry(settings.mlflow_tracking_uri).experiment_id(run_id)
        say(f"  reports: {settings.mlflow_tracking_uri}/#/experiments/{exp}/runs/{run_id}"
            "/artifacts (folder reports/)")
    for report in store.reports(DEMO_PIPELINE, outcome.dag_run_id):
        if report["format"] == "html":
            say(f"    {report['kind']:>17}: {settings.http_url(report['uri']) or report['uri']}")
    index = f"s3://{settings.artifact_bucket}/{index_key(DEMO_PIPELINE)}"
    say(f"  every run's decision and reports: {settings.http_url(index) or index}")


def stamp(started: float) -> Any:
    def say(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {message}", flush=True)
    return say
