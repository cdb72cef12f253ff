"""DAG integrity (Astronomer style): every file in dags/ parses, and the DAGs it makes have
the shape, the defaults and the cheap parse-time imports the service relies on.

Airflow reads its configuration once, at import, from the environment. So that no test here
depends on (or leaks into) the test process's environment, each DagBag is filled in a fresh
interpreter with a clean environment and a throwaway AIRFLOW_HOME, and reports back as JSON.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import EXAMPLE_SPEC, PIPELINES_DIR, REPO_ROOT

pytestmark = pytest.mark.unit

DAGS_DIR = REPO_ROOT / "dags"

HEAVY_MODULES = ["xgboost", "evidently", "mlflow", "pandas", "sklearn", "dvc"]

# The three DAGs of a pipeline, by the suffix of their id, and each task's upstream.
EXPECTED_UPSTREAM = {
    "_ingest": {
        "wait_for_batches": set(),
        "batch.register_batch": {"wait_for_batches"},
        "batch.validate_batch": {"batch.register_batch"},
    },
    "_drift_monitor": {
        "measure_drift": set(),
        "check_drift_policy": {"measure_drift"},
    },
    "": {
        "reconcile_champion": set(),
        "plan_training": {"reconcile_champion"},
        "version_dataset": {"plan_training"},
        "train_model": {"plan_training", "version_dataset"},
        "evaluate_challenger": {"plan_training", "version_dataset", "train_model"},
        "build_reports": {"plan_training", "version_dataset", "train_model"},
        "promote_champion": {"plan_training", "evaluate_challenger", "build_reports"},
        "publish_drift_reference": {"promote_champion"},
    },
}
# A spec with a `scoring:` section has a fourth DAG; shadow scoring adds a task after scoring.
EXPECTED_UPSTREAM["_score"] = {
    "wait_for_batches": set(),
    "batch.claim_scoring_batch": {"wait_for_batches"},
    "batch.score_batch": {"batch.claim_scoring_batch"},
    "batch.build_scoring_report": {"batch.claim_scoring_batch", "batch.score_batch"},
}
SHADOW_UPSTREAM = {"batch.shadow_score_batch": {"batch.claim_scoring_batch",
                                                "batch.score_batch"}}
# A spec with a `labels:` section has a fifth DAG, and its scoring DAG measures performance.
EXPECTED_UPSTREAM["_labels"] = {
    "wait_for_label_drops": set(),
    "drop.ingest_label_drop": {"wait_for_label_drops"},
    "drop.stage_labelled_rows": {"drop.ingest_label_drop"},
    "measure_performance": {"drop.stage_labelled_rows"},
    "check_performance_policy": {"measure_performance"},
}
SUFFIXES = ("_ingest", "_drift_monitor", "_score", "_labels", "")


def dag_ids(name: str, *, scoring: bool = True, labels: bool = False) -> list[str]:
    return [f"ct_{name}{suffix}" for suffix in SUFFIXES
            if (scoring or suffix != "_score") and (labels or suffix != "_labels")]


def expected_upstream(dag_id: str, raw: dict[str, Any]) -> dict[str, set[str]]:
    """Each task's upstream in the DAG `dag_id` of the spec `raw`: shadow scoring and a
    `labels:` section (and live rows before a promotion) add tasks."""
    kind = kind_of(dag_id)
    expected = dict(EXPECTED_UPSTREAM[kind])
    shadow = bool((raw.get("scoring") or {}).get("shadow"))
    if kind == "_score" and shadow:
        expected |= SHADOW_UPSTREAM
    if kind == "_score" and "labels" in raw:
        expected["measure_performance"] = {"batch.build_scoring_report",
                                           *(["batch.shadow_score_batch"] if shadow else [])}
    promotion = raw.get("promotion")
    if kind == "_labels" and isinstance(promotion, dict) and promotion.get("require_live_rows"):
        expected |= {"judge_live_challenger": {"measure_performance"},
                     "check_performance_policy": {"judge_live_challenger"}}
    return expected


def kind_of(dag_id: str) -> str:
    return next((s for s in SUFFIXES if s and dag_id.endswith(s)), "")


def has_scoring(path: Path) -> bool:
    return "scoring" in yaml.safe_load(path.read_text())


def has_labels(path: Path) -> bool:
    return "labels" in yaml.safe_load(path.read_text())


_PROBE = r"""
import json, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.serialized_objects import DagSerialization

