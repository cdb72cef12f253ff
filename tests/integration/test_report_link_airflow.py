"""The "Evidently report" extra link through Airflow itself: `dag.test()` runs a `report_task`
with Airflow's task runner, whose `finalize` asks the link for its URL and stores it as XCom; the
UI's side (`XComOperatorLink` of the serialized DAG) reads it back. In a fresh interpreter with a
throwaway AIRFLOW_HOME and SQLite metadata DB, as Airflow reads its configuration at import."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import run_dag_file

pytestmark = pytest.mark.integration

_DAG = r'''
import json
from datetime import datetime

from airflow.sdk import DAG
from ct_airflow import links

def build_reports(pipeline: str) -> dict:
    return {"reports": {"data_summary.html": "s3://b/s.html", "data_drift.html": "s3://b/d.html"}}

with DAG("ct_p", start_date=datetime(2026, 1, 1), schedule=None) as dag:
    links.report_task(build_reports)("p")

if __name__ == "__main__":
    from airflow.models.taskinstancekey import TaskInstanceKey
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.utils.db import initdb

    initdb()
    calls = []

    def report_url(svc, pipeline, dag_run_id, returned):  # the store and MLflow are not here
        calls.append([pipeline, dag_run_id, returned])
        return "http://mlflow/#/artifacts/reports/" + links.choose_report(
            links.returned_report_names(returned))

    links.report_url = report_url
    links._pipeline_of = lambda svc, dag_id: "p" if dag_id == "ct_p" else None
    import ct_airflow.tasks
    ct_airflow.tasks._services = lambda: None
    run = dag.test()
    served = DagSerialization.from_dict(DagSerialization.to_dict(dag)).get_task("build_reports")
    key = TaskInstanceKey("ct_p", "build_reports", run.run_id, 1, -1)
    print("@@JSON@@" + json.dumps({
        "state": str(run.state), "run_id": run.run_id, "calls": calls,
        "extra_links": served.extra_links,
        "ui_url": served.get_extra_links(type("TI", (), {"key": key})(), "Evidently report")}))
'''


def test_worker_stores_the_link_and_the_ui_reads_it(tmp_path: Path) -> None:
    out = run_dag_file(tmp_path, _DAG)

    assert out["state"] == "success"
    # The worker asked the link once, with this run and the task's return value...
    returned = {"reports": {"data_summary.html": "s3://b/s.html", "data_drift.html": "s3://b/d.html"}}
    assert out["calls"] == [["p", out["run_id"], returned]]
    # ...and what the API server answers for the task instance is that URL, read from XCom.
    assert out["extra_links"] == ["Evidently report"]
    assert out["ui_url"] == "http://mlflow/#/artifacts/reports/data_drift.html"
