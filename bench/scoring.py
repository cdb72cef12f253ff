"""The scoring step's chunked scorer vs a bare ``booster.inplace_predict``, and a 10M-row batch's
peak memory.

(a) throughput, ``--rows`` (1M) rows of the synthetic 28-input schema, the same parquet file and
    the same booster (trained here: 150 rounds, depth 5):
    - service: the file's bytes (as the step downloads them) -> ``scoring.batch.read_chunks`` ->
      ``scoring.batch.score_chunks`` with ``ServingModel`` (the registered pyfunc's code: input
      check, encoding, ``inplace_predict``, output columns) -> the predictions parquet on disk;
    - bare: ``pd.read_parquet`` -> ``booster.inplace_predict(frame[inputs])``, nothing written.
    Each run a fresh process, alternating, ``--repeat`` each; medians compared (goal: service
    throughput >= 0.9x bare). The two sides' scores are compared too (they must be equal).
(b) memory, ``--big-rows`` (10M) rows in one parquet file, each part of ``steps.scoring
    .score_batch``'s in-memory work in a fresh process, peak RSS from ``getrusage``:
    - ``score``: the file's bytes -> read_chunks -> score_chunks (the scoring part);
    - ``validate``: the file's bytes -> ``validation.reading.read_columns`` ->
      ``validate_columns(..., labelled=False)`` (the contract check before it, which reads the
      batch one column at a time). S3, MLflow and the store are not in the loop.
    Goal: a 10M-row scoring batch in <= 3 GiB peak RSS.

    .venv/bin/python bench/scoring.py                        # 1M rows x 3 each, then 10M rows
    .venv/bin/python bench/scoring.py --rows 200000 --big-rows 0

Writes bench/results/scoring.json (or --out) and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import os
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

from synthetic import machine, synthetic_spec  # noqa: E402

from mlops_lib.spec import PipelineSpec  # noqa: E402

RESULT = REPO / "bench" / "results" / "scoring.json"
PARAMS = {"max_depth": 5, "eta": 0.1, "subsample": 0.9, "colsample_bytree": 0.9}
ROUNDS = 150
TRAIN_ROWS = 100_000
GOAL_RATIO = 0.9
GOAL_PEAK_GIB = 3.0


def bench_spec() -> PipelineSpec:
    spec = synthetic_spec("scoring_bench")
    return replace(spec, training=replace(spec.training, device="cpu", num_boost_round=ROUNDS,
                                          early_stopping_rounds=0, params=PARAMS))


# --- the children (each in its own process) ------------------------------------------------------


def child_service(parquet: Path, folder: Path) -> dict[str, Any]:
    from mlops_lib.scoring.batch import read_chunks, score_chunks
    from mlops_lib.scoring.ct_serving import ServingModel

    model = ServingModel.load(folder / "model.json", folder / "contract.json")
    started = time.perf_counter()
    content = parquet.read_bytes()
    chunks = read_chunks([(parquet.name, content)], "parquet")
    scored = score_chunks(model, chunks, folder / "service.predictions.parquet",
                          model_version="1", scored_at=datetime.now(UTC))
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": scored.rows}


def child_bare(parquet: Path, folder: Path) -> dict[str, Any]:
    import numpy as np
    import pandas as pd
    import xgboost as xgb

    booster = xgb.Booster()
    booster.load_model(str(folder / "model.json"))
    inputs = json.loads((folder / "inputs.json").read_text())
    started = time.perf_counter()
    frame = pd.read_parquet(parquet)
    scores = booster.inplace_predict(frame[inputs])
    seconds = time.perf_counter() - started
    np.save(folder / "bare.npy", scores)
    return {"seconds": seconds, "rows": len(frame)}


def child_validate(parquet: Path, spec: PipelineSpec) -> dict[str, Any]:
    from mlops_lib.validation.bounds import ReadRules
    from mlops_lib.validation.checks import validate_columns
    from mlops_lib.validation.reading import read_columns

    started = time.perf_counter()
    columns = read_columns([(parquet.name, parquet.read_bytes())], "parquet",
                           ReadRules.of(spec.source))
    report = validate_columns(columns, spec, batch_id="bench", labelled=False)
    return {"seconds": time.perf_counter() - started, "rows": columns.n_rows,
            "passed": report.passed}


def child(args: argparse.Namespace) -> None:
    parquet, folder = Path(args.parquet), Path(args.folder)
    if args.child == "service":
        result = child_service(parquet, folder)
    elif args.child == "bare":
        result = child_bare(parquet, folder)
    else:
        result = child_validate(parquet, bench_spec())
    result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print("RESULT " + json.dumps(result))


def spawn(kind: str, parquet: Path, folder: Path) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", kind, "--parquet", str(parquet),
           "--folder", str(folder)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} run failed:\n{proc.stdout}\n{proc.stderr[-4000:]}")
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    return dict(json.loads(line.removeprefix("RESULT ")))


# --- the harness ---------------------------------------------------------------------------------


def prepare_model(spec: PipelineSpec, folder: Path) -> None:
    """Train the booster on TRAIN_ROWS rows and write it with its serving contract."""
    import pyarrow as pa

    from mlops_dev.datagen import generate_batch
    from mlops_lib.scoring.contract import serving_contract
    from mlops_lib.training import trainer

    table = pa.Table.from_pandas(generate_batch(spec, TRAIN_ROWS, seed=1), preserve_index=False)
    model = trainer.train_model(table, spec)
    model.booster.save_model(str(folder / "model.json"))
    contract = serving_contract(spec)
    (folder / "contract.json").write_text(json.dumps(contract.to_dict()))
    (folder / "inputs.json").write_text(json.dumps(contract.input_names))


def write_batch(spec: PipelineSpec, rows: int, path: Path, *, part_rows: int = 1_000_000) -> None:
    """`rows` unlabelled rows in one parquet file, generated and written a part at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlops_dev.datagen import generate_batch

    writer: pq.ParquetWriter | None = None
    try:
        for i, start in enumerate(range(0, rows, part_rows)):
            frame = generate_batch(spec, min(part_rows, rows - start), seed=100 + i).drop(
                columns=[spec.target])
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def throughput(spec: PipelineSpec, rows: int, repeat: int, folder: Path) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    parquet = folder / "batch.parquet"
    write_batch(spec, rows, parquet)
    runs: dict[str, list[dict[str, Any]]] = {"service": [], "bare": []}
    for i in range(repeat):
        for kind in ("service", "bare") if i % 2 == 0 else ("bare", "service"):
            runs[kind].append(spawn(kind, parquet, folder))
            print(f"  {kind:7s} run {i + 1}: {runs[kind][-1]['seconds']:.2f} s, "
                  f"peak {runs[kind][-1]['peak_rss_mib']} MiB", flush=True)
    service = pd.read_parquet(folder / "service.predictions.parquet")["score"].to_numpy()
    bare = np.load(folder / "bare.npy").astype(np.float32)
    median = {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()}
    best = {k: min(r["seconds"] for r in v) for k, v in runs.items()}
    return {
        "rows": rows, "parquet_mib": round(parquet.stat().st_size / 2**20, 1), "runs": runs,
        "median_s": median, "best_s": best,
        "rows_per_s": {k: round(rows / s) for k, s in median.items()},
        "ratio_throughput": round(median["bare"] / median["service"], 3),
        "ratio_throughput_best": round(best["bare"] / best["service"], 3),
        "same_scores": bool(service.tobytes() == bare.tobytes()),
        "max_abs_diff": float(np.max(np.abs(service - bare))) if len(bare) else 0.0,
    }


