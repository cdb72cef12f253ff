"""A static HTML index of a pipeline's runs: decision, metric values and links to the reports.

Regenerated from the SQL store at the end of every run (`steps.decide`) and uploaded next to
the reports, at `s3://<artifact bucket>/reports/<pipeline>/index.html`; each run's reports are
in `reports/<pipeline>/<run folder>/`, so the page links them relatively (and, when the S3
endpoint is known, by its HTTP URL too). It is a convenience for people: the store stays the
record, and a page that fails to publish changes nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urljoin

from mlops_lib.landing.keys import safe_segment
from mlops_lib.stores.drift_rows import BatchDrift
from mlops_lib.stores.store import DecisionRecord, PredictionRecord

if TYPE_CHECKING:
    from mlops_lib.services import Services
    from mlops_lib.spec import PipelineSpec

log = logging.getLogger(__name__)

INDEX_CONTENT_TYPE = "text/html; charset=utf-8"
REPORT_CONTENT_TYPES = {"html": "text/html; charset=utf-8", "json": "application/json"}

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #ccc; padding: 0.35em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.promote { color: #1a7f37; font-weight: bold; }
td.keep, td.superseded { color: #9a6700; }
td.reason { max-width: 40em; font-size: 0.9em; }
"""


def index_key(pipeline: str) -> str:
    """Object key of a pipeline's index page in the artifact bucket."""
    return f"reports/{pipeline}/index.html"


def run_folder(dag_run_id: str) -> str:
    """The folder of a DAG run's reports: its id with every character outside
    [A-Za-z0-9._-] (`:`, `+` of the timestamps) replaced by `_`. A function of the id only, so
    a retried task writes the same keys again."""
    folder = re.sub(r"[^A-Za-z0-9._-]", "_", dag_run_id)
    return folder if folder.strip(".") else f"_{folder}"  # never "", "." or ".."


def report_key(pipeline: str, dag_run_id: str, file_name: str) -> str:
    """Object key of one report file: `reports/<pipeline>/<run folder>/<file name>`."""
    return f"reports/{pipeline}/{run_folder(dag_run_id)}/{file_name}"


def scoring_report_run(record: PredictionRecord) -> str:
    """The run key a scored batch's report is filed under in the store's `reports` (its
    `dag_run_id` column): `scoring/<batch folder>/<role>-v<version>`, as quarantined scoring
    batches are filed under `scoring/<batch id>`. A function of the record's key only."""
    folder = safe_segment(record.batch_id, fallback="batch")
    return f"scoring/{folder}/{record.role}-v{record.model_version}"


DRIFT_REPORT_KIND = "batch_drift"


def drift_report_run(batch_id: str) -> str:
    """The run key a monitored batch's drift report is filed under in the store's `reports`
    (its `dag_run_id` column): `drift/<batch folder>`. A function of the batch only, so the
    monitor's retry or re-run finds the same key."""
    return f"drift/{safe_segment(batch_id, fallback='batch')}"


def drift_report_key(pipeline: str, batch_id: str, fmt: str) -> str:
    """Object key of a monitored batch's drift report in the artifact bucket:
    `reports/<pipeline>/drift/<batch folder>/batch_drift.<fmt>`."""
    return f"reports/{pipeline}/{drift_report_run(batch_id)}/{DRIFT_REPORT_KIND}.{fmt}"


