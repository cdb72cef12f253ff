"""The Evidently report of a monitored batch agrees with the drift monitor's verdicts, column by
column, and says why where it cannot (issue 17 §3)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_lib.monitoring import drift
from mlops_lib.monitoring.drift import DriftResult
from mlops_lib.reports.batch_drift import (
    KIND,
    build_batch_drift,
    disagreements,
    evidently_settings,
)
from mlops_lib.reports.heading import ReportHeading, with_heading
from mlops_lib.reports.index import drift_report_key, drift_report_run
from mlops_lib.spec import DriftPolicy
from tests.unit.test_drift_sample_size import draw, make_spec

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return draw(np.random.default_rng(21), 4000)


def evidently_drifted(current: pd.DataFrame, reference: pd.DataFrame, result: DriftResult,
                      out_dir: Path) -> set[str]:
    bundle = build_batch_drift(current, reference, make_spec(), result, out_dir)
    assert bundle.drift is not None
    assert bundle.drift.n_columns == len(result.features)
    return set(bundle.drift.drifted_columns)


@pytest.mark.parametrize(("rows", "shift"), [(2000, 0.0), (2000, 0.3), (2000, 1.0), (150, 0.0),
                                             (150, 1.0), (400, 0.15)])
def test_evidently_verdicts_are_the_monitors(reference: pd.DataFrame, tmp_path: Path,
                                             rows: int, shift: float) -> None:
    current = draw(np.random.default_rng(rows + int(shift * 100)), rows, shift=shift)
    result = drift.compute(reference, current, make_spec())
    assert not result.insufficient_features

    assert evidently_drifted(current, reference, result, tmp_path) == set(
        result.drifted_features)
    if shift >= 1.0:
        assert len(result.drifted_features) >= 3  # the comparison is not vacuous
    if shift == 0.0:
        assert result.drifted_features == ()


def test_a_raised_threshold_is_what_makes_them_agree(reference: pd.DataFrame,
                                                     tmp_path: Path) -> None:
    """A small batch whose raw score passes 0.1 but not its noise floor: Evidently, given the
    floor, says no drift as the monitor does, and the heading says why."""
    rng = np.random.default_rng(0)
    for _ in range(50):
        current = draw(rng, 70)
        result = drift.compute(reference, current, make_spec())
        raised = [f for f in result.features
                  if f.score is not None and f.threshold <= f.score < f.effective_threshold]
        if raised:
            break
    else:
        pytest.fail("no small batch scored between the threshold and its noise floor")
    name = raised[0].feature
    methods, limits = evidently_settings(result)
    assert limits[name] == raised[0].noise_floor and methods[name] == raised[0].method
    assert name not in evidently_drifted(current, reference, result, tmp_path)
    assert any(note.startswith(f"{name}: threshold raised from 0.1 to the noise floor")
               for note in disagreements(result))


def test_insufficient_data_is_explained_not_hidden(reference: pd.DataFrame,
                                                   tmp_path: Path) -> None:
    spec = make_spec(DriftPolicy(min_rows_per_test=80))
    current = draw(np.random.default_rng(3), 60, shift=2.0)
    result = drift.compute(reference, current, spec)
    assert set(result.insufficient_features) == {f.name for f in spec.features}

    bundle = build_batch_drift(current, reference, spec, result, tmp_path)
    assert [f.path.name for f in bundle.files] == [f"{KIND}.html", f"{KIND}.json"]
    notes = disagreements(result)
    assert len(notes) == len(spec.features)
    assert all("insufficient data for the drift monitor" in n for n in notes)
    page = with_heading((tmp_path / f"{KIND}.html").read_text(encoding="utf-8"),
                        ReportHeading("t", "ref", "cur", tuple(notes)))
    assert "insufficient data for the drift monitor" in page
    json.loads((tmp_path / f"{KIND}.json").read_text())


def test_samples_are_noted(reference: pd.DataFrame) -> None:
    result = drift.compute(reference, draw(np.random.default_rng(4), 500), make_spec())
    notes = disagreements(result, n_reference_shown=1000, n_current_shown=500)
    assert notes[-1] == ("Evidently sees a seeded sample of 1000 of the 4000 reference rows; "
                         "the monitor used every row.")


def test_an_all_null_column_is_left_out_not_fatal(reference: pd.DataFrame,
                                                  tmp_path: Path) -> None:
    current = draw(np.random.default_rng(5), 300)
    current["amount"] = np.nan
    result = drift.compute(reference, current, make_spec())
    bundle = build_batch_drift(current, reference, make_spec(), result, tmp_path)
    assert bundle.drift is not None and bundle.drift.n_columns == len(result.features) - 1
    assert bundle.skipped == ("batch_drift: column 'amount' has no values to show",)


def test_keys_depend_on_the_batch_only() -> None:
    assert drift_report_run("dt=2026-12-06") == "drift/dt=2026-12-06"
    assert drift_report_key("credit_default", "dt=2026-12-06", "html") == (
        "reports/credit_default/drift/dt=2026-12-06/batch_drift.html")
    long_id = "b" * 400
    assert len(drift_report_run(long_id)) < 250  # the store's reports.dag_run_id
    assert drift_report_run("a/b") != drift_report_run("a_b")


def test_heading_notes_are_escaped_and_absent_without_notes() -> None:
    heading = ReportHeading("t", "ref", "cur", ("x < 0.1 & <b>y</b>",))
    assert "<li>x &lt; 0.1 &amp; &lt;b&gt;y&lt;/b&gt;</li>" in heading.html()
    assert "Notes" not in ReportHeading("t", "ref", "cur").html()


def test_the_training_report_names_its_window() -> None:
    from mlops_lib.steps.reports import training_window

    assert training_window(["b001", "b002", "b007"]) == "training window b001..b007 (3 batches)"
    assert training_window(["b001"]) == "training window b001 (1 batch)"
    assert training_window([]) == "training window"
