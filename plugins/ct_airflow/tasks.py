"""Task callables for the pipeline DAGs: read the Airflow context, call one `mlops_lib.steps`
function, and translate its outcome into Airflow terms (fail without retry, skip).

Heavy libraries are imported inside the functions so that parsing a DAG file stays cheap.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any

from airflow.sdk import get_current_context
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from ct_airflow.schedules import batches_asset, drift_asset

if TYPE_CHECKING:
    from mlops_lib.services import Services
    from mlops_lib.spec import PipelineSpec

log = logging.getLogger(__name__)


@functools.cache
def _services() -> Services:
    from mlops_lib.services import Services

    return Services()


def _spec(pipeline: str) -> PipelineSpec:
    from mlops_lib.spec import load_specs

    for spec in load_specs(_services().settings.pipelines_dir):
        if spec.name == pipeline:
            return spec
    raise AirflowFailException(f"no pipeline spec named {pipeline!r}")


def _run_id() -> str:
    return str(get_current_context()["run_id"])


def label_batch(batch_id: str) -> None:
    """Name this mapped task instance after its batch (the DAG's `map_index_template`)."""
    get_current_context()["batch_id"] = batch_id  # type: ignore[typeddict-unknown-key]


def register_batch(pipeline: str, batch: dict[str, Any]) -> dict[str, Any]:
    """Claim the batch for this ingest run (keyed by id + content fingerprint)."""
    from mlops_lib import steps
    from mlops_lib.batches import BatchRef
    from mlops_lib.validation import BatchRejected

    ref = BatchRef.from_dict(batch)
    label_batch(ref.batch_id)
    try:
        return steps.register_batch(_services(), _spec(pipeline), ref, _run_id())
    except steps.BatchAlreadyClaimed as exc:
        raise AirflowSkipException(str(exc)) from exc
    except BatchRejected as exc:  # a changed re-upload: quarantined copy, loud failure
        steps.quarantine(_services(), _spec(pipeline), ref, exc, _run_id())
        raise AirflowFailException(str(exc)) from exc


def validate_batch(pipeline: str, registered: dict[str, Any]) -> dict[str, Any]:
    """Fail the run (no retries: bad data stays bad) with the reason code of a bad batch; an
    accepted batch is announced on the pipeline's accepted-batches asset."""
    from mlops_lib import steps
    from mlops_lib.batches import BatchRef
    from mlops_lib.validation import BatchRejected

    spec = _spec(pipeline)
    ref = BatchRef.from_dict(registered["batch"])
    label_batch(ref.batch_id)
    try:
        result = steps.validate(_services(), spec, ref, _run_id())
    except BatchRejected as exc:
        raise AirflowFailException(str(exc)) from exc
    _announce(batches_asset(spec), {k: result[k] for k in
                                       ("batch_id", "fingerprint", "rows", "files")})
    return result


def measure_drift(pipeline: str) -> dict[str, Any]:
    """Drift of the batches announced to this monitor run (or, run by hand, of every accepted
    batch not measured yet) against the champion's training data."""
    from mlops_lib import steps

    spec = _spec(pipeline)
    batch_ids = [e.extra.get("batch_id") for e in _asset_events()
                 if e.uri == spec.batches_asset_uri and e.extra.get("batch_id")]
    if not batch_ids:
        batch_ids = [b.batch_id for b in _services().store.accepted_batches(spec.name)
                     if not _services().store.drift_metrics(spec.name, b.batch_id)][-20:]
    return steps.measure_drift(_services(), spec, list(dict.fromkeys(batch_ids)), _run_id())


def check_drift_policy(pipeline: str, measured: dict[str, Any]) -> dict[str, Any]:
    """Announce a drift crossing on the pipeline's drift asset (which schedules training when
    the spec retrains on drift); skipped, announcing nothing, when the policy holds."""
    from mlops_lib import steps

    spec = _spec(pipeline)
    verdict = steps.check_drift_policy(_services(), spec, _run_id())
    if not verdict["crossed"]:
        raise AirflowSkipException(f"no retrain: {verdict['reason']}")
    _announce(drift_asset(spec), verdict)
    return verdict


def plan_training(pipeline: str) -> dict[str, Any]:
    """Why this training run fired (arrival, drift, schedule, manual, backfill) and which
    accepted batches it trains on; recorded in the store, logged, and set as the run's note."""
    from mlops_lib import steps
    from mlops_lib.planning import describe

    spec = _spec(pipeline)
    result = steps.plan_training(_services(), spec, _run_context())
    note = f"{describe(result['trigger'])}"
    set_run_note(spec.dag_id, _run_id(), note)
    if result.get("skip_reason"):
        raise AirflowSkipException(f"nothing to train: {result['skip_reason']}")
    return result


def version_dataset(pipeline: str, plan: dict[str, Any]) -> dict[str, Any]:
    from mlops_lib import steps

    return steps.version_dataset(_services(), _spec(pipeline), plan, _run_id())


def train_model(pipeline: str, version: dict[str, Any]) -> dict[str, Any]:
    from mlops_lib import steps

    run = _services().store.get_training_run(pipeline, _run_id())
    trigger = run["trigger"] if run else {}
    return steps.train(_services(), _spec(pipeline), version, _run_id(), trigger)


def build_reports(pipeline: str, plan: dict[str, Any], version: dict[str, Any],
                  trained: dict[str, Any]) -> dict[str, Any]:
    """Reports are required for a promotion, not for the run: after the last retry a failure
    is handed on as `error`, and the decision becomes "no promotion: report missing"."""
    from mlops_lib import steps

    try:
        return steps.build_reports(_services(), _spec(pipeline), version, trained,
                                   plan["champion"], _run_id())
    except Exception as exc:
        ti = get_current_context()["ti"]
        if ti.try_number <= (ti.max_tries or 0):
            raise  # Airflow retries it
        log.exception("Reports failed on the last try; the run will not promote")
        return {"reports": {}, "error": f"{type(exc).__name__}: {exc}"}


def evaluate_challenger(pipeline: str, plan: dict[str, Any], version: dict[str, Any],
                        trained: dict[str, Any]) -> dict[str, Any]:
    from mlops_lib import steps

    return steps.evaluate(_services(), _spec(pipeline), version, trained, plan["champion"],
                          _run_id())


def reconcile_champion(pipeline: str) -> dict[str, Any]:
    """First task of every run: repair the `champion` alias from the store if they differ."""
    from mlops_lib import steps

    return steps.reconcile_champion(_services(), _spec(pipeline))


def promote_champion(pipeline: str, plan: dict[str, Any], evaluation: dict[str, Any],
                     reports: dict[str, Any],
                     approval: dict[str, Any] | None = None) -> dict[str, Any]:
    """Record the decision with its report URIs and move the champion on promote (one
    transaction in the store), then point the MLflow alias at it. With `promotion: manual`,
    `approval` is the answer `approve_promotion` returned (None when it was not asked)."""
    from mlops_lib import steps
    from mlops_lib.approval import ApprovalOutcome

    outcome = None if not approval else ApprovalOutcome.from_response(approval)
    return steps.decide(_services(), _spec(pipeline), plan, evaluation, reports, _run_id(),
                        approval=outcome)


def _announce(asset: Any, extra: dict[str, Any]) -> None:
    """Attach `extra` to the asset event this task emits on success (its outlet)."""
    get_current_context()["outlet_events"][asset].extra = extra


def _asset_events() -> list[Any]:
    from mlops_lib.planning import AssetEventInfo

    events = []
    for asset, items in (get_current_context().get("triggering_asset_events") or {}).items():
        for e in items:
            events.append(AssetEventInfo(
                uri=str(getattr(asset, "uri", asset)), extra=dict(e.extra or {}),
                source_dag_id=e.source_dag_id, source_run_id=e.source_run_id,
                timestamp=e.timestamp.isoformat() if e.timestamp else None))
    return events


def _run_context() -> Any:
    from mlops_lib.planning import RunContext

    context = get_current_context()
    dag_run = context["dag_run"]
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    params = {**(context.get("params") or {}), **(dag_run.conf or {})}
    return RunContext(
        dag_run_id=dag_run.run_id, run_type=str(getattr(dag_run.run_type, "value",
                                                        dag_run.run_type)),
        interval_start=None if start is None else start.isoformat(),
        interval_end=None if end is None else end.isoformat(),
        asset_events=tuple(_asset_events()), params=params,
        triggered_by=getattr(dag_run, "triggering_user_name", None))


def set_run_note(dag_id: str, run_id: str, note: str) -> None:
    """Show why the run fired in the Airflow UI. The Task SDK cannot write a run's note, so
    this goes through the REST API with the `ct_airflow_api` connection (the local stack
    defines it); without one, the note is only in the log and the store."""
    from mlops_lib.airflow_api import AirflowApi

    try:
        from airflow.sdk import Connection

        conn = Connection.get("ct_airflow_api")
    except Exception:
        log.info("No ct_airflow_api connection: the run note stays unset")
        return
    try:
        AirflowApi(conn.host or "", conn.login or "", conn.password or "").set_note(
            dag_id, run_id, note[:1000])
    except Exception as exc:  # a note is a convenience: never fail the run over it
        log.warning("Run note not set: %s: %s", type(exc).__name__, exc)