def leaves(condition):
    if condition is None:
        return []
    if hasattr(condition, "objects"):
        return [uri for o in condition.objects for uri in leaves(o)]
    return [condition.uri]

bag = DagBag(dag_folder=sys.argv[1])
loaded = sorted(sys.modules)
out = {"import_errors": {k: str(v) for k, v in bag.import_errors.items()},
       "dags": {}, "modules": loaded, "serialization_errors": {}}
for dag_id, dag in bag.dags.items():
    try:
        DagSerialization.validate_schema(DagSerialization.to_dict(dag))
    except Exception as exc:
        out["serialization_errors"][dag_id] = f"{type(exc).__name__}: {exc}"
    out["dags"][dag_id] = {
        "fileloc": dag.fileloc,
        "tags": sorted(dag.tags),
        "max_active_runs": dag.max_active_runs,
        "timetable": type(dag.timetable).__name__,
        "catchup": dag.catchup,
        "params": sorted(dag.params.keys()),
        "schedule_assets": sorted(leaves(getattr(dag.timetable, "asset_condition", None))),
        "asset_logic": type(getattr(dag.timetable, "asset_condition", None)).__name__,
        "cron": getattr(getattr(dag.timetable, "timetable", dag.timetable), "expression", None),
        "every_s": getattr(getattr(dag.timetable, "_delta", None)
                           or getattr(dag.timetable, "delta", None), "total_seconds",
                           lambda: None)(),
        "on_failure": type(dag.on_failure_callback).__name__
        if dag.on_failure_callback else None,
        "deadlines": [{"reference": type(d.reference).__name__,
                       "interval_s": d.interval.total_seconds(),
                       "callback": getattr(d.callback, "path", None),
                       "kwargs": d.callback.kwargs}
                      for d in (dag.deadline if isinstance(dag.deadline, list)
                                else [dag.deadline] if dag.deadline else [])],
        "tasks": {t.task_id: {"owner": t.owner, "retries": t.retries,
                              "upstream": sorted(t.upstream_task_ids),
                              "type": type(t).__name__,
                              "trigger_rule": getattr(t.trigger_rule, "value",
                                                      str(t.trigger_rule)),
                              "hitl": {"options": list(t.options),
                                       "defaults": list(t.defaults or []),
                                       "timeout_s": t.response_timeout.total_seconds()}
                              if hasattr(t, "response_timeout") else None,
                              "deferrable": getattr(t, "deferrable", None),
                              "pipeline": getattr(t, "pipeline", None),
                              "bucket": getattr(t, "bucket", None),
                              "prefix": getattr(t, "prefix", None),
                              "seen": getattr(t, "seen", None),
                              "outlets": sorted(getattr(o, "uri", str(o))
                                                for o in getattr(t, "outlets", []) or []),
                              "extra_links": {lk.name: lk.xcom_key
                                              for lk in t.operator_extra_links}}
                  for t in dag.tasks},
    }
print("@@JSON@@" + json.dumps(out))
"""


def load_dagbag(tmp_path: Path, pipelines_dir: Path = PIPELINES_DIR) -> dict[str, Any]:
    home = tmp_path / "airflow_home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        # As in the Dockerfile and the local stack: Airflow puts plugins/ on sys.path itself.
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "CT_PIPELINES_DIR": str(pipelines_dir),
        "CT_EXAMPLES": "1",  # the example pipelines too: more kinds of spec to check
        "CT_HOME": str(tmp_path / "ct_home"),
    }
    proc = subprocess.run([sys.executable, "-c", _PROBE, str(DAGS_DIR)], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("@@JSON@@"))
    return json.loads(line.removeprefix("@@JSON@@"))


@pytest.fixture(scope="module")
def bag(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return load_dagbag(tmp_path_factory.mktemp("dagbag"))


def repo_specs() -> list[Path]:
    """The repository's pipeline specs, examples included (the bag loads them, CT_EXAMPLES=1)."""
    return sorted([*PIPELINES_DIR.glob("*.y*ml"), *(PIPELINES_DIR / "examples").glob("*.y*ml")])


def spec_names(directory: Path) -> list[str]:
    return sorted(yaml.safe_load(p.read_text())["name"] for p in directory.glob("*.y*ml"))


def write_spec(directory: Path, name: str, owner: str, prefix: str) -> Path:
    raw = yaml.safe_load(EXAMPLE_SPEC.read_text())
    raw.update(name=name, owner=owner)
    raw["source"]["prefix"] = prefix
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_no_import_errors(bag: dict[str, Any]) -> None:
    assert bag["import_errors"] == {}
    assert bag["serialization_errors"] == {}


