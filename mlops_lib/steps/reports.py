"""The run's reports: Evidently data reports, the model performance report, and where they go.

Evidently is imported inside the functions that build reports, so that importing this module
(evaluate does, for the performance report) costs nothing until a report is made.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_lib.reports.heading import ReportHeading, add_heading
from mlops_lib.services import Services
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps.records import ChampionSnapshot, DatasetVersion, ReportSet, TrainedModel
from mlops_lib.steps.shared import versioned_rows
from mlops_lib.stores import s3io

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from mlops_lib.reports.builders import ReportFile

log = logging.getLogger(__name__)


def build_reports(svc: Services, spec: PipelineSpec, version: DatasetVersion,
                  trained: TrainedModel, champion: ChampionSnapshot | None,
                  dag_run_id: str, batch_ids: Sequence[str] = ()) -> ReportSet:
    """The Evidently drift (training set vs the champion's training data) and data-summary
    reports, logged to the MLflow run and recorded in the store. `batch_ids`: the batches of
    the training window, named in the headings."""
    from mlops_lib.reports.builders import build_reports as build

    current = report_sample(svc, spec, version, dag_run_id)
    reference = None if champion is None or not champion.data_rev else report_sample(
        svc, spec, svc.versioner.at(spec.name, champion.data_rev), dag_run_id)
    run_id = trained.mlflow_run_id
    out_dir = svc.scratch_dir(spec.name, dag_run_id) / "reports"
    bundle = build(current, reference, spec, out_dir)
    window = training_window(batch_ids)
    training_data = (f"{window}: this run's training data, model v{trained.model_version} "
                     f"(data rev {version.rev[:10]}; {len(current)} rows shown)")
    shown = 0 if reference is None else len(reference)
    champion_data = None if champion is None else (
        f"the training data of champion v{champion.version} (data rev "
        f"{(champion.data_rev or '?')[:10]}; {shown} rows shown)")
    compares = () if champion is None else (
        f"Compares the {window} with the champion's training data (v{champion.version}): "
        "how the data this run trains on differs from what the champion learnt from. Each "
        "monitored batch has its own drift report against the same reference (the "
        "pipeline's report index lists them).",)
    headings = {
        "data_summary": ReportHeading(f"{spec.name}: data summary, training run {dag_run_id}",
                                      None, training_data),
        "data_drift": ReportHeading(f"{spec.name}: data drift, training run {dag_run_id}",
                                    champion_data, training_data, compares)}
    uris = store_reports(svc, spec, run_id, out_dir, bundle.files, dag_run_id, headings)
    tracking = svc.settings.mlflow_tracking_uri.rstrip("/")
    run_page = (f"{tracking}/#/experiments/{svc.registry.experiment_id(run_id)}/runs/{run_id}"
                "/artifacts")
    downloads = {name: f"{tracking}/get-artifact?path=reports/{name}&run_uuid={run_id}"
                 for name in uris}
    for reason in bundle.skipped:
        log.info("Report skipped: %s", reason)
    log.info("Evidently reports: open the MLflow run %s (folder reports/)", run_page)
    for name in sorted(uris):
        log.info("  %s: %s (download: %s)", name, uris[name], downloads[name])
    return ReportSet(reports=uris, run_page=run_page, downloads=downloads,
                     skipped=tuple(bundle.skipped))


def training_window(batch_ids: Sequence[str]) -> str:
    """"training window b001..b007 (7 batches)": the batches a run trained on, in a phrase."""
    ids = list(batch_ids)
    if not ids:
        return "training window"
    if len(ids) == 1:
        return f"training window {ids[0]} (1 batch)"
    return f"training window {ids[0]}..{ids[-1]} ({len(ids)} batches)"


def performance_report(svc: Services, spec: PipelineSpec, holdout: pd.DataFrame,
                       challenger_pred: Any, champion_pred: Any, run_id: str,
                       dag_run_id: str, heading: ReportHeading | None = None) -> dict[str, str]:
    """Challenger vs champion on the holdout, for people: promotion needs the data reports, not
    this one, so a failure to build it is logged and the evaluation carries on."""
    from mlops_lib.reports.builders import build_performance_report

    baseline = None if isinstance(champion_pred, str) else champion_pred
    try:
        out_dir = svc.scratch_dir(spec.name, dag_run_id) / "performance"
        files = build_performance_report(holdout, spec, challenger_pred, baseline, out_dir)
        uris = store_reports(svc, spec, run_id, out_dir, files, dag_run_id,
                             {"model_performance": heading} if heading else {})
    except Exception as exc:
        log.error("Performance report not built (evaluation goes on): %s: %s",
                  type(exc).__name__, exc, exc_info=True)
        return {}
    for name in sorted(uris):
        log.info("Performance report (challenger vs %s): %s",
                 "no champion" if baseline is None else "champion", uris[name])
    return uris


def store_reports(svc: Services, spec: PipelineSpec, run_id: str, out_dir: Path,
                  files: Sequence[ReportFile], dag_run_id: str,
                  headings: Mapping[str, ReportHeading] | None = None) -> dict[str, str]:
    """Head each HTML report (`headings` by report kind), log the files to the MLflow run under
    reports/ (its run page shows them) and copy each to
    `s3://<artifact bucket>/reports/<pipeline>/<run folder>/<file>`, the URI recorded in the
    store and linked from the pipeline's index page. The keys depend on the DAG run id only, so
    a retry overwrites the same objects."""
    from mlops_lib.reports.index import REPORT_CONTENT_TYPES, report_key

    for f in files:
        if f.format == "html" and headings and f.kind in headings:
            add_heading(f.path, headings[f.kind])
    svc.registry.log_artifacts(run_id, out_dir, "reports")
    uris = {}
    for f in files:
        uri = s3io.put_file(svc.s3, svc.settings.artifact_bucket,
                            report_key(spec.name, dag_run_id, f.path.name), f.path.read_bytes(),
                            content_type=REPORT_CONTENT_TYPES.get(f.format,
                                                                  "application/octet-stream"))
        svc.store.record_report(spec.name, dag_run_id, f.kind, f.format, uri)
        uris[f.path.name] = uri
    return uris


def report_sample(svc: Services, spec: PipelineSpec, version: DatasetVersion,
                  dag_run_id: str) -> pd.DataFrame:
    """The rows the data reports are built on (reports.build_reports samples larger frames the
    same way), read alone (`versioned_rows`): a large data set never becomes a pandas frame,
    nor an Arrow table."""
    from mlops_lib.reports.builders import DATA_REPORT_MAX_ROWS, data_report_rows

    def pick(by: pa.Table) -> np.ndarray | None:
        labels = (by.column(spec.target).to_pandas().to_numpy()
                  if spec.target in by.column_names else None)
        return data_report_rows(by.num_rows, labels, spec, DATA_REPORT_MAX_ROWS)

    return versioned_rows(svc, spec, version, dag_run_id, pick, by=[spec.target])
