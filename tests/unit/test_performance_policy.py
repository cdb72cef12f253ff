"""The performance policy (trigger.performance) on stored windows: the limit, the interval
that must lie beyond it, persistence, minimum labels, cooldown, estimate alerts; and the
spec section and the training plan's `performance` cause. No services."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from mlops_lib.monitoring.performance_policy import (
    Baseline,
    breaches,
    evaluate,
    limit_of,
    promotion_values,
)
from mlops_lib.spec import PerformancePolicy, SpecError, TriggerConfig, load_spec
from mlops_lib.steps.planning import AssetEventInfo, Candidate, RunContext, describe, plan
from mlops_lib.stores.labels import PerformanceWindow
from mlops_lib.stores.records import DecisionRecord
from tests.conftest import EXAMPLE_SPEC

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
AUC = Baseline("3", "roc_auc", "maximize", 0.86)
LOSS = Baseline("3", "log_loss", "minimize", 0.40)


def window(key: str, value: float | None, low: float | None, high: float | None, *,
           rows: int = 500, version: str = "3", role: str = "champion", kind: str = "batch",
           at: str = "2026-12-06T10:00:00", estimated: float | None = None,
           metric: str = "roc_auc") -> PerformanceWindow:
    return PerformanceWindow(
        pipeline="p", model_version=version, role=role, window_kind=kind, window_key=key,
        metric=metric, value=value, ci_low=low, ci_high=high, estimated=estimated,
        rows_labelled=rows if value is not None else 0, rows_scored=1000, metrics_json="{}",
        reliability_json="[]", scored_from=at, scored_to=at, computed_at=at)


DEFAULT = PerformancePolicy()


def judge(windows: list[PerformanceWindow], policy: PerformancePolicy = DEFAULT,
          baseline: Baseline = AUC, last: str | None = None) -> Any:
    return evaluate(windows, policy, baseline, last_crossing_at=last, now=NOW)


def test_the_limit_is_the_stricter_of_the_drop_from_promotion_and_the_floor() -> None:
    assert limit_of(PerformancePolicy(max_drop=0.05), AUC) == pytest.approx(0.81)
    assert limit_of(PerformancePolicy(max_drop=0.05, floor=0.83), AUC) == 0.83
    assert limit_of(PerformancePolicy(max_drop=0.05, floor=0.70), AUC) == pytest.approx(0.81)
    assert limit_of(PerformancePolicy(max_drop=0.05), LOSS) == pytest.approx(0.45)
    assert limit_of(PerformancePolicy(max_drop=0.05, floor=0.42), LOSS) == 0.42
    assert limit_of(PerformancePolicy(max_drop=0.05), replace(AUC, promoted_value=None)) is None
    assert limit_of(PerformancePolicy(max_drop=None, floor=0.7),
                    replace(AUC, promoted_value=None)) == 0.7


def test_a_window_breaches_only_when_its_whole_interval_is_beyond_the_limit() -> None:
    assert breaches(window("a", 0.71, 0.69, 0.73), 0.81, "maximize")
    assert not breaches(window("a", 0.79, 0.75, 0.83), 0.81, "maximize")  # straddles: noise
    assert breaches(window("a", 0.55, 0.50, 0.60, metric="log_loss"), 0.45, "minimize")
    assert not breaches(window("a", 0.50, 0.44, 0.56, metric="log_loss"), 0.45, "minimize")
    assert breaches(window("a", 0.70, None, None), 0.81, "maximize")  # no interval: the value
    assert not breaches(window("a", None, None, None), 0.81, "maximize")


def test_a_drop_fires_with_the_numbers_behind_it() -> None:
    verdict = judge([window("b1", 0.84, 0.82, 0.86), window("b2", 0.71, 0.69, 0.73,
                                                             rows=5200)])
    assert verdict.crossed and verdict.window_keys == ("b2",)
    assert verdict.reason.startswith("fired on performance: roc_auc 0.71 [0.69, 0.73] over "
                                     "5,200 labelled rows (batch b2) vs 0.86 at promotion (v3)")
    assert verdict.evidence["limit"] == pytest.approx(0.81)
    assert verdict.evidence["windows"][0]["breaches"] is True


def test_within_the_policy_says_so() -> None:
    verdict = judge([window("b1", 0.84, 0.82, 0.86)])
    assert not verdict.crossed and verdict.reason.startswith("within the policy: roc_auc 0.84")


def test_windows_with_too_few_labels_are_not_judged() -> None:
    verdict = judge([window("b1", 0.50, 0.30, 0.70, rows=50)],
                    PerformancePolicy(min_labelled_rows=200))
    assert not verdict.crossed and "has 200 labelled rows yet (most: 50)" in verdict.reason


def test_persistence_needs_the_newest_windows_in_a_row() -> None:
    policy = PerformancePolicy(consecutive_windows=2)
    one = [window("b1", 0.84, 0.82, 0.86, at="2026-12-06T09:00:00"),
           window("b2", 0.70, 0.68, 0.72, at="2026-12-06T10:00:00")]
    assert not judge(one, policy).crossed
    assert "only 1 of 2 consecutive windows breach" in judge(one, policy).reason
    two = [*one, window("b3", 0.69, 0.67, 0.71, at="2026-12-06T11:00:00")]
    verdict = judge(two, policy)
    assert verdict.crossed and verdict.window_keys == ("b2", "b3")
    assert "2 windows in a row" in verdict.reason


def test_only_the_champion_versions_windows_of_the_policy_kind_count() -> None:
    others = [window("b1", 0.50, 0.45, 0.55, version="2"),
              window("b2", 0.50, 0.45, 0.55, role="shadow"),
              window("0-999", 0.50, 0.45, 0.55, kind="rows")]
    assert not judge(others).crossed
    rows = judge(others, PerformancePolicy(window="rows"))
    assert rows.crossed and rows.window_kind == "rows" and rows.window_keys == ("0-999",)


def test_rolling_windows_are_ordered_by_position_not_by_text() -> None:
    same_time = [window("1000-1999", 0.84, 0.82, 0.86, kind="rows"),
                 window("200-999", 0.70, 0.68, 0.72, kind="rows")]
    verdict = judge(same_time, PerformancePolicy(window="rows"))
    assert not verdict.crossed  # 1000-1999 is the newest, and it holds


def test_a_cooldown_holds_a_second_crossing_back() -> None:
    drop = [window("b2", 0.71, 0.69, 0.73)]
    held = judge(drop, PerformancePolicy(cooldown_minutes=60), last="2026-12-06T11:30:00+00:00")
    assert not held.crossed and held.reason.startswith("Cooldown until 2026-12-06T12:30:00")
    assert judge(drop, PerformancePolicy(cooldown_minutes=60),
                 last="2026-12-06T10:30:00+00:00").crossed


def test_without_promotion_evidence_or_floor_nothing_is_judged() -> None:
    verdict = judge([window("b2", 0.50, 0.45, 0.55)], baseline=replace(AUC, promoted_value=None))
    assert not verdict.crossed and "no promotion evidence" in verdict.reason


def test_a_minimized_metric_fires_on_a_rise() -> None:
    verdict = judge([window("b1", 0.60, 0.55, 0.65, metric="log_loss")], baseline=LOSS)
    assert verdict.crossed and "log_loss 0.6 [0.55, 0.65]" in verdict.reason


def test_estimates_alert_only_when_asked_and_never_fire() -> None:
    unlabelled = [window("b9", None, None, None, estimated=0.70)]
    assert judge(unlabelled).alerts == ()
    verdict = judge(unlabelled, PerformancePolicy(alert_on_estimate=True))
    assert not verdict.crossed
    (alert,) = verdict.alerts
    assert alert.startswith("estimated roc_auc 0.7 on batch b9 is beyond the limit 0.81")


def test_promotion_values_are_the_newest_promote_decisions_on_the_metric() -> None:
    def decision(version: str, value: float, decision: str = "promote",
                 metric: str = "roc_auc") -> DecisionRecord:
        return DecisionRecord("p", "r", version, None, metric, value, None, decision, "", None,
                              {})
    values = promotion_values([decision("3", 0.80), decision("4", 0.9, "keep"),
                               decision("3", 0.86), decision("5", 0.4, metric="log_loss")],
                              "roc_auc")
    assert values == {"3": 0.86}


# --- the spec ----------------------------------------------------------------------------------


def _load(tmp_path: Path, trigger: dict[str, Any], labels: Any = None) -> Any:
    raw = yaml.safe_load(Path(EXAMPLE_SPEC).read_text())
    raw["scoring"] = {"id_column": "loan_id"}
    if labels is not None:
        raw["labels"] = labels
    raw["trigger"] = {**raw["trigger"], **trigger}
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_spec(path)


def test_the_spec_reads_the_performance_policy(tmp_path: Path) -> None:
    spec = _load(tmp_path, {"retrain_on": ["drift", "performance"],
                            "performance": {"max_drop": 0.03, "consecutive_windows": 2,
                                            "window": "rows"}}, labels={})
    assert spec.trigger.retrain_on == ("drift", "performance")
    assert spec.trigger.performance == PerformancePolicy(max_drop=0.03, consecutive_windows=2,
                                                         window="rows")
    assert spec.labels_dag_id == f"ct_{spec.name}_labels"


@pytest.mark.parametrize(("trigger", "labels", "message"), [
    ({"retrain_on": ["performance"]}, None, "performance needs a `labels:` section"),
    ({"performance": {"max_drop": None}}, {}, "give max_drop and/or floor"),
    ({"performance": {"window": "days"}}, {}, "trigger.performance.window"),
    ({"performance": {"min_labelled_rows": 0}}, {}, "min_labelled_rows"),
])
def test_a_bad_performance_policy_is_refused(tmp_path: Path, trigger: dict[str, Any],
                                             labels: Any, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        _load(tmp_path, trigger, labels)


# --- the training plan ---------------------------------------------------------------------------


def test_a_performance_drop_is_the_runs_cause_and_its_note() -> None:
    ctx = RunContext("r1", "asset_triggered", asset_events=(performance_event(),))
    p = performance_plan(ctx, [Candidate("labelled-d1", 5200, "2026-12-06T11:00:00.000+00:00")])
    assert p.cause == "performance" and p.consume and p.batch_ids == ("labelled-d1",)
    (recorded,) = p.trigger["performance"]
    assert recorded["labels_run_id"] == "labels_run_7" and recorded["windows"] == ["b2"]
    assert describe(p.trigger).startswith("fired on performance: roc_auc 0.71 [0.69, 0.73]")


def performance_event(scored: str = "2026-12-06T10:00:00.000+00:00") -> AssetEventInfo:
    return AssetEventInfo("ct://p/performance-drops", {
        "reason": "fired on performance: roc_auc 0.71 [0.69, 0.73] over 5,200 labelled rows",
        "model_version": "3", "window_keys": ["b2"],
        "evidence": {"limit": 0.81, "windows": [
            {"window_key": "b1", "breaches": False, "scored": ["2026-12-06T08:00:00", None]},
            {"window_key": "b2", "breaches": True, "scored": [scored, scored]}]}},
        "ct_p_labels", "labels_run_7", "2026-12-06T12:00:00+00:00")


def performance_plan(ctx: RunContext, new: list[Candidate]) -> Any:
    return plan(ctx, TriggerConfig(), new=new, in_interval=[], named=[], newest=[],
                batches_uri="ct://p/accepted-batches", drift_uri="ct://p/drift-crossings",
                performance_uri="ct://p/performance-drops")


def test_a_performance_retrain_takes_the_data_since_the_drop_began() -> None:
    """Batches that arrived before the first breaching window was scored hold the old concept:
    they wait for another run; none since: the run says why it has nothing to train on."""
    ctx = RunContext("r1", "asset_triggered", asset_events=(performance_event(),))
    before = Candidate("labelled-d1", 1000, "2026-12-06T09:00:00.000+00:00")
    after = Candidate("labelled-d2", 1500, "2026-12-06T11:00:00.000+00:00")
    p = performance_plan(ctx, [before, after])
    assert p.batch_ids == ("labelled-d2",) and p.consume
    skipped = performance_plan(ctx, [before])
    assert skipped.batch_ids == () and skipped.skip_reason is not None
    assert "since the performance drop began (2026-12-06T10:00:00.000+00:00)" in \
        skipped.skip_reason


def test_day_windows_keep_their_keys_as_labels_arrive() -> None:
    from mlops_lib.steps.performance import day_windows

    times = np.array(["2026-12-01T10:00:00.000+00:00", "2026-12-01T23:59:00.000+00:00",
                      "2026-12-02T00:01:00.000+00:00", "2026-12-05T08:00:00.000+00:00"])
    windows = day_windows(times, 2)
    # two-day windows from 1970-01-01: 2026-12-01 starts one (day 20,788 is even)
    assert [(k, w.tolist()) for k, w in windows] == [
        ("2026-12-01/2026-12-02", [0, 1, 2]), ("2026-12-05/2026-12-06", [3])]
    assert day_windows(times[:1], 2)[0][0] == windows[0][0]  # fewer rows, the same key


def test_day_windows_need_the_labels_section_to_count_days(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="days needs labels.window_days"):
        _load(tmp_path, {"performance": {"window": "days"}}, labels={})
    spec = _load(tmp_path, {"performance": {"window": "days"}}, labels={"window_days": 7})
    assert spec.labels.window_days == 7 and spec.trigger.performance.window == "days"
