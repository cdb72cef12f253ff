"""An Evidently performance report per labelled batch window (`reports.window_report`): the
live rows a version scored, with their labels, beside its own holdout.

Built when a window's labelled rows changed since the last measurement (a new label drop for
its batch), stored beside the batch's predictions as
`s3://<artifacts>/predictions/<pipeline>/<batch>/<role>-v<version>.performance.{html,json}`,
recorded in the store's `reports` under `labels/<batch folder>/<role>-v<version>` and linked
from the labels DAG's `measure_performance` task. Keys depend on the window only: a re-run
rewrites the same objects. Reports are for people: one that fails on its data is logged and
skipped; an infrastructure failure is raised for a retry.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mlops_lib.landing.keys import safe_segment
from mlops_lib.monitoring.label_join import Labelled
from mlops_lib.services import Services
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps.holdout_scores import HoldoutScores
from mlops_lib.steps.ingest import is_infrastructure_failure
from mlops_lib.stores.predictions import PredictionRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WindowReport:
    batch_id: str
    model_version: str
    role: str
    reports: Mapping[str, str] = field(default_factory=dict)  # file name -> s3:// URI
    url: str = ""  # the HTML over the S3 endpoint's HTTP, when it is served


def window_report_key(record: PredictionRecord, fmt: str) -> str:
    return (f"predictions/{record.pipeline}/{safe_segment(record.batch_id, fallback='batch')}/"
            f"{record.role}-v{record.model_version}.performance.{fmt}")


def window_report_run(record: PredictionRecord) -> str:
    """The run key the report is filed under in the store's `reports`."""
    return (f"labels/{safe_segment(record.batch_id, fallback='batch')}/"
            f"{record.role}-v{record.model_version}")


def build_window_report(svc: Services, spec: PipelineSpec, record: PredictionRecord,
                        labelled: Labelled, holdout: HoldoutScores | None) -> WindowReport | None:
    """The report of one labelled window; None when the task has no window report or the
    report failed on its data (logged)."""
    from mlops_lib.reports.heading import ReportHeading, add_heading
    from mlops_lib.reports.index import REPORT_CONTENT_TYPES
    from mlops_lib.reports.window_report import build_window_performance, window_report_supported
    from mlops_lib.stores import s3io

    if not window_report_supported(spec) or not labelled.rows:
        return None
    scratch = svc.scratch_dir(spec.name, window_report_run(record).replace("/", "_"))
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        try:
            files = build_window_performance(
                labelled.y, labelled.p, None if holdout is None else holdout.y,
                None if holdout is None else holdout.p, spec, Path(tmp))
        except Exception as exc:
            if is_infrastructure_failure(exc):
                raise
            log.error("Window report of %s v%s failed on its data: %s: %s", record.batch_id,
                      record.model_version, type(exc).__name__, exc)
            return None
        reports = {}
        for f in files:
            if f.format == "html":
                add_heading(f.path, ReportHeading(
                    f"{spec.name}: v{record.model_version} ({record.role}) on the labelled rows "
                    f"of batch {record.batch_id}",
                    None if holdout is None else
                    f"v{record.model_version} on its own holdout ({holdout.rows} rows)",
                    f"{labelled.rows} labelled of {labelled.rows_scored} scored rows"))
            key = window_report_key(record, f.format)
            uri = s3io.put_file(svc.s3, svc.settings.artifact_bucket, key, f.path.read_bytes(),
                                content_type=REPORT_CONTENT_TYPES[f.format])
            svc.store.record_report(spec.name, window_report_run(record), "window_performance",
                                    f.format, uri)
            reports[key.rsplit("/", 1)[1]] = uri
    url = svc.settings.http_url(reports.get(window_report_key(record, "html").rsplit("/", 1)[1],
                                            ""))
    log.info("Window report of %s v%s (%s): %s", record.batch_id, record.model_version,
             record.role, url or reports)
    return WindowReport(record.batch_id, record.model_version, record.role, reports, url or "")
