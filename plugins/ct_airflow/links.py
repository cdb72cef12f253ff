"""One click from a training (or scoring) task in the Airflow UI to the run's Evidently report.

Airflow 3 computes an operator's extra links on the worker: when the task ends (in any state)
the task runner calls `get_link(operator, ti_key=<the task instance>)` of each link in
`operator.operator_extra_links` and stores the URL as the XCom `_link_<link class name>`. The
DAG is serialized with only each link's name and XCom key, and the API server answers the UI
from that XCom (`XComOperatorLink`): it never imports this module, so no plugin has to
register the link.

The URL opens the report as a full page: its object over HTTP where the artifact bucket is
served (the local stack's S3 server answers anonymous GETs; `Settings.http_url`), else its page
in the MLflow UI (`#/experiments/<id>/runs/<run>/artifacts/reports/<file>`, a frame in MLflow's
artifact viewer; an `s3://` URI is not clickable). The report is the one the task returned (its
XCom), else the run's best report in the store: data drift, else data summary, else model
performance. The scoring DAG's report task returns its report's HTTP URL on S3 (`url`), which
is the link.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.standard.decorators.python import _PythonDecoratedOperator
from airflow.sdk import BaseOperatorLink
from airflow.sdk.bases.decorator import task_decorator_factory

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow.sdk import BaseOperator
    from airflow.sdk.bases.decorator import TaskDecorator
    from airflow.sdk.types import TaskInstanceKey

    from mlops_lib.services import Services

log = logging.getLogger(__name__)

REPORT_PREFERENCE = ("data_drift.html", "data_summary.html", "model_performance.html")
"""Report files by the order a link prefers them (the file names in the run's reports/)."""


def choose_report(names: Iterable[str]) -> str | None:
    """The preferred HTML report among `names`, or None."""
    available = set(names)
    return next((name for name in REPORT_PREFERENCE if name in available), None)


def returned_report_names(returned: Any) -> list[str]:
    """The report files a task's return value names: `reports` of build_reports,
    `performance_reports` of evaluate_challenger (file name -> URI)."""
    if not isinstance(returned, Mapping):
        return []
    return [str(name) for key in ("reports", "performance_reports")
            if isinstance(returned.get(key), Mapping) for name in returned[key]]


def returned_url(returned: Any) -> str:
    """A report URL the task returned itself: the scoring report's `url`, the labels and drift
    monitors' newest report's (its HTML on S3 over HTTP: none has an MLflow run), else ""."""
    url = returned.get("url") if isinstance(returned, Mapping) else None
    return str(url) if url else ""


def mlflow_artifact_url(tracking_uri: str, experiment_id: str, mlflow_run_id: str,
                        artifact_path: str) -> str:
    """The MLflow UI page of one artifact of a run."""
    return (f"{tracking_uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{mlflow_run_id}"
            f"/artifacts/{artifact_path}")


def report_url(svc: Services, pipeline: str, dag_run_id: str, returned: Any) -> str:
    """The URL of the run's report to open, or "" (no report, no MLflow run yet): the report
    as a full page over HTTP where its bucket is served (the local stack's S3 server), else
    its page in the MLflow UI."""
    stored = {PurePosixPath(str(r["uri"])).name: str(r["uri"])
              for r in svc.store.reports(pipeline, dag_run_id)
              if r.get("format") == "html" and r.get("uri")}
    name = choose_report(returned_report_names(returned)) or choose_report(stored)
    if name is not None and (page := svc.settings.http_url(stored.get(name, ""))):
        return page
    run = svc.store.get_training_run(pipeline, dag_run_id)
    if name is None or not run or not run.get("mlflow_run_id"):
        return ""
    run_id = str(run["mlflow_run_id"])
    return mlflow_artifact_url(svc.settings.mlflow_tracking_uri,
                               svc.registry.experiment_id(run_id), run_id, f"reports/{name}")


class EvidentlyReportLink(BaseOperatorLink):
    """The "Evidently report" button of a training-DAG task instance."""

    name: ClassVar[str] = "Evidently report"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.bases.xcom import BaseXCom
        from airflow.sdk.execution_time.xcom import XCom

        from ct_airflow.tasks import _services

        returned = XCom.get_value(ti_key=ti_key, key=BaseXCom.XCOM_RETURN_KEY)
        if url := returned_url(returned):  # the scoring DAG's report task
            return url
        svc = _services()
        pipeline = _pipeline_of(svc, ti_key.dag_id)
        if pipeline is None:
            return ""
        return report_url(svc, pipeline, ti_key.run_id, returned)


class ReportLinkedOperator(_PythonDecoratedOperator):
    """A `@task` whose task instances link to the run's Evidently report."""

    operator_extra_links = (EvidentlyReportLink(),)


def report_task(python_callable: Callable[..., Any], **kwargs: Any) -> TaskDecorator:
    """`task(fn, **kwargs)` for a training-DAG task that shows the "Evidently report" link.

    `@task` takes no `operator_extra_links` argument (links belong to the operator class), so
    this is the same decorator with an operator class that has the link."""
    return task_decorator_factory(python_callable=python_callable,
                                  decorated_operator_class=ReportLinkedOperator, **kwargs)


def _pipeline_of(svc: Services, dag_id: str) -> str | None:
    from mlops_lib.spec import load_specs

    return next((s.name for s in load_specs(*svc.settings.spec_dirs) if s.dag_id == dag_id),
                None)
