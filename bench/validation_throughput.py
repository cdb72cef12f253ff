"""Rows per second of the ingest validate step's in-memory work, stage by stage.

`steps.validate` downloads a batch's files, then: `read_batch` (parquet or CSV bytes -> one
frame), `validate_batch` (every check of the data contract), `conform` (the spec's columns and
dtypes) and writes the conformed frame as the staged parquet. This script times those four on
one synthetic batch of the example spec (`pipelines/credit_default.yaml`, 8 features + target;
`mlops_dev.datagen`, no downloads), in this process, without S3: per stage the best of
`--repeat` runs, rows/s and the highest RSS sampled while it ran, so a reader sees where the
time (and the memory) goes; then one more run of validate_batch and conform under cProfile names
their costliest functions (`--no-profile` skips it; the profiler inflates per-row Python calls,
so read its seconds as a ranking). The batch passes every check, as a good batch must.

The duplicate-rows rule is also timed on its own, both ways, on the same frame: `pandas
duplicated` (`DataFrame.duplicated().sum()`, what the rule ran before) and `duplicates hashed`
(`validation.duplicates.count_duplicate_rows`, what it runs now); their counts must agree.
`--synthetic` swaps the example spec for the benchmarks' 28-input schema (bench/synthetic.py,
29 columns with the target) with a 1% duplicate limit, the shape bench/scaling.py measures.

    .venv/bin/python bench/validation_throughput.py                  # 2M rows, 3 runs per stage
    .venv/bin/python bench/validation_throughput.py --rows 200000 --format csv
    .venv/bin/python bench/validation_throughput.py --synthetic --no-profile

Writes bench/results/validation_throughput.json (or --out) and prints a table.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
from synthetic import machine, synthetic_spec  # noqa: E402

from mlops_dev.datagen import generate_batch, to_file_bytes  # noqa: E402
from mlops_lib.spec import Contract, PipelineSpec, load_spec  # noqa: E402
from mlops_lib.validation.checks import validate_batch  # noqa: E402
from mlops_lib.validation.conform import conform  # noqa: E402
from mlops_lib.validation.duplicates import count_duplicate_rows  # noqa: E402
from mlops_lib.validation.reading import read_batch  # noqa: E402

_DUPLICATE_STAGES = ("pandas duplicated", "duplicates hashed")
RESULT = REPO / "bench" / "results" / "validation_throughput.json"
SPEC = REPO / "pipelines" / "credit_default.yaml"
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * _PAGE / 2**20


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def rss_sampled(every_s: float = 0.01) -> Iterator[dict[str, float]]:
    """The highest RSS seen (every 10 ms, from /proc) while the block ran, in MiB."""
    seen = {"before_mib": _rss_mib(), "peak_mib": _rss_mib()}
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(every_s):
            seen["peak_mib"] = max(seen["peak_mib"], _rss_mib())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join()
        seen["peak_mib"] = max(seen["peak_mib"], _rss_mib())


def timed(fn: Callable[[], Any], repeat: int) -> tuple[Any, list[float], dict[str, float]]:
    """fn's last result, the seconds of each run, and the RSS before and at its peak."""
    runs, result = [], None
    with rss_sampled() as rss:
        for _ in range(repeat):
            result = None  # the previous run's output is not held while the next one runs
            started = time.perf_counter()
            result = fn()
            runs.append(time.perf_counter() - started)
    return result, runs, rss


def costliest(fn: Callable[[], Any], top: int = 6) -> list[dict[str, Any]]:
    """The functions of mlops_lib.validation that fn spends most time in (cumulative)."""
    profile = cProfile.Profile()
    profile.runcall(fn)
    rows = [(func, calls, cumulative) for func, (_, calls, _, cumulative, _)
            in pstats.Stats(profile).stats.items()
            if "/mlops_lib/validation/" in func[0]]
    rows.sort(key=lambda r: r[2], reverse=True)
    return [{"function": name, "calls": calls, "cumulative_s": round(cum, 3)}
            for (_, _, name), calls, cum in rows[1:top + 1]]  # [0] is fn's own entry point


def _to_parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)  # as steps.validate stages the conformed frame
    return buffer.getvalue()


