"""Local-stack benchmark: idle memory (PSS per component) and S3 drop → sensor success latency.

Starts its own stack in a temporary CT_HOME on free ports (never the one `make up` runs), lets it
settle, measures PSS of every process group, then drops N batches and reads, from Airflow's REST
API, when `wait_for_batch` finished relative to the moment the completion marker was written,
and how the drop → end-of-run time splits into time inside tasks (critical path) and
orchestration overhead (scheduling, task start-up: everything else).

    uv run python bench/stack_latency_memory.py --batches 3
Writes bench/results/stack_latency_memory.json.
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
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mlops_lib import devstack  # noqa: E402
from mlops_lib.airflow_api import AirflowApi  # noqa: E402
from mlops_lib.demo import drop_batch, wait_for_batch, wait_until_deferred  # noqa: E402
from mlops_lib.settings import Settings  # noqa: E402
from mlops_lib.store import Store  # noqa: E402
from tests.support import free_port  # noqa: E402

PIPELINE = "credit_default"
# Tasks between the sensor and the end of the run, in order; evaluate and reports run in parallel.
CRITICAL_PATH = ("register_batch", "validate_batch", "version_dataset", "train_model",
                 "promote_champion")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--settle", type=float, default=60, help="seconds idle before measuring")
    parser.add_argument("--out", type=Path,
                        default=REPO / "bench" / "results" / "stack_latency_memory.json")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="ct_bench_"))
    os.environ.update({"CT_HOME": str(home), "CT_S3_PORT": str(free_port()),
                       "CT_MLFLOW_PORT": str(free_port()), "CT_AIRFLOW_PORT": str(free_port())})
    cfg = devstack.StackConfig.from_env()
    result: dict[str, object] = {"machine": _machine(), "batches": []}
    try:
        t0 = time.monotonic()
        devstack.up(cfg, echo=lambda m: None)
        result["stack_up_s"] = round(time.monotonic() - t0, 1)
        time.sleep(args.settle)
        idle = {name: s["pss_mib"] for name, s in devstack.status(cfg).items()}
        result["idle_pss_mib"] = idle | {"total": round(sum(idle.values()), 1)}  # type: ignore[arg-type]
        print(f"stack up in {result['stack_up_s']}s; idle PSS {result['idle_pss_mib']}")

        settings = Settings.from_env()
        store = Store(settings.store_url)
        api = AirflowApi(cfg.airflow_url, devstack.AIRFLOW_USER,
                         devstack.airflow_password(cfg) or "")
        dag_id = f"ct_{PIPELINE}"
        for i in range(args.batches):
            wait_until_deferred(api, dag_id)
            dropped = drop_batch(PIPELINE, rows=args.rows, seed=1000 + i, settings=settings)
            marker_at = time.time()  # the marker PUT has returned; same clock as Airflow's
            outcome = wait_for_batch(store, PIPELINE, dropped.batch_id, timeout=600, api=api,
                                     dag_id=dag_id)
            tis = {t["task_id"]: t for t in api.task_instances(dag_id, outcome.dag_run_id)}
            sensed = _ts(tis["wait_for_batch"]["end_date"])
            done = max(_ts(t["end_date"]) for t in tis.values() if t["end_date"])
            durations = {k: float(t["duration"] or 0) for k, t in tis.items()}
            in_task = sum(durations.get(k, 0) for k in CRITICAL_PATH) + max(
                durations.get("evaluate_challenger", 0), durations.get("build_reports", 0))
            total = done - marker_at
            row = {"batch": dropped.batch_id, "rows": args.rows, "state": outcome.dag_run_state,
                   "drop_to_sensor_s": round(sensed - marker_at, 2),
                   "drop_to_run_end_s": round(total, 2),
                   "in_task_critical_path_s": round(in_task, 2),
                   "orchestration_overhead": round((total - in_task) / total, 3),
                   "tasks_s": durations}
            result["batches"].append(row)  # type: ignore[union-attr]
            print(json.dumps(row))
        lat = [b["drop_to_sensor_s"] for b in result["batches"]]  # type: ignore[union-attr]
        result["drop_to_sensor_s"] = {"min": min(lat), "median": statistics.median(lat),
                                      "max": max(lat)}
    finally:
        devstack.down(cfg, echo=lambda m: None)
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"drop → sensor success: {result.get('drop_to_sensor_s')}; wrote {out}")
    return 0


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _machine() -> dict[str, object]:
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    return {"cores": os.cpu_count(), "mem_gib": round(int(mem) / 2**20, 1),
            "python": platform.python_version(), "platform": platform.platform()}


if __name__ == "__main__":
    sys.exit(main())
