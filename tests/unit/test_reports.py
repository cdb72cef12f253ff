from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_lib.reports.builders import (
    DriftSummary,
    ReportFile,
    build_performance_report,
    build_reports,
    performance_sample,
)
from mlops_lib.spec import PipelineSpec, load_spec
from tests.support import HOUSE_SPEC, PIPELINES_DIR

pytestmark = pytest.mark.unit

REGIONS = ["north", "south", "east", "west"]


def make_frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """Credit-default-shaped rows; `shift` moves every feature's distribution."""
    rng = np.random.default_rng(seed)
    region_p = [0.4, 0.3, 0.2, 0.1] if shift == 0 else [0.05, 0.05, 0.1, 0.8]
    return pd.DataFrame({
        "income": rng.lognormal(10.5 + shift, 0.5, n),
        "age": rng.integers(21, 70, n) + int(15 * shift),
        "debt_ratio": rng.beta(2, 5, n) + 0.3 * shift,
        "credit_lines": rng.poisson(4 + 4 * shift, n),
        "utilization": np.clip(rng.normal(0.3 + 0.3 * shift, 0.15, n), 0, 1),
        "late_payments": rng.poisson(0.5 + 2 * shift, n),
        "tenure_months": rng.integers(1, 240, n) + int(100 * shift),
        "region": pd.Categorical(rng.choice(REGIONS, n, p=region_p), categories=REGIONS),
        "default": rng.integers(0, 2, n),
    })


def drift_of(tmp_path: Path, spec: PipelineSpec, current: pd.DataFrame) -> DriftSummary:
    bundle = build_reports(current, make_frame(400, seed=1), spec, tmp_path)
    assert bundle.drift is not None
    return bundle.drift


def test_reports_written_with_reference(tmp_path: Path, spec: PipelineSpec) -> None:
    bundle = build_reports(make_frame(300, 2), make_frame(300, 1), spec, tmp_path)

    assert {(f.kind, f.format) for f in bundle.files} == {
        ("data_summary", "html"), ("data_summary", "json"),
        ("data_drift", "html"), ("data_drift", "json"),
    }
    for f in bundle.files:
        assert f.path.parent == tmp_path
        assert f.path.name == f"{f.kind}.{f.format}"
        assert f.path.stat().st_size > 0
        if f.format == "html":
            assert "<html" in f.path.read_text().lower()
        else:
            json.loads(f.path.read_text())
    assert bundle.skipped == ()
    assert bundle.drift is not None
    assert bundle.drift.n_columns == len(spec.features)


def test_shifted_data_drifts_more(tmp_path: Path, spec: PipelineSpec) -> None:
    same = drift_of(tmp_path / "same", spec, make_frame(400, seed=2))
    shifted = drift_of(tmp_path / "shifted", spec, make_frame(400, seed=2, shift=1.0))

    assert shifted.n_drifted > same.n_drifted
    assert shifted.n_drifted >= len(spec.features) - 1
    assert shifted.share_drifted == pytest.approx(shifted.n_drifted / shifted.n_columns)
    assert set(shifted.drifted_columns) <= set(spec.feature_names)
    assert "income" in shifted.drifted_columns
    assert spec.target not in shifted.drifted_columns + same.drifted_columns


def test_without_reference_only_summary(tmp_path: Path, spec: PipelineSpec) -> None:
    bundle = build_reports(make_frame(300, 2), None, spec, tmp_path)

    assert {f.kind for f in bundle.files} == {"data_summary"}
    assert bundle.drift is None
    assert any(s.startswith("data_drift:") and "reference" in s for s in bundle.skipped)
    assert not (tmp_path / "data_drift.html").exists()


def test_all_null_column_is_dropped_and_noted(tmp_path: Path, spec: PipelineSpec) -> None:
    current = make_frame(300, 2)
    current["utilization"] = np.nan

    bundle = build_reports(current, make_frame(300, 1), spec, tmp_path)

    assert len(bundle.files) == 4
    assert any("utilization" in s and "null" in s for s in bundle.skipped)
    assert bundle.drift is not None
    assert bundle.drift.n_columns == len(spec.features) - 1
    assert "utilization" not in bundle.drift.drifted_columns


def test_frames_above_max_rows_are_sampled(tmp_path: Path, spec: PipelineSpec) -> None:
    build_reports(make_frame(300, 2), None, spec, tmp_path, max_rows=100, seed=7)

    assert _row_count(tmp_path / "data_summary.json") == 100


def test_data_report_samples_keep_each_class_share(spec: PipelineSpec) -> None:
    from mlops_lib.reports.builders import _sample

    frame = make_frame(1000, 3).assign(**{spec.target: [1] * 30 + [0] * 970})
    sampled = _sample(frame, 100, 7, spec)
    assert len(sampled) == 100 and int(sampled[spec.target].sum()) == 3
    assert sampled.index.is_unique and sampled.equals(_sample(frame, 100, 7, spec))


