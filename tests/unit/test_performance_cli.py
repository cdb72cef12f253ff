"""`mlops performance <pipeline>` reads the windows, the promote decisions and the champion
from the store, and prints each version's windows against its promotion value."""

from __future__ import annotations

import json

import pytest

from mlops_lib.cli import main
from mlops_lib.stores.labels import PerformanceWindow
from mlops_lib.stores.records import DecisionRecord
from mlops_lib.stores.store import Store

pytestmark = pytest.mark.unit

P = "credit_default"


def _window(kind: str, key: str, value: float, estimated: float | None,
            labelled: int) -> PerformanceWindow:
    return PerformanceWindow(
        pipeline=P, model_version="3", role="champion", window_kind=kind, window_key=key,
        metric="roc_auc", value=value, ci_low=value - 0.02, ci_high=value + 0.02,
        estimated=estimated, rows_labelled=labelled, rows_scored=1000,
        metrics_json=json.dumps({"roc_auc": value}), reliability_json="[]",
        scored_from="2026-11-24T05:00:00+00:00", scored_to="2026-11-24T05:00:00+00:00",
        computed_at="2026-11-24T06:00:00+00:00")


def test_performance_prints_windows_against_the_promotion(
        store_url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CT_STORE_URL", store_url)
    assert main(["performance", P]) == 0
    assert capsys.readouterr().out.startswith(f"{P}: no labelled predictions yet.")

    store = Store(store_url)
    try:
        store.record_decision(DecisionRecord(
            pipeline=P, dag_run_id="train-3", candidate_version="3", baseline_version=None,
            metric="roc_auc", candidate_value=0.8612, baseline_value=None, decision="promote",
            reason="first model", data_rev=None, details={}))
        assert store.move_champion(P, "3", expected_epoch=0, dag_run_id="train-3",
                                   data_rev=None)
        store.record_performance(P, [_window("batch", "score-b1", 0.84, 0.85, 800),
                                     _window("rows", "0-799", 0.83, None, 800)])
    finally:
        store.engine.dispose()

    assert main(["performance", P]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "v3 champion (current) — promoted at roc_auc 0.8612"
    assert out[1].split() == [
        "batch", "score-b1", "roc_auc", "0.8400", "[0.8200,", "0.8600]", "estimated",
        "0.8500", "800/1000", "rows", "(80.0%)", "vs", "promotion", "-0.0212", "(worse)"]
    assert out[2].split()[:2] == ["rows", "0-799"] and "estimated -" in out[2]
    assert len(out) == 3

    assert main(["performance", P, "--kind", "rows", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [w["key"] for v in data["versions"] for w in v["windows"]] == ["0-799"]
    assert data["champion"] == "3" and data["versions"][0]["promoted_value"] == 0.8612

    assert main(["performance", P, "--version", "9"]) == 0
    assert "no performance window matches the filters" in capsys.readouterr().out
