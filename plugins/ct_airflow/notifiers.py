"""Alerts through Airflow's own mechanisms.

- `PipelineFailureNotifier`: an Airflow notifier, the pipeline DAGs' `on_failure_callback`
  (run by the Dag processor), that raises a dag_failed alert;
- `run_deadline_missed`: the callback of the training DAG's deadline alert
  (`alerts.run_deadline_minutes`, run by the triggerer), a dag_failed alert for a stuck run;
- `airflow_notifiers`: the channel that calls the spec's `alerts.notifiers` (a provider's
  Slack or SMTP notifier, say) with a context that carries the alert, so Jinja in their
  arguments can say `{{ alert.summary }}`. Importing this module registers it.
- `freshness_check`, `approval_pending` and `approval_answered`: the task-side calls.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseNotifier

from mlops_lib.alerting import add_channel, builders, notify, resolve

if TYPE_CHECKING:
    from mlops_lib.spec import PipelineSpec
    from mlops_lib.spec.alerts import AlertsConfig
    from mlops_lib.stores.alerts import AlertRecord

log = logging.getLogger(__name__)


def airflow_notifiers(config: AlertsConfig, alert: AlertRecord, payload: dict[str, Any]) -> None:
    """Call each configured notifier class with the alert in its template context."""
    failed = []
    for entry in config.notifiers:
        module, _, name = entry.path.rpartition(".")
        try:
            notifier = getattr(importlib.import_module(module), name)(**dict(entry.kwargs))
            notifier({"alert": payload, "message": payload["text"], "pipeline": alert.pipeline,
                      "ts": datetime.now(UTC).isoformat()})
        except Exception as exc:
            failed.append(f"{entry.path}: {type(exc).__name__}: {exc}")
    if failed:
        raise RuntimeError("; ".join(failed))


add_channel(airflow_notifiers)


def _spec(pipeline: str) -> PipelineSpec | None:
    from ct_airflow.tasks import _services
    from mlops_lib.spec import load_specs

    return next((s for s in load_specs(*_services().settings.spec_dirs) if s.name == pipeline),
                None)


def _store() -> Any:
    from ct_airflow.tasks import _services

    return _services().store


class PipelineFailureNotifier(BaseNotifier):
    """A failed run of one of the pipeline's DAGs becomes a dag_failed alert (a page)."""

    def __init__(self, pipeline: str) -> None:
        super().__init__()
        self.pipeline = pipeline

    def notify(self, context: Any) -> None:
        try:
            dag_run = context.get("dag_run")
            dag_id = str(getattr(dag_run, "dag_id", None) or context["dag"].dag_id)
            run_id = str(getattr(dag_run, "run_id", None) or context.get("run_id"))
            raise_dag_failed(self.pipeline, dag_id, run_id, _failed_tasks(dag_run),
                             context.get("reason"))
        except Exception as exc:  # a callback that raises only adds noise to the processor
            log.error("No dag_failed alert for %s: %s: %s", self.pipeline,
                      type(exc).__name__, exc)


def raise_dag_failed(pipeline: str, dag_id: str, run_id: str, failed_tasks: list[str],
                     reason: str | None) -> AlertRecord | None:
    spec = _spec(pipeline)
    if spec is None:
        return None
    return notify(_store(), spec, builders.dag_failed(spec, dag_id, run_id,
                                                      failed_tasks=failed_tasks, reason=reason))


def _failed_tasks(dag_run: Any) -> list[str]:
    try:
        return sorted({ti.task_id for ti in dag_run.get_task_instances(state=["failed"])})
    except Exception:
        return []


async def run_deadline_missed(context: dict[str, Any] | None = None, *, pipeline: str,
                              minutes: float, **_: Any) -> None:
    """The deadline alert's callback: the training run is still going `minutes` after it was
    queued. Blocking work (the store, webhooks) runs in a thread: the triggerer's loop is
    shared."""
    dag_run = (context or {}).get("dag_run") or {}
    get = dag_run.get if isinstance(dag_run, dict) else lambda k: getattr(dag_run, k, None)
    dag_id, run_id = str(get("dag_id") or f"ct_{pipeline}"), str(get("run_id") or "unknown")
    await asyncio.to_thread(raise_dag_failed, pipeline, dag_id, run_id, [],
                            f"still running {minutes:g} minutes after it was queued "
                            "(alerts.run_deadline_minutes): stuck?")


def freshness_check(pipeline: str) -> dict[str, Any]:
    """The freshness DAG's task: judge the SLA, raise or resolve stale_data."""
    from mlops_lib.alerting import watch_freshness

    spec = _spec(pipeline)
    if spec is None:
        raise RuntimeError(f"no pipeline spec named {pipeline!r}")
    verdict = watch_freshness(_store(), spec)
    log.info("%s", verdict.reason)
    return {"stale": verdict.stale, "since": verdict.since, "age_h": verdict.age_h,
            "reason": verdict.reason}


def approval_pending(pipeline: str, dag_run_id: str | None, subject: str,
                     timeout_h: float) -> None:
    if dag_run_id is None:
        return
    try:
        spec = _spec(pipeline)
        if spec is not None:
            notify(_store(), spec, builders.pending_approval(spec, dag_run_id, subject,
                                                             timeout_h=timeout_h))
    except Exception as exc:
        log.error("No pending_approval alert: %s: %s", type(exc).__name__, exc)


def approval_answered(pipeline: str, dag_run_id: str | None) -> None:
    if dag_run_id is None:
        return
    try:
        resolve(_store(), pipeline, ["pending_approval"], dag_run_id)
    except Exception as exc:
        log.error("pending_approval not resolved: %s: %s", type(exc).__name__, exc)

