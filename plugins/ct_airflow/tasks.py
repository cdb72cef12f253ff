"""Task callables for the pipeline DAGs: read the Airflow context, call one `mlops_lib.steps`
function with records made from the upstream XComs (`ct_airflow.xcom`), return its record as
XCom, and translate its outcome into Airflow terms (fail without retry, skip).

Each callable imports its step module when it runs: parsing a DAG file stays cheap, and a light
task (register, plan, decide, check the drift policy) never loads what a heavy one needs.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any, cast

from airflow.sdk import get_current_context
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from ct_airflow.schedules import batches_asset, drift_asset
from ct_airflow.xcom import from_xcom, to_xcom
from mlops_lib.landing.batches import BatchRef
from mlops_lib.steps.planning import AssetEventInfo, RunContext
from mlops_lib.steps.records import (
    DatasetVersion,
    Decision,
    Evaluation,
    ReportSet,
    TrainedModel,
    TrainingPlan,
)

if TYPE_CHECKING:
    from ct_airflow.rest_api import AirflowApi
    from mlops_lib.services import Services
    from mlops_lib.spec import PipelineSpec

log = logging.getLogger(__name__)


@functools.cache
def _services() -> Services:
    from mlops_lib.services import Services

    return Services()


def _spec(pipeline: str) -> PipelineSpec:
    from mlops_lib.spec import load_specs

    for spec in load_specs(*_services().settings.spec_dirs):
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
    from mlops_lib.steps import ingest
    from mlops_lib.validation.reasons import BatchRejected

    ref = from_xcom(BatchRef, batch)
    label_batch(ref.batch_id)
    try:
        claimed = ingest.register_batch(_services(), _spec(pipeline), ref, _run_id())
    except ingest.BatchAlreadyClaimed as exc:
        raise AirflowSkipException(str(exc)) from exc
    except BatchRejected as exc:  # a changed re-upload: quarantined copy, loud failure
        ingest.quarantine(_services(), _spec(pipeline), ref, exc, _run_id())
        raise AirflowFailException(str(exc)) from exc
    return {"batch": to_xcom(claimed)}


def validate_batch(pipeline: str, registered: dict[str, Any]) -> dict[str, Any]:
    """Fail the run (no retries: bad data stays bad) with the reason code of a bad batch; an
    accepted batch is announced on the pipeline's accepted-batches asset."""
    from mlops_lib.steps import ingest
    from mlops_lib.validation.reasons import BatchRejected

    spec = _spec(pipeline)
    ref = from_xcom(BatchRef, registered["batch"])
    label_batch(ref.batch_id)
    try:
        validated = to_xcom(ingest.validate(_services(), spec, ref, _run_id()))
    except BatchRejected as exc:
        raise AirflowFailException(str(exc)) from exc
    # What the drift monitor and the training plan read from the asset event.
    _announce(batches_asset(spec), {k: validated[k] for k in
                                    ("batch_id", "fingerprint", "rows", "files")})
    return dict(validated)


def measure_drift(pipeline: str) -> dict[str, Any]:
    """Drift of the batches announced to this monitor run (or, run by hand, of every accepted
    batch not measured yet) against the champion's training data, with an Evidently report
    per batch; the returned `url` (the newest report's) is the task's report link."""
    from mlops_lib.steps import drift

    spec = _spec(pipeline)
    batch_ids = [str(e.extra["batch_id"]) for e in _asset_events()
                 if e.uri == spec.batches_asset_uri and e.extra.get("batch_id")]
    if not batch_ids:
        batch_ids = [b.batch_id for b in _services().store.accepted_batches(spec.name)
                     if not _services().store.drift_metrics(spec.name, b.batch_id)][-20:]
    return cast(dict[str, Any], to_xcom(drift.measure_drift(
        _services(), spec, list(dict.fromkeys(batch_ids)), _run_id())))


def check_drift_policy(pipeline: str, measured: dict[str, Any]) -> dict[str, Any]:
    """Announce a drift crossing on the pipeline's drift asset (which schedules training when
    the spec retrains on drift); skipped, announcing nothing, when the policy holds."""
    from mlops_lib.steps import drift

    spec = _spec(pipeline)
    verdict = drift.check_drift_policy(_services(), spec, _run_id())
    # The run's note says the outcome either way: a skipped task's log is not where a data
    # engineer looks for why a drifted batch did not retrain (a cooldown, say).
    note = (f"retrain announced: {verdict.reason}" if verdict.crossed
            else f"no retrain: {verdict.reason}")
    set_run_note(spec.monitor_dag_id, _run_id(), note)
    if not verdict.crossed:
        raise AirflowSkipException(note)
    announced: dict[str, Any] = to_xcom(verdict)
    _announce(drift_asset(spec), announced)
    return announced


def plan_training(pipeline: str) -> dict[str, Any]:
    """Why this training run fired (arrival, drift, schedule, manual, backfill) and which
    accepted batches it trains on; recorded in the store, logged, and set as the run's note."""
    from mlops_lib.steps import plan
    from mlops_lib.steps.planning import describe

    spec = _spec(pipeline)
    planned = plan.plan_training(_services(), spec, _run_context())
    set_run_note(spec.dag_id, _run_id(), describe(planned.trigger))
    if planned.skip_reason:
        raise AirflowSkipException(f"nothing to train: {planned.skip_reason}")
    return cast(dict[str, Any], to_xcom(planned))


