"""Evidently reports: data summary of each batch, drift against the champion's training data,
and the challenger's performance on the holdout compared with the champion's.

Reports are artifacts for people: they are attached to a run and read by humans. No promotion
decision is taken on them, so they may be built on a sample and a report failing to build on
odd data (an all-null column) must not be the reason a batch is rejected.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from evidently import (
    BinaryClassification,
    DataDefinition,
    Dataset,
    MulticlassClassification,
    Regression,
    Report,
)
from evidently.metrics import RowCount
from evidently.presets import (
    ClassificationPreset,
    DataDriftPreset,
    DataSummaryPreset,
    RegressionPreset,
)

from mlops_lib.spec import PipelineSpec
from mlops_lib.training.sampling import stratified_sample
from mlops_lib.validation.labels import class_codes

DATA_REPORT_MAX_ROWS = 200_000  # rows a data report is built on at most (sampled above)

_NUMERIC_DTYPES = {"float", "int"}
_DATETIME_DTYPES = {"datetime"}
# bool and string features are compared as categories; Evidently's "text" type would need
# text descriptors we do not configure.


@dataclass(frozen=True)
class ReportFile:
    kind: str  # "data_drift" | "data_summary" | "model_performance"
    format: str  # "html" | "json"
    path: Path


@dataclass(frozen=True)
class DriftSummary:
    n_columns: int
    n_drifted: int
    share_drifted: float
    drifted_columns: tuple[str, ...]


@dataclass(frozen=True)
class ReportBundle:
    files: tuple[ReportFile, ...]
    drift: DriftSummary | None
    skipped: tuple[str, ...]


def build_reports(
    current: pd.DataFrame,
    reference: pd.DataFrame | None,
    spec: PipelineSpec,
    out_dir: Path,
    *,
    max_rows: int = DATA_REPORT_MAX_ROWS,
    seed: int = 0,
) -> ReportBundle:
    """Write data_summary.{html,json} always and data_drift.{html,json} when a reference exists."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files: list[ReportFile] = []
    skipped: list[str] = []

    current = _sample(current, max_rows, seed, spec)
    # Evidently 0.7's column statistics take numbers only: a datetime column fails the whole
    # summary (pydantic SingleValue), and a report that fails blocks the promotion.
    datetimes = {f.name for f in spec.features if f.dtype in _DATETIME_DTYPES}
    skipped += [f"data_summary: datetime column {name!r} not summarised"
                for name in sorted(datetimes)]
    summary_cols = _usable_columns([c for c in spec.columns if c not in datetimes], [current],
                                   "data_summary", skipped)
    if summary_cols and len(current):
        snap = Report([DataSummaryPreset(columns=summary_cols)]).run(
            current_data=_dataset(current, summary_cols, spec), reference_data=None
        )
        files += save_report(snap, "data_summary", out_dir)
    else:
        skipped.append("data_summary: current data has no rows or no usable columns")

    if reference is None:
        skipped.append("data_drift: no reference data yet (first model)")
        return ReportBundle(tuple(files), None, tuple(skipped))

    reference = _sample(reference, max_rows, seed, spec)
    skipped += _not_compared(spec, "data_drift")
    drift_cols = _usable_columns(spec.drift_features, [current, reference], "data_drift",
                                 skipped)
    if not drift_cols or not len(current) or not len(reference):
        skipped.append("data_drift: current or reference has no rows or no usable columns")
        return ReportBundle(tuple(files), None, tuple(skipped))

    # include_tests makes Evidently record its own per-column drift verdict, which we read back
    # instead of re-deriving it from scores (p-values and distances compare the other way round).
    snap = Report([DataDriftPreset(columns=drift_cols)], include_tests=True).run(
        current_data=_dataset(current, drift_cols, spec),
        reference_data=_dataset(reference, drift_cols, spec),
    )
    files += save_report(snap, "data_drift", out_dir)
    return ReportBundle(tuple(files), drift_summary(snap.dict()), tuple(skipped))


