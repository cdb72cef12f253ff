"""One builder per alert kind: what happened, in one sentence, with where to look."""

from __future__ import annotations

from mlops_lib.alerting.kinds import airflow_run_url, make_alert
from mlops_lib.spec import PipelineSpec
from mlops_lib.stores.alerts import AlertRecord


def rejected_batch(spec: PipelineSpec, batch_id: str, reason_code: str, reason: str, *,
                   quarantine_uri: str, dag_run_id: str | None = None,
                   quarantine_http: str | None = None) -> AlertRecord:
    """Subject: the batch id (a replay that accepts the batch resolves it)."""
    return make_alert(
        spec, "rejected_batch", batch_id,
        f"Batch {batch_id} of {spec.name} was rejected ({reason_code}) and quarantined: "
        f"{reason}",
        links={"quarantine": quarantine_uri, "quarantine_http": quarantine_http,
               "airflow_run": None if dag_run_id is None else airflow_run_url(
                   spec.ingest_dag_id, dag_run_id)},
        batch_id=batch_id, reason_code=reason_code, dag_run_id=dag_run_id)


def drift_crossing(spec: PipelineSpec, batch_id: str, reason: str, *, dag_run_id: str,
                   retrains: bool) -> AlertRecord:
    """Subject: the newest batch of the crossing (one crossing is recorded per batch)."""
    then = "a retrain is announced" if retrains else "the spec does not retrain on drift"
    return make_alert(
        spec, "drift_crossing", batch_id,
        f"The drift policy of {spec.name} was crossed at batch {batch_id} ({then}): {reason}",
        links={"airflow_run": airflow_run_url(spec.monitor_dag_id, dag_run_id),
               "training_dag": airflow_run_url(spec.dag_id)},
        batch_id=batch_id, dag_run_id=dag_run_id)


def performance_drop(spec: PipelineSpec, model_version: str, window_kind: str, window: str,
                     reason: str, *, dag_run_id: str) -> AlertRecord:
    """Subject: the champion version and its newest breaching window."""
    return make_alert(
        spec, "performance_drop", f"v{model_version} {window_kind} {window}",
        f"The champion v{model_version} of {spec.name} crossed the performance policy "
        f"({window_kind} window {window}): {reason}",
        links={"airflow_run": airflow_run_url(spec.labels_dag_id, dag_run_id)},
        model_version=model_version, window_kind=window_kind, window=window,
        dag_run_id=dag_run_id)


def promotion(spec: PipelineSpec, version: str, previous: str | None, epoch: int, reason: str,
              *, actor: str, dag_run_id: str | None = None,
              report_url: str | None = None) -> AlertRecord:
    """Subject: the champion's epoch after the move (every move has its own)."""
    was = f"replacing v{previous}" if previous else "the first champion"
    return make_alert(
        spec, "promotion", f"epoch {epoch}",
        f"v{version} of {spec.name} was promoted to champion by {actor} ({was}): {reason}",
        links={"airflow_run": None if dag_run_id is None else airflow_run_url(spec.dag_id,
                                                                               dag_run_id),
               "report": report_url},
        version=version, previous=previous, epoch=epoch, actor=actor)


def rollback(spec: PipelineSpec, version: str, previous: str | None, epoch: int, reason: str,
             *, actor: str) -> AlertRecord:
    return make_alert(
        spec, "rollback", f"epoch {epoch}",
        f"The champion of {spec.name} was rolled back from v{previous} to v{version} by "
        f"{actor}: {reason}",
        links={"training_dag": airflow_run_url(spec.dag_id)},
        version=version, previous=previous, epoch=epoch, actor=actor)


def pending_approval(spec: PipelineSpec, dag_run_id: str, subject: str, *,
                     timeout_h: float) -> AlertRecord:
    """Subject: the training run that waits (an answer resolves it)."""
    return make_alert(
        spec, "pending_approval", dag_run_id,
        f"{subject}: a promotion of {spec.name} waits for a person's approval (Required "
        f"Actions in Airflow; no answer within {timeout_h:g} h counts as a reject)",
        links={"airflow_run": airflow_run_url(spec.dag_id, dag_run_id),
               "required_actions": _required_actions()},
        dag_run_id=dag_run_id, timeout_h=timeout_h)


def dag_failed(spec: PipelineSpec, dag_id: str, run_id: str, *, failed_tasks: list[str],
               reason: str | None = None) -> AlertRecord:
    """Subject: the DAG and its run."""
    tasks = ", ".join(failed_tasks) or "unknown tasks"
    return make_alert(
        spec, "dag_failed", f"{dag_id} {run_id}",
        f"DAG run {run_id} of {dag_id} ({spec.name}) failed ({tasks})"
        + (f": {reason}" if reason else ""),
        links={"airflow_run": airflow_run_url(dag_id, run_id)},
        dag_id=dag_id, run_id=run_id, failed_tasks=failed_tasks)


def _required_actions() -> str | None:
    from mlops_lib.alerting.kinds import airflow_url

    base = airflow_url()
    return None if base is None else f"{base}/required_actions"
