"""Score challenger and champion on the same holdout and apply the promotion gate."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops_lib.evaluation.gate import decide as gate
from mlops_lib.evaluation.gate import slice_columns
from mlops_lib.reports.heading import ReportHeading
from mlops_lib.services import Services
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps.holdout_scores import save_holdout_scores
from mlops_lib.steps.records import ChampionSnapshot, DatasetVersion, Evaluation, TrainedModel
from mlops_lib.steps.reports import performance_report
from mlops_lib.steps.shared import holdout_mask, versioned_rows
from mlops_lib.training.trainer import predict, target_values

if TYPE_CHECKING:
    import pandas as pd

    from mlops_lib.evaluation.gate import Decision as Verdict

log = logging.getLogger(__name__)


def evaluate(svc: Services, spec: PipelineSpec, version: DatasetVersion, trained: TrainedModel,
             champion: ChampionSnapshot | None, dag_run_id: str) -> Evaluation:
    """Score challenger and champion on the same holdout and apply the promotion gate.

    Nothing is written but metrics on the MLflow run: `decide` records the decision (with the
    report URIs) in the same transaction as any champion move.
    """
    # the holdout alone is read: the split needs the row count and the time column only
    holdout = versioned_rows(svc, spec, version, dag_run_id,
                             lambda split: np.flatnonzero(holdout_mask(split, spec)),
                             by=[c for c in (spec.training.time_column,) if c])
    y = target_values(holdout, spec)  # multiclass: class indices, the columns of predict()
    name = spec.registered_model_name
    challenger = svc.registry.load_booster(name, trained.model_version)
    challenger_pred = predict(challenger, holdout, spec)
    # the reference of its prediction and calibration drift once it scores live rows
    save_holdout_scores(svc, spec, trained.model_version, y, challenger_pred)
    champion_pred = _champion_predictions(svc, spec, champion, holdout)
    slices = slice_columns({s.column: holdout[s.column].to_numpy() for s in spec.metric.slices},
                           spec.metric.slices)
    verdict = gate(spec.metric, y, challenger_pred, champion_pred, slices=slices)
    svc.registry.log_run_data(
        trained.mlflow_run_id,
        metrics={f"holdout_{k}": v for k, v in verdict.candidate_metrics.items()}
        | {f"champion_holdout_{k}": v for k, v in (verdict.baseline_metrics or {}).items()},
        tags={"ct.gate": verdict.decision, "ct.gate_reason": verdict.reason[:5000]})
    heading = ReportHeading(
        f"{spec.name}: model performance, training run {dag_run_id}",
        None if champion is None else f"champion v{champion.version} on the same holdout rows",
        f"challenger v{trained.model_version} on the holdout of data rev {version.rev[:10]} "
        f"({len(holdout)} rows)")
    performance = performance_report(svc, spec, holdout, challenger_pred, champion_pred,
                                     trained.mlflow_run_id, dag_run_id, heading)
    _log_verdict(verdict)
    return Evaluation(
        candidate_version=trained.model_version,
        baseline_version=None if champion is None else champion.version,
        champion_epoch=0 if champion is None else champion.epoch,
        data_rev=version.rev, verdict=verdict.to_dict(), decision=verdict.decision,
        reason=verdict.reason, metric=verdict.metric,
        candidate_value=verdict.candidate_value, baseline_value=verdict.baseline_value,
        holdout_rows=len(holdout), performance_reports=performance)


def _champion_predictions(svc: Services, spec: PipelineSpec, champion: ChampionSnapshot | None,
                          holdout: pd.DataFrame) -> Any:
    """The champion's predictions; None without one, or why the expected one could not be
    scored (a string the gate fails closed on: an unloadable champion never means promote)."""
    if champion is None:
        return None
    try:
        booster = svc.registry.load_booster(spec.registered_model_name, champion.version)
        return predict(booster, holdout, spec)
    except Exception as exc:
        log.error("ALERT: champion v%s could not be scored, failing closed (keep): %s",
                  champion.version, exc)
        return f"{type(exc).__name__}: {exc}"


def _log_verdict(verdict: Verdict) -> None:
    boot = verdict.bootstrap
    if boot is not None:
        log.info("Paired bootstrap (%d resamples, seed %d): %s challenger - champion %+.4f, "
                 "%.0f%% CI [%+.4f, %+.4f]; improvement lower bound %+.4f", boot.n_valid,
                 boot.seed, boot.metric, boot.diff, boot.confidence * 100, boot.ci_low,
                 boot.ci_high, boot.improvement_low)
    for s in verdict.slices:
        log.log(logging.WARNING if s.status == "violated" else logging.INFO,
                "Slice %s=%s: %d rows, challenger %.4f, champion %s: %s", s.column, s.value,
                s.rows, s.challenger, "n/a" if s.champion is None else f"{s.champion:.4f}",
                s.status)
    log.info("Gate verdict: %s. %s", verdict.decision.upper(), verdict.reason)
