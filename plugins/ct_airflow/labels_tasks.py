"""Task callables of the labels DAG (`ct_<name>_labels`): take each label drop the sensor
found, turn its labelled rows into a training batch, measure realized performance, and judge
the performance policy. As in `ct_airflow.tasks`: one `mlops_lib.steps` call each, records
out as XCom, outcomes in Airflow terms:

- a drop another run claimed: skipped;
- a bad drop (LABELS_* reason codes): quarantined by the step, then the task fails without
  retry, its reason code in the log; the other drops of the run go on;
- a labelled batch the contract refuses: quarantined as any batch, the drop stays accepted;
- a challenger waiting for live rows (promotion.require_live_rows) is judged once they exist;
- the policy holds: the policy task is skipped, its reason in the run's note.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from ct_airflow.schedules import batches_asset, performance_asset
from ct_airflow.tasks import _announce, _run_id, _services, _spec, label_batch, set_run_note
from ct_airflow.xcom import from_xcom, to_xcom
from mlops_lib.landing.batches import BatchRef

log = logging.getLogger(__name__)


def ingest_label_drop(pipeline: str, drop: dict[str, Any]) -> dict[str, Any]:
    """Claim, check and merge one label drop (see `mlops_lib.steps.labels`)."""
    from mlops_lib.steps import labels as steps

    ref = from_xcom(BatchRef, drop)
    label_batch(ref.batch_id)
    try:
        accepted = steps.ingest_label_drop(_services(), _spec(pipeline), ref, _run_id())
    except steps.BatchAlreadyClaimed as exc:
        raise AirflowSkipException(str(exc)) from exc
    except steps.LabelsRejected as exc:  # quarantined by the step; bad labels stay bad
        raise AirflowFailException(str(exc)) from exc
    return cast(dict[str, Any], to_xcom(accepted))


def stage_labelled_rows(pipeline: str, accepted: dict[str, Any]) -> dict[str, Any]:
    """The drop's labelled rows as an accepted batch (announced like the ingest DAG's)."""
    from mlops_lib.steps.labelled_rows import stage_labelled_rows as stage

    spec = _spec(pipeline)
    label_batch(str(accepted["drop_id"]))
    staged = stage(_services(), spec, str(accepted["drop_id"]), str(accepted["fingerprint"]),
                   _run_id())
    if staged.status != "accepted":
        raise AirflowSkipException(f"no training batch from this drop ({staged.status}): "
                                   f"{staged.reason}")
    _announce(batches_asset(spec), {"batch_id": staged.batch_id,
                                    "fingerprint": staged.fingerprint, "rows": staged.rows,
                                    "files": list(staged.files)})
    return cast(dict[str, Any], to_xcom(staged))


def measure_performance(pipeline: str) -> dict[str, Any]:
    """Recompute every performance window of the pipeline from the stored labels; the reports
    of the windows whose labels changed, the newest one's URL as the task's report link."""
    from mlops_lib.steps.performance import measure_performance as measure

    measured = measure(_services(), _spec(pipeline))
    reports = {name: uri for r in measured.reports for name, uri in r.reports.items()}
    return {"labels": measured.labels, "windows": len(measured.windows), "reports": reports,
            "url": next((r.url for r in reversed(measured.reports) if r.url), "")}


def judge_live_challenger(pipeline: str, measured: dict[str, Any]) -> dict[str, Any]:
    """promotion.require_live_rows: judge the waiting challenger on the labelled rows both
    versions scored, once there are enough (see `mlops_lib.steps.live_judgement`)."""
    from mlops_lib.steps.live_judgement import judge_live_challenger as judge

    judged = judge(_services(), _spec(pipeline), _run_id())
    log.info("Live judgement: %s: %s", judged.status, judged.reason)
    return cast(dict[str, Any], to_xcom(judged))


def check_performance_policy(pipeline: str, measured: dict[str, Any]) -> dict[str, Any]:
    """Announce a performance drop on the pipeline's performance asset (which schedules
    training when the spec retrains on performance); skipped when the policy holds."""
    from mlops_lib.steps.performance_trigger import check_performance_policy as check

    spec = _spec(pipeline)
    verdict = check(_services(), spec, _run_id())
    alerts = "".join(f"; ALERT {a}" for a in verdict.alerts)
    note = (f"retrain announced: {verdict.reason}" if verdict.crossed
            else f"no retrain: {verdict.reason}") + alerts
    set_run_note(spec.labels_dag_id, _run_id(), note)
    if not verdict.crossed:
        raise AirflowSkipException(note)
    announced: dict[str, Any] = to_xcom(verdict)
    _announce(performance_asset(spec), announced)
    return announced
