"""Peak memory and time of validating a decompression bomb: a small parquet file of many rows.

`source.max_file_bytes` bounds what is downloaded; a few MB of parquet can still decode to many
GB. The validate step judges a batch on its footers before decoding it (`source.max_rows`,
`source.max_uncompressed_bytes`) and reads parquet in record batches, stopping at the limit.
This bench builds three bombs in a temporary folder and validates each in a fresh process
(`read_batch`, then `validate_batch` if it were read), measuring the child's peak RSS
(`os.wait4`'s rusage, as `resource.getrusage(RUSAGE_CHILDREN)` reports it) and the seconds to
the verdict, next to a floor: a child that imports the same modules and loads the bytes only.

- `rows`: 60M rows of one good row of the example spec (9 columns), default limits;
- `wide`: 20M rows x 32 integer columns (about 5.1 GB decoded), default limits;
- `strings`: 2M rows of one 1 KiB text, dictionary encoded and without the Arrow schema, so it
  decodes to 2 GiB of plain strings while its footer says under 1 MB uncompressed;
  `max_uncompressed_bytes` 256 MiB: read until the limit, then stopped.

Goal: each bomb rejected in under 1 s; peak RSS under 300 MiB with the default limits, and
under 300 MiB above the limit for `strings`.

    .venv/bin/python bench/bomb_memory.py          # ~20 s on 2 cores, most of it building bombs

Writes bench/results/bomb_memory.json (or --out) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from synthetic import machine  # noqa: E402

RESULT = REPO / "bench" / "results" / "bomb_memory.json"
SPEC = REPO / "pipelines" / "credit_default.yaml"
GOAL_S = 1.0
GOAL_RSS_MIB = 300.0
STRINGS_LIMIT = 256 * 2**20
GROUP = 1_000_000  # rows per row group


def build(case: str, path: Path) -> int:
    """Write the bomb `case` to `path`; its rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if case == "rows":
        from mlops_dev.datagen import generate_batch
        from mlops_lib.spec import load_spec

        one = pa.Table.from_pandas(generate_batch(load_spec(SPEC), 1, seed=1),
                                   preserve_index=False)
        group, groups = one.take(pa.array([0] * GROUP, pa.int32())), 60
    elif case == "wide":
        group = pa.table({f"c{i}": pa.array([i] * GROUP, pa.int64()) for i in range(32)})
        groups = 20
    else:
        text = pa.DictionaryArray.from_arrays(pa.array([0] * GROUP, pa.int32()),
                                              pa.array(["x" * 1024]))
        group, groups = pa.table({"s": text}), 2
    with pq.ParquetWriter(path, group.schema, store_schema=case != "strings") as writer:
        for _ in range(groups):
            writer.write_table(group)
    return GROUP * groups


def child(case: str, path: str, floor: bool) -> None:
    """In a fresh process: validate the bomb (or, for the floor, only load it); print JSON."""
    from mlops_lib.spec import load_spec
    from mlops_lib.validation.bounds import ReadRules
    from mlops_lib.validation.checks import validate_batch
    from mlops_lib.validation.reading import read_batch
    from mlops_lib.validation.reasons import BatchRejected

    spec = load_spec(SPEC)
    files = [(f"landing/bomb/{case}/part-0.parquet", Path(path).read_bytes())]
    if floor:
        print(json.dumps({"code": None, "seconds": 0.0}))
        return
    rules = ReadRules.of(spec.source)
    if case == "strings":
        rules = ReadRules(rules.max_rows, STRINGS_LIMIT, rules.null_values)
    start = time.perf_counter()
    try:
        validate_batch(read_batch(files, "parquet", rules), spec, batch_id=case)
        code = None
    except BatchRejected as exc:
        code = str(exc.code)
    print(json.dumps({"code": code, "seconds": time.perf_counter() - start,
                      "max_rows": rules.max_rows,
                      "max_uncompressed_bytes": rules.max_uncompressed_bytes}))


def measure(case: str, path: Path, floor: bool) -> dict[str, Any]:
    """Run `child` in a fresh interpreter: its JSON and its peak RSS in MiB."""
    args = [sys.executable, __file__, "--child", case, str(path)] + (["--floor"] if floor else [])
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{case}: child exited {proc.returncode}")
    return {**json.loads(out.strip().splitlines()[-1]), "peak_rss_mib": usage.ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULT)
    parser.add_argument("--child", nargs=2, metavar=("CASE", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--floor", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--build", nargs=2, metavar=("CASE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.floor)
        return
    if args.build:
        print(build(args.build[0], Path(args.build[1])))
        return
    # This process stays small: a child's peak RSS starts from its parent's (Linux carries
    # the high-water mark across fork and exec), so the bombs are built in children too and
    # nothing heavy is imported here.
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in ("rows", "wide", "strings"):
            path = Path(tmp) / f"{case}.parquet"
            rows = int(subprocess.run([sys.executable, __file__, "--build", case, str(path)],
                                      check=True, capture_output=True, text=True).stdout)
            floor = measure(case, path, floor=True)
            run = measure(case, path, floor=False)
            limit = GOAL_RSS_MIB + (STRINGS_LIMIT / 2**20 if case == "strings" else 0)
            cases.append({
                "case": case, "rows": rows, "file_bytes": path.stat().st_size,
                "max_uncompressed_bytes": run["max_uncompressed_bytes"],
                "max_rows": run["max_rows"], "code": run["code"],
                "seconds": round(run["seconds"], 3),
                "peak_rss_mib": round(run["peak_rss_mib"], 1),
                "floor_rss_mib": round(floor["peak_rss_mib"], 1), "goal_rss_mib": limit,
                "goal_met": run["code"] is not None and run["seconds"] < GOAL_S
                and run["peak_rss_mib"] < limit})
    result = {"bench": "bomb_memory", "at": datetime.now(UTC).isoformat(timespec="seconds"),
              "goal": f"rejected in < {GOAL_S:g} s, peak RSS < {GOAL_RSS_MIB:g} MiB "
                      "(strings: above its 256 MiB limit)",
              "machine": machine(), "cases": cases}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'case':8} {'rows':>11} {'file MB':>8} {'code':24} {'s':>6} {'peak MiB':>9} "
          f"{'floor MiB':>9} goal")
    for c in cases:
        print(f"{c['case']:8} {c['rows']:>11} {c['file_bytes'] / 1e6:>8.2f} {c['code']!s:24} "
              f"{c['seconds']:>6.3f} {c['peak_rss_mib']:>9.1f} {c['floor_rss_mib']:>9.1f} "
              f"{'met' if c['goal_met'] else 'NOT met'}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
