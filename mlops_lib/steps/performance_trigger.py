"""The performance trigger: judge the champion's realized performance against the spec's
performance policy (`monitoring.performance_policy`), record a crossing once, and say whether
the labels run announces a retrain.

A crossing is keyed by the champion's newest breaching window. A retry of the run that
recorded it announces the same crossing again (Airflow runs tasks at least once); another run
that finds the same window already announced does not announce it twice.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from mlops_lib.monitoring.performance_policy import (
    Baseline,
    PerformanceVerdict,
    evaluate,
    promotion_values,
)
from mlops_lib.services import Services
from mlops_lib.spec import PipelineSpec

log = logging.getLogger(__name__)


def baseline(svc: Services, spec: PipelineSpec, version: str) -> Baseline:
    """The version's holdout metric at promotion: the newest `promote` decision for it."""
    promoted = promotion_values(svc.store.decisions(spec.name), spec.metric.name)
    return Baseline(model_version=str(version), metric=spec.metric.name,
                    direction=spec.metric.direction, promoted_value=promoted.get(str(version)))


def check_performance_policy(svc: Services, spec: PipelineSpec, dag_run_id: str,
                             now: datetime | None = None) -> PerformanceVerdict:
    """The verdict on the stored windows; `crossed` True means a retrain is due now."""
    policy = spec.trigger.performance
    champion = svc.store.get_champion(spec.name)
    if champion is None:
        return PerformanceVerdict(False, "no champion yet: nothing to judge")
    crossings = svc.store.performance_crossings(spec.name)
    # One crossing per labels run: its retry announces it again, even after a rollback.
    mine = next((c for c in crossings if c["dag_run_id"] == dag_run_id), None)
    if mine is not None:  # a retry of the run that recorded it: announce the same crossing
        return _rolled_back(svc, spec, PerformanceVerdict(
            True, mine["reason"], mine["model_version"], mine["window_kind"],
            tuple(w["window_key"] for w in mine["evidence"].get("windows", [])),
            mine["evidence"]))
    last = crossings[-1]["created_at"] if crossings else None
    verdict = evaluate(svc.store.performance(spec.name, model_version=champion.model_version),
                       policy, baseline(svc, spec, champion.model_version),
                       last_crossing_at=last, now=now or datetime.now(UTC))
    for alert in verdict.alerts:
        log.warning("Estimated performance alert: %s", alert)
    if not verdict.crossed or verdict.newest_window is None:
        log.info("Performance policy not crossed: %s", verdict.reason)
        return verdict
    if svc.store.record_performance_crossing(
            spec.name, dag_run_id, model_version=champion.model_version,
            window_kind=verdict.window_kind, window_key=verdict.newest_window,
            reason=verdict.reason, evidence=verdict.evidence):
        log.warning("Performance policy crossed: %s", verdict.reason)
        from mlops_lib.alerting import events

        events.performance_dropped(svc.store, spec, champion.model_version,
                                   verdict.window_kind, verdict.newest_window, verdict.reason,
                                   dag_run_id)
        return _rolled_back(svc, spec, verdict)
    key = (champion.model_version, verdict.window_kind, verdict.newest_window)
    recorded = next(c for c in svc.store.performance_crossings(spec.name)
                    if (c["model_version"], c["window_kind"], c["window_key"]) == key)
    return PerformanceVerdict(
        False, f"already announced by run {recorded['dag_run_id']} at "
               f"{recorded['created_at']}: {recorded['reason']}", verdict.model_version,
        verdict.window_kind, verdict.window_keys, verdict.evidence, verdict.alerts)


def _rolled_back(svc: Services, spec: PipelineSpec,
                 verdict: PerformanceVerdict) -> PerformanceVerdict:
    """promotion.auto_rollback: the judged champion goes back to the previous one, through the
    same audited, race-free move as `mlops rollback`. Idempotent by state: once the judged
    version is no longer champion (rolled back by an earlier try, or replaced), nothing moves."""
    from dataclasses import replace

    from mlops_lib.operations.champion import ChampionError, rollback

    champion = svc.store.get_champion(spec.name)
    if (not spec.auto_rollback or champion is None
            or champion.model_version != verdict.model_version):
        return verdict
    try:
        moved = rollback(svc, spec.name, reason=f"auto_rollback: {verdict.reason}",
                         actor="auto_rollback")
    except ChampionError as exc:
        log.warning("No automatic rollback of v%s: %s", verdict.model_version, exc)
        return replace(verdict, reason=f"{verdict.reason}; no rollback: {exc}")
    now = svc.store.get_champion(spec.name)
    back = "?" if now is None else now.model_version
    log.warning("Rolled back v%s to v%s (promotion.auto_rollback): %s", verdict.model_version,
                back, moved)
    return replace(verdict, reason=f"{verdict.reason}; rolled back to v{back}",
                   evidence={**verdict.evidence, "rolled_back_to": back})