def build_scoring_drift(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    spec: PipelineSpec,
    out_dir: Path,
    *,
    numeric_outputs: list[str],
    label_outputs: list[str],
) -> ReportBundle:
    """Write scoring_drift.{html,json}: a scoring batch's features and the model's outputs on
    it (`numeric_outputs`: scores; `label_outputs`: predicted labels, compared as categories)
    against the model's training data and the model's outputs on that data.

    The features are one DataDriftPreset (its drifted-columns share is the features' only);
    each output is its own ValueDrift metric, so `drift_summary` lists features and outputs
    alike. Both frames are used as they are: the caller samples them (data_report_rows)."""
    from evidently.metrics import ValueDrift

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    skipped = _not_compared(spec, "scoring_drift")
    features = _usable_columns(spec.drift_features, [current, reference], "scoring_drift",
                               skipped)
    outputs = _usable_columns([*numeric_outputs, *label_outputs], [current, reference],
                              "scoring_drift", skipped)
    if not (features or outputs) or not len(current) or not len(reference):
        skipped.append("scoring_drift: the batch or the reference has no rows or no usable "
                       "columns")
        return ReportBundle((), None, tuple(skipped))
    columns = [*features, *outputs]
    definition = _definition(columns, spec, numeric=numeric_outputs, categorical=label_outputs)
    metrics: list[Any] = [DataDriftPreset(columns=features)] if features else []
    metrics += [ValueDrift(column=c) for c in outputs]

    def dataset(df: pd.DataFrame) -> Dataset:
        return Dataset.from_pandas(df[columns].reset_index(drop=True),
                                   data_definition=definition)

    snap = Report(metrics, include_tests=True).run(current_data=dataset(current),
                                                   reference_data=dataset(reference))
    files = save_report(snap, "scoring_drift", out_dir)
    return ReportBundle(tuple(files), drift_summary(snap.dict()), tuple(skipped))


_TARGET, _PREDICTION = "target", "prediction"


def build_performance_report(
    holdout: pd.DataFrame,
    spec: PipelineSpec,
    challenger_pred: np.ndarray,
    champion_pred: np.ndarray | None,
    out_dir: Path,
    *,
    max_rows: int = 200_000,
    seed: int = 0,
) -> list[ReportFile]:
    """Write model_performance.{html,json}: the challenger's holdout performance, compared with
    the champion's on the very same rows when there is a champion.

    Evidently compares a *current* and a *reference* dataset, so the challenger's predictions
    are the current data and the champion's, on the same holdout rows, the reference.
    Classification is reported on the predicted probability of the positive class (1) at the
    spec's decision threshold; multiclass on the (rows, k) class probabilities, one column per
    class named by its label (Evidently predicts the arg-max); regression on the prediction.
    Above `max_rows` the holdout is sampled (seeded; stratified by class for classification, see
    `performance_sample`), with the same rows kept for both models. The promotion gate is
    computed on every row elsewhere: this report is for people.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    multiclass = spec.task == "multiclass_classification"
    y = class_codes(holdout[spec.target], spec.classes) if multiclass else (
        holdout[spec.target].to_numpy())
    if multiclass and (y < 0).any():
        raise ValueError(f"holdout labels outside the classes {list(spec.classes)}")
    challenger_pred = np.asarray(challenger_pred, dtype=float)
    if len(challenger_pred) != len(y):
        raise ValueError(f"challenger predictions: {len(challenger_pred)} values for "
                         f"{len(y)} holdout rows")
    if champion_pred is not None:
        champion_pred = np.asarray(champion_pred, dtype=float)
        if len(champion_pred) != len(y):
            raise ValueError(f"champion predictions: {len(champion_pred)} values for "
                             f"{len(y)} holdout rows")
    if not len(y):
        raise ValueError("the holdout has no rows")
    rows = performance_sample(y, spec.task, max_rows, seed)
    y = y[rows]
    if multiclass:
        return _multiclass_performance(spec, y, rows, challenger_pred, champion_pred, out_dir)
    if spec.task == "regression":
        y = y.astype(float)
        definition = DataDefinition(
            numerical_columns=[_TARGET, _PREDICTION],
            regression=[Regression(target=_TARGET, prediction=_PREDICTION)])
        preset: Any = RegressionPreset()
    else:
        y = y.astype(int)
        definition = DataDefinition(
            numerical_columns=[_PREDICTION], categorical_columns=[_TARGET],
            classification=[BinaryClassification(target=_TARGET, prediction_probas=_PREDICTION,
                                                 pos_label=1)])
        preset = ClassificationPreset(probas_threshold=spec.metric.threshold)

    def dataset(pred: np.ndarray) -> Dataset:
        frame = pd.DataFrame({_TARGET: y, _PREDICTION: pred[rows]})
        return Dataset.from_pandas(frame, data_definition=definition)

    # RowCount states in the report how many (sampled) rows it was built on. With a reference,
    # Evidently's default tests expect each metric within +-10% of the champion's value, so the
    # champion's values are in the report; a FAIL there means "differs", better or worse.
    with no_positive_predictions_allowed():
        snap = Report([RowCount(), preset], include_tests=True).run(
            current_data=dataset(challenger_pred),
            reference_data=None if champion_pred is None else dataset(champion_pred))
    return save_report(snap, "model_performance", out_dir)


@contextmanager
def no_positive_predictions_allowed() -> Iterator[None]:
    """A model that predicts no positive at the threshold is a finding the report shows, not an
    error: scikit-learn (under Evidently) reports its precision as 0 and warns, and that one
    warning is let through."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Precision is ill-defined")
        yield


