from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_lib.reports import DriftSummary, build_reports
from mlops_lib.spec import PipelineSpec, load_spec

pytestmark = pytest.mark.unit

SPEC_PATH = Path(__file__).resolve().parents[2] / "pipelines" / "credit_default.yaml"
REGIONS = ["north", "south", "east", "west"]


@pytest.fixture(scope="module")
def spec() -> PipelineSpec:
    return load_spec(SPEC_PATH)


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


def test_frames_at_or_below_max_rows_are_kept(tmp_path: Path, spec: PipelineSpec) -> None:
    build_reports(make_frame(300, 2), None, spec, tmp_path, max_rows=300)

    assert _row_count(tmp_path / "data_summary.json") == 300


def _row_count(summary_json: Path) -> int:
    snapshot = json.loads(summary_json.read_text())
    counts = [m["value"] for m in snapshot["metrics"] if m["metric_name"].startswith("RowCount")]
    assert counts, "no RowCount metric in the summary report"
    return int(counts[0])
