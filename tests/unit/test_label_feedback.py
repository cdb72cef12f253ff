"""Late labels: the `labels:` spec section, a drop's checks, the merge of drops (late, partial,
re-delivered and corrected labels), the join to predictions, and realized performance."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from mlops_lib.evaluation import metrics
from mlops_lib.monitoring.label_join import Labelled, MergedLabels, add_drop, join, merge_drops
from mlops_lib.monitoring.labels import (
    LabelDrop,
    LabelReason,
    LabelsRejected,
    LabelTask,
    check_drop,
)
from mlops_lib.monitoring.performance import realized, reliability_bins, rolling_windows
from mlops_lib.spec import SpecError, load_spec
from tests.conftest import EXAMPLE_SPEC

pytestmark = pytest.mark.unit

BINARY = LabelTask(target="default", task="binary_classification")
SCORED = {str(i) for i in range(100)}


def _drop(ids: list[Any], labels: list[Any], drop_id: str = "d1", **kw: Any) -> LabelDrop:
    raw = pd.DataFrame({"loan_id": ids, "default": labels})
    return check_drop(raw, kw.pop("task", BINARY), id_column="loan_id", drop_id=drop_id,
                      received_at="2026-12-05T10:00:00+00:00",
                      scored_ids=kw.pop("scored", SCORED), **kw)


# --- the spec section ------------------------------------------------------------------------


def _load(tmp_path: Path, labels: Any, scoring: Any = None) -> Any:
    raw = yaml.safe_load(Path(EXAMPLE_SPEC).read_text())
    raw["scoring"] = {"id_column": "loan_id"} if scoring is None else scoring
    raw["labels"] = labels
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_spec(path)


def test_the_labels_section_defaults_to_labels_name_and_the_scoring_id(tmp_path: Path) -> None:
    spec = _load(tmp_path, {})
    assert spec.labels is not None and spec.labels.on_correction == "last_write_wins"
    assert spec.labels_prefix == f"labels/{spec.name}/"
    assert spec.labels_bucket == spec.source.bucket and spec.label_id_column == "loan_id"


@pytest.mark.parametrize(("labels", "scoring", "message"), [
    ({}, {}, "labels.id_column: required when scoring.id_column is not set"),
    ({"id_column": "other"}, None, "is not scoring.id_column"),
    ({"prefix": "landing/credit_default/x/"}, None, "overlaps the landing prefix"),
    ({"prefix": "scoring/"}, None, "overlaps the scoring prefix"),
    ({"on_correction": "keep_first"}, None, "labels.on_correction"),
    ({"window_rows": 0}, None, "labels.window_rows"),
])
def test_a_bad_labels_section_is_refused_with_its_key(tmp_path: Path, labels: Any,
                                                      scoring: Any, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        _load(tmp_path, labels, scoring)


def test_labels_need_a_scoring_section(tmp_path: Path) -> None:
    raw = yaml.safe_load(Path(EXAMPLE_SPEC).read_text())
    raw.pop("scoring", None)
    raw["labels"] = {"id_column": "loan_id"}
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(SpecError, match="labels: needs a `scoring:` section"):
        load_spec(path)


# --- a drop's checks ----------------------------------------------------------------------------


def test_a_good_drop_has_text_ids_and_float_labels() -> None:
    drop = _drop([3.0, 7.0, 9.0], [True, 0, 1])
    assert drop.frame["row_id"].tolist() == ["3", "7", "9"]
    assert drop.frame["label"].tolist() == [1.0, 0.0, 1.0] and drop.rows == 3


def test_multiclass_labels_become_class_indices_and_regression_stays_numeric() -> None:
    task = LabelTask(target="default", task="multiclass_classification", classes=("a", "b"))
    assert _drop([1, 2], ["b", "a"], task=task).frame["label"].tolist() == [1.0, 0.0]
    task = LabelTask(target="default", task="regression")
    assert _drop([1, 2], [2.5, -1], task=task).frame["label"].tolist() == [2.5, -1.0]


@pytest.mark.parametrize(("ids", "labels", "code"), [
    ([], [], LabelReason.LABELS_EMPTY),
    ([1, None], [0, 1], LabelReason.LABELS_MISSING_VALUES),
    ([1, 2], [0, None], LabelReason.LABELS_MISSING_VALUES),
    ([1, 2], [0, 2], LabelReason.LABELS_INVALID_TARGET),
    ([1, 2], ["yes", 1], LabelReason.LABELS_INVALID_TARGET),
    ([1, 1], [0, 0], LabelReason.LABELS_DUPLICATE_IDS),
    ([1, 1000], [0, 1], LabelReason.LABELS_NEVER_SCORED),
])
def test_a_bad_drop_is_refused_with_its_reason(ids: list[Any], labels: list[Any],
                                               code: LabelReason) -> None:
    with pytest.raises(LabelsRejected) as refused:
        _drop(ids, labels)
    assert refused.value.code == code and f"[{code}]" in str(refused.value)


def test_a_drop_without_its_columns_is_refused() -> None:
    raw = pd.DataFrame({"id": [1], "default": [0]})
    with pytest.raises(LabelsRejected) as refused:
        check_drop(raw, BINARY, id_column="loan_id", drop_id="d", received_at="t",
                   scored_ids=SCORED)
    assert refused.value.code == LabelReason.LABELS_MISSING_COLUMNS
    assert "'loan_id'" in refused.value.message


def test_labels_for_ids_that_nobody_scored_yet_are_refused() -> None:
    with pytest.raises(LabelsRejected, match="LABELS_NEVER_SCORED"):
        _drop([1], [0], scored=set())


def test_the_event_time_column_is_read_as_utc() -> None:
    raw = pd.DataFrame({"loan_id": [1], "default": [1], "closed": ["2026-11-30T08:00:00"]})
    drop = check_drop(raw, BINARY, id_column="loan_id", drop_id="d", received_at="t",
                      scored_ids=SCORED, event_time_column="closed")
    assert drop.frame["event_time"][0] == pd.Timestamp("2026-11-30T08:00:00", tz="UTC")


# --- merging drops ----------------------------------------------------------------------------


def test_late_partial_drops_add_up() -> None:
    merged = merge_drops([_drop([1, 2], [0, 1], "d1"), _drop([3], [1], "d2")],
                         "last_write_wins")
    assert dict(zip(merged.frame["row_id"], merged.frame["label"], strict=True)) == \
        {"1": 0.0, "2": 1.0, "3": 1.0}
    assert merged.corrections == ()


def test_a_re_delivered_label_changes_nothing() -> None:
    first = merge_drops([_drop([1, 2], [0, 1], "d1")], "refuse")
    again = add_drop(first, _drop([2, 1], [1, 0], "d2"), "refuse")
    assert again.corrections == ()
    assert sorted(zip(again.frame["row_id"], again.frame["drop_id"], strict=True)) == \
        [("1", "d1"), ("2", "d1")]  # the label still names the drop it first came in


def test_a_correction_wins_and_is_audited() -> None:
    merged = merge_drops([_drop([1, 2], [0, 1], "d1"), _drop([2, 3], [0, 1], "d2")],
                         "last_write_wins")
    labels = dict(zip(merged.frame["row_id"], merged.frame["label"], strict=True))
    assert labels == {"1": 0.0, "2": 0.0, "3": 1.0}
    [correction] = merged.corrections
    assert (correction.row_id, correction.old_label, correction.new_label) == ("2", 1.0, 0.0)
    assert (correction.old_drop, correction.new_drop) == ("d1", "d2")


def test_a_refused_correction_refuses_the_whole_drop_and_keeps_the_labels() -> None:
    first = merge_drops([_drop([1, 2], [0, 1], "d1")], "refuse")
    with pytest.raises(LabelsRejected) as refused:
        add_drop(first, _drop([2, 3], [0, 1], "d2"), "refuse")
    assert refused.value.code == LabelReason.LABELS_CORRECTION_REFUSED
    assert "'2'" in refused.value.message
    assert first.rows == 2  # unchanged: a merge returns a new record


# --- the join and realized performance ----------------------------------------------------


def test_the_join_keeps_the_predictions_order_and_counts_coverage() -> None:
    predictions = pd.DataFrame({"loan_id": [5, 1, 2, 9], "score": [0.9, 0.1, 0.8, 0.4]})
    merged = merge_drops([_drop([2, 5, 7], [1, 0, 1])], "refuse")  # 7: scored elsewhere
    labelled = join(predictions, merged, id_column="loan_id", score_columns=["score"])
    assert labelled.y.tolist() == [0.0, 1.0] and labelled.p.tolist() == [0.9, 0.8]
    assert labelled.rows_scored == 4 and labelled.coverage == 0.5


def test_the_join_of_no_labels_is_empty() -> None:
    predictions = pd.DataFrame({"loan_id": [1], "score": [0.3]})
    labelled = join(predictions, MergedLabels.empty(), id_column="loan_id",
                    score_columns=["score"])
    assert labelled.rows == 0 and labelled.coverage == 0.0


def _calibrated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.beta(2, 3, n)
    return (rng.random(n) < p).astype("float64"), p


def test_realized_performance_is_the_gate_s_metrics_with_an_interval() -> None:
    y, p = _calibrated(4000, 1)
    perf = realized(Labelled(y, p, rows_scored=5000), task="binary_classification",
                    metric="roc_auc")
    expected = metrics.compute(y, p, "binary_classification")
    assert {m.name: m.value for m in perf.metrics} == expected
    assert perf.value == expected["roc_auc"] and perf.ci_low < perf.value < perf.ci_high
    assert perf.ci_high - perf.ci_low < 0.06 and perf.coverage == 0.8


def test_reliability_bins_are_the_ece_s_bins() -> None:
    y, p = _calibrated(3000, 2)
    bins = reliability_bins(y, p)
    assert sum(b.rows for b in bins) == 3000
    ece = sum(b.rows * abs(b.observed - b.mean_predicted) for b in bins if b.rows) / 3000
    assert ece == pytest.approx(metrics.expected_calibration_error(y, p))
    for b in bins:  # calibrated by construction: what is predicted is observed
        if b.rows > 200:
            assert abs(b.observed - b.mean_predicted) < 0.1


def test_multiclass_reliability_is_top_label() -> None:
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.85, 0.05], [0.3, 0.3, 0.4]])
    bins = reliability_bins(np.array([0.0, 0.0, 2.0]), p)
    by_bin = {round(b.low * 10): (b.rows, b.observed) for b in bins if b.rows}
    assert by_bin == {7: (1, 1.0), 8: (1, 0.0), 4: (1, 1.0)}  # 0.7 right, 0.85 wrong, 0.4 right


def test_a_window_without_labels_has_undefined_metrics() -> None:
    perf = realized(Labelled(np.array([]), np.array([]), rows_scored=10),
                    task="binary_classification", metric="roc_auc")
    assert math.isnan(perf.value) and math.isnan(perf.ci_low) and perf.coverage == 0.0


def test_rolling_windows_follow_the_order_in_full_windows() -> None:
    order = np.array([5, 1, 4, 2, 3, 0, 6])
    windows = [w.tolist() for w in rolling_windows(order, 3)]
    assert windows == [[5, 1, 3], [4, 2, 0]]  # positions sorted by `order`; 1 row left over
    assert [w.tolist() for w in rolling_windows(np.array([2, 1]), 3)] == [[1, 0]]
