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


def register_batch(pipeline: str, batch: dict[str, Any]) -> dict[str, Any]:
    """Claim the batch for this run and record why the run fired."""
    from mlops_lib import steps
    from mlops_lib.batches import BatchRef

    ref = BatchRef.from_dict(batch)
    dag_run = get_current_context()["dag_run"]
    trigger = {
        "type": "s3_batch", "batch_id": ref.batch_id, "fingerprint": ref.fingerprint,
        "marker_key": ref.marker_key, "completed_at": ref.completed_at,
        "files": [{"key": f.key, "etag": f.etag} for f in ref.files],
        "run_type": str(dag_run.run_type), "dag_run_id": dag_run.run_id,
    }
    try:
        return steps.register_batch(_services(), _spec(pipeline), ref, _run_id(), trigger)
    except steps.BatchAlreadyClaimed as exc:
        raise AirflowSkipException(str(exc)) from exc


def validate_batch(pipeline: str, registered: dict[str, Any]) -> dict[str, Any]:
    """Fail the run (no retries: bad data stays bad) with the reason code of a bad batch."""
    from mlops_lib import steps
    from mlops_lib.batches import BatchRef
    from mlops_lib.validation import BatchRejected

    try:
        return steps.validate(_services(), _spec(pipeline),
                              BatchRef.from_dict(registered["batch"]), _run_id())
    except BatchRejected as exc:
        raise AirflowFailException(str(exc)) from exc


def version_dataset(pipeline: str, registered: dict[str, Any],
                    validated: dict[str, Any]) -> dict[str, Any]:
    from mlops_lib import steps

    return steps.version_dataset(_services(), _spec(pipeline),
                                 registered["batch"]["batch_id"], validated["path"], _run_id())


def train_model(pipeline: str, version: dict[str, Any]) -> dict[str, Any]:
    from mlops_lib import steps

    run = _services().store.get_training_run(pipeline, _run_id())
    trigger = run["trigger"] if run else {}
    return steps.train(_services(), _spec(pipeline), version, _run_id(), trigger)


def build_reports(pipeline: str, registered: dict[str, Any], validated: dict[str, Any],
                  trained: dict[str, Any]) -> dict[str, Any]:
    """Reports are required for a promotion, not for the run: after the last retry a failure
    is handed on as `error`, and the decision becomes "no promotion: report missing"."""
    from mlops_lib import steps

    try:
        return steps.build_reports(_services(), _spec(pipeline),
                                   registered["batch"]["batch_id"], validated["path"], trained,
                                   registered["champion"], _run_id())
    except Exception as exc:
        ti = get_current_context()["ti"]
        if ti.try_number <= (ti.max_tries or 0):
            raise  # Airflow retries it
        log.exception("Reports failed on the last try; the run will not promote")
        return {"reports": {}, "error": f"{type(exc).__name__}: {exc}"}


def evaluate_challenger(pipeline: str, registered: dict[str, Any], version: dict[str, Any],
                        trained: dict[str, Any]) -> dict[str, Any]:
    from mlops_lib import steps

    return steps.evaluate(_services(), _spec(pipeline), version, trained,
                          registered["champion"], _run_id())


def reconcile_champion(pipeline: str) -> dict[str, Any]:
    """First task of every run: repair the `champion` alias from the store if they differ."""
    from mlops_lib import steps

    return steps.reconcile_champion(_services(), _spec(pipeline))


def promote_champion(pipeline: str, evaluation: dict[str, Any],
                     reports: dict[str, Any]) -> dict[str, Any]:
    """Record the decision with its report URIs and move the champion on promote (one
    transaction in the store), then point the MLflow alias at it."""
    from mlops_lib import steps

    return steps.decide(_services(), _spec(pipeline), evaluation, reports, _run_id())
