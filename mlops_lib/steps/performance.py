"""Measure realized performance: every logged prediction file joined to the labels so far.

For each prediction-log record (the champion's and the shadow challenger's), the scored rows
with a label give a `batch` window (a batch with no label yet has one too, with the estimate
alone): the spec's metric with a bootstrap interval, every metric of the task, the coverage,
the calibration bins and, for binary classification, the label-free estimate on all the batch's
rows (`monitoring.estimated`, calibrated on the version's own holdout); and the prediction and
calibration drift against that holdout (`monitoring.prediction_drift`). Per version and role,
the labelled rows in scoring order give rolling `rows` windows of `labels.window_rows` rows.
Deterministic (seeded): the same labels give the same windows, so a re-run rewrites the
same rows.
"""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from dataclasses import asdict, dataclass

import numpy as np

from mlops_lib.monitoring.label_join import Labelled, MergedLabels, join
from mlops_lib.monitoring.performance import RealizedPerformance, realized, rolling_windows
from mlops_lib.services import Services
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps.holdout_scores import HoldoutScores, load_holdout_scores, score_columns
from mlops_lib.steps.labels import read_predictions, stored_labels
from mlops_lib.steps.window_reports import WindowReport, build_window_report
from mlops_lib.stores.labels import PerformanceWindow
from mlops_lib.stores.predictions import PredictionRecord
from mlops_lib.stores.records import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PerformanceMeasured:
    pipeline: str
    labels: int
    windows: tuple[PerformanceWindow, ...]
    reports: tuple[WindowReport, ...] = ()  # of the windows whose labels changed now


@dataclass(frozen=True)
class _Scored:
    record: PredictionRecord
    labelled: Labelled


def measure_performance(svc: Services, spec: PipelineSpec) -> PerformanceMeasured:
    """Recompute and store every window of the pipeline's predictions that have labels."""
    labels = stored_labels(svc, spec.name)
    scored = [_labelled(svc, spec, r, labels)
              for r in svc.store.predictions(spec.name, limit=1_000_000)]
    holdouts = {v: load_holdout_scores(svc, spec, v)
                for v in sorted({s.record.model_version for s in scored})}
    # A batch without labels yet still gets its window: the label-free estimate, no value.
    windows = [_batch_window(spec, s, holdouts[s.record.model_version]) for s in scored]
    windows += _rolling(spec, [s for s in scored if s.labelled.rows])
    before = {(w.model_version, w.role, w.window_key): w.rows_labelled
              for w in svc.store.performance(spec.name) if w.window_kind == "batch"}
    svc.store.record_performance(spec.name, windows)
    reports = [build_window_report(svc, spec, s.record, s.labelled,
                                   holdouts[s.record.model_version]) for s in scored
               if s.labelled.rows and before.get(
                   (s.record.model_version, s.record.role, s.record.batch_id)) != s.labelled.rows]
    for w in windows:
        if w.window_kind == "batch":
            log.info("v%s (%s) on %s: %s %.4f [%.4f, %.4f] over %d labelled of %d scored",
                     w.model_version, w.role, w.window_key, w.metric, _nan(w.value),
                     _nan(w.ci_low), _nan(w.ci_high), w.rows_labelled, w.rows_scored)
    return PerformanceMeasured(pipeline=spec.name, labels=labels.rows, windows=tuple(windows),
                               reports=tuple(r for r in reports if r is not None))


def _labelled(svc: Services, spec: PipelineSpec, record: PredictionRecord,
              labels: MergedLabels) -> _Scored:
    id_column = spec.label_id_column or ""
    frame = read_predictions(svc, record, [id_column, *score_columns(spec)])
    return _Scored(record, join(frame, labels, id_column=id_column,
                                score_columns=score_columns(spec)))


def _batch_window(spec: PipelineSpec, scored: _Scored,
                  holdout: HoldoutScores | None) -> PerformanceWindow:
    record = scored.record
    perf = _realized(spec, scored.labelled)
    return _window(spec, record.model_version, record.role, "batch", record.batch_id, perf,
                   estimated=_estimated(spec, scored.labelled, holdout),
                   scored=(record.scored_at, record.scored_at),
                   drift=_drift(spec, scored.labelled, holdout))


def _drift(spec: PipelineSpec, labelled: Labelled,
           holdout: HoldoutScores | None) -> dict[str, object]:
    """Prediction drift of the batch's scores and, with labels, calibration drift, against the
    version's holdout; empty for a version that kept no holdout scores."""
    from mlops_lib.monitoring.prediction_drift import calibration_drift, prediction_drift

    if holdout is None or labelled.all_scores is None:
        return {}
    drift: dict[str, object] = {
        "prediction": prediction_drift(holdout.p, labelled.all_scores).to_dict()}
    if spec.task != "regression" and labelled.rows:
        drift["calibration"] = calibration_drift(holdout.y, holdout.p, labelled.y,
                                                 labelled.p).to_dict()
    return drift


