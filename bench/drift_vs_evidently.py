"""Drift decision statistics (monitoring.drift) vs Evidently's DataDriftPreset, side by side.

Generates a reference and a current frame of N rows × 28 features (22 numeric, 6 categorical)
with mlops_dev.datagen; in the current frame some features are shifted strongly, some slightly
(near the 0.1 threshold) and the rest not at all. Both tools then run in this process on the same
frames, all rows; the script reports the speed ratio, the share of features with the same drift
verdict, the largest score difference, and the machine. Goal (issue 4 / issue 6, benchmark 2):
>= 30x faster and >= 95 % of verdicts the same.

    .venv/bin/python bench/drift_vs_evidently.py              # 1M rows (Evidently: ~2 min, ~3 GiB)
    .venv/bin/python bench/drift_vs_evidently.py --rows 100000

Writes bench/results/drift_vs_evidently.json and prints a table.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from evidently import DataDefinition, Dataset, Report  # noqa: E402
from evidently.presets import DataDriftPreset  # noqa: E402
from synthetic import machine, synthetic_spec  # noqa: E402

from mlops_dev.datagen import generate_batch  # noqa: E402
from mlops_lib.monitoring import drift  # noqa: E402
from mlops_lib.reports.builders import drift_summary  # noqa: E402
from mlops_lib.spec import PipelineSpec  # noqa: E402

RESULT = REPO / "bench" / "results" / "drift_vs_evidently.json"
SLIGHT = 0.1  # datagen drift that lands the normed Wasserstein near the 0.1 threshold
_EVIDENTLY_METHODS = {"Wasserstein distance (normed)": "wasserstein",
                      "Jensen-Shannon distance": "jensenshannon", "PSI": "psi"}


def make_frames(spec: PipelineSpec, rows: int, current_rows: int
                ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    names = spec.feature_names
    strong = names[0:4] + names[16:18] + names[22:24]  # floats, ints, categoricals
    slight = names[4:8] + names[18:19]
    reference = generate_batch(spec, rows, seed=1)[names]
    current = generate_batch(spec, current_rows, seed=2)[names]
    shifted = generate_batch(spec, current_rows, seed=3, drift=0.6)
    nudged = generate_batch(spec, current_rows, seed=4, drift=SLIGHT)
    for name in strong:
        current[name] = shifted[name]
    for name in slight:
        current[name] = nudged[name]
    drift_of = {n: 0.6 if n in strong else SLIGHT if n in slight else 0.0 for n in names}
    return reference, current, drift_of


def run_evidently(reference: pd.DataFrame, current: pd.DataFrame,
                  spec: PipelineSpec) -> dict[str, Any]:
    cols = spec.feature_names
    numeric = [f.name for f in spec.features if f.dtype in ("float", "int")]
    definition = DataDefinition(numerical_columns=numeric,
                                categorical_columns=[c for c in cols if c not in numeric])
    snap = Report([DataDriftPreset(columns=cols)], include_tests=True).run(
        current_data=Dataset.from_pandas(current, data_definition=definition),
        reference_data=Dataset.from_pandas(reference, data_definition=definition))
    return snap.dict()


def evidently_columns(snapshot: dict[str, Any]) -> dict[str, dict[str, Any]]:
    drifted = set(drift_summary(snapshot).drifted_columns)
    out: dict[str, dict[str, Any]] = {}
    for metric in snapshot["metrics"]:
        config = metric["config"]
        if config["type"].endswith(":ValueDrift"):
            out[config["column"]] = {
                "method": _EVIDENTLY_METHODS.get(config["method"], config["method"]),
                "score": float(metric["value"]), "drifted": config["column"] in drifted}
    return out


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="reference rows")
    parser.add_argument("--current-rows", type=int, default=None,
                        help="current rows (default: --rows)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of drift.compute (the best is kept); Evidently runs once")
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()

    spec = synthetic_spec('drift_bench')
    t0 = time.perf_counter()
    current_rows = args.rows if args.current_rows is None else args.current_rows
    reference, current, drift_of = make_frames(spec, args.rows, current_rows)
    print(f"generated {args.rows:,} + {current_rows:,} rows x {len(spec.features)} features "
          f"in {time.perf_counter() - t0:.1f}s")

    ours_s: list[float] = []
    result = drift.compute(reference, current, spec)
    for _ in range(args.repeat):
        t = time.perf_counter()
        result = drift.compute(reference, current, spec)
        ours_s.append(time.perf_counter() - t)
    rss_after_ours = _peak_rss_mib()
    print(f"drift.compute: best {min(ours_s):.2f}s of {args.repeat}")

    gc.collect()
    t = time.perf_counter()
    snapshot = run_evidently(reference, current, spec)
    evidently_s = time.perf_counter() - t
    print(f"Evidently DataDriftPreset: {evidently_s:.1f}s")
    theirs = evidently_columns(snapshot)

    rows = []
    for f in result.features:
        ev = theirs[f.feature]
        rows.append({"feature": f.feature, "kind": f.kind, "drift_param": drift_of[f.feature],
                     "method": f.method, "ours_score": f.score, "ours_drifted": f.drifted,
                     "evidently_method": ev["method"], "evidently_score": ev["score"],
                     "evidently_drifted": ev["drifted"], "psi": f.psi,
                     "same_verdict": f.drifted == ev["drifted"]})
    same = sum(r["same_verdict"] for r in rows)
    same_method = sum(r["method"] == r["evidently_method"] for r in rows)
    max_diff = max(abs((r["ours_score"] or 0.0) - r["evidently_score"]) for r in rows)
    out = {
        "benchmark": "drift decision statistics vs Evidently DataDriftPreset",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(numpy=np.__version__, pandas=pd.__version__,
                           evidently=_version("evidently")),
        "rows": args.rows, "current_rows": current_rows, "features": len(rows),
        "numeric": sum(r["kind"] == "numeric" for r in rows),
        "categorical": sum(r["kind"] == "categorical" for r in rows),
        "ours_s": round(min(ours_s), 3), "ours_runs_s": [round(s, 3) for s in ours_s],
        "evidently_s": round(evidently_s, 2),
        "speed_ratio": round(evidently_s / min(ours_s), 1),
        "same_verdict_share": same / len(rows), "same_method_share": same_method / len(rows),
        "max_abs_score_diff": max_diff,
        "ours_drifted": list(result.drifted_features),
        "evidently_drifted": [r["feature"] for r in rows if r["evidently_drifted"]],
        "peak_rss_mib": {"after_ours": round(rss_after_ours), "after_evidently":
                         round(_peak_rss_mib())},
        "goal": {"speed_ratio": 30, "same_verdict_share": 0.95},
        "columns": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))

    print(f"\n{'feature':10} {'kind':11} {'drift':>5} {'method':13} {'ours':>9} "
          f"{'evidently':>9}  verdicts")
    for r in rows:
        mark = "same" if r["same_verdict"] else "DIFFERENT"
        print(f"{r['feature']:10} {r['kind']:11} {r['drift_param']:5.2f} {r['method']:13} "
              f"{r['ours_score']:9.4f} {r['evidently_score']:9.4f}  "
              f"{'D' if r['ours_drifted'] else '-'}/{'D' if r['evidently_drifted'] else '-'} "
              f"{mark}")
    m = out["machine"]
    print(f"\n{args.rows:,} + {current_rows:,} rows x {len(rows)} features on {m['cores']} cores, "
          f"{m['ram_gib']} GiB ({m['cpu']})")
    print(f"drift.compute {out['ours_s']:.2f}s  |  Evidently {out['evidently_s']:.1f}s  |  "
          f"{out['speed_ratio']}x faster (goal 30x)")
    print(f"same verdict {same}/{len(rows)} ({out['same_verdict_share']:.0%}, goal 95%); "
          f"largest score difference {max_diff:.2e}; peak RSS {out['peak_rss_mib']} MiB")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
