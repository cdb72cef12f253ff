"""Local-stack benchmark: idle memory (PSS per component) and S3 drop → sensor success latency.

Starts its own stack in a temporary CT_HOME on free ports (never the one `make up` runs), with a
temporary CT_PIPELINES_DIR holding one copy of pipelines/credit_default.yaml that retrains on
every accepted batch, lets it settle, measures PSS of every process group, then drops N batches
one after the other and reads, from Airflow's REST API, relative to the moment the completion
marker's PUT returned:

- `drop_to_sensor_s`: until the ingest run's first task succeeded: `wait_for_batches` (polling:
  the deferred S3BatchSensor, `poke_interval_s: 1`) or `find_batches` (events: S3 notification
  → SQS → AssetWatcher → asset-triggered ingest run, which lists the prefix once);
- `drop_to_watcher_event_s` (events only): until the AssetWatcher's `SqsSensorTrigger` fired,
  i.e. the asset event it recorded (the events mode's sensor success);
- `drop_to_ingest_run_s` (events only): until the asset event queued the ingest run;
- `drop_to_decision_s`: until the last task of the training run (triggered by the
  accepted-batches asset) ended;

and how that drop → decision time splits into time inside tasks on the critical path (ingest
`batch.register_batch` + `batch.validate_batch`; training `reconcile_champion`, `plan_training`,
`version_dataset`, `train_model`, max(`evaluate_challenger`, `build_reports`),
`promote_champion`) and orchestration overhead (sensing, scheduling, asset events, task
start-up: everything else). Goals (drop → sensor success): ≤ 3 s polling (`drop_to_sensor_s`),
≤ 1.5 s events (`drop_to_watcher_event_s`: there the sensor is the watcher's trigger; the
ingest run's `find_batches` listing that follows is reported as `drop_to_sensor_s`).

    .venv/bin/python bench/stack_latency_memory.py --batches 3
    .venv/bin/python bench/stack_latency_memory.py --mode events --batches 3  # moto: S3 + SQS
Writes bench/results/stack_latency_memory_<mode>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ct_airflow.rest_api import AirflowApi  # noqa: E402

from mlops_dev import devstack  # noqa: E402
from mlops_dev.demo import drop_batch, wait_for_batch, wait_until_deferred  # noqa: E402
from mlops_lib.settings import Settings  # noqa: E402
from mlops_lib.stores.store import Store  # noqa: E402
from mlops_lib.training.environment import gpu_name  # noqa: E402
from tests.support import free_port  # noqa: E402

EXAMPLE_SPEC = REPO / "pipelines" / "credit_default.yaml"
PIPELINES = {"polling": "credit_default", "events": "credit_events"}
SENSOR = {"polling": "wait_for_batches", "events": "find_batches"}
EVENTS_QUEUE = "ct-bench-events"
GOAL_S = {"polling": 3.0, "events": 1.5}
GOAL_KEY = {"polling": "drop_to_sensor_s", "events": "drop_to_watcher_event_s"}
# In-task critical path: ingest (one mapped group per batch), then training, whose evaluate
# and reports run in parallel.
INGEST_PATH = ("batch.register_batch", "batch.validate_batch")
TRAINING_PATH = ("reconcile_champion", "plan_training", "version_dataset", "train_model",
                 "promote_champion")
PARALLEL = ("evaluate_challenger", "build_reports")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("polling", "events"), default="polling")
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--settle", type=float, default=60, help="seconds idle before measuring")
    parser.add_argument("--out", type=Path, default=None,
                        help="default bench/results/stack_latency_memory_<mode>.json")
    args = parser.parse_args()
    mode, pipeline = args.mode, PIPELINES[args.mode]
    out = args.out or REPO / "bench" / "results" / f"stack_latency_memory_{mode}.json"

    home = Path(tempfile.mkdtemp(prefix="ct_bench_"))
    os.environ.update({"CT_HOME": str(home), "CT_S3_PORT": str(free_port()),
                       "CT_MLFLOW_PORT": str(free_port()), "CT_AIRFLOW_PORT": str(free_port()),
                       "CT_EXPORTER_PORT": str(free_port()),
                       "CT_PIPELINES_DIR": str(_write_pipeline(home / "pipelines", mode)),
                       "CT_S3_SERVER": "moto" if mode == "events" else "s3rver"})
    cfg = devstack.StackConfig.from_env()
    result: dict[str, Any] = {"when": datetime.now(UTC).isoformat(timespec="seconds"),
                              "machine": _machine(), "mode": mode, "pipeline": pipeline,
                              "s3_server": cfg.s3_server, "rows": args.rows,
                              "goal_drop_to_sensor_s": GOAL_S[mode], "batches": []}
    try:
        t0 = time.monotonic()
        devstack.up(cfg, echo=lambda m: None)
        result["stack_up_s"] = round(time.monotonic() - t0, 1)
        api = AirflowApi(cfg.airflow_url, devstack.AIRFLOW_USER,
                         devstack.airflow_password(cfg) or "")
        dag_id, ingest_dag_id = f"ct_{pipeline}", f"ct_{pipeline}_ingest"
        _wait_for_dags(api, (ingest_dag_id, f"{dag_id}_drift_monitor", dag_id))
        if mode == "events":
            result["watcher_ready"] = _wait_for_watcher(cfg)
        time.sleep(args.settle)
        idle = {name: s["pss_mib"] for name, s in devstack.status(cfg).items()}
        result["idle_pss_mib"] = idle | {"total": round(sum(idle.values()), 1)}
        print(f"stack up in {result['stack_up_s']}s ({cfg.s3_server}); "
              f"idle PSS {result['idle_pss_mib']}")

        settings = Settings.from_env()
        store = Store(settings.store_url)
        for i in range(args.batches):
            if mode == "polling":
                wait_until_deferred(api, ingest_dag_id)
            else:
                _wait_until_idle(api, ingest_dag_id)
            dropped = drop_batch(pipeline, rows=args.rows, seed=1000 + i, settings=settings)
            marker_at = time.time()  # the marker PUT has returned; same clock as Airflow's
            outcome = wait_for_batch(store, pipeline, dropped.batch_id, timeout=600, api=api)
            row = _measure(api, mode, pipeline, outcome, marker_at)
            result["batches"].append({"batch": dropped.batch_id, **row})
            print(json.dumps(result["batches"][-1]))
        for key in ("drop_to_sensor_s", "drop_to_watcher_event_s", "drop_to_ingest_run_s",
                    "drop_to_decision_s", "orchestration_overhead"):
            values = [b[key] for b in result["batches"] if b.get(key) is not None]
            if values:
                result[key] = {"min": min(values), "median": statistics.median(values),
                               "max": max(values)}
    finally:
        devstack.down(cfg, echo=lambda m: None)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"{mode}: drop → sensor success {result.get(GOAL_KEY[mode])} "
          f"(goal ≤ {GOAL_S[mode]} s); drop → decision {result.get('drop_to_decision_s')}; "
          f"wrote {out}")
    return 0


def _measure(api: AirflowApi, mode: str, pipeline: str, outcome: Any,
             marker_at: float) -> dict[str, Any]:
    """One batch's timings from its ingest run and the training run that took it."""
    dag_id, ingest_dag_id = f"ct_{pipeline}", f"ct_{pipeline}_ingest"
    row: dict[str, Any] = {"status": outcome.status, "state": outcome.dag_run_state,
                           "ingest_run": outcome.ingest_run_id,
                           "training_run": outcome.training_run_id}
    if outcome.reason:
        row["reason"] = outcome.reason
    ingest = api.task_instances(ingest_dag_id, outcome.ingest_run_id)
    sensor = next(t for t in ingest if t["task_id"] == SENSOR[mode])
    row["drop_to_sensor_s"] = _since(marker_at, sensor["end_date"])
    row["drop_to_sensor_start_s"] = _since(marker_at, sensor["start_date"])
    if mode == "events":
        run = api.dag_run(ingest_dag_id, outcome.ingest_run_id)
        row["ingest_run_type"] = run.get("run_type")
        row["drop_to_ingest_run_s"] = _since(marker_at, run.get("queued_at"))
        events = api.upstream_asset_events(ingest_dag_id, outcome.ingest_run_id)
        row["drop_to_watcher_event_s"] = _since(marker_at, min(
            (e["timestamp"] for e in events), default=None, key=_ts))
    row["ingest_tasks_s"] = _durations(ingest)
    # Mapped groups run side by side; one batch per run here, so one map index.
    ingest_in_task = max((sum(_duration(t) for t in ingest
                              if t["task_id"] in INGEST_PATH and _map_index(t) == i)
                          for i in {_map_index(t) for t in ingest}), default=0.0)
    if outcome.training_run_id is None:
        return row
    training = api.task_instances(dag_id, outcome.training_run_id)
    run = api.dag_run(dag_id, outcome.training_run_id)
    row["training_run_type"] = run.get("run_type")
    row["drop_to_training_run_s"] = _since(marker_at, run.get("queued_at"))
    ended = [_ts(t["end_date"]) for t in training if t.get("end_date")]
    total = max(ended) - marker_at
    durations = {t["task_id"]: _duration(t) for t in training}
    in_task = ingest_in_task + sum(durations.get(k, 0.0) for k in TRAINING_PATH) + max(
        durations.get(k, 0.0) for k in PARALLEL)
    row |= {"drop_to_decision_s": round(total, 2),
            "in_task_critical_path_s": round(in_task, 2),
            "orchestration_overhead": round((total - in_task) / total, 3),
            "training_tasks_s": _durations(training)}
    return row