def test_a_datetime_feature_does_not_break_the_reports(tmp_path: Path,
                                                       spec: PipelineSpec) -> None:
    from dataclasses import replace

    from mlops_lib.spec import Feature

    timed = replace(spec, features=(*spec.features, Feature("applied_at", "datetime")))

    def frame(seed: int) -> pd.DataFrame:
        stamps = pd.date_range("2026-01-01", periods=300, freq="min")
        return make_frame(300, seed).assign(applied_at=stamps.to_numpy())

    bundle = build_reports(frame(2), frame(3), timed, tmp_path)

    names = {f.path.name for f in bundle.files}
    assert {"data_summary.html", "data_drift.html"} <= names, bundle.skipped
    assert "data_summary: datetime column 'applied_at' not summarised" in bundle.skipped


def test_frames_at_or_below_max_rows_are_kept(tmp_path: Path, spec: PipelineSpec) -> None:
    build_reports(make_frame(300, 2), None, spec, tmp_path, max_rows=300)

    assert _row_count(tmp_path / "data_summary.json") == 300


def _row_count(summary_json: Path) -> int:
    snapshot = json.loads(summary_json.read_text())
    counts = [m["value"] for m in snapshot["metrics"] if m["metric_name"].startswith("RowCount")]
    assert counts, "no RowCount metric in the summary report"
    return int(counts[0])


# -- model performance report -------------------------------------------------------------------



def classification_preds(y: np.ndarray, seed: int, signal: float) -> np.ndarray:
    """Probabilities of the positive class; `signal` 0 is noise, 1 is the label itself."""
    rng = np.random.default_rng(seed)
    return np.clip(signal * y + (1 - signal) * rng.random(len(y)), 0.0, 1.0)


def _snapshot(files: list[ReportFile]) -> dict:
    assert {(f.kind, f.format) for f in files} == {("model_performance", "html"),
                                                   ("model_performance", "json")}
    for f in files:
        assert f.path.name == f"model_performance.{f.format}"
        assert f.path.stat().st_size > 0
    html = next(f.path for f in files if f.format == "html")
    assert "<html" in html.read_text().lower()
    return json.loads(next(f.path for f in files if f.format == "json").read_text())


def _metric(snapshot: dict, prefix: str) -> object:
    values = [m["value"] for m in snapshot["metrics"] if m["metric_name"].startswith(prefix)]
    assert values, f"no {prefix} metric in the report"
    return values[0]


def _test_names(snapshot: dict, prefix: str) -> list[str]:
    return [t["name"] for t in snapshot.get("tests", []) if t["name"].startswith(prefix)]


def test_performance_report_binary_with_champion(tmp_path: Path, spec: PipelineSpec) -> None:
    holdout = make_frame(300, 2)
    y = holdout[spec.target].to_numpy()
    challenger, champion = classification_preds(y, 1, 0.7), classification_preds(y, 2, 0.1)

    snap = _snapshot(build_performance_report(holdout, spec, challenger, champion, tmp_path))

    assert _metric(snap, "Accuracy") == pytest.approx(np.mean((challenger >= 0.5) == y))
    assert _metric(snap, "RocAuc") == pytest.approx(1.0)
    # The champion is the reference: Evidently's tests expect the champion's own values.
    champion_accuracy = np.mean((champion >= 0.5) == y)
    [accuracy_test] = _test_names(snap, "Accuracy")
    assert f"{champion_accuracy:.3f}" in accuracy_test
    assert _metric(snap, "RowCount") == 300


def test_performance_report_binary_without_champion(tmp_path: Path, spec: PipelineSpec) -> None:
    holdout = make_frame(300, 2)
    challenger = classification_preds(holdout[spec.target].to_numpy(), 1, 0.7)

    snap = _snapshot(build_performance_report(holdout, spec, challenger, None, tmp_path))

    assert _metric(snap, "Accuracy") == pytest.approx(1.0)
    [accuracy_test] = _test_names(snap, "Accuracy")
    assert "±" not in accuracy_test  # no reference: no "equal to the champion's value" test


@pytest.mark.parametrize("with_champion", [True, False])
def test_performance_report_regression(tmp_path: Path, with_champion: bool) -> None:
    house = load_spec(HOUSE_SPEC)
    rng = np.random.default_rng(3)
    price = rng.lognormal(12, 0.3, 250)
    holdout = pd.DataFrame({house.target: price})
    challenger = price + rng.normal(0, 1000, 250)
    champion = price + rng.normal(0, 20000, 250) if with_champion else None

    snap = _snapshot(build_performance_report(holdout, house, challenger, champion, tmp_path))

    assert _metric(snap, "RMSE") == pytest.approx(np.sqrt(np.mean((challenger - price) ** 2)))
    assert _metric(snap, "RowCount") == 250
    [rmse_test] = _test_names(snap, "RMSE")
    if champion is not None:
        assert f"{np.sqrt(np.mean((champion - price) ** 2)):.3f}" in rmse_test
    else:
        assert "±" not in rmse_test


