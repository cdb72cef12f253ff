"""One function per pipeline task. Each takes plain values, returns a JSON-able dict (the
task's XCom) and is idempotent: every write is keyed by pipeline + DAG run id or batch id, so
Airflow's at-least-once execution (retries, clears) changes nothing the second time.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlops_lib import s3io
from mlops_lib.batches import BatchRef
from mlops_lib.evaluation import decide as gate
from mlops_lib.evaluation import slice_columns
from mlops_lib.registry import CHALLENGER, CHAMPION
from mlops_lib.services import Services
from mlops_lib.spec import PipelineSpec
from mlops_lib.store import DecisionRecord
from mlops_lib.training import predict, split_holdout, train_model
from mlops_lib.validation import (
    BatchRejected,
    check_manifest,
    conform,
    read_batch,
    validate_batch,
)
from mlops_lib.versioning import DataVersion

if TYPE_CHECKING:  # reports imports Evidently: only the tasks that build reports pay for it
    from mlops_lib.reports import ReportFile

log = logging.getLogger(__name__)


class BatchAlreadyClaimed(Exception):
    """The batch belongs to another run: this run has nothing to do."""


def register_batch(svc: Services, spec: PipelineSpec, batch: BatchRef, dag_run_id: str,
                   trigger: dict[str, Any]) -> dict[str, Any]:
    """Claim the batch for this run and snapshot the champion the run will be judged against."""
    record, created = svc.store.claim_batch(spec.name, batch.batch_id, batch.fingerprint,
                                            [f.to_dict() for f in batch.files], dag_run_id)
    if not created and record.dag_run_id != dag_run_id:
        raise BatchAlreadyClaimed(f"batch {batch.batch_id} was claimed by run "
                                  f"{record.dag_run_id} ({record.status})")
    svc.store.start_training_run(spec.name, dag_run_id, batch.batch_id, trigger)
    champion = svc.store.get_champion(spec.name)
    log.info("Run %s fired on %s; %s", dag_run_id, _describe_trigger(trigger),
             f"champion is v{champion.model_version}" if champion else "no champion yet")
    return {
        "batch": batch.to_dict(),
        "champion": None if champion is None else {
            "version": champion.model_version, "data_rev": champion.data_rev,
            "epoch": champion.epoch},
    }


def validate(svc: Services, spec: PipelineSpec, batch: BatchRef,
             dag_run_id: str) -> dict[str, Any]:
    """Check the batch against the spec; a bad batch is quarantined (copied) and rejected."""
    try:
        files = s3io.read_batch_files(svc.s3, spec.source.bucket, batch)
        if spec.source.completion == "manifest":
            raw = svc.s3.get_object(Bucket=spec.source.bucket, Key=batch.marker_key)["Body"]
            check_manifest(raw.read(), batch.prefix, files, spec.source.format)
        frame = read_batch(files, spec.source.format)
        report = validate_batch(frame, spec, batch_id=batch.batch_id)
        if not report.passed:
            assert report.reason_code is not None
            raise BatchRejected(report.reason_code, report.summary(), report)
    except BatchRejected as exc:
        report_dict = exc.report.to_dict() if exc.report is not None else None
        uri = s3io.copy_to_quarantine(svc.s3, spec.source.bucket, batch, spec.name, {
            "reason_code": str(exc.code), "reason": str(exc), "dag_run_id": dag_run_id,
            "report": report_dict})
        svc.store.quarantine_batch(spec.name, batch.batch_id, str(exc.code), str(exc), uri,
                                   report_dict)
        log.error("Batch %s rejected: %s. A copy is in %s; the original is untouched.",
                  batch.batch_id, exc, uri)
        raise
    path = svc.scratch_dir(spec.name, dag_run_id) / "batch.parquet"
    conform(frame, spec).to_parquet(path, index=False)
    svc.store.set_batch_status(spec.name, batch.batch_id, "accepted")
    for warning in report.warnings:
        log.warning("Validation warning [%s]: %s", warning.name, warning.observed)
    log.info("Batch %s passed validation: %d rows, %d checks", batch.batch_id, report.n_rows,
             len(report.checks))
    return {"rows": report.n_rows, "path": str(path), "report": report.to_dict()}


def version_dataset(svc: Services, spec: PipelineSpec, batch_id: str, data_path: str,
                    dag_run_id: str) -> dict[str, Any]:
    version = svc.versioner.version(spec.name, batch_id, data_path)  # type: ignore[arg-type]
    svc.store.update_training_run(spec.name, dag_run_id, data_rev=version.rev,
                                  data_md5=version.md5)
    log.info("Training set versioned with DVC: rev %s, md5 %s, remote %s", version.rev[:12],
             version.md5, version.remote_url)
    return version.to_dict()


def train(svc: Services, spec: PipelineSpec, version: dict[str, Any], dag_run_id: str,
          trigger: dict[str, Any]) -> dict[str, Any]:
    """Train the challenger on the versioned data and register it (once per run)."""
    data_version = DataVersion(**version)
    run_id = svc.registry.ensure_run(spec.registered_model_name, dag_run_id, {
        "ct.pipeline": spec.name, "ct.data_rev": data_version.rev,
        "ct.data_md5": data_version.md5, "ct.trigger": _describe_trigger(trigger),
        "ct.trigger.type": str(trigger.get("type", "unknown")),
        "ct.trigger.detail": json.dumps(trigger, sort_keys=True)[:5000]})
    model_name = spec.registered_model_name
    key = idempotency_key(spec, data_version.rev)
    model_version = (svc.registry.version_of_run(model_name, run_id)
                     or svc.registry.version_by_tag(model_name, "ct.idempotency_key", key))
    if model_version is None:
        train_df, _ = _split(svc, spec, data_version)
        model = train_model(train_df, spec)
        svc.registry.log_run_data(
            run_id, params={**model.params, "num_boost_round": model.num_boost_round,
                            "holdout_share": spec.training.holdout_share,
                            "validation_share": spec.training.validation_share,
                            "early_stopping_rounds": spec.training.early_stopping_rounds,
                            "time_column": spec.training.time_column or ""},
            metrics={"train_rows": model.train_rows, "train_seconds": model.train_seconds,
                     "matrix_seconds": model.matrix_seconds,
                     "validation_rows": model.validation_rows,
                     "best_iteration": model.best_iteration}
            | ({} if model.best_score is None else {"best_score": model.best_score}),
            tags={f"ct.env.{k}": v for k, v in model.environment.items()})
        model_version = svc.registry.register_model(run_id, model_name, model.booster, {
            "ct.dag_run_id": dag_run_id, "ct.data_rev": data_version.rev,
            "ct.idempotency_key": key})
        log.info("Trained on %s (%d rows, %.1fs); registered %s v%s", model.device,
                 model.train_rows, model.train_seconds, model_name, model_version)
    svc.registry.set_alias(model_name, CHALLENGER, model_version)
    svc.store.update_training_run(spec.name, dag_run_id, mlflow_run_id=run_id,
                                  model_version=model_version)
    return {"mlflow_run_id": run_id, "model_version": model_version}


def evaluate(svc: Services, spec: PipelineSpec, version: dict[str, Any],
             trained: dict[str, Any], champion: dict[str, Any] | None,
             dag_run_id: str) -> dict[str, Any]:
    """Score challenger and champion on the same holdout and apply the promotion gate.

    Nothing is written but metrics on the MLflow run: `decide` records the decision (with the
    report URIs) in the same transaction as any champion move.
    """
    _, holdout = _split(svc, spec, DataVersion(**version))
    y = holdout[spec.target].to_numpy()
    name = spec.registered_model_name
    challenger = svc.registry.load_booster(name, trained["model_version"])
    challenger_pred = predict(challenger, holdout, spec)
    champion_pred: Any = None  # predictions, or why the expected champion could not be scored
    if champion is not None:
        try:
            booster = svc.registry.load_booster(name, champion["version"])
            champion_pred = predict(booster, holdout, spec)
        except Exception as exc:  # an unloadable champion must fail closed, never "promote"
            champion_pred = f"{type(exc).__name__}: {exc}"
            log.error("ALERT: champion v%s could not be scored, failing closed (keep): %s",
                      champion["version"], exc)
    slices = slice_columns({s.column: holdout[s.column].to_numpy() for s in spec.metric.slices},
                           spec.metric.slices)
    verdict = gate(spec.metric, y, challenger_pred, champion_pred, slices=slices)
    evaluation = {
        "candidate_version": trained["model_version"],
        "baseline_version": None if champion is None else champion["version"],
        "champion_epoch": 0 if champion is None else champion["epoch"],
        "data_rev": version["rev"], "verdict": verdict.to_dict(), "decision": verdict.decision,
        "reason": verdict.reason, "metric": verdict.metric,
        "candidate_value": verdict.candidate_value, "baseline_value": verdict.baseline_value,
        "holdout_rows": len(holdout)}
    svc.registry.log_run_data(
        trained["mlflow_run_id"],
        metrics={f"holdout_{k}": v for k, v in verdict.candidate_metrics.items()}
        | {f"champion_holdout_{k}": v for k, v in (verdict.baseline_metrics or {}).items()},
        tags={"ct.gate": verdict.decision, "ct.gate_reason": verdict.reason[:5000]})
    evaluation["performance_reports"] = _performance_report(
        svc, spec, holdout, challenger_pred, champion_pred, trained["mlflow_run_id"], dag_run_id)
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
    return evaluation


def decide(svc: Services, spec: PipelineSpec, evaluation: dict[str, Any],
           reports: dict[str, Any], dag_run_id: str) -> dict[str, Any]:
    """Record the decision and, on promote, move the champion: one transaction, then the alias.

    No promotion without the run's reports: a failed report turns promote into keep. A
    champion that moved since the evaluation makes this run's promote `superseded`.
    """
    from mlops_lib.champion import reconcile

    decision, reason = evaluation["decision"], evaluation["reason"]
    if decision == "promote" and reports.get("error"):
        decision, reason = "keep", f"no promotion: report missing ({reports['error']})"
    record, moved = svc.store.record_decision_and_move(DecisionRecord(
        pipeline=spec.name, dag_run_id=dag_run_id,
        candidate_version=evaluation["candidate_version"],
        baseline_version=evaluation["baseline_version"], metric=evaluation["metric"],
        candidate_value=evaluation["candidate_value"],
        baseline_value=evaluation["baseline_value"], decision=decision, reason=reason,
        data_rev=evaluation["data_rev"],
        details={**evaluation["verdict"], "holdout_rows": evaluation["holdout_rows"],
                 "champion_epoch": evaluation["champion_epoch"],
                 "reports": reports.get("reports", {})}),
        expected_epoch=int(evaluation["champion_epoch"]))
    run = svc.store.get_training_run(spec.name, dag_run_id)
    if run and run.get("mlflow_run_id"):
        svc.registry.log_run_data(run["mlflow_run_id"], tags={
            "ct.decision": record.decision, "ct.decision_reason": record.reason[:5000]})
    log.info("Decision: %s v%s. %s", record.decision.upper(), record.candidate_version,
             record.reason)
    synced = reconcile(svc, spec.name)
    if record.promote:
        log.info("%s v%s is @%s (store epoch %s)", spec.registered_model_name,
                 record.candidate_version, CHAMPION, "moved now" if moved else "already")
    elif synced.changed:
        log.warning("Alias repaired to the store's champion v%s", synced.store_version)
    try:  # the index page is a convenience: a failure to publish it changes no decision
        from mlops_lib.report_index import publish_index

        log.info("Report index: %s", publish_index(svc, spec))
    except Exception as exc:
        log.error("Report index not published: %s: %s", type(exc).__name__, exc)
    return {**_decision_dict(record), "moved": moved}


def reconcile_champion(svc: Services, spec: PipelineSpec) -> dict[str, Any]:
    """Start of every run: the alias must say what the store says before anything else."""
    from mlops_lib.champion import reconcile

    result = reconcile(svc, spec.name)
    return {"champion": result.store_version, "alias_before": result.alias_before,
            "repaired": result.changed}


def build_reports(svc: Services, spec: PipelineSpec, batch_id: str, batch_path: str,
                  trained: dict[str, Any], champion: dict[str, Any] | None,
                  dag_run_id: str) -> dict[str, Any]:
    """Drift of the batch against the champion's training data (statistics on all rows, stored
    per feature) and the Evidently drift and data-summary reports."""
    from mlops_lib import drift as drift_stats
    from mlops_lib.reports import build_reports as build

    current = pd.read_parquet(batch_path)
    reference = None
    if champion is not None and champion.get("data_rev"):
        ref_version = svc.versioner.at(spec.name, champion["data_rev"])
        reference = pd.read_parquet(io.BytesIO(svc.versioner.read(ref_version)))
    run_id = trained["mlflow_run_id"]
    drift = None
    if reference is not None:
        result = drift_stats.compute(reference, current, spec)
        svc.store.record_drift(spec.name, batch_id, dag_run_id, result)
        svc.registry.log_run_data(run_id, metrics={"drift_share": result.share_drifted})
        drift = {"share_drifted": result.share_drifted,
                 "drifted_features": list(result.drifted_features)}
        log.info("Drift vs champion v%s data: %d of %d features drifted %s", champion["version"],
                 result.n_drifted, result.n_compared, list(result.drifted_features))
    out_dir = svc.scratch_dir(spec.name, dag_run_id) / "reports"
    bundle = build(current, reference, spec, out_dir)
    uris = _store_reports(svc, spec, run_id, out_dir, bundle.files, dag_run_id)
    tracking = svc.settings.mlflow_tracking_uri.rstrip("/")
    run_page = (f"{tracking}/#/experiments/{svc.registry.experiment_id(run_id)}/runs/{run_id}"
                "/artifacts")
    downloads = {name: f"{tracking}/get-artifact?path=reports/{name}&run_uuid={run_id}"
                 for name in uris}
    for reason in bundle.skipped:
        log.info("Report skipped: %s", reason)
    log.info("Evidently reports: open the MLflow run %s (folder reports/)", run_page)
    for name in sorted(uris):
        log.info("  %s: %s (download: %s)", name, uris[name], downloads[name])
    return {"reports": uris, "run_page": run_page, "downloads": downloads, "drift": drift,
            "skipped": list(bundle.skipped)}


def idempotency_key(spec: PipelineSpec, data_rev: str) -> str:
    """Same pipeline, data revision, code and training settings: the same model, registered once
    (a retried or re-run task finds the version instead of creating another)."""
    from dataclasses import asdict

    from mlops_lib.training import git_sha

    material = {"pipeline": spec.name, "data_rev": data_rev, "code": git_sha(),
                "training": asdict(spec.training), "inputs": spec.model_inputs,
                "target": spec.target, "task": spec.task}
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


def _performance_report(svc: Services, spec: PipelineSpec, holdout: pd.DataFrame,
                        challenger_pred: Any, champion_pred: Any, run_id: str,
                        dag_run_id: str) -> dict[str, str]:
    """Challenger vs champion on the holdout, for people: promotion needs the data reports, not
    this one, so a failure to build it is logged and the evaluation carries on."""
    from mlops_lib.reports import build_performance_report

    baseline = None if isinstance(champion_pred, str) else champion_pred
    try:
        out_dir = svc.scratch_dir(spec.name, dag_run_id) / "performance"
        files = build_performance_report(holdout, spec, challenger_pred, baseline, out_dir)
        uris = _store_reports(svc, spec, run_id, out_dir, files, dag_run_id)
    except Exception as exc:
        log.error("Performance report not built (evaluation goes on): %s: %s",
                  type(exc).__name__, exc, exc_info=True)
        return {}
    for name in sorted(uris):
        log.info("Performance report (challenger vs %s): %s",
                 "no champion" if baseline is None else "champion", uris[name])
    return uris


def _store_reports(svc: Services, spec: PipelineSpec, run_id: str, out_dir: Path,
                   files: Sequence[ReportFile], dag_run_id: str) -> dict[str, str]:
    """Log report files to the MLflow run under reports/ and record where they are on S3."""
    base = svc.registry.log_artifacts(run_id, out_dir, "reports")
    uris = {}
    for f in files:
        uri = svc.settings.artifact_location(f"{base}/{f.path.name}")
        svc.store.record_report(spec.name, dag_run_id, f.kind, f.format, uri)
        uris[f.path.name] = uri
    return uris


def _split(svc: Services, spec: PipelineSpec,
           version: DataVersion) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train/holdout of exactly the versioned bytes, so lineage is what was trained on."""
    frame = pd.read_parquet(io.BytesIO(svc.versioner.read(version)))
    return split_holdout(frame, spec.training.holdout_share, spec.training.seed,
                         spec.training.time_column)


def _decision_dict(record: DecisionRecord) -> dict[str, Any]:
    return {"decision": record.decision, "reason": record.reason, "metric": record.metric,
            "candidate_version": record.candidate_version,
            "candidate_value": record.candidate_value,
            "baseline_version": record.baseline_version,
            "baseline_value": record.baseline_value}


def _describe_trigger(trigger: dict[str, Any]) -> str:
    if trigger.get("type") == "s3_batch":
        return f"S3 batch {trigger.get('batch_id')} ({len(trigger.get('files', []))} files)"
    return str(trigger.get("type", "unknown trigger"))