def render_index(
    pipeline: str,
    decisions: Iterable[DecisionRecord],
    reports_by_run: Mapping[str, Iterable[Mapping[str, Any]]],
    *,
    tracking_url: str | None = None,
    mlflow_runs: Mapping[str, tuple[str, str]] | None = None,
    folder_uri: str | None = None,
    http_base: str | None = None,
    scored: Sequence[tuple[PredictionRecord, Iterable[Mapping[str, Any]]]] = (),
    monitored: Sequence[tuple[BatchDrift, Iterable[Mapping[str, Any]]]] = (),
) -> str:
    """The index page: one row per run, newest first; then, when `scored` holds any, one row
    per scored batch (a prediction-log record and its report rows), as the store lists them.

    `reports_by_run` maps a DAG run id to its report rows (`kind`, `format`, `uri`, as the store
    returns them); each HTML report is linked. A URI under `folder_uri` (the page's own folder,
    `s3://<bucket>/reports/<pipeline>/`) is linked relatively, `<run folder>/<file>`, which
    works wherever the folder is served from, and also absolutely under `http_base` (the same
    folder's HTTP URL) when given; any other URI is linked as it is. With `tracking_url`, runs
    found in `mlflow_runs` (DAG run id -> (experiment id, MLflow run id)) link to their MLflow
    run page. Every value from the store is HTML-escaped: reasons carry free text from data and
    errors. Predictions and scoring reports live beside each other under
    `predictions/<pipeline>/`: a URI in the page's bucket is linked relatively from the page's
    folder (`../../predictions/...`), and under the bucket's HTTP URL when `http_base` is given.
    `monitored`: the drift monitor's batches (newest last, as the store's drift history lists
    them), each with its drift report rows, in a table of their own.
    """
    rows = sorted(decisions, key=lambda d: (d.created_at, d.dag_run_id), reverse=True)
    runs = mlflow_runs or {}
    body = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Reports: {escape(pipeline)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Pipeline {escape(pipeline)}: runs and reports</h1>",
        f"<p>{len(rows)} run(s), newest first.</p>",
        "<table><thead><tr><th>Time (UTC)</th><th>DAG run</th><th>Decision</th>"
        "<th>Metric</th><th>Challenger</th><th>Champion</th><th>Reason</th><th>Reports</th>"
        "</tr></thead><tbody>",
    ]
    for d in rows:
        links = [_report_link(str(r["uri"]), str(r["kind"]), folder_uri, http_base)
                 for r in reports_by_run.get(d.dag_run_id, ())
                 if r.get("format") == "html" and r.get("uri")]
        if tracking_url and d.dag_run_id in runs:
            experiment_id, run_id = runs[d.dag_run_id]
            links.append(_link(f"{tracking_url.rstrip('/')}/#/experiments/{experiment_id}"
                               f"/runs/{run_id}", "MLflow run"))
        body.append(
            "<tr>"
            f"<td>{escape(d.created_at)}</td>"
            f"<td>{escape(d.dag_run_id)}</td>"
            f'<td class="{escape(d.decision)}">{escape(d.decision)}</td>'
            f"<td>{escape(d.metric)}</td>"
            f"<td>{_value(d.candidate_value, d.candidate_version)}</td>"
            f"<td>{_value(d.baseline_value, d.baseline_version)}</td>"
            f'<td class="reason">{escape(d.reason)}</td>'
            f"<td>{'<br>'.join(links) or 'none'}</td>"
            "</tr>")
    body.append("</tbody></table>")
    if scored:
        body += _scoring_table(scored, folder_uri, http_base)
    if monitored:
        body += _monitoring_table(monitored, folder_uri, http_base)
    body += ["</body></html>", ""]
    return "\n".join(body)


def _scoring_table(scored: Sequence[tuple[PredictionRecord, Iterable[Mapping[str, Any]]]],
                   folder_uri: str | None, http_base: str | None) -> list[str]:
    """The scored batches: when, which batch, by which version in which role, and links."""
    rows = []
    for record, reports in scored:
        links = [_report_link(record.predictions_uri, "predictions", folder_uri, http_base)]
        links += _html_links(reports, "scoring report", folder_uri, http_base)
        rows.append([escape(record.scored_at), escape(record.batch_id),
                     f"v{escape(record.model_version)}", escape(record.role),
                     str(record.rows_scored), "<br>".join(links)])
    return _table("Scored batches", f"{len(scored)} scored batch(es), newest first.",
                  ("Scored at (UTC)", "Batch", "Model", "Role", "Rows",
                   "Predictions and report"), rows)


def _monitoring_table(monitored: Sequence[tuple[BatchDrift, Iterable[Mapping[str, Any]]]],
                      folder_uri: str | None, http_base: str | None) -> list[str]:
    """The batches the drift monitor measured against the champion's data, newest first."""
    rows = []
    for batch, reports in reversed(monitored):
        drifted = ", ".join(batch.drifted_features) or "none"
        rows.append([escape(batch.measured_at), escape(batch.batch_id),
                     f"{len(batch.drifted_features)} of {batch.n_features}: {escape(drifted)}",
                     escape(", ".join(batch.insufficient_features)) or "-",
                     "<br>".join(_html_links(reports, "drift report", folder_uri, http_base))
                     or "none"])
    return _table("Monitored batches",
                  f"{len(monitored)} batch(es) measured by the drift monitor, newest first.",
                  ("Measured at (UTC)", "Batch", "Drifted features", "Insufficient data",
                   "Drift report"), rows)