def test_every_dag_file_defines_a_dag(bag: dict[str, Any]) -> None:
    files = {Path(p).name for p in DAGS_DIR.glob("*.py") if not p.name.startswith("_")}
    assert files, "dags/ holds no DAG files"
    assert files <= {Path(d["fileloc"]).name for d in bag["dags"].values()}


def test_three_dags_per_spec_and_a_scoring_dag_per_scoring_section(bag: dict[str, Any]) -> None:
    """And a labels DAG per `labels:` section."""
    specs = {yaml.safe_load(p.read_text())["name"]: (has_scoring(p), has_labels(p))
             for p in repo_specs()}
    kinds = [scores for scores, _ in specs.values()]
    assert specs and any(kinds) and not all(kinds)  # both kinds tested
    assert any(labels for _, labels in specs.values())
    assert sorted(bag["dags"]) == sorted(d for n, (scores, labels) in specs.items()
                                         for d in dag_ids(n, scoring=scores, labels=labels))


def test_dag_defaults(bag: dict[str, Any]) -> None:
    for dag_id, dag in bag["dags"].items():
        assert dag["tags"], dag_id
        assert "continuous-training" in dag["tags"], dag_id
        assert dag["max_active_runs"] == 1, dag_id
        assert dag["catchup"] is False, dag_id
        for task_id, t in dag["tasks"].items():
            assert t["owner"] and t["owner"].lower() != "airflow", (dag_id, task_id)
            assert t["retries"] >= 1, (dag_id, task_id)


def test_owner_and_tags_come_from_the_spec(bag: dict[str, Any]) -> None:
    raw = yaml.safe_load(EXAMPLE_SPEC.read_text())
    for dag_id in dag_ids(raw["name"]):
        dag = bag["dags"][dag_id]
        assert raw["name"] in dag["tags"]
        assert {t["owner"] for t in dag["tasks"].values()} == {raw["owner"]}
    ingest = bag["dags"][f"ct_{raw['name']}_ingest"]
    assert ingest["timetable"] == "ContinuousTimetable"  # polling: each run waits for batches
    sensor = ingest["tasks"]["wait_for_batches"]
    assert sensor["type"] == "S3BatchSensor"
    assert sensor["deferrable"] is True
    assert sensor["pipeline"] == raw["name"]
    assert sensor["bucket"] == raw["source"]["bucket"]
    assert sensor["prefix"].strip("/") == raw["source"]["prefix"].strip("/")


def test_the_scoring_dag_waits_on_the_scoring_prefix_with_its_own_seen_set(
        bag: dict[str, Any]) -> None:
    raw = yaml.safe_load(EXAMPLE_SPEC.read_text())
    dag = bag["dags"][f"ct_{raw['name']}_score"]
    assert dag["timetable"] == "ContinuousTimetable" and "scoring" in dag["tags"]
    sensor = dag["tasks"]["wait_for_batches"]
    assert sensor["type"] == "S3BatchSensor" and sensor["deferrable"] is True
    assert sensor["seen"] == "known_scoring_batches"
    assert (sensor["bucket"], sensor["prefix"]) == (raw["source"]["bucket"],
                                                    f"scoring/{raw['name']}/")
    ingest = bag["dags"][f"ct_{raw['name']}_ingest"]["tasks"]["wait_for_batches"]
    assert ingest["seen"] == "known_batches"


def test_shadow_scoring_runs_after_the_champion_and_events_mode_watches_a_queue(
        tmp_path: Path) -> None:
    specs = tmp_path / "pipelines"
    specs.mkdir()
    path = write_spec(specs, "churn_risk", owner="ml-platform", prefix="landing/churn_risk/")
    raw = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({
        **raw, "scoring": {**raw["scoring"], "shadow": True},
        "trigger": {"mode": "events",
                    "sqs_queue": "https://sqs.us-east-1.amazonaws.com/123456789012/ct-churn"}},
        sort_keys=False))

    bag = load_dagbag(tmp_path, specs)

    assert bag["import_errors"] == {} and bag["serialization_errors"] == {}
    dag = bag["dags"]["ct_churn_risk_score"]
    assert {t: set(v["upstream"]) for t, v in dag["tasks"].items()} == {
        **{t: u for t, u in EXPECTED_UPSTREAM["_score"].items() if t != "wait_for_batches"},
        "find_batches": set(), "batch.claim_scoring_batch": {"find_batches"},
        **SHADOW_UPSTREAM}
    assert [a.rstrip("/") for a in dag["schedule_assets"]] == ["s3://ct-landing/scoring/churn_risk"]
    assert dag["tasks"]["find_batches"]["seen"] == "known_scoring_batches"


