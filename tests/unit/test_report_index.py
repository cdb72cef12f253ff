from __future__ import annotations

import re
from html.parser import HTMLParser
from types import SimpleNamespace
from typing import Any

import pytest

from mlops_lib.reports.index import (
    drift_report_key,
    drift_report_run,
    index_key,
    publish_index,
    render_index,
    report_key,
    run_folder,
    scoring_report_run,
)
from mlops_lib.stores.drift_rows import BatchDrift
from mlops_lib.stores.store import DecisionRecord, PredictionRecord

pytestmark = pytest.mark.unit

FOLDER = "s3://ct-artifacts/reports/credit_default/"
SCORED = PredictionRecord(
    pipeline="credit_default", batch_id="b-1", model_version="3", role="champion",
    rows_scored=10, predictions_uri="s3://ct-artifacts/predictions/credit_default/b-1/"
    "champion-v3.parquet", input_fingerprint="f", scored_at="2026-01-03T00:00:00+00:00")


MONITORED = BatchDrift(batch_id="b-2", measured_at="2026-01-03T00:00:00", share_drifted=1 / 3,
                       n_features=3, psi={}, drifted_features=("income",),
                       insufficient_features=("age",))


def scoring_uri(fmt: str) -> str:
    return f"s3://ct-artifacts/predictions/credit_default/b-1/champion-v3.report.{fmt}"


def decision(dag_run_id: str, created_at: str, *, decision: str = "keep",
             reason: str = "no improvement", baseline: float | None = 0.70) -> DecisionRecord:
    return DecisionRecord(
        pipeline="credit_default", dag_run_id=dag_run_id, candidate_version="3",
        baseline_version=None if baseline is None else "2", metric="roc_auc",
        candidate_value=0.71234, baseline_value=baseline, decision=decision, reason=reason,
        data_rev="abc", details={}, created_at=created_at)


def report(dag_run_id: str, kind: str, fmt: str) -> dict[str, Any]:
    """A report row as `steps.reports.store_reports` writes it: the run folder by the index."""
    key = report_key("credit_default", dag_run_id, f"{kind}.{fmt}")
    return {"pipeline": "credit_default", "dag_run_id": dag_run_id, "kind": kind, "format": fmt,
            "uri": f"s3://ct-artifacts/{key}"}


def relative(dag_run_id: str, kind: str) -> str:
    return f"{run_folder(dag_run_id)}/{kind}.html"


