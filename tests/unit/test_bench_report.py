"""bench/report.py: the docs table is built from the result files only, never guessed."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from mlops_lib.settings import REPO_ROOT

pytestmark = pytest.mark.unit


@pytest.fixture()
def report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_report", REPO_ROOT / "bench" /
                                                  "report.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (tmp_path / "results").mkdir()
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# B\n\nintro\n\n{module.BEGIN}\nold\n{module.END}\n\n## 1. analysis\n")
    monkeypatch.setattr(module, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(module, "DOC", doc)
    monkeypatch.setattr(module, "REPO", tmp_path)
    return module


def _write(report: ModuleType, name: str, data: dict) -> None:
    (report.RESULTS / name).write_text(json.dumps(data))


MACHINE = {"cores_available": 2, "ram_gib": 23.5, "gpu": None}


def test_missing_results_are_not_measured_and_the_rest_of_the_doc_stays(
        report: ModuleType) -> None:
    assert report.main([]) == 0
    text = report.DOC.read_text()
    assert "old" not in text and text.startswith("# B\n\nintro\n") and "## 1. analysis" in text
    assert text.count("not measured") == len(report.SOURCES) + 1  # + the GPU row
    assert report.main(["--check"]) == 0


def test_goals_are_judged_from_the_figures(report: ModuleType) -> None:
    _write(report, "drift_vs_evidently.json", {
        "when": "2026-11-24T05:00:00", "machine": MACHINE, "rows": 1_000_000, "features": 28,
        "speed_ratio": 116.0, "same_verdict_share": 1.0})
    _write(report, "scaling.json", {"measured_at": "2026-11-24", "machine": MACHINE, "sizes": [
        {"rows": 1_000_000, "drop_to_decision_task_seconds": 60.0, "peak_rss_mib": 900.0,
         "time_vs_smallest_per_row": 1.0},
        {"rows": 10_000_000, "drop_to_decision_task_seconds": 700.0, "peak_rss_mib": 9000.0,
         "time_vs_smallest_per_row": 1.17}]})
    report.main([])
    rows = {line.split("|")[1].strip(): line for line in report.DOC.read_text().splitlines()
            if line.startswith("| ")}
    drift = rows["2. drift statistics vs Evidently (1,000,000 × 28)"]
    assert "116.0× faster, 100% same verdict" in drift and "| yes |" in drift
    peak = rows["4. scaling: peak RSS of the largest task"]
    assert "10M: 8.8 GiB" in peak and "| **no** |" in peak  # 9000 MiB > 8 GiB
    assert "2026-11-24, 2 cores, 23.5 GiB, no GPU" in peak


def test_check_fails_when_the_doc_is_stale(report: ModuleType) -> None:
    report.main([])
    _write(report, "drift_vs_evidently.json", {
        "when": "2026-11-24", "machine": MACHINE, "rows": 1000, "features": 2,
        "speed_ratio": 10.0, "same_verdict_share": 0.5})
    assert report.main(["--check"]) == 1


def test_the_overhead_goal_is_judged_on_the_large_batch_against_a_champion(
        report: ModuleType) -> None:
    batch = {"drop_to_decision_s": 0.0, "orchestration_overhead": 0.0}
    _write(report, "stack_latency_memory_polling.json", {
        "machine": MACHINE, "mode": "polling", "rows": 2000, "goal_drop_to_sensor_s": 3.0,
        "batches": [batch] * 3, "drop_to_sensor_s": {"median": 1.66},
        "drop_to_decision_s": {"median": 44.0}, "orchestration_overhead": {"median": 0.30},
        "idle_pss_mib": {"total": 1470.5}})
    _write(report, "stack_2m.json", {
        "machine": MACHINE, "mode": "polling", "rows": 2_000_000, "goal_drop_to_sensor_s": 3.0,
        "batches": [{"drop_to_decision_s": 73.3, "orchestration_overhead": 0.147},
                    {"drop_to_decision_s": 115.9, "orchestration_overhead": 0.049}]})
    report.main([])
    lines = report.DOC.read_text().splitlines()
    small = next(line for line in lines if line.startswith("| 3. drop → decision, 2,000-row"))
    assert "30.0%" in small and small.rstrip().split("|")[4].strip() == "—"  # not judged
    large = next(line for line in lines if line.startswith("| 3. drop → decision, 2,000,000"))
    assert "against the champion 116 s, overhead 4.9%" in large and "| yes |" in large
    sensor = next(line for line in lines if "sensor success (polling, 2,000-row batches, median "
                                                  "of 3)" in line)
    assert "1.66 s" in sensor and "| yes |" in sensor
    pss = next(line for line in lines if "idle PSS" in line)
    assert "1470 MiB" in pss and "| yes |" in pss


def test_events_mode_is_judged_on_the_watcher_event(report: ModuleType) -> None:
    _write(report, "stack_latency_memory_events.json", {
        "machine": MACHINE, "mode": "events", "rows": 2000, "goal_drop_to_sensor_s": 1.5,
        "batches": [{}] * 3, "drop_to_watcher_event_s": {"median": 0.51},
        "drop_to_sensor_s": {"median": 1.51}})
    report.main([])
    line = next(line for line in report.DOC.read_text().splitlines()
                if "AssetWatcher event (events" in line)
    assert "0.51 s (the ingest run's listing succeeds at 1.51 s)" in line and "| yes |" in line


def test_start_up_and_small_batch_rows_compare_before_with_after(report: ModuleType) -> None:
    task = {"before": {"cpu_s": 3.5}, "after": {"cpu_s": 1.9}}
    _write(report, "task_startup.json", {
        "at": "2026-12-04", "machine": MACHINE, "before_commit": "0c869c4", "goal_cpu_s": 3.0,
        "floor": {"airflow.sdk": {"cpu_s": 1.6}},
        "tasks": {"register_batch": task, "plan_training": {"before": {"cpu_s": 3.4},
                                                             "after": {"cpu_s": 3.2}}}})
    small = {"when": "2026-12-04", "machine": MACHINE, "rows": 2000, "batches": [{}, {}, {}]}
    _write(report, "stack_small_before.json", {**small, "drop_to_decision_s": {"median": 46.9}})
    _write(report, "stack_small_after.json", {**small, "drop_to_decision_s": {"median": 19.5}})
    report.main([])
    lines = report.DOC.read_text().splitlines()
    startup = next(line for line in lines if "light task start-up" in line)
    assert "register_batch 3.5 → 1.9 s" in startup and "plan_training 3.4 → 3.2 s" in startup
    assert "| **no** |" in startup  # one task above the 3 s goal fails the row
    small_row = next(line for line in lines if "2,000-row batches, median of 3" in line)
    assert "46.9 s → 19.5 s" in small_row and "| yes |" in small_row


def test_scoring_is_judged_on_throughput_and_the_larger_part_s_peak(
        report: ModuleType) -> None:
    _write(report, "scoring.json", {
        "when": "2026-12-04T19:00:00", "machine": MACHINE, "features": 28, "rounds": 150,
        "goal_ratio": 0.9,
        "throughput": {"rows": 1_000_000, "ratio_throughput": 0.93, "same_scores": True,
                       "rows_per_s": {"service": 150_000, "bare": 161_290}},
        "memory": {"rows": 10_000_000, "goal_peak_gib": 3.0,
                   "score": {"peak_rss_mib": 1900}, "validate": {"peak_rss_mib": 3500}}})
    report.main([])
    lines = report.DOC.read_text().splitlines()
    speed = next(line for line in lines if "chunked scorer / bare" in line)
    assert "0.93× throughput (150,000 vs 161,290 rows/s), same scores: yes" in speed
    assert "| yes |" in speed
    peak = next(line for line in lines if "peak RSS of a 10,000,000-row batch" in line)
    assert "scoring 1.9 GiB, contract check 3.4 GiB" in peak and "| **no** |" in peak
