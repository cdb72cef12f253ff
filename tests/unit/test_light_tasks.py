"""The light tasks stay light: registering a batch (and claiming a scoring batch), planning a
run, deciding, reconciling the champion and checking the drift policy import no pandas, numpy,
pyarrow, XGBoost, MLflow, scikit-learn, Evidently or DVC. An Airflow task is a fresh process,
so these imports are most of what a task that works for 0.1 s costs (bench/task_startup.py
measures it).

Checked in a fresh interpreter, through the task callables' module and a call into each step
on a real (SQLite) store, with the registry and S3 faked: what the step's code path imports,
not only its module.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import EXAMPLE_SPEC, REPO_ROOT

pytestmark = pytest.mark.unit

HEAVY = ("pandas", "numpy", "pyarrow", "xgboost", "mlflow", "sklearn", "evidently", "dvc")

_CHILD = r"""
import json, sys
from types import SimpleNamespace

home, store_url, spec_path = sys.argv[1:4]

import ct_airflow.tasks  # the task callables, as a worker imports them
import ct_airflow.scoring_tasks
from ct_airflow.xcom import from_xcom, to_xcom
from mlops_lib.landing.batches import BatchRef, ObjectInfo
from mlops_lib.services import Services
from mlops_lib.settings import Settings
from mlops_lib.spec import load_spec
from mlops_lib.steps import decide, drift, ingest, plan, scoring_batches
from mlops_lib.steps.planning import RunContext
from mlops_lib.steps.records import Evaluation, ReportSet, TrainingPlan
from mlops_lib.validation.reasons import BatchRejected


class FakeRegistry:
    def __init__(self):
        self.aliases = {}

    def alias_version(self, name, alias):
        return self.aliases.get((name, alias))

    def set_alias(self, name, alias, version):
        self.aliases[(name, alias)] = version

    def delete_alias(self, name, alias):
        self.aliases.pop((name, alias), None)

    def log_run_data(self, *args, **kwargs):
        pass


svc = Services(Settings.from_env({"CT_HOME": home, "CT_STORE_URL": store_url}))
svc.__dict__["registry"] = FakeRegistry()  # cached properties: set on the instance
svc.__dict__["s3"] = SimpleNamespace(put_object=lambda **kw: None)
spec = load_spec(spec_path)
at = "2026-01-01T00:00:00+00:00"
batch = BatchRef("b1", "landing/b1/", "landing/b1/_SUCCESS", at,
                 (ObjectInfo("landing/b1/p.parquet", "e1", 10, at),))

claimed = from_xcom(BatchRef, to_xcom(ingest.register_batch(svc, spec, batch, "ingest-1")))
to_score = BatchRef("s1", "scoring/s1/", "scoring/s1/_SUCCESS", at,
                    (ObjectInfo("scoring/s1/p.parquet", "e1", 10, at),))
scored = scoring_batches.claim_scoring_batch(svc, spec, to_score, "score-1")
planned = plan.plan_training(svc, spec, RunContext(dag_run_id="manual__1", run_type="manual",
                                                   params={"force": True}))
planned = from_xcom(TrainingPlan, to_xcom(planned))
verdict = drift.check_drift_policy(svc, spec, "monitor-1")
reconciled = decide.reconcile_champion(svc, spec)
evaluation = Evaluation(candidate_version="1", baseline_version=None, champion_epoch=0,
                        data_rev="r", verdict={}, decision="promote", reason="first model",
                        metric=spec.metric.name, candidate_value=0.9, baseline_value=None,
                        holdout_rows=10)
decision = decide.decide(svc, spec, planned, evaluation, ReportSet(), "manual__1")
print("@@JSON@@" + json.dumps({
    "modules": sorted(sys.modules), "claimed": claimed == batch and scored == to_score,
    "skip_reason": planned.skip_reason, "crossed": verdict.crossed,
    "decision": decision.decision, "moved": decision.moved,
    "alias": list(svc.registry.aliases.values())}))
"""


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_light_tasks_import_nothing_heavy(store_url: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path), store_url, str(EXAMPLE_SPEC)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": f"{REPO_ROOT}:{REPO_ROOT / 'plugins'}", "PATH": "/usr/bin:/bin",
             "AIRFLOW_HOME": str(tmp_path / "airflow"), "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(next(line for line in proc.stdout.splitlines()
                          if line.startswith("@@JSON@@")).removeprefix("@@JSON@@"))

    # The steps ran: claimed, planned (nothing accepted yet), checked, and decided.
    assert out["claimed"] and out["crossed"]
    assert "no accepted batch" in out["skip_reason"]
    assert out["decision"] == "promote" and out["moved"]
    assert out["alias"] == ["1"]  # the champion alias follows the store
    loaded = {m.partition(".")[0] for m in out["modules"]}
    assert [m for m in HEAVY if m in loaded] == []
