"""Task callables of the scoring DAG (`ct_<name>_score`): claim each unlabelled batch the sensor
found, score it with the champion (and with the challenger beside it when the spec asks for
shadow scoring), and report on the champion's predictions. As in `ct_airflow.tasks`: context
in, one `mlops_lib.steps` call, its record out as XCom, outcomes in Airflow terms:

- a batch another run claimed: skipped;
- a bad batch (contract, model input, changed re-upload): quarantined by the step, then the
  task fails without retry, its reason code in the log;
- no champion yet: the task fails without retry, saying so (nothing is pinned: clear the task
  once a champion exists and the batch is scored);
- no challenger distinct from the champion: the shadow task is skipped with the reason.
"""

from __future__ import annotations

from typing import Any, cast

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from ct_airflow.tasks import _run_id, _services, _spec, label_batch
from ct_airflow.xcom import from_xcom, to_xcom
from mlops_lib.landing.batches import BatchRef


def claim_scoring_batch(pipeline: str, batch: dict[str, Any]) -> dict[str, Any]:
    """Claim the scoring batch for this run (keyed by id + content fingerprint)."""
    from mlops_lib.steps import scoring_batches as steps
    from mlops_lib.validation.reasons import BatchRejected

    ref = from_xcom(BatchRef, batch)
    label_batch(ref.batch_id)
    try:
        claimed = steps.claim_scoring_batch(_services(), _spec(pipeline), ref, _run_id())
    except steps.BatchAlreadyClaimed as exc:
        raise AirflowSkipException(str(exc)) from exc
    except BatchRejected as exc:  # a changed re-upload: quarantined, loud failure
        raise AirflowFailException(str(exc)) from exc
    return {"batch": to_xcom(claimed)}


def score_batch(pipeline: str, claimed: dict[str, Any]) -> dict[str, Any]:
    """Score the batch with the champion pinned on its claim; the prediction-log record."""
    from mlops_lib.steps import scoring_batches as steps

    ref = from_xcom(BatchRef, claimed["batch"])
    label_batch(ref.batch_id)
    return _scored(lambda: steps.score_with_champion(_services(), _spec(pipeline), ref,
                                                     _run_id()))


def shadow_score_batch(pipeline: str, claimed: dict[str, Any]) -> dict[str, Any]:
    """The challenger scores the same batch (role shadow); skipped when there is none."""
    from mlops_lib.steps import scoring_batches as steps

    ref = from_xcom(BatchRef, claimed["batch"])
    label_batch(ref.batch_id)
    try:
        return _scored(lambda: steps.score_with_challenger(_services(), _spec(pipeline), ref,
                                                           _run_id()))
    except steps.NoChallenger as exc:
        raise AirflowSkipException(f"no shadow scoring: {exc}") from exc


def build_scoring_report(pipeline: str, claimed: dict[str, Any],
                         scored: dict[str, Any]) -> dict[str, Any]:
    """The Evidently report of the champion's predictions on the batch (feature and
    prediction drift against the version's training data), beside the predictions; its URL is
    the task's "Evidently report" link."""
    from mlops_lib.steps.scoring import ScoredPredictions
    from mlops_lib.steps.scoring_report import build_scoring_report as build

    ref = from_xcom(BatchRef, claimed["batch"])
    label_batch(ref.batch_id)
    return cast(dict[str, Any], to_xcom(build(
        _services(), _spec(pipeline), from_xcom(ScoredPredictions, scored), batch=ref)))


def _scored(score: Any) -> dict[str, Any]:
    from mlops_lib.steps.scoring import NoChampion
    from mlops_lib.validation.reasons import BatchRejected

    try:
        return cast(dict[str, Any], to_xcom(score()))
    except BatchRejected as exc:  # quarantined by the step; bad data stays bad: no retry
        raise AirflowFailException(str(exc)) from exc
    except NoChampion as exc:
        raise AirflowFailException(f"{exc}; clear this task once a champion exists to score "
                                   "the batch") from exc