def memory(spec: PipelineSpec, rows: int, folder: Path) -> dict[str, Any]:
    parquet = folder / "big.parquet"
    started = time.perf_counter()
    write_batch(spec, rows, parquet)
    print(f"  wrote {rows:,} rows ({parquet.stat().st_size / 2**20:.0f} MiB) in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    parts = {kind: spawn(kind, parquet, folder) for kind in ("service", "validate")}
    for kind, r in parts.items():
        print(f"  {kind:8s} {r['seconds']:.1f} s, peak {r['peak_rss_mib']} MiB", flush=True)
    peak = max(r["peak_rss_mib"] for r in parts.values())
    return {"rows": rows, "parquet_mib": round(parquet.stat().st_size / 2**20, 1),
            "score": parts["service"], "validate": parts["validate"],
            "peak_rss_mib": peak, "goal_peak_gib": GOAL_PEAK_GIB}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-rows", type=int, default=10_000_000, help="0: skip (b)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULT)
    parser.add_argument("--child", choices=("service", "bare", "validate"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--parquet", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    import pandas as pd
    import xgboost as xgb

    spec = bench_spec()
    load_before = list(os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="scoring_bench_") as tmp:
        folder = Path(tmp)
        prepare_model(spec, folder)
        print(f"(a) {args.rows:,} rows x {len(spec.model_inputs)} inputs, service vs bare",
              flush=True)
        result: dict[str, Any] = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(xgboost=xgb.__version__, pandas=pd.__version__),
            "features": len(spec.model_inputs), "rounds": ROUNDS, "goal_ratio": GOAL_RATIO,
            "throughput": throughput(spec, args.rows, args.repeat, folder),
        }
        if args.big_rows:
            print(f"(b) {args.big_rows:,} rows: peak RSS of each part", flush=True)
            result["memory"] = memory(spec, args.big_rows, folder)
    result["load_before"], result["load_after"] = load_before, list(os.getloadavg())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    t = result["throughput"]
    print(f"throughput: service {t['rows_per_s']['service']:,} rows/s, bare "
          f"{t['rows_per_s']['bare']:,} rows/s: {t['ratio_throughput']}x (goal >= "
          f"{GOAL_RATIO}x); same scores: {t['same_scores']}")
    if "memory" in result:
        print(f"10M rows: peak RSS {result['memory']['peak_rss_mib']} MiB (goal <= "
              f"{GOAL_PEAK_GIB} GiB)")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
