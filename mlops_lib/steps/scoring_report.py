"""The per-batch scoring report: what a scoring batch looked like to the model that scored it.

An Evidently report (`reports.builders.build_scoring_drift`) of the batch's features and the
model's outputs on them, against the model's own training data (the DVC version of the
training set its training run used) and the model's outputs on that data: feature drift and
prediction drift in one page. Stored beside the predictions, as
`s3://<artifacts>/predictions/<pipeline>/<batch>/<role>-v<version>.report.{html,json}`, recorded
in the store's `reports` under the run key `scoring/<batch folder>/<role>-v<version>`
(`reports.index.scoring_report_run`) and listed in the pipeline's report index. The keys
depend on the prediction-log record only, so a re-run rewrites the same objects and finds the
same rows.

Like the training reports it is for people: built on a seeded sample (`data_report_rows`), and
nothing is decided on it. pandas, pyarrow and Evidently are imported when a report is built:
importing this module (the Airflow adapter does, for the record) costs nothing.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_lib.landing.batches import BatchRef, completed_batches
from mlops_lib.landing.keys import safe_segment
from mlops_lib.services import Services
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps.ingest import is_infrastructure_failure
from mlops_lib.steps.scoring import ScoredPredictions
from mlops_lib.stores.predictions import PredictionRecord

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlops_lib.reports.builders import ReportBundle
    from mlops_lib.scoring.ct_serving import ServingModel

log = logging.getLogger(__name__)

SCORING_REPORT_KIND = "scoring_drift"


@dataclass(frozen=True)
class ScoringReport:
    """A scoring batch's report: where it is and what it found.

    `reports`: file name (`<role>-v<N>.report.html` / `.json`) -> `s3://` URI, empty when no
    report could be built (`skipped` says why); `url`: the HTML report over the S3 endpoint's
    HTTP (empty without a configured endpoint or report); `columns_compared`: the features
    and outputs the report compares. `drifted_features` and
    `drifted_outputs` are Evidently's per-column verdicts (outputs: the score columns and the
    predicted label)."""

    pipeline: str
    batch_id: str
    model_version: str
    role: str
    reference_rev: str | None
    reports: Mapping[str, str] = field(default_factory=dict)
    url: str = ""
    columns_compared: int = 0
    drifted_features: tuple[str, ...] = ()
    drifted_outputs: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()


def report_key(record: PredictionRecord, fmt: str) -> str:
    """`predictions/<pipeline>/<batch folder>/<role>-v<version>.report.<fmt>`: beside the
    predictions file of the same record."""
    return (f"predictions/{record.pipeline}/{_batch_folder(record.batch_id)}/"
            f"{record.role}-v{record.model_version}.report.{fmt}")


def build_scoring_report(svc: Services, spec: PipelineSpec, scored: ScoredPredictions, *,
                         batch: BatchRef | None = None) -> ScoringReport:
    """Build, store, record and index the report of one scored batch (see the module).

    `batch`: the batch as scored (the sensor's BatchRef); absent, its folder is listed again
    and must still hold the files scored (the record's input fingerprint). A batch with no
    reference (a version with no versioned training data) or no longer the one scored gets no
    report: the record says why in `skipped`, as it does for a report that fails on the batch's
    data (the predictions stand; a report is for people). Infrastructure failures are raised,
    for a retry."""
    from mlops_lib.reports.heading import ReportHeading, add_heading
    from mlops_lib.reports.index import REPORT_CONTENT_TYPES, scoring_report_run
    from mlops_lib.stores import s3io

    record = scored.record
    empty = ScoringReport(pipeline=spec.name, batch_id=record.batch_id,
                          model_version=record.model_version, role=record.role,
                          reference_rev=None)
    rev = reference_rev(svc, spec, record.model_version)
    if rev is None:
        return _skipped(empty, f"scoring_drift: v{record.model_version} has no versioned "
                               "training data to compare with")
    batch = batch or _relisted(svc, spec, record.batch_id)
    if batch is None or batch.fingerprint != record.input_fingerprint:
        return _skipped(empty, "scoring_drift: the batch's files are no longer those scored")
    with tempfile.TemporaryDirectory(dir=svc.scratch_dir(spec.name, _scratch_run(record))) as tmp:
        try:
            bundle, outputs = _build(svc, spec, record, batch, rev, Path(tmp))
        except Exception as exc:
            if is_infrastructure_failure(exc):
                raise
            log.error("Scoring report of batch %s failed on its data", record.batch_id,
                      exc_info=True)
            return _skipped(empty, f"scoring_drift: not built: {type(exc).__name__}: {exc}")
        reports = {}
        for f in bundle.files:
            if f.format == "html":
                add_heading(f.path, ReportHeading(
                    f"{spec.name}: scoring batch {record.batch_id}, v{record.model_version} "
                    f"({record.role})",
                    f"the training data of v{record.model_version} (data rev {rev[:10]}) with "
                    "its predictions",
                    f"scoring batch {record.batch_id} ({record.rows_scored} rows) with its "
                    "predictions"))
            key = report_key(record, f.format)
            uri = s3io.put_file(svc.s3, svc.settings.artifact_bucket, key, f.path.read_bytes(),
                                content_type=REPORT_CONTENT_TYPES[f.format])
            svc.store.record_report(spec.name, scoring_report_run(record), SCORING_REPORT_KIND,
                                    f.format, uri)
            reports[key.rsplit("/", 1)[1]] = uri
    drift = bundle.drift
    report = ScoringReport(
        pipeline=spec.name, batch_id=record.batch_id, model_version=record.model_version,
        role=record.role, reference_rev=rev, reports=reports,
        url=_http_url(svc, report_key(record, "html")) if reports else "",
        columns_compared=0 if drift is None else drift.n_columns,
        drifted_features=() if drift is None else tuple(
            c for c in drift.drifted_columns if c not in outputs),
        drifted_outputs=() if drift is None else tuple(
            c for c in drift.drifted_columns if c in outputs),
        skipped=bundle.skipped)
    _log(report)
    _publish_index(svc, spec)
    return report


def reference_rev(svc: Services, spec: PipelineSpec, version: str) -> str | None:
    """The DVC revision of the training set `version` was trained on: its training run's in
    the store, else the `ct.data_rev` tag the train step puts on the version."""
    run = svc.store.training_run_of_version(spec.name, version)
    if run is not None and run.get("data_rev"):
        return str(run["data_rev"])
    rev = svc.registry.version_tags(spec.registered_model_name, version).get("ct.data_rev")
    return rev or None


def _build(svc: Services, spec: PipelineSpec, record: PredictionRecord, batch: BatchRef,
           rev: str, tmp: Path) -> tuple[ReportBundle, frozenset[str]]:
    """The batch's sample and the reference sample, each with the model's outputs, reported;
    and the names of the output columns."""
    from mlops_lib.reports.builders import build_scoring_drift, data_report_rows
    from mlops_lib.scoring.loading import load_serving_model
    from mlops_lib.steps.reports import report_sample

    model = load_serving_model(svc.registry, spec, record.model_version)
    columns = [f.name for f in spec.features]
    reference = report_sample(svc, spec, svc.versioner.at(spec.name, rev), _scratch_run(record))
    reference = _with_outputs(reference[columns].reset_index(drop=True), model)
    rows = data_report_rows(record.rows_scored, None, spec)
    current = _batch_sample(svc, spec, batch, rows, columns)
    current = current.join(_predictions_sample(svc, record, rows, tmp))
    numeric, labels = _split_outputs(model)
    bundle = build_scoring_drift(_as_labels(current, spec), _as_labels(reference, spec), spec,
                                 tmp / "report", numeric_outputs=numeric, label_outputs=labels)
    return bundle, frozenset(numeric + labels)


def _with_outputs(frame: pd.DataFrame, model: ServingModel) -> pd.DataFrame:
    """`frame` and the model's outputs on it (the reference's predictions)."""
    return frame.join(model.predict(frame))


def _batch_sample(svc: Services, spec: PipelineSpec, batch: BatchRef,
                  rows: np.ndarray | None, columns: list[str]) -> pd.DataFrame:
    """The feature columns of the batch's rows at `rows` (all when None), read a chunk at a
    time (files pinned by ETag) so that a large batch is never one frame."""
    from mlops_lib.scoring.batch import read_chunks
    from mlops_lib.stores import s3io

    files = s3io.read_batch_files(svc.s3, spec.scoring_bucket, batch)
    chunks = read_chunks(files, spec.source.format, null_values=spec.source.csv.null_values)
    return _take((c[[n for n in columns if n in c.columns]] for c in chunks), rows)


def _predictions_sample(svc: Services, record: PredictionRecord, rows: np.ndarray | None,
                        tmp: Path) -> pd.DataFrame:
    """The predictions file's output columns at `rows` (the same positions as the batch's:
    the file has one row per batch row, in order)."""
    import pyarrow.parquet as pq

    bucket, key = record.predictions_uri.removeprefix("s3://").split("/", 1)
    path = tmp / "predictions.parquet"
    svc.s3.download_file(bucket, key, str(path))
    parquet = pq.ParquetFile(path)
    keep = [c for c in parquet.schema_arrow.names if c not in _NOT_OUTPUTS
            and c != parquet.schema_arrow.names[0]]  # the first column is the id
    return _take((b.to_pandas() for b in parquet.iter_batches(columns=keep)), rows)


_NOT_OUTPUTS = frozenset({"model_version", "scored_at"})


def _take(chunks: Iterable[pd.DataFrame], rows: np.ndarray | None) -> pd.DataFrame:
    """The rows at sorted positions `rows` (all when None) of the chunks laid end to end."""
    import numpy as np
    import pandas as pd

    parts, offset = [], 0
    for chunk in chunks:
        n = len(chunk)
        if rows is None:
            parts.append(chunk)
        else:
            lo, hi = np.searchsorted(rows, [offset, offset + n])
            parts.append(chunk.iloc[rows[lo:hi] - offset])
        offset += n
    if not parts:
        return pd.DataFrame()
    return pd.concat(parts, ignore_index=True)


def _as_labels(frame: pd.DataFrame, spec: PipelineSpec) -> pd.DataFrame:
    """Category and bool features as plain objects: the reference (staged) holds pandas
    categoricals, a raw batch text; Evidently compares their values, not their dtypes."""
    categorical = [f.name for f in spec.features if f.dtype in {"category", "bool", "string"}
                   and f.name in frame.columns]
    return frame.astype({c: object for c in categorical})


def _split_outputs(model: ServingModel) -> tuple[list[str], list[str]]:
    """(score columns, label columns) of the model's output."""
    outputs = model.contract.output_columns
    return ([c for c in outputs if c != "predicted_label"],
            [c for c in outputs if c == "predicted_label"])