def _table(title: str, summary: str, headers: Sequence[str],
           rows: Iterable[Sequence[str]]) -> list[str]:
    """A section of the page: a heading, a sentence, and a table of cells already HTML."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = [f"<h2>{escape(title)}</h2>", f"<p>{escape(summary)}</p>",
            f"<table><thead><tr>{head}</tr></thead><tbody>"]
    body += ["<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows]
    return [*body, "</tbody></table>"]


def _html_links(reports: Iterable[Mapping[str, Any]], label: str, folder_uri: str | None,
                http_base: str | None) -> list[str]:
    return [_report_link(str(r["uri"]), label, folder_uri, http_base)
            for r in reports if r.get("format") == "html" and r.get("uri")]


def publish_index(svc: Services, spec: PipelineSpec) -> str:
    """Render the pipeline's index from the store, upload it and return its s3:// URI."""
    from mlops_lib.stores import s3io

    decisions = svc.store.decisions(spec.name)
    reports = {d.dag_run_id: svc.store.reports(spec.name, d.dag_run_id) for d in decisions}
    mlflow_runs: dict[str, tuple[str, str]] = {}
    for d in decisions:
        try:
            run = svc.store.get_training_run(spec.name, d.dag_run_id)
            if run and run.get("mlflow_run_id"):
                run_id = str(run["mlflow_run_id"])
                mlflow_runs[d.dag_run_id] = (svc.registry.experiment_id(run_id), run_id)
        except Exception as exc:  # a missing run page link is no reason to drop the page
            log.warning("No MLflow link for run %s: %s", d.dag_run_id, exc)
    bucket, folder = svc.settings.artifact_bucket, f"reports/{spec.name}/"
    endpoint = svc.settings.s3_endpoint_url
    page = render_index(spec.name, decisions, reports,
                        tracking_url=svc.settings.mlflow_tracking_uri, mlflow_runs=mlflow_runs,
                        folder_uri=f"s3://{bucket}/{folder}",
                        http_base=f"{endpoint.rstrip('/')}/{bucket}/{folder}" if endpoint
                        else None, scored=_scored(svc, spec),
                        monitored=[(b, svc.store.reports(spec.name, drift_report_run(b.batch_id)))
                                   for b in svc.store.drift_history(spec.name)])
    return s3io.put_file(svc.s3, bucket, index_key(spec.name), page.encode("utf-8"),
                         content_type=INDEX_CONTENT_TYPE)


def _scored(svc: Services, spec: PipelineSpec) -> list[
        tuple[PredictionRecord, list[dict[str, Any]]]]:
    """The newest prediction-log records and each one's scoring report rows."""
    return [(r, svc.store.reports(spec.name, scoring_report_run(r)))
            for r in svc.store.predictions(spec.name)]


def _report_link(uri: str, label: str, folder_uri: str | None, http_base: str | None) -> str:
    relative = _relative(uri, folder_uri)
    if relative is None:
        return _link(uri, label)
    if not http_base:
        return _link(relative, label)
    return f"{_link(relative, label)} ({_link(urljoin(http_base, relative), 'http')})"


def _relative(uri: str, folder_uri: str | None) -> str | None:
    """`uri` relative to the page's folder `s3://<bucket>/reports/<pipeline>/` when it is in
    the same bucket (quoted), else None."""
    if not folder_uri:
        return None
    if uri.startswith(folder_uri):
        return quote(uri[len(folder_uri):])
    bucket_uri = "/".join(folder_uri.split("/")[:3]) + "/"  # s3://<bucket>/
    if uri.startswith(bucket_uri) and folder_uri.count("/") == 5:
        return "../../" + quote(uri[len(bucket_uri):])
    return None


def _link(href: str, label: str) -> str:
    return f'<a href="{escape(href, quote=True)}">{escape(label)}</a>'


def _value(value: float | None, version: str | None) -> str:
    if value is None:
        return "n/a"
    shown = f"{value:.4g}"
    return escape(f"{shown} (v{version})" if version else shown)