def _write_pipeline(directory: Path, mode: str) -> Path:
    """The example spec, retraining on every accepted batch, polled each second or (events)
    under its own prefix, announced by S3 notifications on the bench's SQS queue."""
    directory.mkdir(parents=True, exist_ok=True)
    raw = yaml.safe_load(EXAMPLE_SPEC.read_text())
    name = PIPELINES[mode]
    if mode == "events":
        raw.update(name=name, source={**raw["source"], "prefix": f"landing/{name}/"},
                   trigger={"mode": "events", "sqs_queue": EVENTS_QUEUE,
                            "retrain_on": ["arrival"]})
    else:
        raw.update(trigger={"poke_interval_s": 1, "retrain_on": ["arrival"]})
    (directory / f"{name}.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return directory


def _wait_for_dags(api: AirflowApi, dag_ids: tuple[str, ...], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    for dag_id in dag_ids:
        while True:
            try:
                if api.dag(dag_id).get("is_paused"):
                    api.unpause(dag_id)
                break
            except OSError:  # not parsed yet
                if time.monotonic() > deadline:
                    raise TimeoutError(f"DAG {dag_id} did not appear within {timeout:.0f}s; "
                                       f"import errors: {api.import_errors()}") from None
                time.sleep(2)


def _wait_for_watcher(cfg: devstack.StackConfig, timeout: float = 120) -> bool:
    """Until the AssetWatcher's SqsSensorTrigger polls the queue (from the triggerer's log); a
    batch dropped earlier still arrives (SQS keeps it) but counts the triggerer's start-up."""
    log = cfg.log_dir / "airflow-triggerer.log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and "SqsSensor checking for message" in log.read_text(errors="replace"):
            return True
        time.sleep(1)
    print(f"warning: the SQS watcher did not poll within {timeout:.0f}s ({log}); measuring anyway")
    return False


def _wait_until_idle(api: AirflowApi, dag_id: str, timeout: float = 300) -> None:
    """Until no run of the ingest DAG is queued or running (max_active_runs=1: a batch dropped
    meanwhile would wait for it), e.g. the one the bucket notification's S3 test event starts."""
    deadline = time.monotonic() + timeout
    while any(api.dag_runs(dag_id, state=state) for state in ("queued", "running")):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{dag_id} still has an active run after {timeout:.0f}s")
        time.sleep(1)


def _durations(tis: list[dict[str, Any]]) -> dict[str, float]:
    """Per task (`task_id[map_index]` for mapped ones): seconds in the task."""
    return {t["task_id"] + (f"[{t['map_index']}]" if _map_index(t) >= 0 else ""):
            round(_duration(t), 2) for t in tis}


def _map_index(ti: dict[str, Any]) -> int:
    index = ti.get("map_index")
    return -1 if index is None else int(index)


def _duration(ti: dict[str, Any]) -> float:
    return float(ti.get("duration") or 0)


def _since(start: float, value: str | None) -> float | None:
    return None if not value else round(_ts(value) - start, 2)


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _machine() -> dict[str, object]:
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    return {"cores": os.cpu_count(), "ram_gib": round(int(mem) / 2**20, 1),
            "gpu": gpu_name(), "python": platform.python_version(),
            "platform": platform.platform()}


if __name__ == "__main__":
    sys.exit(main())