def _rolling(spec: PipelineSpec, scored: list[_Scored]) -> list[PerformanceWindow]:
    """Per version and role, the labelled rows in scoring order: windows of `window_rows`
    rows, and (with `window_days`) windows of that many days of scoring time."""
    size = spec.labels.window_rows if spec.labels is not None else 1000
    days = spec.labels.window_days if spec.labels is not None else None
    by_model: dict[tuple[str, str], list[_Scored]] = defaultdict(list)
    for s in scored:
        by_model[(s.record.model_version, s.record.role)].append(s)
    out = []
    for (version, role), parts in by_model.items():
        parts.sort(key=lambda s: (s.record.scored_at, s.record.batch_id))
        y = np.concatenate([s.labelled.y for s in parts])
        p = np.concatenate([s.labelled.p for s in parts])
        times = np.repeat([s.record.scored_at for s in parts], [s.labelled.rows for s in parts])
        windows = [("rows", f"{int(w[0])}-{int(w[-1])}", w)
                   for w in rolling_windows(np.arange(len(y)), size)]
        if days:
            windows += [("days", key, w) for key, w in day_windows(times, days)]
        for kind, key, window in windows:
            labelled = Labelled(y[window], p[window], rows_scored=len(window))
            out.append(_window(spec, version, role, kind, key, _realized(spec, labelled),
                               estimated=None,
                               scored=(str(times[window[0]]), str(times[window[-1]]))))
    return out


def day_windows(times: np.ndarray, days: float) -> list[tuple[str, np.ndarray]]:
    """Rows (positions, in scoring order) by windows of `days` days of scoring time, counted
    from the Unix epoch so a window's key stays the same as labels arrive: `<first day>/<last
    day>` (UTC dates, the last one inclusive)."""
    import pandas as pd

    stamps = pd.to_datetime(pd.Series(times), utc=True, format="ISO8601")
    span = pd.Timedelta(days=days)
    bucket = ((stamps - pd.Timestamp(0, tz="UTC")) // span).to_numpy()
    out = []
    for b in np.unique(bucket):
        start = pd.Timestamp(0, tz="UTC") + int(b) * span
        end = start + span - pd.Timedelta(microseconds=1)
        out.append((f"{start.date().isoformat()}/{end.date().isoformat()}",
                    np.flatnonzero(bucket == b)))
    return out


def _realized(spec: PipelineSpec, labelled: Labelled) -> RealizedPerformance:
    return realized(labelled, task=spec.task, metric=spec.metric.name,
                    threshold=spec.metric.threshold, seed=spec.metric.bootstrap_seed)


def _estimated(spec: PipelineSpec, labelled: Labelled,
               holdout: HoldoutScores | None = None) -> float | None:
    """CBPE on every scored row, through an isotonic calibrator fitted on the version's own
    holdout when it kept one (raw probabilities otherwise)."""
    from mlops_lib.monitoring.estimated import ESTIMABLE, estimate, fit_calibrator

    if (spec.task != "binary_classification" or labelled.all_scores is None
            or spec.metric.name not in ESTIMABLE):
        return None
    calibrator = None if holdout is None else fit_calibrator(holdout.y, holdout.p)
    return estimate(labelled.all_scores, spec.metric.name, threshold=spec.metric.threshold,
                    calibrator=calibrator).value


def _window(spec: PipelineSpec, version: str, role: str, kind: str, key: str,
            perf: RealizedPerformance, *, estimated: float | None,
            scored: tuple[str, str], drift: dict[str, object] | None = None
            ) -> PerformanceWindow:
    return PerformanceWindow(
        pipeline=spec.name, model_version=str(version), role=role, window_kind=kind,
        window_key=key, metric=perf.metric, value=_finite(perf.value),
        ci_low=_finite(perf.ci_low), ci_high=_finite(perf.ci_high),
        estimated=None if estimated is None else _finite(estimated),
        rows_labelled=perf.rows_labelled, rows_scored=perf.rows_scored,
        metrics_json=json.dumps({m.name: _finite(m.value) for m in perf.metrics},
                                sort_keys=True),
        reliability_json=json.dumps([{k: _finite(v) if isinstance(v, float) else v
                                      for k, v in asdict(b).items()}
                                     for b in perf.reliability]),
        scored_from=scored[0], scored_to=scored[1], computed_at=utcnow(),
        drift_json=json.dumps(drift or {}, sort_keys=True))


def _finite(x: float) -> float | None:
    return None if x is None or math.isnan(x) else float(x)


def _nan(x: float | None) -> float:
    return math.nan if x is None else x
