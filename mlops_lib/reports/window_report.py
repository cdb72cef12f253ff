"""The Evidently performance report of one labelled window: what a model version achieved on
the live rows it scored (current), beside what it achieved on its own holdout (reference).

Binary classification is reported on the probability of class 1 at the spec's threshold,
multiclass on the class probabilities (Evidently predicts the arg-max), regression on the
prediction. Evidently's default tests expect each metric within ±10% of
the reference: a FAIL there means the live rows differ from the holdout, better or worse.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from evidently import BinaryClassification, DataDefinition, Dataset, Regression, Report
from evidently.metrics import RowCount
from evidently.presets import ClassificationPreset, RegressionPreset

from mlops_lib.reports.builders import (
    ReportFile,
    multiclass_dataset,
    no_positive_predictions_allowed,
    save_report,
)
from mlops_lib.spec import PipelineSpec

KIND = "window_performance"
_TARGET, _PREDICTION = "target", "prediction"


def window_report_supported(spec: PipelineSpec) -> bool:
    return spec.task in ("binary_classification", "multiclass_classification", "regression")


def build_window_performance(y: np.ndarray, p: np.ndarray, reference_y: np.ndarray | None,
                             reference_p: np.ndarray | None, spec: PipelineSpec,
                             out_dir: Path) -> list[ReportFile]:
    """Write window_performance.{html,json} into `out_dir`."""
    if not window_report_supported(spec):
        raise ValueError(f"no window report for {spec.task}")
    if not len(y):
        raise ValueError("the window has no labelled rows")
    out_dir.mkdir(parents=True, exist_ok=True)
    if spec.task == "multiclass_classification":
        return _multiclass(y, p, reference_y, reference_p, spec, out_dir)
    regression = spec.task == "regression"
    definition = DataDefinition(
        numerical_columns=[_TARGET, _PREDICTION] if regression else [_PREDICTION],
        categorical_columns=[] if regression else [_TARGET],
        regression=[Regression(target=_TARGET, prediction=_PREDICTION)] if regression else None,
        classification=None if regression else [BinaryClassification(
            target=_TARGET, prediction_probas=_PREDICTION, pos_label=1)])
    preset: Any = (RegressionPreset() if regression
                   else ClassificationPreset(probas_threshold=spec.metric.threshold))

    def dataset(labels: np.ndarray, scores: np.ndarray) -> Dataset:
        target = labels.astype(float) if regression else labels.astype(int)
        return Dataset.from_pandas(pd.DataFrame({_TARGET: target, _PREDICTION: scores}),
                                   data_definition=definition)

    reference = (None if reference_y is None or reference_p is None or not len(reference_y)
                 else dataset(np.asarray(reference_y), np.asarray(reference_p, dtype=float)))
    with no_positive_predictions_allowed():
        snap = Report([RowCount(), preset], include_tests=reference is not None).run(
            current_data=dataset(np.asarray(y), np.asarray(p, dtype=float)),
            reference_data=reference)
    return save_report(snap, KIND, out_dir)


def _multiclass(y: np.ndarray, p: np.ndarray, reference_y: np.ndarray | None,
                reference_p: np.ndarray | None, spec: PipelineSpec,
                out_dir: Path) -> list[ReportFile]:
    classes = list(spec.classes)
    reference = (None if reference_y is None or reference_p is None or not len(reference_y)
                 else multiclass_dataset(classes, reference_y, reference_p))
    snap = Report([RowCount(), ClassificationPreset()], include_tests=reference is not None).run(
        current_data=multiclass_dataset(classes, y, p), reference_data=reference)
    return save_report(snap, KIND, out_dir)
