"""The drift monitor's steps: measure accepted batches against the champion's training data,
then apply the spec's drift policy to the stored history.

Checking the policy reads the store only, so this module imports nothing heavy; measuring
imports pandas, pyarrow, the statistics and Evidently (the batch's report) when it runs.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_lib.monitoring.drift_policy import evaluate
from mlops_lib.services import Services
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps.records import (
    BatchDriftReport,
    ChampionSnapshot,
    DriftMeasurement,
    DriftVerdict,
)
from mlops_lib.steps.shared import champion_snapshot, staged_object

if TYPE_CHECKING:
    import pandas as pd

    from mlops_lib.monitoring.drift import Reference

log = logging.getLogger(__name__)


def measure_drift(svc: Services, spec: PipelineSpec, batch_ids: Sequence[str],
                  dag_run_id: str) -> DriftMeasurement:
    """Drift of each accepted batch against the champion's training data, on all rows; one
    row per batch and feature in the store (a batch measured before keeps its numbers), and
    an Evidently drift report per batch measured now (`steps.drift_reports`)."""
    from mlops_lib.steps.drift_reference import champion_reference
    from mlops_lib.steps.drift_reports import publish_index

    champion = champion_snapshot(svc, spec)
    if champion is None or not champion.data_rev:
        log.info("No champion yet: nothing to measure drift against")
        return DriftMeasurement(measured=(), champion=None)
    measured: list[str] = []
    reports: list[BatchDriftReport] = []
    with tempfile.TemporaryDirectory(dir=svc.scratch_dir(spec.name, dag_run_id)) as tmp:
        against: _Reference | None = None
        for batch_id in batch_ids:
            record = svc.store.get_batch(spec.name, batch_id)
            if record is None or record.status != "accepted" or not record.staged_uri:
                log.info("Batch %s is not an accepted batch; not measured", batch_id)
                continue
            measured.append(batch_id)
            if svc.store.drift_metrics(spec.name, batch_id):
                log.info("Batch %s was measured before; its statistics stay", batch_id)
                continue
            if against is None:  # read once, and only when a batch is measured
                stored = champion_reference(svc, spec, champion, dag_run_id,
                                            Path(tmp) / "reference")
                against = _Reference(stored, stored.report_rows(), champion)
            reports.append(_measure(svc, spec, batch_id, record.staged_uri, against,
                                    dag_run_id))
    if reports:
        publish_index(svc, spec)
    return DriftMeasurement(measured=tuple(measured), champion=champion.version,
                            reports=tuple(reports),
                            url=next((r.url for r in reversed(reports) if r.url), ""))


@dataclass(frozen=True)
class _Reference:
    """The champion's training data as one monitor run compares every batch with it: its
    stored reference (`steps.drift_reference`), one feature in memory at a time."""

    stored: Reference
    shown: pd.DataFrame  # the rows the reports show
    champion: ChampionSnapshot


def _measure(svc: Services, spec: PipelineSpec, batch_id: str, staged_uri: str,
             against: _Reference, dag_run_id: str) -> BatchDriftReport:
    """One batch: its statistics and verdicts, its report, then its rows in the store (last:
    a retry after a failed report measures it again)."""
    from mlops_lib.monitoring import drift as drift_stats
    from mlops_lib.monitoring.drift_reference import ParquetColumns
    from mlops_lib.steps.drift_reports import build_batch_drift_report, report_positions

    bucket, key = staged_object(staged_uri)
    with tempfile.TemporaryDirectory(dir=svc.scratch_dir(spec.name, dag_run_id)) as tmp:
        staged = Path(tmp) / "batch.parquet"
        svc.s3.download_file(bucket, key, str(staged))
        current = ParquetColumns(staged)  # one column in memory at a time
        result = drift_stats.compute(against.stored, current, spec)
        shown = current.rows(spec.feature_names, report_positions(len(current)))
    report = build_batch_drift_report(svc, spec, batch_id, shown, against.shown, result,
                                      against.champion)
    svc.store.record_drift(spec.name, batch_id, dag_run_id, result)
    log.info("Batch %s vs champion v%s data: %d of %d features drifted %s%s", batch_id,
             against.champion.version, result.n_drifted, result.n_compared,
             list(result.drifted_features),
             f"; insufficient data: {list(result.insufficient_features)}"
             if result.insufficient_features else "")
    for f in result.features:
        log.info("  %-16s %-11s %s=%s (threshold %.3g, noise floor %s) psi=%s  %s",
                 f.feature, f.kind, f.method, _num(f.score), f.threshold, _num(f.noise_floor),
                 _num(f.psi), (f.verdict or "").upper().replace("_", " "))
    return report


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def check_drift_policy(svc: Services, spec: PipelineSpec, dag_run_id: str,
                       now: datetime | None = None) -> DriftVerdict:
    """Apply the spec's drift policy to the stored history; record a crossing once.

    Returns the verdict; `crossed` True means a retrain is due (the caller announces it).
    Without a champion a retrain is always due.
    """
    if svc.store.get_champion(spec.name) is None:
        # Nothing to drift from: the first model is due. Not recorded as a crossing, so no
        # cooldown starts; the training run's plan decides which batches it takes.
        return DriftVerdict(crossed=True, reason="no champion yet: the first model is due",
                            evidence={"first_model": True})
    history = svc.store.drift_history(spec.name)
    if not history:
        return DriftVerdict(crossed=False, reason="no drift measured yet")
    newest = history[-1].batch_id
    recorded = next((c for c in svc.store.drift_crossings(spec.name)
                     if c["batch_id"] == newest), None)
    if recorded is not None:  # a retry of the run that recorded it: announce the same one
        return DriftVerdict(crossed=True, reason=recorded["reason"], batch_ids=(newest,),
                            evidence=json.loads(recorded["evidence_json"]))
    last = svc.store.last_drift_crossing(spec.name)
    verdict = evaluate(history, spec.trigger.drift,
                       last_crossing_at=None if last is None else last["created_at"],
                       now=now or datetime.now(UTC))
    if verdict.crossed:
        svc.store.record_drift_crossing(spec.name, newest, dag_run_id, verdict)
        log.warning("Drift policy crossed: %s", verdict.reason)
        from mlops_lib.alerting import events

        events.drift_crossed(svc.store, spec, newest, verdict.reason, dag_run_id)
    else:
        log.info("Drift policy not crossed: %s", verdict.reason)
    return verdict