def version_dataset(pipeline: str, plan: dict[str, Any]) -> dict[str, Any]:
    from mlops_lib.steps import dataset

    return cast(dict[str, Any], to_xcom(dataset.version_dataset(
        _services(), _spec(pipeline), from_xcom(TrainingPlan, plan), _run_id())))


def train_model(pipeline: str, plan: dict[str, Any], version: dict[str, Any]) -> dict[str, Any]:
    from mlops_lib.steps import train

    return cast(dict[str, Any], to_xcom(train.train(
        _services(), _spec(pipeline), from_xcom(TrainingPlan, plan),
        from_xcom(DatasetVersion, version), _run_id())))


def build_reports(pipeline: str, plan: dict[str, Any], version: dict[str, Any],
                  trained: dict[str, Any]) -> dict[str, Any]:
    """Reports are required for a promotion, not for the run: after the last retry a failure
    is handed on as `error`, and the decision becomes "no promotion: report missing"."""
    from mlops_lib.steps import reports

    try:
        planned = from_xcom(TrainingPlan, plan)
        built = reports.build_reports(
            _services(), _spec(pipeline), from_xcom(DatasetVersion, version),
            from_xcom(TrainedModel, trained), planned.champion, _run_id(),
            batch_ids=planned.batch_ids)
    except Exception as exc:
        ti = get_current_context()["ti"]
        if ti.try_number <= (ti.max_tries or 0):
            raise  # Airflow retries it
        log.exception("Reports failed on the last try; the run will not promote")
        built = ReportSet(error=f"{type(exc).__name__}: {exc}")
    return cast(dict[str, Any], to_xcom(built))


def evaluate_challenger(pipeline: str, plan: dict[str, Any], version: dict[str, Any],
                        trained: dict[str, Any]) -> dict[str, Any]:
    from mlops_lib.steps import evaluate

    return cast(dict[str, Any], to_xcom(evaluate.evaluate(
        _services(), _spec(pipeline), from_xcom(DatasetVersion, version),
        from_xcom(TrainedModel, trained), from_xcom(TrainingPlan, plan).champion, _run_id())))


def reconcile_champion(pipeline: str) -> dict[str, Any]:
    """First task of every run: repair the `champion` alias from the store if they differ."""
    from mlops_lib.steps import decide

    return cast(dict[str, Any], to_xcom(decide.reconcile_champion(_services(),
                                                                  _spec(pipeline))))


def promote_champion(pipeline: str, plan: dict[str, Any], evaluation: dict[str, Any],
                     reports: dict[str, Any],
                     approval: dict[str, Any] | None = None) -> dict[str, Any]:
    """Record the decision with its report URIs and move the champion on promote (one
    transaction in the store), then point the MLflow alias at it. With `promotion: manual`,
    `approval` is the answer `approve_promotion` returned (None when it was not asked)."""
    from mlops_lib.evaluation.approval import ApprovalOutcome
    from mlops_lib.steps import decide

    outcome = None if not approval else ApprovalOutcome.from_response(approval)
    return cast(dict[str, Any], to_xcom(decide.decide(
        _services(), _spec(pipeline), from_xcom(TrainingPlan, plan),
        from_xcom(Evaluation, evaluation), from_xcom(ReportSet, reports), _run_id(),
        approval=outcome)))


def publish_drift_reference(pipeline: str, decision: dict[str, Any]) -> dict[str, Any]:
    """After a promotion: the new champion's drift reference in S3, off the decision's path
    (`steps.drift_reference`); nothing to do when the run did not promote."""
    from mlops_lib.steps.drift_reference import publish_champion_reference

    return cast(dict[str, Any], to_xcom(publish_champion_reference(
        _services(), _spec(pipeline), from_xcom(Decision, decision), _run_id())))


def _announce(asset: Any, extra: dict[str, Any]) -> None:
    """Attach `extra` to the asset event this task emits on success (its outlet)."""
    get_current_context()["outlet_events"][asset].extra = extra


def _asset_events() -> list[AssetEventInfo]:
    events = []
    for asset, items in (get_current_context().get("triggering_asset_events") or {}).items():
        for e in items:
            events.append(AssetEventInfo(
                uri=str(getattr(asset, "uri", asset)), extra=dict(e.extra or {}),
                source_dag_id=e.source_dag_id, source_run_id=e.source_run_id,
                timestamp=e.timestamp.isoformat() if e.timestamp else None))
    return events


def _run_context() -> RunContext:
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


def rest_api() -> AirflowApi | None:
    """Airflow's REST API as the `ct_airflow_api` connection's user (the local stack defines
    it), for what the Task SDK cannot do; None without the connection."""
    from ct_airflow.rest_api import AirflowApi

    try:
        from airflow.sdk import Connection

        conn = Connection.get("ct_airflow_api")
    except Exception:
        return None
    return AirflowApi(conn.host or "", conn.login or "", conn.password or "")


def set_run_note(dag_id: str, run_id: str, note: str) -> None:
    """Show why the run fired in the Airflow UI. The Task SDK cannot write a run's note, so
    this goes through the REST API (`rest_api`); without it, the note is only in the log and
    the store."""
    api = rest_api()
    if api is None:
        log.info("No ct_airflow_api connection: the run note stays unset")
        return
    try:
        api.set_note(dag_id, run_id, note[:1000])
    except Exception as exc:  # a note is a convenience: never fail the run over it
        log.warning("Run note not set: %s: %s", type(exc).__name__, exc)