def test_assets_wire_ingest_monitor_and_training(bag: dict[str, Any]) -> None:
    """Accepted batches feed the monitor; the training DAG runs on the assets the spec
    retrains on, or'ed with its cron (AssetOrTimeSchedule)."""
    for path in repo_specs():
        raw = yaml.safe_load(path.read_text())
        name, trigger = raw["name"], raw.get("trigger") or {}
        batches, drift = f"ct://{name}/accepted-batches", f"ct://{name}/drift-crossings"
        ingest = bag["dags"][f"ct_{name}_ingest"]
        monitor = bag["dags"][f"ct_{name}_drift_monitor"]
        training = bag["dags"][f"ct_{name}"]
        assert ingest["tasks"]["batch.validate_batch"]["outlets"] == [batches]
        assert monitor["schedule_assets"] == [batches]
        assert monitor["tasks"]["check_drift_policy"]["outlets"] == [drift]
        expected = sorted({"arrival": batches, "drift": drift,
                           "performance": f"ct://{name}/performance-drops"}[c]
                          for c in trigger.get("retrain_on", ["arrival"]))
        assert training["schedule_assets"] == expected, name
        if len(expected) > 1:
            assert training["asset_logic"] == "AssetAny", name  # any cause, not all of them
        if trigger.get("schedule"):
            assert training["timetable"] == "AssetOrTimeSchedule", name
            presets = {"@daily": "0 0 * * *", "@hourly": "0 * * * *"}
            assert training["cron"] == presets.get(trigger["schedule"], trigger["schedule"])
        assert training["params"] == ["batches", "force", "promote", "reason", "window_end",
                                      "window_start"]


def test_task_chain(bag: dict[str, Any]) -> None:
    raws = {yaml.safe_load(p.read_text())["name"]: yaml.safe_load(p.read_text())
            for p in repo_specs()}
    for dag_id, dag in bag["dags"].items():
        upstream = {tid: set(t["upstream"]) for tid, t in dag["tasks"].items()}
        raw = next(r for n, r in raws.items() if dag_id in dag_ids(n, labels=True))
        assert upstream == expected_upstream(dag_id, raw), dag_id
    # No promotion without the plan, the decision and the reports.
    training = [d for i, d in bag["dags"].items() if kind_of(i) == ""]
    assert training
    for dag in training:
        assert {"plan_training", "evaluate_challenger", "build_reports"} <= set(
            dag["tasks"]["promote_champion"]["upstream"])


def test_training_tasks_link_to_the_reports(bag: dict[str, Any]) -> None:
    """build_reports, evaluate_challenger and promote_champion (and the scoring DAG's
    build_scoring_report, the monitor's measure_drift) show an "Evidently report" button
    (ct_airflow.links); the worker stores its URL in XCom under the link's key."""
    linked = {"": {"build_reports", "evaluate_challenger", "promote_champion"},
              "_score": {"batch.build_scoring_report"}, "_labels": {"measure_performance"},
              "_drift_monitor": {"measure_drift"}}
    for dag_id, dag in bag["dags"].items():
        for task_id, t in dag["tasks"].items():
            expected = ({"Evidently report": "_link_EvidentlyReportLink"}
                        if task_id in linked.get(kind_of(dag_id), ()) else {})
            assert t["extra_links"] == expected, (dag_id, task_id)


def test_parse_imports_no_heavy_libraries(bag: dict[str, Any]) -> None:
    loaded = set(bag["modules"])
    assert "ct_airflow.sensors" in loaded  # the probe did import the DAG file's dependencies
    assert sorted(m for m in HEAVY_MODULES if m in loaded) == []