@pytest.mark.parametrize("with_champion", [True, False])
def test_performance_report_multiclass(tmp_path: Path, with_champion: bool) -> None:
    tiers = load_spec(PIPELINES_DIR.parent / "tests" / "fixtures" / "product_tier.yaml")
    rng = np.random.default_rng(4)
    codes = rng.integers(0, 3, 240)
    holdout = pd.DataFrame({tiers.target: np.asarray(tiers.classes, dtype=object)[codes]})
    onehot = np.eye(3)[codes]

    def model(signal: float) -> np.ndarray:
        p = signal * onehot + (1 - signal) * rng.dirichlet(np.ones(3), len(codes))
        return p / p.sum(axis=1, keepdims=True)

    challenger = model(0.6)
    champion = model(0.1) if with_champion else None
    snap = _snapshot(build_performance_report(holdout, tiers, challenger, champion, tmp_path))

    assert _metric(snap, "Accuracy") == pytest.approx(np.mean(challenger.argmax(axis=1) == codes))
    assert _metric(snap, "RowCount") == 240
    [accuracy_test] = _test_names(snap, "Accuracy")
    if champion is not None:
        assert f"{np.mean(champion.argmax(axis=1) == codes):.3f}" in accuracy_test
    else:
        assert "±" not in accuracy_test
    with pytest.raises(ValueError, match=r"\(rows, 3\)"):
        build_performance_report(holdout, tiers, challenger[:, :2], None, tmp_path)


def test_performance_report_samples_above_the_cap(tmp_path: Path, spec: PipelineSpec) -> None:
    holdout = make_frame(500, 2)
    y = holdout[spec.target].to_numpy()
    challenger = classification_preds(y, 1, 0.7)

    snap = _snapshot(build_performance_report(holdout, spec, challenger,
                                              classification_preds(y, 2, 0.1), tmp_path,
                                              max_rows=120, seed=5))

    assert _metric(snap, "RowCount") == 120
    rows = performance_sample(y, spec.task, 120, 5)
    assert _metric(snap, "Accuracy") == pytest.approx(np.mean((challenger[rows] >= 0.5) == y[rows]))


def test_performance_sample_is_stratified_and_deterministic() -> None:
    y = np.array([1] * 50 + [0] * 950)

    rows = performance_sample(y, "binary_classification", 100, seed=1)

    assert len(rows) == 100 == len(set(rows.tolist()))
    assert int(y[rows].sum()) == 5  # the 5 % positive share is kept exactly
    assert np.array_equal(rows, performance_sample(y, "binary_classification", 100, seed=1))
    assert not np.array_equal(rows, performance_sample(y, "binary_classification", 100, seed=2))
    # A class too rare for its share still rounds up rather than vanishing.
    rare = np.array([1] * 3 + [0] * 997)
    assert int(rare[performance_sample(rare, "binary_classification", 200, seed=0)].sum()) == 1


def test_performance_sample_keeps_everything_at_or_below_the_cap() -> None:
    y = np.arange(50, dtype=float)

    assert np.array_equal(performance_sample(y, "regression", 50, seed=0), np.arange(50))
    sampled = performance_sample(y, "regression", 20, seed=0)
    assert len(sampled) == 20 and np.all(np.diff(sampled) > 0)


def test_performance_report_rejects_misaligned_predictions(
        tmp_path: Path, spec: PipelineSpec) -> None:
    holdout = make_frame(100, 2)

    with pytest.raises(ValueError, match="champion predictions"):
        build_performance_report(holdout, spec, np.full(100, 0.5), np.full(99, 0.5), tmp_path)


# -- rendering in a browser ---------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")


def _without_scripts(html: str) -> str:
    return re.sub(r"<script\b.*?</script>", "", html, flags=re.DOTALL | re.IGNORECASE)


@pytest.mark.integration  # a browser: not in the unit lane
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed")
def test_drift_report_renders_its_table_in_headless_chromium(
        tmp_path: Path, spec: PipelineSpec) -> None:
    build_reports(make_frame(300, 2, shift=1.0), make_frame(300, 1), spec, tmp_path)
    html = tmp_path / "data_drift.html"
    # The report's data sits in <script> blocks; only JavaScript puts it into the page, so text
    # outside scripts proves the drift table was rendered.
    assert "Drifted Columns" not in _without_scripts(html.read_text())

    dom = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
         "--virtual-time-budget=20000", "--dump-dom", html.as_uri()],
        capture_output=True, text=True, timeout=180, check=True).stdout

    rendered = _without_scripts(dom)
    assert "Drifted Columns" in rendered
    for column in ("income", "region", "Stat Test"):
        assert column in rendered