def _relisted(svc: Services, spec: PipelineSpec, batch_id: str) -> BatchRef | None:
    """The batch's folder listed again, as the sensor saw it (None when it is not complete)."""
    from mlops_lib.landing.batches import Completion
    from mlops_lib.stores import s3io

    listing = s3io.list_objects(svc.s3, spec.scoring_bucket, f"{spec.scoring_prefix}{batch_id}/")
    rule = spec.scoring.completion_rule
    if rule.mode == "quiet":  # it was quiet when scored; its files decide whether it changed
        rule = Completion(mode="quiet", marker=rule.marker, quiet_period_s=0.0)
    found = [b for b in completed_batches(listing, spec.scoring_prefix, rule)
             if b.batch_id == batch_id]
    return found[0] if found else None


def _skipped(report: ScoringReport, reason: str) -> ScoringReport:
    log.warning("No scoring report for batch %s (v%s, %s): %s", report.batch_id,
                report.model_version, report.role, reason)
    return ScoringReport(pipeline=report.pipeline, batch_id=report.batch_id,
                         model_version=report.model_version, role=report.role,
                         reference_rev=None, skipped=(reason,))


def _log(report: ScoringReport) -> None:
    for reason in report.skipped:
        log.info("Scoring report: %s", reason)
    log.info("Scoring report of batch %s (v%s, %s) against its training data %s: drifted "
             "features %s, drifted outputs %s", report.batch_id, report.model_version,
             report.role, report.reference_rev, list(report.drifted_features),
             list(report.drifted_outputs))
    for name, uri in sorted(report.reports.items()):
        log.info("  %s: %s", name, uri)
    if report.url:
        log.info("  open: %s", report.url)


def _publish_index(svc: Services, spec: PipelineSpec) -> None:
    """The index lists the report; it is a convenience, so a failure to publish is logged."""
    from mlops_lib.reports.index import publish_index

    try:
        log.info("Report index: %s", publish_index(svc, spec))
    except Exception as exc:
        log.error("Report index not published: %s: %s", type(exc).__name__, exc)


def _http_url(svc: Services, key: str) -> str:
    return svc.settings.http_url(f"s3://{svc.settings.artifact_bucket}/{key}")


def _batch_folder(batch_id: str) -> str:
    return safe_segment(batch_id, fallback="batch")


def _scratch_run(record: PredictionRecord) -> str:
    return record.dag_run_id or f"scoring-{_batch_folder(record.batch_id)}"
