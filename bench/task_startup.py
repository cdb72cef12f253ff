"""Start-up cost of the light Airflow tasks: CPU seconds to import and reach the step call.

Every Airflow task runs in a fresh process, so a task that registers a batch or plans a run
(0.1 s of work) pays for every module its code path imports. This bench runs, in fresh
interpreters, what each light task's callable imports up to the step call (the task callables'
module, the step module, Services, the spec) and measures user + sys CPU seconds of the child
(`resource.getrusage(RUSAGE_CHILDREN)`), median of --repeat runs.

"before" is the same path at commit 0c869c4 (one `mlops_lib/steps.py` that imported pandas,
numpy, pyarrow and XGBoost for every task), run from a git worktree of that commit; "after" is
this tree. Goal: at most 3 s of CPU per light task.

    python bench/task_startup.py                     # worktree at /tmp/wt-before, 3 repeats
    python bench/task_startup.py --repeat 5 --before-tree /path/to/checkout/of/0c869c4

Writes bench/results/task_startup.json (or --out) and prints a table.
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
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from synthetic import machine  # noqa: E402

BEFORE_COMMIT = "0c869c4"
RESULT = REPO / "bench" / "results" / "task_startup.json"
GOAL_CPU_S = 3.0
HEAVY = ("pandas", "numpy", "pyarrow", "xgboost", "mlflow", "sklearn", "evidently", "dvc")

# What each task callable imports before it calls its step, and the Services + spec it builds.
_COMMON = """
import ct_airflow.tasks
from mlops_lib.services import Services
from mlops_lib.spec import load_specs
svc = Services()
spec = load_specs(svc.settings.pipelines_dir)[0]
"""
AFTER = {
    "register_batch": """
from ct_airflow.xcom import from_xcom, to_xcom
from mlops_lib.landing.batches import BatchRef
from mlops_lib.steps import ingest
from mlops_lib.validation.reasons import BatchRejected
""",
    "plan_training": """
from ct_airflow.xcom import to_xcom
from mlops_lib.steps import plan
from mlops_lib.steps.planning import RunContext, describe
""",
    "promote_champion": """
from ct_airflow.xcom import from_xcom, to_xcom
from mlops_lib.evaluation.approval import ApprovalOutcome
from mlops_lib.steps import decide
from mlops_lib.steps.records import Evaluation, ReportSet, TrainingPlan
""",
    "reconcile_champion": """
from ct_airflow.xcom import to_xcom
from mlops_lib.steps import decide
""",
    "check_drift_policy": """
from ct_airflow.xcom import to_xcom
from mlops_lib.steps import drift
""",
}
BEFORE = {  # plugins/ct_airflow/tasks.py at 0c869c4: `from mlops_lib import steps` in each
    "register_batch": """
from mlops_lib import steps
from mlops_lib.batches import BatchRef
from mlops_lib.validation import BatchRejected
""",
    "plan_training": """
from mlops_lib import steps
from mlops_lib.planning import RunContext, describe
""",
    "promote_champion": """
from mlops_lib import steps
from mlops_lib.approval import ApprovalOutcome
""",
    "reconcile_champion": "from mlops_lib import steps\n",
    "check_drift_policy": "from mlops_lib import steps\n",
}
_REPORT = f"""
import json, sys
heavy = [m for m in {HEAVY!r} if m in sys.modules]
print("@@HEAVY@@" + json.dumps(heavy))
"""


def child_cpu(code: str, tree: Path, home: Path) -> tuple[float, list[str]]:
    """CPU seconds (user + sys) of a fresh interpreter running `code` against `tree`, and the
    heavy modules it ended up importing."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "PYTHONPATH": f"{tree}:{tree / 'plugins'}", "AIRFLOW_HOME": str(home / "airflow"),
           "CT_HOME": str(home / "ct"), "CT_PIPELINES_DIR": str(tree / "pipelines"),
           "CT_STORE_URL": f"sqlite:///{home / 'store.db'}"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([sys.executable, "-c", code + _REPORT], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=300)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"child failed in {tree}:\n{proc.stderr[-3000:]}")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("@@HEAVY@@"))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, json.loads(line.removeprefix("@@HEAVY@@"))


def measure(code: str, tree: Path, repeat: int) -> dict[str, object]:
    """Median CPU of `repeat` runs, after one unmeasured run that writes the bytecode caches
    (a worker imports compiled modules; the first run in a fresh worktree compiles them)."""
    runs, heavy = [], []
    with tempfile.TemporaryDirectory() as home:
        child_cpu(code, tree, Path(home))
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as home:
            cpu, heavy = child_cpu(code, tree, Path(home))
        runs.append(round(cpu, 3))
    return {"cpu_s": round(statistics.median(runs), 3), "runs": runs, "heavy_imported": heavy}


def before_tree(path: Path) -> Path:
    """A checkout of BEFORE_COMMIT: the given folder, made a git worktree when missing."""
    if not (path / "mlops_lib" / "steps.py").exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(path), BEFORE_COMMIT],
                       cwd=REPO, check=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--before-tree", type=Path, default=Path("/tmp/wt-before"))
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()
    old = before_tree(args.before_tree)
    floor = {"python": measure("pass\n", REPO, args.repeat),
             "airflow.sdk": measure("import airflow.sdk\n", REPO, args.repeat)}
    tasks = {}
    for kind in AFTER:
        before = measure(_COMMON + BEFORE[kind], old, args.repeat)
        after = measure(_COMMON + AFTER[kind], REPO, args.repeat)
        tasks[kind] = {"before": before, "after": after,
                       "saved_cpu_s": round(float(before["cpu_s"]) - float(after["cpu_s"]), 3),
                       "goal_met": float(after["cpu_s"]) <= GOAL_CPU_S}
        print(f"{kind:20s} before {before['cpu_s']:6.2f} s  after {after['cpu_s']:6.2f} s  "
              f"heavy after: {after['heavy_imported'] or '-'}", flush=True)
    print(f"{'floor':20s} python {floor['python']['cpu_s']:.2f} s, import airflow.sdk "
          f"{floor['airflow.sdk']['cpu_s']:.2f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "bench": "task_startup", "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "before_commit": BEFORE_COMMIT, "repeat": args.repeat, "goal_cpu_s": GOAL_CPU_S,
        "machine": machine(), "floor": floor, "tasks": tasks}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
