"""An Evidently drift report for every batch the drift monitor measures: that batch against the
champion's training data, judged column by column with the monitor's methods and limits
(`reports.batch_drift`), so Evidently's verdicts are the monitor's and the heading says where
they cannot be.

Stored beside the training runs' reports, at
`s3://<artifacts>/reports/<pipeline>/drift/<batch folder>/batch_drift.{html,json}`
(`reports.index.drift_report_key`), recorded in the store's `reports` under the run key
`drift/<batch folder>` (`reports.index.drift_report_run`) and listed on the pipeline's report
index. The keys depend on the batch only: a retried or repeated monitor run rewrites the same
objects and finds the same rows. Reports are for people: one that fails on its data (Evidently
raising) is logged and left out, and the monitor goes on; an infrastructure failure is raised
for a retry, before the batch's statistics are stored, so the retry builds it again.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_lib.services import Services
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps.ingest import is_infrastructure_failure
from mlops_lib.steps.records import BatchDriftReport, ChampionSnapshot

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlops_lib.monitoring.drift_result import DriftResult

log = logging.getLogger(__name__)


def report_positions(n_rows: int) -> np.ndarray | None:
    """All rows (None) up to the data reports' limit, else a seeded sample's positions
    (`reports.builders.performance_sample`), which depend on the row count alone."""
    import numpy as np

    from mlops_lib.reports.builders import DATA_REPORT_MAX_ROWS, performance_sample

    if n_rows <= DATA_REPORT_MAX_ROWS:
        return None
    return performance_sample(np.zeros(n_rows), "regression", DATA_REPORT_MAX_ROWS, 0)


def build_batch_drift_report(svc: Services, spec: PipelineSpec, batch_id: str,
                             shown: pd.DataFrame, reference: pd.DataFrame,
                             result: DriftResult,
                             champion: ChampionSnapshot) -> BatchDriftReport:
    """Build, store and record the drift report of one measured batch (see the module).
    `shown` and `reference`: the report's rows of the batch and of the champion's data
    (`report_positions`), `result`: the monitor's verdict on the whole batch."""
    from mlops_lib.reports.batch_drift import build_batch_drift, disagreements
    from mlops_lib.reports.heading import ReportHeading, add_heading
    from mlops_lib.reports.index import (
        DRIFT_REPORT_KIND,
        REPORT_CONTENT_TYPES,
        drift_report_key,
        drift_report_run,
    )
    from mlops_lib.stores import s3io

    run_key = drift_report_run(batch_id)
    notes = tuple(disagreements(result, n_reference_shown=len(reference),
                                n_current_shown=len(shown)))
    empty = BatchDriftReport(batch_id=batch_id, monitor_drifted=result.drifted_features,
                             notes=notes)
    with tempfile.TemporaryDirectory(dir=svc.scratch_dir(spec.name,
                                                         run_key.replace("/", "_"))) as tmp:
        try:
            bundle = build_batch_drift(shown, reference, spec, result, Path(tmp))
        except Exception as exc:
            if is_infrastructure_failure(exc):
                raise
            log.error("Drift report of batch %s not built (the monitor goes on): %s: %s",
                      batch_id, type(exc).__name__, exc, exc_info=True)
            return replace(empty, skipped=(f"{DRIFT_REPORT_KIND}: not built: "
                                         f"{type(exc).__name__}: {exc}",))
        heading = ReportHeading(
            f"{spec.name}: data drift of batch {batch_id}",
            f"the training data of champion v{champion.version} (data rev "
            f"{(champion.data_rev or '?')[:10]}; {len(reference)} of "
            f"{result.n_reference_rows} rows shown)",
            f"accepted batch {batch_id} ({len(shown)} of {result.n_current_rows} rows shown)",
            (f"The drift monitor's comparison: batch {batch_id} against the training data of "
             f"champion v{champion.version}, each column by the monitor's method and "
             f"threshold. The monitor found {len(result.drifted_features)} of "
             f"{result.n_compared} tested features drifted"
             f"{': ' + ', '.join(result.drifted_features) if result.drifted_features else ''}.",
             *notes))
        reports = {}
        for f in bundle.files:
            if f.format == "html":
                add_heading(f.path, heading)
            key = drift_report_key(spec.name, batch_id, f.format)
            uri = s3io.put_file(svc.s3, svc.settings.artifact_bucket, key, f.path.read_bytes(),
                                content_type=REPORT_CONTENT_TYPES[f.format])
            svc.store.record_report(spec.name, run_key, DRIFT_REPORT_KIND, f.format, uri)
            reports[key.rsplit("/", 1)[1]] = uri
    html = reports.get(f"{DRIFT_REPORT_KIND}.html", "")
    report = replace(empty, reports=reports, url=svc.settings.http_url(html) if html else "",
                   evidently_drifted=() if bundle.drift is None
                   else bundle.drift.drifted_columns, skipped=bundle.skipped)
    _log(report)
    return report


def _log(report: BatchDriftReport) -> None:
    log.info("Drift report of batch %s: %s", report.batch_id,
             report.url or report.reports.get("batch_drift.html", "(not stored)"))
    monitor, evidently = set(report.monitor_drifted), set(report.evidently_drifted)
    if monitor != evidently:
        log.info("  Evidently and the monitor differ on %s (see the report's notes)",
                 sorted(monitor ^ evidently))
    for note in report.notes:
        log.info("  note: %s", note)


def publish_index(svc: Services, spec: PipelineSpec) -> None:
    """The index lists the reports; it is a convenience, so a failure to publish is logged."""
    from mlops_lib.reports.index import publish_index as publish

    try:
        log.info("Report index: %s", publish(svc, spec))
    except Exception as exc:
        log.error("Report index not published: %s: %s", type(exc).__name__, exc)