class Links(HTMLParser):
    """The page's links, and the text of each table row's cells."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs += [v for k, v in attrs if k == "href" and v]
        elif tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse(page: str) -> Links:
    parser = Links()
    parser.feed(page)
    return parser


def test_reason_and_ids_are_escaped() -> None:
    evil = 'column <script>alert("x")</script> & "quotes"'
    page = render_index("credit<b>", [decision("run<1>", "2026-01-01T00:00:00", reason=evil)],
                        {"run<1>": [{"kind": "data_drift", "format": "html",
                                     "uri": 's3://b/r"><script>x</script>.html'}]})

    assert "<script>" not in page
    assert "<b>" not in page
    parsed = parse(page)
    [row] = [r for r in parsed.rows if r]
    assert evil in row  # the reason reads as the original text once the page is parsed
    assert "run<1>" in row
    assert parsed.hrefs == ['s3://b/r"><script>x</script>.html']


def test_runs_listed_newest_first() -> None:
    decisions = [decision("first", "2026-01-01T10:00:00.000+00:00"),
                 decision("third", "2026-01-03T10:00:00.000+00:00", decision="promote"),
                 decision("second", "2026-01-02T10:00:00.000+00:00")]

    rows = [r for r in parse(render_index("credit_default", decisions, {})).rows if r]

    assert [r[1] for r in rows] == ["third", "second", "first"]
    assert [r[2] for r in rows] == ["promote", "keep", "keep"]


def test_each_html_report_and_the_mlflow_run_are_linked() -> None:
    reports = {"r1": [report("r1", k, f) for k in ("data_drift", "data_summary",
                                                   "model_performance")
                      for f in ("html", "json")],
               "r2": [report("r2", "data_summary", "html")]}
    decisions = [decision("r1", "2026-01-01T00:00:00"),
                 decision("r2", "2026-01-02T00:00:00", baseline=None)]

    page = render_index("credit_default", decisions, reports,
                        tracking_url="http://mlflow:5000/", mlflow_runs={"r1": ("7", "abc123")},
                        folder_uri=FOLDER)
    parsed = parse(page)

    # Relative to the index page (reports/credit_default/index.html): they work from S3.
    assert parsed.hrefs == [relative("r2", "data_summary")] + [
        relative("r1", k) for k in ("data_drift", "data_summary", "model_performance")
    ] + ["http://mlflow:5000/#/experiments/7/runs/abc123"]
    rows = {r[1]: r for r in parsed.rows if r}
    assert rows["r1"][4] == "0.7123 (v3)" and rows["r1"][5] == "0.7 (v2)"
    assert rows["r2"][5] == "n/a"
    assert "model_performance" in rows["r1"][7]


def test_run_folder_is_safe_and_deterministic() -> None:
    run_id = "manual__2026-01-02T03:04:05.123456+00:00"

    assert run_folder(run_id) == "manual__2026-01-02T03_04_05.123456_00_00"
    assert run_folder(run_id) == run_folder(run_id)  # a retry writes the same keys
    assert run_folder("a/b c?d") == "a_b_c_d"
    assert run_folder("..") == "_.." and run_folder("") == "_"
    assert (report_key("credit_default", run_id, "data_drift.html")
            == "reports/credit_default/manual__2026-01-02T03_04_05.123456_00_00/data_drift.html")


def test_report_links_relative_and_over_http() -> None:
    run_id = "scheduled__2026-01-01T00:00:00+00:00"
    rows = {run_id: [report(run_id, "data_drift", "html"), report(run_id, "data_drift", "json"),
                     {"kind": "data_summary", "format": "html",
                      "uri": "s3://elsewhere/old/data_summary.html"}]}

    page = render_index("credit_default", [decision(run_id, "t")], rows, folder_uri=FOLDER,
                        http_base="http://127.0.0.1:4566/ct-artifacts/reports/credit_default/")

    href = relative(run_id, "data_drift")
    assert parse(page).hrefs == [
        href, f"http://127.0.0.1:4566/ct-artifacts/reports/credit_default/{href}",
        "s3://elsewhere/old/data_summary.html"]  # a URI outside the folder stays as it is
    # Resolved against the index page's key, the relative link is the report's key.
    assert (index_key("credit_default").rsplit("/", 1)[0] + "/" + href
            == report(run_id, "data_drift", "html")["uri"].removeprefix("s3://ct-artifacts/"))


def test_without_tracking_url_no_mlflow_link() -> None:
    page = render_index("p", [decision("r1", "t")], {}, mlflow_runs={"r1": ("7", "abc")})

    assert parse(page).hrefs == []


class FakeStore:
    def __init__(self) -> None:
        self.runs = {"r1": {"mlflow_run_id": "abc"}, "r2": None}

    def decisions(self, pipeline: str) -> list[DecisionRecord]:
        assert pipeline == "credit_default"
        return [decision("r1", "2026-01-01T00:00:00"), decision("r2", "2026-01-02T00:00:00")]

    def reports(self, pipeline: str, dag_run_id: str) -> list[dict[str, Any]]:
        if dag_run_id == drift_report_run(MONITORED.batch_id):
            return [{"kind": "batch_drift", "format": fmt,
                     "uri": f"s3://ct-artifacts/{drift_report_key(pipeline, 'b-2', fmt)}"}
                    for fmt in ("html", "json")]
        if dag_run_id == scoring_report_run(SCORED):
            return [{"kind": "scoring_drift", "format": fmt, "uri": scoring_uri(fmt)}
                    for fmt in ("html", "json")]
        return [report(dag_run_id, "data_drift", "html")]

    def predictions(self, pipeline: str) -> list[PredictionRecord]:
        return [SCORED]

    def drift_history(self, pipeline: str) -> list[BatchDrift]:
        return [MONITORED]

    def get_training_run(self, pipeline: str, dag_run_id: str) -> dict[str, Any] | None:
        return self.runs[dag_run_id]


def test_publish_index_uploads_the_page_from_the_store() -> None:
    puts: list[dict[str, Any]] = []
    svc = SimpleNamespace(
        store=FakeStore(),
        registry=SimpleNamespace(experiment_id=lambda run_id: "9"),
        s3=SimpleNamespace(put_object=lambda **kw: puts.append(kw)),
        settings=SimpleNamespace(artifact_bucket="ct-artifacts",
                                 mlflow_tracking_uri="http://127.0.0.1:5000",
                                 s3_endpoint_url="http://127.0.0.1:4566/"))

    uri = publish_index(svc, SimpleNamespace(name="credit_default"))  # type: ignore[arg-type]

    assert uri == "s3://ct-artifacts/reports/credit_default/index.html"
    [put] = puts
    assert (put["Bucket"], put["Key"]) == ("ct-artifacts", index_key("credit_default"))
    assert put["ContentType"].startswith("text/html")
    page = put["Body"].decode("utf-8")
    hrefs = parse(page).hrefs
    for run_id in ("r1", "r2"):
        assert relative(run_id, "data_drift") in hrefs
        assert ("http://127.0.0.1:4566/ct-artifacts/reports/credit_default/"
                + relative(run_id, "data_drift")) in hrefs
    assert "http://127.0.0.1:5000/#/experiments/9/runs/abc" in hrefs
    # the scored batch: its predictions and its report, beside each other under predictions/
    folder = "predictions/credit_default/b-1"
    for name in ("champion-v3.parquet", "champion-v3.report.html"):
        assert f"../../{folder}/{name}" in hrefs
        assert f"http://127.0.0.1:4566/ct-artifacts/{folder}/{name}" in hrefs
    assert f"../../{folder}/champion-v3.report.json" not in hrefs
    assert re.search(r"<title>[^<]*credit_default", page)
    # the monitored batch: its drift report, under the pipeline's folder
    assert "drift/b-2/batch_drift.html" in hrefs
    assert "drift/b-2/batch_drift.json" not in hrefs
    assert ["2026-01-03T00:00:00", "b-2", "1 of 3: income", "age", "drift report (http)"] in (
        parse(page).rows)


def test_scored_batches_are_listed_escaped_and_only_when_there_are_some() -> None:
    evil = PredictionRecord(
        pipeline="p", batch_id="<b>", model_version="3", role="shadow", rows_scored=7,
        predictions_uri="s3://other-bucket/x.parquet", input_fingerprint="f", scored_at="t")

    page = render_index("p", [], {}, folder_uri=FOLDER, scored=[(evil, [])])

    assert "<b>" not in page and "&lt;b&gt;" in page
    assert [r for r in parse(page).rows if r] == [["t", "<b>", "v3", "shadow", "7",
                                                   "predictions"]]
    assert parse(page).hrefs == ["s3://other-bucket/x.parquet"]  # another bucket: as it is
    assert "Scored batches" not in render_index("p", [], {}, folder_uri=FOLDER)


def test_a_scoring_report_run_key_is_the_records_key_with_a_safe_batch_folder() -> None:
    assert scoring_report_run(SCORED) == "scoring/b-1/champion-v3"
    long_id = SimpleNamespace(batch_id="x/" * 150, role="shadow", model_version="12")
    key = scoring_report_run(long_id)  # type: ignore[arg-type]
    assert key.startswith("scoring/batch-") and key.endswith("/shadow-v12")
    assert len(key) < 64