def test_adding_a_spec_adds_a_dag(tmp_path: Path) -> None:
    specs = tmp_path / "pipelines"
    specs.mkdir()
    shutil.copy(EXAMPLE_SPEC, specs / EXAMPLE_SPEC.name)
    write_spec(specs, "churn_risk", owner="ml-platform", prefix="landing/churn_risk/")

    bag = load_dagbag(tmp_path, specs)

    assert bag["import_errors"] == {}
    assert sorted(bag["dags"]) == sorted(dag_ids("churn_risk") + dag_ids("credit_default"))
    sensor = bag["dags"]["ct_churn_risk_score"]["tasks"]["wait_for_batches"]
    assert sensor["prefix"] == "scoring/churn_risk/"  # the default: a folder per pipeline
    for dag_id in dag_ids("churn_risk"):
        churn = bag["dags"][dag_id]
        assert "churn_risk" in churn["tags"]
        assert {t["owner"] for t in churn["tasks"].values()} == {"ml-platform"}
        assert ({tid: set(t["upstream"]) for tid, t in churn["tasks"].items()}
                == EXPECTED_UPSTREAM[kind_of(dag_id)])
    sensor = bag["dags"]["ct_churn_risk_ingest"]["tasks"]["wait_for_batches"]
    assert sensor["prefix"] == "landing/churn_risk/"


def test_a_broken_spec_is_an_import_error(tmp_path: Path) -> None:
    specs = tmp_path / "pipelines"
    specs.mkdir()
    raw = yaml.safe_load(EXAMPLE_SPEC.read_text())
    raw["metric"]["name"] = "rmse"  # a regression metric on a classification task
    (specs / "bad.yaml").write_text(yaml.safe_dump(raw))

    bag = load_dagbag(tmp_path, specs)

    assert bag["dags"] == {}
    [(path, error)] = bag["import_errors"].items()
    assert Path(path).name == "ct_pipelines.py"
    assert "bad.yaml" in error and "rmse" in error


def test_mlops_lib_does_not_import_airflow() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    proc = subprocess.run([str(lint_imports)], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert re.search(r"Contracts: [1-9]\d* kept, 0 broken", proc.stdout), proc.stdout[-3000:]


def test_manual_promotion_waits_for_a_human_approval(tmp_path: Path) -> None:
    """`promotion: manual` puts Airflow's HITL approval between the gate (and the reports) and
    promote_champion, which still runs when the approval is skipped (the gate kept); a spec
    with the default `auto` has no approval task."""
    specs = tmp_path / "pipelines"
    specs.mkdir()
    shutil.copy(EXAMPLE_SPEC, specs / EXAMPLE_SPEC.name)
    path = write_spec(specs, "churn_risk", owner="ml-platform", prefix="landing/churn_risk/")
    raw = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**raw, "promotion": "manual", "approval_timeout_h": 12},
                                   sort_keys=False))

    bag = load_dagbag(tmp_path, specs)

    assert bag["import_errors"] == {} and bag["serialization_errors"] == {}
    manual = bag["dags"]["ct_churn_risk"]["tasks"]
    gate = {"plan_training", "evaluate_challenger", "build_reports"}
    approval = manual["approve_promotion"]
    assert approval["type"] == "PromotionApprovalOperator"
    assert set(approval["upstream"]) == gate
    assert approval["hitl"] == {"options": ["Approve", "Reject"], "timeout_s": 12 * 3600,
                                "defaults": ["Reject"]}  # the timeout answers Reject
    assert approval["owner"] == "ml-platform" and approval["retries"] >= 1
    promote = manual["promote_champion"]
    assert set(promote["upstream"]) == gate | {"approve_promotion"}
    assert promote["trigger_rule"] == "none_failed_min_one_success"
    auto = bag["dags"]["ct_credit_default"]["tasks"]
    assert "approve_promotion" not in auto
    assert set(auto["promote_champion"]["upstream"]) == gate
    assert auto["promote_champion"]["trigger_rule"] == "all_success"


