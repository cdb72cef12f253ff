"""Scaling of the pipeline's stages with batch size: wall time and peak RSS of each task.

One batch of the synthetic 28-input schema (bench/synthetic.py) per size goes from a drop in S3
to a promotion decision through the same step functions the DAG tasks call (mlops_lib.steps),
each stage in a fresh process as Airflow runs a task: validate (download, read, every contract
check, conform, staged upload), version (DVC add + push), train, evaluate, reports (Evidently on
the sampled rows), decide; then, after the decision, the new champion's drift reference
(publish_drift_reference) and the drift monitor's measure_drift of the batch against it (all
rows on both sides). Real services: s3rver (objects on disk) and
an MLflow tracking server, both started here on free ports, and a SQLite store. Airflow itself
is not in the loop: its overhead per run is benchmark 3 (bench/stack_latency_memory.py).

Per stage: wall time inside the task process, the process's peak RSS (getrusage ru_maxrss) and
its RSS after imports, before any work (the baseline a task pays for its imports).

    .venv/bin/python bench/scaling.py                       # 1M, 3M, 10M rows (~25 min, 2 cores)
    .venv/bin/python bench/scaling.py --rows 1000000 3000000

Writes bench/results/scaling.json (or --out) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "plugins"))  # ct_airflow.xcom: the stages' state is XCom JSON
sys.path.insert(0, str(REPO / "bench"))

from synthetic import machine, synthetic_spec  # noqa: E402

RESULT = REPO / "bench" / "results" / "scaling.json"
STAGES = ("validate", "version", "train", "evaluate", "reports", "decide", "reference",
          "drift")
AFTER_DECISION = ("reference", "drift")  # not on the path from drop to decision
ROUNDS = 100  # fixed rounds, early stopping off: the training work is the same per row
GEN_CHUNK = 1_000_000
_PAGE = os.sysconf("SC_PAGE_SIZE")


def bench_spec(name: str):  # noqa: ANN201 - PipelineSpec, imported lazily in the children
    from mlops_lib.spec import Source

    spec = synthetic_spec(name)
    return replace(
        spec, source=Source("ct-landing", f"landing/{name}/", max_file_bytes=2**40),
        training=replace(spec.training, device="cpu", num_boost_round=ROUNDS,
                         early_stopping_rounds=0,
                         params={"max_depth": 6, "eta": 0.1, "max_bin": 256}))


# --- one stage, in its own process --------------------------------------------------------------


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * _PAGE / 2**20


def child(stage: str, state_file: Path) -> None:
    # The state between stages is JSON, as XCom between tasks: the same one conversion.
    from ct_airflow.xcom import from_xcom, to_xcom

    from mlops_lib.landing.batches import completed_batches
    from mlops_lib.services import Services
    from mlops_lib.settings import Settings
    from mlops_lib.steps import (
        dataset,
        decide,
        drift,
        drift_reference,
        evaluate,
        ingest,
        plan,
        reports,
        train,
    )
    from mlops_lib.steps.planning import RunContext
    from mlops_lib.steps.records import (
        DatasetVersion,
        Decision,
        Evaluation,
        ReportSet,
        TrainedModel,
        TrainingPlan,
    )
    from mlops_lib.stores.s3io import list_objects

    state = json.loads(state_file.read_text())
    spec = bench_spec(state["pipeline"])
    svc = Services(Settings.from_env())
    baseline = _rss_mib()
    started = time.perf_counter()
    run = state["dag_run_id"]
    the_plan = from_xcom(TrainingPlan, state.get("plan"))
    version = from_xcom(DatasetVersion, state.get("version"))
    trained = from_xcom(TrainedModel, state.get("trained"))
    champion = None if the_plan is None else the_plan.champion
    result: Any
    if stage == "validate":
        listing = list_objects(svc.s3, spec.source.bucket, spec.source.prefix)
        batch = next(b for b in completed_batches(listing, spec.source.prefix,
                                                  spec.source.completion_rule)
                     if b.batch_id == state["batch_id"])
        ingest.register_batch(svc, spec, batch, state["ingest_run_id"])
        result = ingest.validate(svc, spec, batch, state["ingest_run_id"])
        state["plan"] = to_xcom(plan.plan_training(svc, spec, RunContext(
            dag_run_id=run, run_type="manual", triggered_by="bench",
            params={"reason": "scaling bench", "batches": [state["batch_id"]]})))
    elif stage == "version":
        result = dataset.version_dataset(svc, spec, the_plan, run)
        state["version"] = to_xcom(result)
    elif stage == "train":
        result = train.train(svc, spec, the_plan, version, run)
        state["trained"] = to_xcom(result)
    elif stage == "evaluate":
        result = evaluate.evaluate(svc, spec, version, trained, champion, run)
        state["evaluation"] = to_xcom(result)
    elif stage == "reports":
        result = reports.build_reports(svc, spec, version, trained, champion, run)
        state["reports"] = to_xcom(result)
    elif stage == "decide":
        result = decide.decide(svc, spec, the_plan, from_xcom(Evaluation, state["evaluation"]),
                               from_xcom(ReportSet, state["reports"]), run)
        state["decision"] = to_xcom(result)
    elif stage == "reference":
        result = drift_reference.publish_champion_reference(
            svc, spec, from_xcom(Decision, state["decision"]), run)
    elif stage == "drift":
        result = drift.measure_drift(svc, spec, [state["batch_id"]], f"drift_{run}")
    else:
        raise SystemExit(f"unknown stage {stage}")
    out = to_xcom(result)
    if stage == "evaluate":
        out = {k: v for k, v in out.items() if k != "verdict"}
    seconds = time.perf_counter() - started
    state_file.write_text(json.dumps(state, default=str))
    print(json.dumps({"stage": stage, "seconds": round(seconds, 2),
                      "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                            / 1024, 1),
                      "baseline_rss_mib": round(baseline, 1),
                      "result": out}, default=str))


def generate(name: str, rows: int, out: Path) -> int:
    """The batch as one parquet file written in row groups of GEN_CHUNK rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlops_dev.datagen import generate_batch

    spec = bench_spec(name)
    writer = None
    for i, start in enumerate(range(0, rows, GEN_CHUNK)):
        chunk = generate_batch(spec, min(GEN_CHUNK, rows - start), seed=1000 + i)
        table = pa.Table.from_pandas(chunk, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(out, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()
    return out.stat().st_size


# --- the driver ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_size(rows: int, home: Path, env: dict[str, str]) -> dict[str, Any]:
    import boto3

    name = f"scale_{rows // 1000}k"
    spec = bench_spec(name)
    data = home / f"{name}.parquet"
    started = time.perf_counter()
    size = generate(name, rows, data)
    s3 = boto3.client("s3", endpoint_url=env["CT_S3_ENDPOINT_URL"],
                      aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                      region_name=env["AWS_DEFAULT_REGION"])
    base = f"{spec.source.prefix}batch-0001/"
    s3.upload_file(str(data), spec.source.bucket, base + "part-0000.parquet")
    s3.put_object(Bucket=spec.source.bucket, Key=base + spec.source.marker, Body=b"")
    data.unlink()
    print(f"{rows:,} rows: generated and uploaded {size / 2**20:.0f} MiB of parquet in "
          f"{time.perf_counter() - started:.0f}s", flush=True)

    state_file = home / f"{name}.state.json"
    state_file.write_text(json.dumps({"pipeline": name, "batch_id": "batch-0001",
                                      "ingest_run_id": f"ingest_{name}",
                                      "dag_run_id": f"manual_{name}"}))
    stages = []
    for stage in STAGES:
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "--child", stage, str(state_file)],
                              env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"{stage} at {rows:,} rows failed:\n{proc.stderr[-4000:]}")
        line = json.loads(proc.stdout.strip().splitlines()[-1])
        line["process_seconds"] = round(wall, 2)
        if stage == "decide":
            line["decision"] = line["result"].get("decision")
        line.pop("result", None)
        stages.append(line)
        print(f"  {stage:<9} {line['seconds']:>8.1f}s  peak RSS {line['peak_rss_mib']:>7.0f} MiB"
              f"  (after imports {line['baseline_rss_mib']:.0f} MiB)", flush=True)
    task_seconds = sum(s["seconds"] for s in stages if s["stage"] not in AFTER_DECISION)
    return {"rows": rows, "features": len(spec.model_inputs), "parquet_mib": round(size / 2**20),
            "stages": stages, "drop_to_decision_task_seconds": round(task_seconds, 1),
            "drop_to_decision_process_seconds": round(
                sum(s["process_seconds"] for s in stages if s["stage"] not in AFTER_DECISION),
                1),
            "peak_rss_mib": max(s["peak_rss_mib"] for s in stages)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 3_000_000, 10_000_000])
    ap.add_argument("--out", type=Path, default=RESULT)
    ap.add_argument("--child", nargs=2, metavar=("STAGE", "STATE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return

    from mlops_dev import devstack
    from mlops_lib.stores.migrations import upgrade

    home = Path(tempfile.mkdtemp(prefix="ct_scaling_"))
    cfg = devstack.StackConfig(home=home, s3_port=_free_port(), mlflow_port=_free_port(),
                               airflow_port=_free_port())
    env = {**os.environ, **cfg.service_env(),
           "CT_STORE_URL": f"sqlite:///{home / 'store.db'}"}
    upgrade(env["CT_STORE_URL"])  # the steps never create the store's tables themselves
    try:
        devstack.start_s3(cfg, echo=lambda _: None)
        devstack.start_mlflow(cfg, echo=lambda _: None)  # basic auth; env has the service login
        results = [run_size(rows, home, env) for rows in sorted(args.rows)]
    finally:
        devstack.down(cfg, echo=lambda _: None)
        shutil.rmtree(home, ignore_errors=True)

    import xgboost

    smallest = results[0]
    for r in results:
        r["time_per_million_rows_s"] = round(
            r["drop_to_decision_task_seconds"] / (r["rows"] / 1e6), 1)
        r["time_vs_smallest_per_row"] = round(
            (r["drop_to_decision_task_seconds"] / r["rows"])
            / (smallest["drop_to_decision_task_seconds"] / smallest["rows"]), 2)
    report = {"benchmark": "scaling", "measured_at": datetime.now(UTC).isoformat(),
              "machine": machine(xgboost=xgboost.__version__), "rounds": ROUNDS,
              "goal": "10M rows end-to-end with peak RSS <= 8 GiB; time about linear",
              "sizes": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"\n{'rows':>11} {'drop->decision':>15} {'s/M rows':>9} {'peak RSS':>10}")
    for r in results:
        print(f"{r['rows']:>11,} {r['drop_to_decision_task_seconds']:>14.1f}s "
              f"{r['time_per_million_rows_s']:>9.1f} {r['peak_rss_mib'] / 1024:>8.2f} GiB")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
