"""The alert kinds: how urgent each is, which runbook it opens, and the builders that say what
happened as an `AlertRecord` (a one-sentence summary, links, the runbook)."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

from mlops_lib.spec import PipelineSpec
from mlops_lib.stores.alerts import AlertRecord

RUNBOOKS = "docs/runbooks"
KINDS: dict[str, tuple[str, str]] = {  # kind -> (severity, runbook page)
    "rejected_batch": ("ticket", "quarantine.md"),
    "drift_crossing": ("ticket", "drift-alert.md"),
    "performance_drop": ("page", "model-degraded.md"),
    "promotion": ("info", "rollback.md"),
    "rollback": ("info", "rollback.md"),
    "pending_approval": ("ticket", "pending-approval.md"),
    "stale_data": ("page", "no-data.md"),
    "dag_failed": ("page", "failed-dag-run.md"),
}
INFORMATIONAL = ("promotion", "rollback")  # raised resolved: nothing to act on


def runbook_path(kind: str) -> str:
    return f"{RUNBOOKS}/{KINDS[kind][1]}"


def runbook_url(spec: PipelineSpec, kind: str) -> str:
    """The runbook under alerts.runbook_url, else its path in the repository."""
    base = spec.alerts.runbook_url if spec.alerts else None
    return f"{base.rstrip('/')}/{KINDS[kind][1]}" if base else runbook_path(kind)


def airflow_url() -> str | None:
    """The Airflow UI's base URL as a person's browser reaches it: Airflow's own [api] base_url
    setting (the local stack and docker-compose set it), else CT_AIRFLOW_URL (which may be an
    address only the services reach); None when neither is known."""
    url = os.environ.get("AIRFLOW__API__BASE_URL") or os.environ.get("CT_AIRFLOW_URL")
    return url.rstrip("/") if url else None


def airflow_run_url(dag_id: str, run_id: str | None = None) -> str | None:
    """A DAG run's page in the Airflow UI (the DAG's page without a run); None without a UI."""
    base = airflow_url()
    if base is None:
        return None
    return f"{base}/dags/{dag_id}" + ("" if run_id is None else f"/runs/{quote(run_id, safe='')}")


def make_alert(spec: PipelineSpec, kind: str, subject: str, summary: str, *,
               links: dict[str, str | None] | None = None, **facts: Any) -> AlertRecord:
    """An alert of `kind` about `subject` (its key: one alert per subject); links without a
    value are left out."""
    severity, _ = KINDS[kind]
    details: dict[str, Any] = {
        "links": {name: url for name, url in (links or {}).items() if url},
        "runbook": runbook_path(kind), "runbook_url": runbook_url(spec, kind), **facts}
    return AlertRecord(pipeline=spec.name, kind=kind, subject=subject[:512], severity=severity,
                       summary=summary, runbook=runbook_path(kind), details=details)
