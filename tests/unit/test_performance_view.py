"""The view behind `mlops performance`: windows grouped per version and role in the store's
order, each against the value its version was promoted at, read with the metric's direction."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from mlops_lib.operations.performance_view import (
    PerformanceView,
    build_view,
    lines,
    promotion_values,
    to_dict,
)
from mlops_lib.stores.labels import PerformanceWindow
from mlops_lib.stores.records import DecisionRecord

pytestmark = pytest.mark.unit

P = "credit_default"


def window(version: str = "3", kind: str = "batch", key: str = "score-b1", *,
           role: str = "champion", metric: str = "roc_auc", value: float | None = 0.84,
           ci: tuple[float | None, float | None] = (0.81, 0.87),
           estimated: float | None = 0.85, labelled: int = 800,
           scored: int = 1000) -> PerformanceWindow:
    return PerformanceWindow(
        pipeline=P, model_version=version, role=role, window_kind=kind, window_key=key,
        metric=metric, value=value, ci_low=ci[0], ci_high=ci[1], estimated=estimated,
        rows_labelled=labelled, rows_scored=scored,
        metrics_json=json.dumps({metric: value, "accuracy": 0.9}), reliability_json="[]",
        scored_from="2026-11-24T05:00:00", scored_to="2026-11-24T05:10:00",
        computed_at="2026-11-24T06:00:00")


def decision(version: str, value: float, verdict: str = "promote",
             metric: str = "roc_auc") -> DecisionRecord:
    return DecisionRecord(pipeline=P, dag_run_id=f"run-{version}-{verdict}",
                          candidate_version=version, baseline_version=None, metric=metric,
                          candidate_value=value, baseline_value=None, decision=verdict,
                          reason="", data_rev=None, details={})


WINDOWS = [
    window("2", "batch", "score-b0", value=0.80),
    window("3", "batch", "score-b1", value=0.84),
    window("3", "batch", "score-b2", value=0.88),
    window("3", "rows", "0-999", value=0.85, estimated=None, labelled=1000, scored=1000),
    window("4", "batch", "score-b2", role="shadow", value=0.86),
]


def test_versions_and_windows_keep_the_store_order_with_a_delta_each() -> None:
    view = build_view(P, WINDOWS, {"2": 0.82, "3": 0.8612}, "3")
    assert [(v.version, v.role, v.current) for v in view.versions] == [
        ("2", "champion", False), ("3", "champion", True), ("4", "shadow", False)]
    v3 = view.versions[1]
    assert [(w.kind, w.key) for w in v3.windows] == [
        ("batch", "score-b1"), ("batch", "score-b2"), ("rows", "0-999")]
    assert [round(w.delta or 0, 4) for w in v3.windows] == [-0.0212, 0.0188, -0.0112]
    assert [w.verdict for w in v3.windows] == ["worse", "better", "worse"]
    assert v3.windows[0].coverage == 0.8 and v3.windows[0].metrics["accuracy"] == 0.9
    assert view.versions[2].promoted_value is None and view.versions[2].windows[0].delta is None


def test_text_has_a_header_per_version_and_a_line_per_window() -> None:
    text = lines(build_view(P, WINDOWS, {"2": 0.82, "3": 0.8612}, "3"))
    assert text[0] == "v2 champion (former) — promoted at roc_auc 0.8200"
    assert text[2] == "v3 champion (current) — promoted at roc_auc 0.8612"
    assert text[3].split() == [
        "batch", "score-b1", "roc_auc", "0.8400", "[0.8100,", "0.8700]", "estimated", "0.8500",
        "800/1000", "rows", "(80.0%)", "vs", "promotion", "-0.0212", "(worse)"]
    assert text[5].split()[:2] == ["rows", "0-999"] and "estimated -  " in text[5]
    assert text[6] == "v4 shadow — no promotion decision recorded"
    assert text[7].endswith("vs promotion -")
    assert len(text) == 8


def test_a_lower_log_loss_than_at_promotion_is_better() -> None:
    worse, better = (window(value=x, metric="log_loss", key=k)
                     for x, k in ((0.45, "score-b1"), (0.35, "score-b2")))
    [v] = build_view(P, [worse, better], {"3": 0.40}, "3").versions
    assert [round(w.delta or 0, 2) for w in v.windows] == [0.05, -0.05]
    assert [w.verdict for w in v.windows] == ["worse", "better"]
    assert lines(build_view(P, [worse], {"3": 0.40}, "3"))[1].endswith("+0.0500 (worse)")


def test_missing_value_interval_and_estimate_print_a_dash() -> None:
    bare = window(value=None, ci=(None, None), estimated=None, labelled=0)
    [_, line] = lines(build_view(P, [bare], {"3": 0.86}, "3"))
    assert "roc_auc - [-, -]  estimated -  0/1000 rows (0.0%)  vs promotion -" in line
    assert build_view(P, [bare], {"3": 0.86}, "3").versions[0].windows[0].verdict is None


def test_kind_and_version_filter_the_windows() -> None:
    rows = build_view(P, WINDOWS, {}, "3", kind="rows")
    assert [(v.version, [w.key for w in v.windows]) for v in rows.versions] == [
        ("3", ["0-999"])]
    batches = build_view(P, WINDOWS, {}, "3", kind="batch", version="3")
    assert [w.key for v in batches.versions for w in v.windows] == ["score-b1", "score-b2"]
    assert [v.version for v in build_view(P, WINDOWS, {}, "3", version="4").versions] == ["4"]


def test_json_round_trips() -> None:
    view = build_view(P, WINDOWS, {"3": 0.8612}, "3")
    data = to_dict(view)
    assert json.loads(json.dumps(data)) == data
    assert data["champion"] == "3" and data["versions"][1]["promoted_value"] == 0.8612
    assert data["versions"][1]["windows"][2]["estimated"] is None
    assert data["versions"][1]["windows"][0]["verdict"] == "worse"


def test_no_windows_says_what_brings_them() -> None:
    view = build_view(P, [], {"3": 0.86}, "3")
    assert view == PerformanceView(pipeline=P, champion="3", versions=(), filtered=False)
    [text] = lines(view)
    assert text.startswith(f"{P}: no labelled predictions yet.")
    assert "scored a batch" in text and f"labels/{P}/" in text
    assert to_dict(view)["versions"] == []


def test_windows_that_all_miss_the_filters_say_so() -> None:
    [text] = lines(build_view(P, WINDOWS, {}, "3", version="9"))
    assert "no performance window matches the filters" in text


def test_promotion_values_come_from_promote_decisions_on_the_metric() -> None:
    decisions = [decision("2", 0.82), decision("3", 0.70, verdict="keep"),
                 decision("3", 0.86), decision("4", 0.41, metric="log_loss"),
                 replace(decision("2", 0.83), dag_run_id="run-2-again")]
    assert promotion_values(decisions, "roc_auc") == {"2": 0.83, "3": 0.86}
    assert promotion_values(decisions) == {"2": 0.83, "3": 0.86, "4": 0.41}


def test_drift_against_the_holdout_shows_when_the_window_has_it() -> None:
    drifted = replace(window(), drift_json=json.dumps({
        "prediction": {"psi": 0.1234, "ks_pvalue": 0.001},
        "calibration": {"shift": 0.05, "ece_window": 0.09, "ece_holdout": 0.04}}))
    view = build_view(P, [drifted, window(key="score-b2")], {"3": 0.86}, "3")
    first, second = lines(view)[1:]
    assert first.endswith("score PSI 0.123  ECE +0.050 vs holdout")
    assert "PSI" not in second and "ECE" not in second  # kept no holdout scores
    assert to_dict(view)["versions"][0]["windows"][0]["prediction_psi"] == 0.1234