def test_a_labels_section_adds_the_labels_dag_and_performance_can_retrain(
        tmp_path: Path) -> None:
    """Label drops are polled (deferred) under the labels prefix with their own seen set; each
    drop is merged, then staged as a training batch (announced as accepted); performance is
    measured once every drop is done, a challenger waiting for live rows is judged, and a
    crossing updates the performance asset, which the training DAG runs on. The scoring DAG
    measures (the label-free estimate) after scoring."""
    specs = tmp_path / "pipelines"
    specs.mkdir()
    path = write_spec(specs, "churn_risk", owner="ml-platform", prefix="landing/churn_risk/")
    raw = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({
        **raw, "scoring": {**raw["scoring"], "id_column": "loan_id", "shadow": True},
        "labels": {}, "promotion": {"require_live_rows": 500},
        "trigger": {**raw["trigger"], "retrain_on": ["drift", "performance"]}},
        sort_keys=False))

    bag = load_dagbag(tmp_path, specs)

    assert bag["import_errors"] == {} and bag["serialization_errors"] == {}
    assert sorted(bag["dags"]) == sorted([*dag_ids("churn_risk"), "ct_churn_risk_labels"])
    dag = bag["dags"]["ct_churn_risk_labels"]
    assert dag["timetable"] == "ContinuousTimetable" and "labels" in dag["tags"]
    assert {t: set(v["upstream"]) for t, v in dag["tasks"].items()} == {
        "wait_for_label_drops": set(),
        "drop.ingest_label_drop": {"wait_for_label_drops"},
        "drop.stage_labelled_rows": {"drop.ingest_label_drop"},
        "measure_performance": {"drop.stage_labelled_rows"},
        # a live promotion changes the champion the policy judges: the judge goes first
        "judge_live_challenger": {"measure_performance"},
        "check_performance_policy": {"judge_live_challenger"}}
    tasks = dag["tasks"]
    sensor = tasks["wait_for_label_drops"]
    assert sensor["deferrable"] is True and sensor["seen"] == "known_label_drops"
    assert sensor["prefix"] == "labels/churn_risk/"
    assert tasks["measure_performance"]["trigger_rule"] == "all_done"
    assert "Evidently report" in tasks["measure_performance"]["extra_links"]
    assert tasks["drop.stage_labelled_rows"]["outlets"] == ["ct://churn_risk/accepted-batches"]
    assert tasks["check_performance_policy"]["outlets"] == ["ct://churn_risk/performance-drops"]
    assert bag["dags"]["ct_churn_risk"]["schedule_assets"] == [
        "ct://churn_risk/drift-crossings", "ct://churn_risk/performance-drops"]
    scoring = bag["dags"]["ct_churn_risk_score"]["tasks"]
    assert scoring["measure_performance"]["upstream"] == ["batch.build_scoring_report",
                                                          "batch.shadow_score_batch"]
    assert scoring["measure_performance"]["trigger_rule"] == "all_done"


def test_an_alerts_section_adds_a_freshness_dag_failure_alerts_and_a_deadline(
        tmp_path: Path) -> None:
    """alerts.freshness_sla_h: a DAG ct_<name>_freshness on a timedelta schedule, one task;
    run_deadline_minutes: a deadline alert on the training DAG; every DAG but ingest and
    scoring (whose runs fail on a bad batch, alerted on its own) raises dag_failed."""
    specs = tmp_path / "pipelines"
    specs.mkdir()
    path = write_spec(specs, "churn_risk", owner="ml-platform", prefix="landing/churn_risk/")
    raw = yaml.safe_load(path.read_text())
    raw["alerts"] = {"freshness_sla_h": 6, "check_every_minutes": 10, "run_deadline_minutes": 90,
                     "webhooks": ["env:CT_ALERT_WEBHOOK"]}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))

    bag = load_dagbag(tmp_path, specs)

    assert bag["import_errors"] == {} and bag["serialization_errors"] == {}
    assert sorted(bag["dags"]) == sorted([*dag_ids("churn_risk"), "ct_churn_risk_freshness"])
    fresh = bag["dags"]["ct_churn_risk_freshness"]
    assert fresh["timetable"] == "DeltaDataIntervalTimetable" and fresh["every_s"] == 600
    assert (fresh["max_active_runs"], fresh["catchup"]) == (1, False)
    assert {t: v["upstream"] for t, v in fresh["tasks"].items()} == {"freshness_check": []}
    assert {t["owner"] for t in fresh["tasks"].values()} == {"ml-platform"}
    assert {d: bag["dags"][d]["on_failure"] for d in bag["dags"]} == {
        "ct_churn_risk_ingest": None, "ct_churn_risk_score": None,
        **{d: "PipelineFailureNotifier" for d in ("ct_churn_risk", "ct_churn_risk_freshness",
                                                  "ct_churn_risk_drift_monitor")}}
    [deadline] = bag["dags"]["ct_churn_risk"]["deadlines"]
    assert deadline["interval_s"] == 90 * 60
    assert deadline["callback"] == "ct_airflow.notifiers.run_deadline_missed"
    assert deadline["kwargs"] == {"pipeline": "churn_risk", "minutes": 90}
    assert bag["dags"]["ct_churn_risk_ingest"]["deadlines"] == []
