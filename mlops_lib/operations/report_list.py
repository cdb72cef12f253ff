"""`mlops reports`: which runs and batches filed reports, and where each report is.

The store's `reports` table is the record: a training run's reports are filed under its DAG
run id, a monitored batch's drift report under `drift/<batch>` and a scored batch's under
`scoring/<batch>/<role>-v<version>` (`reports.index`). Links are the ones the index page gives:
the S3 URI, and its HTTP URL under the S3 endpoint when one is set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_lib.reports.index import drift_report_run, index_key
from mlops_lib.settings import Settings
from mlops_lib.stores.store import Store


@dataclass(frozen=True)
class ReportRun:
    run: str  # a DAG run id, `drift/<batch>` or `scoring/<batch>/<role>-v<version>`
    created_at: str
    reports: int

    def line(self) -> str:
        return f"{self.created_at}  {self.run}  ({self.reports} reports)"


@dataclass(frozen=True)
class ReportFile:
    kind: str
    format: str
    uri: str
    http_url: str  # "" where the bucket is not served over HTTP (AWS itself)

    def line(self) -> str:
        return f"{self.kind:<16} {self.format:<5} {self.uri}" + (
            f"\n{'':23}{self.http_url}" if self.http_url else "")


@dataclass(frozen=True)
class ReportListing:
    pipeline: str
    index_uri: str
    index_url: str
    runs: tuple[ReportRun, ...]

    def lines(self) -> list[str]:
        index = self.index_url or self.index_uri
        return [f"reports of {self.pipeline}, newest first (index {index})",
                *([r.line() for r in self.runs] or ["none yet"])]


def listing(store: Store, settings: Settings, pipeline: str) -> ReportListing:
    uri = f"s3://{settings.artifact_bucket}/{index_key(pipeline)}"
    return ReportListing(pipeline=pipeline, index_uri=uri, index_url=settings.http_url(uri),
                         runs=tuple(ReportRun(str(r["dag_run_id"]), str(r["created_at"]),
                                              int(r["reports"]))
                                    for r in store.report_runs(pipeline)))


def run_reports(store: Store, settings: Settings, pipeline: str,
                run_or_batch: str) -> tuple[str, list[ReportFile]]:
    """The reports filed under a run key, a DAG run id, or a batch id (its drift report);
    with the run key they were found under ("" and none when nothing matches)."""
    for run in (run_or_batch, drift_report_run(run_or_batch)):
        rows = store.reports(pipeline, run)
        if rows:
            return run, [report_file(settings, r) for r in rows]
    return "", []


def report_file(settings: Settings, row: dict[str, Any]) -> ReportFile:
    uri = str(row["uri"])
    return ReportFile(kind=str(row["kind"]), format=str(row["format"]), uri=uri,
                      http_url=settings.http_url(uri))


def download(s3: Any, reports: list[ReportFile], directory: Path) -> list[Path]:
    """Fetch each S3 report into `directory` as `<kind>.<format>` (created); others are
    skipped."""
    directory.mkdir(parents=True, exist_ok=True)
    fetched = []
    for report in reports:
        if not report.uri.startswith("s3://"):
            continue
        bucket, _, key = report.uri.removeprefix("s3://").partition("/")
        path = directory / f"{report.kind}.{report.format}"
        s3.download_file(bucket, key, str(path))
        fetched.append(path)
    return fetched
