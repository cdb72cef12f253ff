"""The Evidently drift report of one monitored batch: the batch against the champion's training
data, the very comparison the drift monitor judged (`mlops_lib.monitoring.drift`).

Evidently is told each column's method and threshold from the monitor's verdict
(`DataDriftPreset(per_column_method=..., per_column_threshold=...)`): the statistic the monitor
took (normed Wasserstein or Jensen-Shannon distance, which Evidently computes the same way) and
the limit the score had to reach, the threshold or the noise floor at the batch's size when that
is higher. So Evidently's per-column verdict is the monitor's. Where they cannot agree, the
report's heading says why (`disagreements`): a column with too few rows is "insufficient data"
for the monitor and never drifted, while Evidently still judges it; PSI is binned differently by
Evidently; and Evidently sees a sample when the reference is larger than a data report holds.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset

from mlops_lib.monitoring.drift_result import DriftResult
from mlops_lib.reports.builders import (
    ReportBundle,
    _dataset,
    drift_summary,
    save_report,
)
from mlops_lib.spec import PipelineSpec

KIND = "batch_drift"
_SAME_IN_EVIDENTLY = {"wasserstein", "jensenshannon"}


def evidently_settings(result: DriftResult) -> tuple[dict[str, str], dict[str, float]]:
    """Per column: the monitor's statistic (Evidently's stattest name) and the score it had to
    reach (threshold, or the noise floor when higher)."""
    methods = {f.feature: f.method for f in result.features}
    limits = {f.feature: f.effective_threshold for f in result.features}
    return methods, limits


def disagreements(result: DriftResult, *, n_reference_shown: int | None = None,
                  n_current_shown: int | None = None) -> list[str]:
    """Sentences for the report's heading: where Evidently's page and the monitor's verdict
    may differ, and why; the noise floors Evidently was given as thresholds."""
    notes = []
    for f in result.features:
        if f.insufficient:
            notes.append(f"{f.feature}: insufficient data for the drift monitor "
                         f"({f.n_current} values in the batch, {f.n_reference} in the reference; "
                         f"at least {result.min_rows_per_test} needed): the monitor does not "
                         "test it and never counts it as drifted; Evidently's verdict on it "
                         "below is not the monitor's.")
        elif not f.comparable:
            notes.append(f"{f.feature}: not compared by the drift monitor ({f.note}).")
        elif f.noise_floor is not None and f.noise_floor > f.threshold:
            notes.append(f"{f.feature}: threshold raised from {f.threshold:g} to the noise floor "
                         f"{f.noise_floor:.3g} ({f.method} of same-sized batches drawn from "
                         f"the reference, {result.noise_floor_quantile:g} quantile, at "
                         f"{f.n_current} rows); Evidently was given the same raised threshold.")
        if f.comparable and f.method not in _SAME_IN_EVIDENTLY:
            notes.append(f"{f.feature}: judged by {f.method}, which Evidently bins differently; "
                         "its verdict may differ from the monitor's.")
    if n_reference_shown is not None and n_reference_shown < result.n_reference_rows:
        notes.append(f"Evidently sees a seeded sample of {n_reference_shown} of the "
                     f"{result.n_reference_rows} reference rows; the monitor used every row.")
    if n_current_shown is not None and n_current_shown < result.n_current_rows:
        notes.append(f"Evidently sees a seeded sample of {n_current_shown} of the "
                     f"{result.n_current_rows} batch rows; the monitor used every row.")
    return notes


def build_batch_drift(current: pd.DataFrame, reference: pd.DataFrame, spec: PipelineSpec,
                      result: DriftResult, out_dir: Path) -> ReportBundle:
    """Write batch_drift.{html,json}: the features the monitor compared, each judged by
    Evidently with the monitor's method and limit. `current` and `reference` are used as they
    are (the caller samples them). Raises what Evidently raises."""
    out_dir.mkdir(parents=True, exist_ok=True)
    skipped: list[str] = []
    columns = []
    for f in result.features:
        if any(f.feature not in df.columns or df[f.feature].isna().all()
               for df in (current, reference)):
            # One all-null column makes Evidently fail the whole report.
            skipped.append(f"{KIND}: column {f.feature!r} has no values to show")
        else:
            columns.append(f.feature)
    if not columns or not len(current) or not len(reference):
        skipped.append(f"{KIND}: the batch or the reference has no rows or no usable columns")
        return ReportBundle((), None, tuple(skipped))
    methods, limits = evidently_settings(result)
    share = spec.trigger.drift.share_drifted
    preset = DataDriftPreset(
        columns=columns, per_column_method={c: methods[c] for c in columns},
        per_column_threshold={c: limits[c] for c in columns},
        drift_share=0.5 if share is None else share)
    snap = Report([preset], include_tests=True).run(
        current_data=_dataset(current, columns, spec),
        reference_data=_dataset(reference, columns, spec))
    files = save_report(snap, KIND, out_dir)
    return ReportBundle(tuple(files), drift_summary(snap.dict()), tuple(skipped))
