"""The "Evidently report" extra link of the training DAG's tasks: which report it opens and the
URL it computes from the task's return value (XCom) or the store. That the worker stores the URL
under the link's XCom key and the UI reads it from there is tested against Airflow itself in
tests/integration/test_report_link_airflow.py."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest

from tests.support import isolate_airflow_home  # noqa: E402, I001

isolate_airflow_home()  # before the first Airflow import

from airflow.sdk import DAG  # noqa: E402
from airflow.sdk.execution_time.xcom import XCom  # noqa: E402
from ct_airflow import links  # noqa: E402

from mlops_lib.settings import Settings  # noqa: E402

pytestmark = pytest.mark.unit

TRACKING = "http://127.0.0.1:5000/"
RUN_ID = "manual__2026-01-01T00:00:00+00:00"
DRIFT_URI = "s3://ct-artifacts/reports/p/manual__2026-01-01T00_00_00_00_00/data_drift.html"


class FakeStore:
    def __init__(self, reports: list[dict[str, Any]], mlflow_run_id: str | None = "abc") -> None:
        self._reports, self._mlflow_run_id = reports, mlflow_run_id

    def reports(self, pipeline: str, dag_run_id: str) -> list[dict[str, Any]]:
        assert (pipeline, dag_run_id) == ("p", RUN_ID)
        return self._reports

    def get_training_run(self, pipeline: str, dag_run_id: str) -> dict[str, Any] | None:
        return None if self._mlflow_run_id is None else {"mlflow_run_id": self._mlflow_run_id}


def services(reports: list[dict[str, Any]] | None = None, *, s3_endpoint: str | None = None,
             **kwargs: Any) -> Any:
    """On AWS (no S3 endpoint) by default: the reports are not served, MLflow shows them."""
    settings = Settings.from_env({"MLFLOW_TRACKING_URI": TRACKING, "CT_HOME": "/nowhere",
                                  **({"CT_S3_ENDPOINT_URL": s3_endpoint} if s3_endpoint else {})})
    return SimpleNamespace(store=FakeStore(reports or [], **kwargs),
                           registry=SimpleNamespace(experiment_id=lambda run_id: "7"),
                           settings=settings)


def page(name: str) -> str:
    return f"http://127.0.0.1:5000/#/experiments/7/runs/abc/artifacts/reports/{name}"


def test_choose_report_prefers_drift_then_summary_then_performance() -> None:
    assert links.choose_report(["data_summary.html", "data_drift.html"]) == "data_drift.html"
    assert links.choose_report(["model_performance.html", "data_summary.html",
                                "data_summary.json"]) == "data_summary.html"
    assert links.choose_report(["model_performance.html"]) == "model_performance.html"
    assert links.choose_report(["data_drift.json"]) is None


def test_build_reports_links_its_drift_report() -> None:
    returned = {"reports": {"data_drift.html": DRIFT_URI, "data_drift.json": "s3://x",
                            "data_summary.html": "s3://y"}, "run_page": "ignored"}

    assert links.report_url(services(), "p", RUN_ID, returned) == page("data_drift.html")


def test_first_run_without_drift_links_the_summary() -> None:
    returned = {"reports": {"data_summary.html": "s3://y", "data_summary.json": "s3://z"}}

    assert links.report_url(services(), "p", RUN_ID, returned) == page("data_summary.html")


def test_evaluate_links_its_performance_report() -> None:
    returned = {"decision": "promote", "performance_reports": {"model_performance.html": "s3://"}}

    assert links.report_url(services(), "p", RUN_ID, returned) == page("model_performance.html")


def test_without_reports_in_the_xcom_the_store_says_which() -> None:
    """promote_champion returns the decision; a failed task returns nothing."""
    rows = [{"kind": "data_drift", "format": "json", "uri": DRIFT_URI[:-4] + "json"},
            {"kind": "data_drift", "format": "html", "uri": DRIFT_URI},
            {"kind": "model_performance", "format": "html", "uri": "s3://b/model_performance.html"}]

    for returned in ({"decision": "keep", "reason": "..."}, None, {"reports": {}, "error": "x"}):
        assert links.report_url(services(rows), "p", RUN_ID, returned) == page("data_drift.html")


def test_where_the_bucket_is_served_the_link_is_the_report_itself() -> None:
    """The local stack: the report opens as a full page, not in MLflow's cropped viewer."""
    rows = [{"kind": "data_drift", "format": "html", "uri": DRIFT_URI},
            {"kind": "data_summary", "format": "html", "uri": "s3://ct-artifacts/x/summary.html"}]
    svc = services(rows, s3_endpoint="http://127.0.0.1:9000/")
    returned = {"reports": {"data_drift.html": DRIFT_URI}}

    assert links.report_url(svc, "p", RUN_ID, returned) == (
        "http://127.0.0.1:9000/ct-artifacts/reports/p/manual__2026-01-01T00_00_00_00_00/"
        "data_drift.html")
    # a report the store does not know (yet) falls back to MLflow's page
    assert links.report_url(services(s3_endpoint="http://127.0.0.1:9000"), "p", RUN_ID,
                            returned) == page("data_drift.html")


