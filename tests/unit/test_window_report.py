"""The Evidently performance report of a labelled window: the live rows (current) beside the
version's holdout (reference), for each task."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlops_lib.reports.window_report import build_window_performance
from mlops_lib.spec import PipelineSpec, load_spec
from tests.support import EXAMPLE_SPEC, HOUSE_SPEC, PIPELINES_DIR

pytestmark = pytest.mark.unit


def _binary(n: int, seed: int, signal: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.random(n)
    y = (rng.random(n) < signal * p + (1 - signal) * 0.5).astype(float)
    return y, p


def _report(files: list, fmt: str) -> str:
    (path,) = [f.path for f in files if f.format == fmt]
    return Path(path).read_text()


def test_a_binary_window_is_reported_beside_its_holdout(tmp_path: Path) -> None:
    spec = load_spec(EXAMPLE_SPEC)
    y, p = _binary(600, 1, signal=0.1)   # the live rows: little signal left
    ry, rp = _binary(2000, 2, signal=1.0)  # the holdout: well calibrated
    files = build_window_performance(y, p, ry, rp, spec, tmp_path)
    assert sorted(f.format for f in files) == ["html", "json"]
    found = json.loads(_report(files, "json"))
    assert "ROC AUC" in json.dumps(found) or "RocAuc" in json.dumps(found)
    assert "tests" in found and found["tests"], "with a reference, Evidently's tests run"


def test_without_a_holdout_the_window_is_reported_alone(tmp_path: Path) -> None:
    y, p = _binary(300, 3, signal=1.0)
    files = build_window_performance(y, p, None, None, load_spec(EXAMPLE_SPEC), tmp_path)
    assert not json.loads(_report(files, "json")).get("tests")


def test_multiclass_and_regression_windows_are_reported(tmp_path: Path) -> None:
    tiers: PipelineSpec = load_spec(PIPELINES_DIR.parent / "tests" / "fixtures" /
                                    "product_tier.yaml")
    rng = np.random.default_rng(4)
    k = len(tiers.classes)
    probas = rng.dirichlet(np.ones(k), 400)
    codes = probas.argmax(axis=1).astype(float)
    multi = build_window_performance(codes, probas, codes[:200], probas[:200], tiers,
                                     tmp_path / "multi")
    assert "Accuracy" in _report(multi, "json") or "accuracy" in _report(multi, "json")
    house = load_spec(HOUSE_SPEC)
    values = rng.normal(200_000, 50_000, 300)
    reg = build_window_performance(values, values + rng.normal(0, 10_000, 300), values,
                                   values, house, tmp_path / "reg")
    assert "MAE" in _report(reg, "json") or "MeanError" in _report(reg, "json")


def test_an_empty_window_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no labelled rows"):
        build_window_performance(np.empty(0), np.empty(0), None, None, load_spec(EXAMPLE_SPEC),
                                 tmp_path)