def _multiclass_performance(spec: PipelineSpec, codes: np.ndarray, rows: np.ndarray,
                            challenger_pred: np.ndarray, champion_pred: np.ndarray | None,
                            out_dir: Path) -> list[ReportFile]:
    """Evidently's multiclass form (`multiclass_dataset`) of the challenger and the champion on
    the same rows."""
    classes = list(spec.classes)
    for pred in (challenger_pred, champion_pred):
        if pred is not None and (pred.ndim != 2 or pred.shape[1] != len(classes)):
            raise ValueError(f"multiclass predictions must be (rows, {len(classes)}), not "
                             f"{pred.shape}")
    snap = Report([RowCount(), ClassificationPreset()], include_tests=True).run(
        current_data=multiclass_dataset(classes, codes, challenger_pred[rows]),
        reference_data=None if champion_pred is None else multiclass_dataset(
            classes, codes, champion_pred[rows]))
    return save_report(snap, "model_performance", out_dir)


def multiclass_dataset(classes: list[str], codes: np.ndarray, probas: np.ndarray) -> Dataset:
    """Evidently's multiclass form: the target as class labels and one probability column per
    class, named by the label (that is how Evidently pairs a column with its class)."""
    target = next(name for name in (_TARGET, "__target__", "__ct_target__")
                  if name not in classes)
    definition = DataDefinition(
        numerical_columns=classes, categorical_columns=[target],
        classification=[MulticlassClassification(target=target, prediction_probas=classes)])
    # float32 model output sums to 1 only within ~1e-7; scikit-learn (under Evidently's log
    # loss) warns about that, so the rows are renormalised in float64.
    probas = np.asarray(probas, dtype="float64")
    frame = pd.DataFrame(probas / probas.sum(axis=1, keepdims=True), columns=classes)
    frame.insert(0, target, np.asarray(classes, dtype=object)[np.asarray(codes, dtype=int)])
    return Dataset.from_pandas(frame, data_definition=definition)


def performance_sample(y: np.ndarray, task: str, max_rows: int, seed: int) -> np.ndarray:
    """Sorted positions of the rows a performance report is built on: all rows up to
    `max_rows`, else a seeded sample of `max_rows` rows, stratified by class for classification
    (so a rare positive class is neither lost nor inflated and the report's rates stay those of
    the holdout). See sampling.stratified_sample."""
    return stratified_sample(y, task, max_rows, seed)