def test_no_report_or_no_mlflow_run_gives_no_link() -> None:
    assert links.report_url(services(), "p", RUN_ID, None) == ""
    returned = {"reports": {"data_summary.html": "s3://y"}}
    assert links.report_url(services(mlflow_run_id=None), "p", RUN_ID, returned) == ""


def test_get_link_reads_the_task_return_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the worker calls when the task ends; it pushes the URL as XCom `xcom_key`."""
    pulled: list[tuple[Any, str]] = []

    def get_value(*, ti_key: Any, key: str) -> Any:
        pulled.append((ti_key, key))
        return {"reports": {"data_drift.html": DRIFT_URI}}

    monkeypatch.setattr(XCom, "get_value", get_value)
    monkeypatch.setattr("ct_airflow.tasks._services", services)
    monkeypatch.setattr(links, "_pipeline_of",
                        lambda svc, dag_id: "p" if dag_id == "ct_p" else None)
    link = links.EvidentlyReportLink()
    ti = SimpleNamespace(dag_id="ct_p", task_id="build_reports", run_id=RUN_ID, map_index=-1)

    assert link.name == "Evidently report"
    assert link.xcom_key == "_link_EvidentlyReportLink"
    assert link.get_link(None, ti_key=ti) == page("data_drift.html")  # type: ignore[arg-type]
    assert pulled == [(ti, "return_value")]
    other = SimpleNamespace(dag_id="not_ours", task_id="t", run_id=RUN_ID, map_index=-1)
    assert link.get_link(None, ti_key=other) == ""  # type: ignore[arg-type]


def test_a_scoring_report_links_its_own_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scoring DAG's report task returns its report's HTTP URL on S3: that is the link
    (a scoring batch has no MLflow run); without one there is no link."""
    url = "http://127.0.0.1:9000/ct-artifacts/predictions/p/b1/champion-v3.report.html"
    returned: dict[str, Any] = {"url": url, "reports": {"champion-v3.report.html": "s3://x"}}
    monkeypatch.setattr(XCom, "get_value", lambda *, ti_key, key: returned)
    monkeypatch.setattr(links, "_pipeline_of", lambda svc, dag_id: None)
    monkeypatch.setattr("ct_airflow.tasks._services", services)
    ti = SimpleNamespace(dag_id="ct_p_score", task_id="batch.build_scoring_report",
                         run_id=RUN_ID, map_index=0)

    assert links.EvidentlyReportLink().get_link(None, ti_key=ti) == url  # type: ignore[arg-type]
    returned["url"] = ""  # no report built (the record's `skipped` says why)
    assert links.EvidentlyReportLink().get_link(None, ti_key=ti) == ""  # type: ignore[arg-type]


def test_report_task_is_a_task_with_the_link() -> None:
    def build_reports(pipeline: str) -> dict[str, Any]:
        return {}

    with DAG("ct_p", start_date=datetime(2026, 1, 1), schedule=None):
        out = links.report_task(build_reports, retries=3)("p")

    op = out.operator
    assert isinstance(op, links.ReportLinkedOperator)
    assert op.task_id == "build_reports" and op.retries == 3 and list(op.op_args) == ["p"]
    assert [type(lk) for lk in op.operator_extra_links] == [links.EvidentlyReportLink]