def _synthetic() -> PipelineSpec:
    return replace(synthetic_spec("bench_synthetic"), contract=Contract(max_duplicate_share=0.01))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--spec", type=Path, default=SPEC)
    parser.add_argument("--synthetic", action="store_true",
                        help="the 28-input schema of bench/synthetic.py instead of --spec")
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    parser.add_argument("--files", type=int, default=1,
                        help="data files the batch is split into (read_batch concatenates them)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per stage; the best is kept")
    parser.add_argument("--profile", action=argparse.BooleanOptionalAction, default=True,
                        help="name the costliest functions of validate_batch and conform")
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()

    spec = _synthetic() if args.synthetic else load_spec(args.spec)
    load_before = list(os.getloadavg())
    started = time.perf_counter()
    generated = generate_batch(spec, args.rows, seed=1)
    parts = np.array_split(np.arange(args.rows), args.files)
    files = [(f"batch/part-{i:04d}.{args.format}",
              to_file_bytes(generated.iloc[rows], args.format)) for i, rows in enumerate(parts)]
    del generated
    size = sum(len(body) for _, body in files)
    print(f"generated {args.rows:,} rows x {len(spec.features)} features of {spec.name} as "
          f"{args.files} {args.format} file(s), {size / 2**20:.1f} MiB, in "
          f"{time.perf_counter() - started:.1f}s")

    stages: dict[str, dict[str, Any]] = {}

    def record(name: str, runs: list[float], rss: dict[str, float]) -> None:
        best = min(runs)
        stages[name] = {"best_s": round(best, 3), "runs_s": [round(s, 3) for s in runs],
                        "rows_per_s": round(args.rows / best),
                        "rss_before_mib": round(rss["before_mib"]),
                        "peak_rss_mib": round(rss["peak_mib"])}
        print(f"  {name:18} best {best:7.3f}s of {args.repeat}  {args.rows / best:>13,.0f} "
              f"rows/s  RSS {rss['before_mib']:5.0f} -> peak {rss['peak_mib']:5.0f} MiB")

    frame, runs, rss = timed(lambda: read_batch(files, args.format), args.repeat)
    record("read_batch", runs, rss)
    report, runs, rss = timed(lambda: validate_batch(frame, spec, batch_id="bench"), args.repeat)
    record("validate_batch", runs, rss)
    if not report.passed:
        raise SystemExit(f"the synthetic batch should pass validation: {report.summary()}")
    before, runs, rss = timed(lambda: int(frame.duplicated(keep="first").sum()), args.repeat)
    record("pandas duplicated", runs, rss)
    after, runs, rss = timed(lambda: count_duplicate_rows(frame), args.repeat)
    record("duplicates hashed", runs, rss)
    if before != after:
        raise SystemExit(f"duplicate rows: pandas counts {before}, the hashed count {after}")
    conformed, runs, rss = timed(lambda: conform(frame, spec), args.repeat)
    record("conform", runs, rss)
    staged, runs, rss = timed(lambda: _to_parquet(conformed), args.repeat)
    record("stage (to_parquet)", runs, rss)
    profiles = {}
    if args.profile:
        profiles = {"validate_batch": costliest(lambda: validate_batch(frame, spec,
                                                                       batch_id="bench")),
                    "conform": costliest(lambda: conform(frame, spec))}

    # The two duplicate timings are a comparison inside validate_batch, not stages of the step.
    total = sum(s["best_s"] for name, s in stages.items() if name not in _DUPLICATE_STAGES)
    out = {
        "benchmark": "validate step in memory: read_batch, validate_batch, conform, staging",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(numpy=np.__version__, pandas=pd.__version__,
                           pyarrow=pa.__version__),
        "load_average_before_after": [load_before, list(os.getloadavg())],
        "spec": "bench/synthetic.py" if args.synthetic else
        str(args.spec.relative_to(REPO) if args.spec.is_absolute() else args.spec),
        "columns": frame.shape[1], "duplicate_rows": after,
        "rows": args.rows, "features": len(spec.features), "format": args.format,
        "files": args.files, "file_bytes": size, "staged_bytes": len(staged),
        "frame_mib": round(frame.memory_usage(deep=True).sum() / 2**20, 1),
        "checks": len(report.checks), "warnings": [c.name for c in report.warnings],
        "repeat": args.repeat, "stages": stages,
        "total_best_s": round(total, 3), "total_rows_per_s": round(args.rows / total),
        "peak_rss_mib": round(_peak_rss_mib()),
        "costliest_functions_cprofile": profiles,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))

    m = out["machine"]
    print(f"\n{'stage':20} {'seconds':>8} {'rows/s':>13} {'share':>6} {'RSS before -> peak':>19}")
    for name, s in stages.items():
        print(f"{name:20} {s['best_s']:8.3f} {s['rows_per_s']:>13,} {s['best_s'] / total:6.0%} "
              f"{s['rss_before_mib']:>8} -> {s['peak_rss_mib']:>4} MiB")
    print(f"{'total':20} {total:8.3f} {out['total_rows_per_s']:>13,}  (without the duplicate "
          f"rows' own timings, which validate_batch includes)")
    fast, slow = stages["duplicates hashed"]["best_s"], stages["pandas duplicated"]["best_s"]
    print(f"duplicate rows ({after:,} found, {frame.shape[1]} columns): pandas {slow:.3f}s, "
          f"hashed {fast:.3f}s, {slow / max(fast, 1e-9):.1f}x faster")
    for stage, rows in profiles.items():
        print(f"\n{stage}, costliest functions (cProfile, cumulative s; per-row Python inflated):")
        for r in rows:
            print(f"  {r['cumulative_s']:7.3f}s  {r['calls']:>9,} calls  {r['function']}")
    print(f"\n{args.rows:,} rows, {len(report.checks)} checks passed; frame "
          f"{out['frame_mib']} MiB in memory; process peak RSS {out['peak_rss_mib']} MiB; "
          f"{m['cores_available']} cores, {m['ram_gib']} GiB ({m['cpu']})")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
