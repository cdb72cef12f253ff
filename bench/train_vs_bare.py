"""The service's training task core vs a bare XGBoost script, on the same parquet and params.

(a) service: ``pq.read_table`` (as the train step reads the versioned parquet: an Arrow table, no
    pandas frame) then ``training.trainer.train_model``: float32 / native-categorical matrix
    built column by column from Arrow, ``QuantileDMatrix``, ``xgb.train``, environment capture.
(b) bare:    ``pd.read_parquet`` -> ``xgb.QuantileDMatrix(frame, enable_categorical=True)`` ->
    ``xgb.train`` with the identical params dict and number of rounds.

Early stopping is switched off in the benchmark spec so that both train exactly ``--rounds``
trees (with it on, the service would also evaluate a validation split each round: a feature, not
overhead). Each run is a fresh subprocess (clean peak RSS); the two alternate, ``--repeat`` times
each, and medians are compared (the fastest runs too: on a shared machine they are the least
disturbed). Goal (issue 6, benchmark 1): service / bare <= 1.05x.

    .venv/bin/python bench/train_vs_bare.py                 # 1M rows x 28 features, 150 rounds
    .venv/bin/python bench/train_vs_bare.py --rows 200000
    .venv/bin/python bench/train_vs_bare.py --device cuda   # needs a visible GPU and a CUDA build

Writes bench/results/train_vs_bare.json (or --out) and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
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

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import xgboost as xgb  # noqa: E402
from synthetic import synthetic_spec  # noqa: E402

from mlops_dev.datagen import generate_batch  # noqa: E402
from mlops_lib.spec import PipelineSpec, load_spec  # noqa: E402
from mlops_lib.training import environment, trainer  # noqa: E402

RESULT = REPO / "bench" / "results" / "train_vs_bare.json"
PARAMS = {"max_depth": 5, "eta": 0.1, "subsample": 0.9, "colsample_bytree": 0.9,
          "min_child_weight": 1}
PREDICT_ROWS = 20_000


def bench_spec(args: argparse.Namespace) -> PipelineSpec:
    spec = load_spec(args.spec) if args.spec else synthetic_spec('train_bench')
    params = {**(spec.training.params if args.spec else PARAMS)}
    return replace(spec, training=replace(
        spec.training, device=args.device, num_boost_round=args.rounds, early_stopping_rounds=0,
        params=params))


# --- the two contenders (each in its own process) ----------------------------------------------


def run_service(parquet: Path, spec: PipelineSpec, out: Path) -> dict[str, Any]:
    started = time.perf_counter()
    table = pq.read_table(parquet)
    read_s = time.perf_counter() - started
    model = trainer.train_model(table, spec)
    total_s = time.perf_counter() - started
    _predict_sample(model.booster, table.slice(0, PREDICT_ROWS).to_pandas(), spec, out, ours=True)
    return {"read_s": read_s, "matrix_s": model.matrix_seconds, "train_s": model.train_seconds,
            "total_s": total_s, "trees": model.booster.num_boosted_rounds(),
            "params": model.params}


def run_bare(parquet: Path, spec: PipelineSpec, out: Path,
             params: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    frame = pd.read_parquet(parquet)
    read_s = time.perf_counter() - started
    t = time.perf_counter()
    dtrain = xgb.QuantileDMatrix(frame[spec.model_inputs], label=frame[spec.target],
                                 enable_categorical=True, nthread=int(params["nthread"]))
    matrix_s = time.perf_counter() - t
    t = time.perf_counter()
    booster = xgb.train(params, dtrain, num_boost_round=spec.training.num_boost_round)
    train_s = time.perf_counter() - t
    total_s = time.perf_counter() - started
    _predict_sample(booster, frame, spec, out, ours=False)
    return {"read_s": read_s, "matrix_s": matrix_s, "train_s": train_s, "total_s": total_s,
            "trees": booster.num_boosted_rounds()}


def _predict_sample(booster: xgb.Booster, frame: pd.DataFrame, spec: PipelineSpec, out: Path,
                    *, ours: bool) -> None:
    sample = frame.iloc[:PREDICT_ROWS]
    if ours:
        pred = trainer.predict(booster, sample, spec)
    else:
        pred = booster.predict(xgb.DMatrix(sample[spec.model_inputs], enable_categorical=True))
    np.save(out, pred)


def child(args: argparse.Namespace) -> None:
    spec = bench_spec(args)
    out = Path(args.pred_out)
    if args.child == "service":
        result = run_service(Path(args.parquet), spec, out)
    else:
        params = json.loads(Path(args.params).read_text())
        result = run_bare(Path(args.parquet), spec, out, params)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["peak_rss_mib"] = round(usage.ru_maxrss / 1024)
    result["cpu_s"] = usage.ru_utime + usage.ru_stime  # whole process, imports included
    print("RESULT " + json.dumps(result, default=str))


# --- the harness ---------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    gpus = environment.query_gpus()
    info = xgb.build_info()
    return {
        "cpu": environment.cpu_model(),
        "cores_available": environment.available_cores(),
        "cores_total": os.cpu_count(),
        "ram_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "gpu": "; ".join(f"{g.get('name')} ({g.get('memory.total')} MiB)" for g in gpus)
        or "none",
        "python": platform.python_version(),
        "xgboost": xgb.__version__,
        "xgboost_use_cuda": bool(info.get("USE_CUDA")),
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }


def _spawn(kind: str, args: argparse.Namespace, parquet: Path, params_file: Path,
           pred_out: Path) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", kind, "--parquet", str(parquet),
           "--params", str(params_file), "--pred-out", str(pred_out), "--rows", str(args.rows),
           "--rounds", str(args.rounds), "--device", args.device]
    if args.spec:
        cmd += ["--spec", str(args.spec)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{kind} run failed:\n{proc.stdout}\n{proc.stderr}")
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    result["process_wall_s"] = wall
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=150, help="boosting rounds (both sides)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side, alternating")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--spec", type=Path, default=None,
                        help="a pipeline spec (e.g. pipelines/credit_default.yaml) instead of "
                             "the synthetic 28-feature frame")
    parser.add_argument("--out", type=Path, default=RESULT)
    parser.add_argument("--child", choices=("service", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--parquet", help=argparse.SUPPRESS)
    parser.add_argument("--params", help=argparse.SUPPRESS)
    parser.add_argument("--pred-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if args.device == "cuda" and not (environment.gpu_name() and xgb.build_info().get("USE_CUDA")):
        raise SystemExit("--device cuda needs a visible NVIDIA GPU and a CUDA build of XGBoost")

    spec = bench_spec(args)
    load_before = list(os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="train_bench_") as tmp:
        tmpdir = Path(tmp)
        started = time.perf_counter()
        frame = generate_batch(spec, args.rows, seed=0)
        parquet = tmpdir / "batch.parquet"
        frame.to_parquet(parquet, engine="pyarrow", index=False)
        parquet_mib = parquet.stat().st_size / 2**20
        del frame
        print(f"generated {args.rows:,} rows x {len(spec.model_inputs)} features "
              f"({parquet_mib:.0f} MiB parquet) in {time.perf_counter() - started:.1f}s")
        params = trainer.training_params(spec, args.device)
        params_file = tmpdir / "params.json"
        params_file.write_text(json.dumps(params))

        runs: dict[str, list[dict[str, Any]]] = {"service": [], "bare": []}
        for i in range(args.repeat):
            order = ("service", "bare") if i % 2 == 0 else ("bare", "service")
            for kind in order:
                result = _spawn(kind, args, parquet, params_file, tmpdir / f"{kind}.npy")
                runs[kind].append(result)
                print(f"  {kind:7s} run {i + 1}: total {result['total_s']:.2f}s "
                      f"(read {result['read_s']:.2f}, matrix {result['matrix_s']:.2f}, "
                      f"train {result['train_s']:.2f}), CPU {result['cpu_s']:.1f}s, "
                      f"peak RSS {result['peak_rss_mib']} MiB")
        pred_diff = float(np.abs(np.load(tmpdir / "service.npy")
                                 - np.load(tmpdir / "bare.npy")).max())

    keys = ("read_s", "matrix_s", "train_s", "total_s", "cpu_s")
    summary = {k: {key: round(statistics.median(r[key] for r in runs[k]), 3) for key in keys}
               | {"peak_rss_mib": max(r["peak_rss_mib"] for r in runs[k])} for k in runs}
    fastest = {k: {key: round(min(r[key] for r in runs[k]), 3) for key in keys} for k in runs}
    ratio = summary["service"]["total_s"] / summary["bare"]["total_s"]
    result = {
        "benchmark": "training task core vs bare xgboost.train",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": ".venv/bin/python bench/train_vs_bare.py " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "rows": args.rows,
        "features": len(spec.model_inputs),
        "categorical": sum(f.dtype == "category" for f in spec.features),
        "parquet_mib": round(parquet_mib, 1),
        "rounds": args.rounds,
        "device": args.device,
        "params": params,
        "repeat": args.repeat,
        "median": summary,
        "min": fastest,
        "ratio_total": round(ratio, 3),
        "ratio_total_min": round(fastest["service"]["total_s"] / fastest["bare"]["total_s"], 3),
        "ratio_cpu": round(summary["service"]["cpu_s"] / summary["bare"]["cpu_s"], 3),
        "load_average_before_after": [load_before, list(os.getloadavg())],
        "ratio_matrix": round(summary["service"]["matrix_s"] / summary["bare"]["matrix_s"], 3),
        "ratio_train": round(summary["service"]["train_s"] / summary["bare"]["train_s"], 3),
        "max_abs_prediction_diff": pred_diff,
        "goal": {"ratio_total": 1.05},
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    s, b = summary["service"], summary["bare"]
    print(f"\n{args.rows:,} rows x {result['features']} features, {args.rounds} rounds on "
          f"{args.device} ({result['machine']['cores_available']} cores)")
    print(f"{'':8s}{'read':>8s}{'matrix':>8s}{'train':>8s}{'total':>8s}{'peak RSS':>10s}")
    for name, r in (("service", s), ("bare", b)):
        print(f"{name:8s}{r['read_s']:8.2f}{r['matrix_s']:8.2f}{r['train_s']:8.2f}"
              f"{r['total_s']:8.2f}{r['peak_rss_mib']:>6d} MiB")
    print(f"ratio service/bare: total {ratio:.3f}x (goal <= 1.05x), matrix "
          f"{result['ratio_matrix']:.2f}x, train {result['ratio_train']:.3f}x (medians); "
          f"fastest runs {result['ratio_total_min']:.3f}x; CPU seconds {result['ratio_cpu']:.3f}x; "
          f"max |prediction diff| {pred_diff:.2e}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