def drift_summary(snapshot: dict[str, Any]) -> DriftSummary:
    """Per-column drift verdicts out of a DataDriftPreset snapshot dict (built with tests)."""
    columns: list[str] = []
    for metric in snapshot.get("metrics", []):
        config = metric.get("config", {})
        if config.get("type", "").endswith(":ValueDrift"):
            columns.append(config["column"])
    drifted: set[str] = set()
    for test in snapshot.get("tests", []):
        params = test.get("metric_config", {}).get("params", {})
        if params.get("type", "").endswith(":ValueDrift") and test.get("status") == "FAIL":
            drifted.add(params["column"])
    ordered = tuple(c for c in columns if c in drifted)
    share = len(ordered) / len(columns) if columns else 0.0
    return DriftSummary(len(columns), len(ordered), share, ordered)


def data_report_rows(n_rows: int, labels: np.ndarray | None, spec: PipelineSpec,
                     max_rows: int = DATA_REPORT_MAX_ROWS, seed: int = 0) -> np.ndarray | None:
    """Sorted positions of the rows a data report is built on, or None for all of them.

    Evidently holds several copies of the data in memory and its run time grows with rows (the
    files do not: they hold aggregates). A seeded sample bounds memory on the worker and keeps
    reports reproducible; nothing is decided on a report (drift decisions use every row), so
    sampling error is acceptable. Stratified by class (`labels`: the target, None when the data
    has none) like the performance report's sample, so a rare class keeps its share.
    """
    if n_rows <= max_rows:
        return None
    task = spec.task if labels is not None else "regression"
    return performance_sample(labels if labels is not None else np.zeros(n_rows), task,
                              max_rows, seed)


def _sample(df: pd.DataFrame, max_rows: int, seed: int, spec: PipelineSpec) -> pd.DataFrame:
    labels = df[spec.target].to_numpy() if spec.target in df.columns else None
    rows = data_report_rows(len(df), labels, spec, max_rows, seed)
    return df if rows is None else df.iloc[rows]


def _not_compared(spec: PipelineSpec, kind: str) -> list[str]:
    """Why each feature outside `spec.drift_features` is left out of a drift report."""
    measured = set(spec.drift_features)
    return [f"{kind}: {'datetime' if f.role == 'feature' else f'role {f.role}'} column "
            f"{f.name!r} not compared" for f in spec.features if f.name not in measured]


def _usable_columns(
    names: list[str], frames: list[pd.DataFrame], kind: str, skipped: list[str]
) -> list[str]:
    """Spec columns present and not entirely null in every frame; the rest are noted."""
    usable: list[str] = []
    for name in names:
        if any(name not in df.columns for df in frames):
            skipped.append(f"{kind}: column {name!r} missing from the data")
        elif any(len(df) and df[name].isna().all() for df in frames):
            # One all-null column makes Evidently fail the whole report.
            skipped.append(f"{kind}: column {name!r} is entirely null")
        else:
            usable.append(name)
    return usable


def _dataset(df: pd.DataFrame, columns: list[str], spec: PipelineSpec) -> Dataset:
    return Dataset.from_pandas(df[columns].reset_index(drop=True),
                               data_definition=_definition(columns, spec))


def _definition(columns: list[str], spec: PipelineSpec, *, numeric: Sequence[str] = (),
                categorical: Sequence[str] = ()) -> DataDefinition:
    # Declared from the spec: inference would call a low-cardinality int (credit_lines) or a
    # 0/1 target categorical one batch and numerical the next. `numeric` and `categorical`:
    # columns the spec does not know (a model's outputs).
    dtypes = {f.name: f.dtype for f in spec.features}
    dtypes[spec.target] = "float" if spec.task == "regression" else "category"
    dtypes.update({c: "float" for c in numeric})
    dtypes.update({c: "category" for c in categorical})
    return DataDefinition(
        numerical_columns=[c for c in columns if dtypes[c] in _NUMERIC_DTYPES],
        categorical_columns=[c for c in columns
                             if dtypes[c] not in _NUMERIC_DTYPES | _DATETIME_DTYPES],
        datetime_columns=[c for c in columns if dtypes[c] in _DATETIME_DTYPES],
    )


def save_report(snapshot: Any, kind: str, out_dir: Path) -> list[ReportFile]:
    html, json_ = out_dir / f"{kind}.html", out_dir / f"{kind}.json"
    snapshot.save_html(str(html))
    snapshot.save_json(str(json_))
    return [ReportFile(kind, "html", html), ReportFile(kind, "json", json_)]
