"""One function per pipeline task. Each takes plain values, returns a JSON-able dict (the
task's XCom) and is idempotent: every write is keyed by pipeline + DAG run id or batch id, so
Airflow's at-least-once execution (retries, clears) changes nothing the second time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlops_lib import planning, s3io
from mlops_lib.batches import BatchRef
from mlops_lib.evaluation import decide as gate
from mlops_lib.evaluation import slice_columns
from mlops_lib.planning import Candidate, RunContext
from mlops_lib.registry import CHALLENGER, CHAMPION
from mlops_lib.services import Services
from mlops_lib.spec import PipelineSpec
from mlops_lib.store import BatchRecord, BatchTaken, DecisionRecord
from mlops_lib.training import holdout_mask, predict, target_values, train_model
from mlops_lib.validation import (
    BatchRejected,
    ReasonCode,
    check_listing,
    check_manifest,
    conform,
    read_batch,
    validate_batch,
)
from mlops_lib.versioning import DataVersion

if TYPE_CHECKING:  # reports imports Evidently: only the tasks that build reports pay for it
    from mlops_lib.approval import ApprovalOutcome
    from mlops_lib.reports import ReportFile

log = logging.getLogger(__name__)


class BatchAlreadyClaimed(Exception):
    """The batch belongs to another run: this run has nothing to do."""


def register_batch(svc: Services, spec: PipelineSpec, batch: BatchRef,
                   dag_run_id: str) -> dict[str, Any]:
    """Claim the batch for this ingest run, keyed by batch id and content fingerprint.

    The same content again (a re-fired sensor, a retry, a re-upload of identical bytes) finds
    its record; a batch id that lands again with *other* content is refused (BATCH_CHANGED)
    and recorded, never trained on in place of what was accepted.
    """
    files = [f.to_dict() for f in batch.files]
    record, created = svc.store.claim_batch(spec.name, batch.batch_id, batch.fingerprint,
                                            files, dag_run_id)
    if record.fingerprint != batch.fingerprint:
        svc.store.record_batch_conflict(spec.name, batch.batch_id, batch.fingerprint, files,
                                        dag_run_id)
        raise BatchRejected(ReasonCode.BATCH_CHANGED,
                            f"batch {batch.batch_id} was {record.status} on "
                            f"{record.arrived_at} with other content; batches are immutable "
                            "once landed: land the new data under a new batch id")
    if not created and record.dag_run_id != dag_run_id:
        raise BatchAlreadyClaimed(f"batch {batch.batch_id} was claimed by run "
                                  f"{record.dag_run_id} ({record.status})")
    log.info("Batch %s claimed by %s: %d files, fingerprint %s", batch.batch_id, dag_run_id,
             len(files), batch.fingerprint[:12])
    for f in batch.files:
        log.info("  s3://%s/%s etag %s (%d bytes)", spec.source.bucket, f.key, f.etag, f.size)
    return {"batch": batch.to_dict()}


def validate(svc: Services, spec: PipelineSpec, batch: BatchRef,
             dag_run_id: str) -> dict[str, Any]:
    """Check the batch against the spec; a bad batch is quarantined (copied) and rejected.

    An accepted batch is conformed to the spec's dtypes and staged on S3, where training
    runs read it (the raw drop is read once, here). Unsafe keys and files above the spec's
    size limit are refused on the listing, before anything is downloaded; so is a manifest
    above `s3io.MANIFEST_MAX_BYTES` (or max_file_bytes, if smaller), by its HEAD."""
    try:
        check_listing(batch, spec)
        manifest = None
        if spec.source.completion == "manifest":
            limit = min(s3io.MANIFEST_MAX_BYTES, spec.source.max_file_bytes)
            try:
                manifest = s3io.read_small(svc.s3, spec.source.bucket, batch.marker_key, limit)
            except s3io.ObjectTooLarge as exc:
                raise BatchRejected(ReasonCode.MANIFEST_INVALID, f"manifest {exc}") from exc
        files = s3io.read_batch_files(svc.s3, spec.source.bucket, batch)
        if manifest is not None:
            check_manifest(manifest, batch.prefix, files, spec.source.format)
        frame = read_batch(files, spec.source.format)
        del files  # the parsed frame is all that is used from here on
        report = validate_batch(frame, spec, batch_id=batch.batch_id)
        report.raise_for_failures()
    except BatchRejected as exc:
        quarantine(svc, spec, batch, exc, dag_run_id)
        raise
    with tempfile.TemporaryDirectory(dir=svc.scratch_dir(spec.name, dag_run_id)) as tmp:
        conformed = conform(frame, spec)
        del frame  # one frame at a time: a large batch's peak is about two copies, not three
        path = Path(tmp) / "staged.parquet"
        conformed.to_parquet(path, index=False)
        del conformed
        staged = s3io.upload_path(svc.s3, svc.settings.artifact_bucket, s3io.staging_key(
            spec.name, batch.batch_id, batch.fingerprint), path)
    svc.store.accept_batch(spec.name, batch.batch_id, report.n_rows, staged, report.to_dict())
    for warning in report.warnings:
        log.warning("Validation warning [%s] %s: %s", warning.reason_code, warning.name,
                    warning.observed)
    log.info("Batch %s passed validation: %d rows, %d checks; staged at %s", batch.batch_id,
             report.n_rows, len(report.checks), staged)
    return {"batch_id": batch.batch_id, "fingerprint": batch.fingerprint,
            "rows": report.n_rows, "staged_uri": staged,
            "files": [{"key": f.key, "etag": f.etag} for f in batch.files],
            "report": report.to_dict()}


def quarantine(svc: Services, spec: PipelineSpec, batch: BatchRef, exc: BatchRejected,
               dag_run_id: str) -> str:
    """Copy a refused batch under quarantine/ with its reason, and record it; never delete."""
    report_dict = exc.report.to_dict() if exc.report is not None else None
    uri = s3io.copy_to_quarantine(svc.s3, spec.source.bucket, batch, spec.name, {
        "reason_code": str(exc.code), "reason": str(exc), "dag_run_id": dag_run_id,
        "report": report_dict})
    if exc.code != ReasonCode.BATCH_CHANGED:  # the accepted record of that id stays as it is
        svc.store.quarantine_batch(spec.name, batch.batch_id, str(exc.code), str(exc), uri,
                                   report_dict)
    log.error("Batch %s rejected: %s. A copy is in %s; the original is untouched.",
              batch.batch_id, exc, uri)
    return uri


def plan_training(svc: Services, spec: PipelineSpec, ctx: RunContext) -> dict[str, Any]:
    """Decide why this training run fired and which accepted batches it trains on; record it.

    Idempotent: a retried or cleared run gets the plan it recorded the first time.
    """
    store = svc.store
    recorded = store.get_training_run(spec.name, ctx.dag_run_id)
    if recorded is not None:
        trigger = recorded["trigger"]
        result = {"trigger": trigger, "batch_ids": store.training_batch_ids(
            spec.name, ctx.dag_run_id) or trigger.get("batch_ids", []),
            "may_promote": bool(trigger.get("may_promote", True)),
            "dataset_key": recorded["batch_id"], "skip_reason": trigger.get("skipped")}
        return result | {"champion": _champion_snapshot(svc, spec)}
    live_cutoff = ctx.interval_end if ctx.run_type == "scheduled" else None
    wanted = [str(b) for b in (ctx.params or {}).get("batches") or []]
    accepted = store.accepted_batches(spec.name)
    the_plan = planning.plan(
        ctx, spec.trigger,
        new=_candidates(store.accepted_batches(spec.name, arrived_before=live_cutoff,
                                               untrained_only=True)),
        in_interval=_candidates(_in_window(store, spec.name, ctx)),
        named=_candidates([b for b in accepted if b.batch_id in wanted]),
        newest=_candidates(accepted),
        batches_uri=spec.batches_asset_uri, drift_uri=spec.drift_asset_uri)
    trigger = {**the_plan.trigger, "may_promote": the_plan.may_promote}
    batch_ids = list(the_plan.batch_ids)
    if batch_ids:
        try:
            batch_ids = store.take_training_batches(spec.name, ctx.dag_run_id, batch_ids,
                                                    live=the_plan.consume)
        except BatchTaken as exc:
            trigger["skipped"] = f"another live run took these batches first ({exc})"
            batch_ids = []
    key = dataset_key(store, spec.name, batch_ids) if batch_ids else "-"
    store.start_training_run(spec.name, ctx.dag_run_id, key, trigger)
    log.info("Run %s: %s", ctx.dag_run_id, planning.describe(trigger))
    for arrival in trigger.get("arrivals", []):
        for f in arrival.get("files", []):
            log.info("  arrival %s: s3://%s/%s etag %s", arrival.get("batch_id"),
                     spec.source.bucket, f.get("key"), f.get("etag"))
    for crossing in trigger.get("drift", []):
        log.info("  drift crossing: %s %s", crossing.get("reason"),
                 json.dumps(crossing.get("evidence"), sort_keys=True))
    return {"trigger": trigger, "batch_ids": batch_ids, "may_promote": the_plan.may_promote,
            "dataset_key": key, "skip_reason": trigger.get("skipped"),
            "champion": _champion_snapshot(svc, spec)}


def dataset_key(store: Any, pipeline: str, batch_ids: Sequence[str]) -> str:
    """The name of a training set: its one batch, or a digest of its batches' contents."""
    if len(batch_ids) == 1:
        return batch_ids[0]
    digest = hashlib.sha256()
    for batch_id in batch_ids:
        record = store.get_batch(pipeline, batch_id)
        digest.update(f"{batch_id}\0{record.fingerprint if record else ''}\n".encode())
    return f"set-{digest.hexdigest()[:20]}"


def version_dataset(svc: Services, spec: PipelineSpec, plan: dict[str, Any],
                    dag_run_id: str) -> dict[str, Any]:
    """Assemble the run's batches (their staged, validated copies) into one training set and
    version it with DVC; the version's tag is the dataset key, so a re-run reuses it."""
    folder = svc.scratch_dir(spec.name, dag_run_id)
    path = folder / "train.parquet"
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        parts = []
        for i, batch_id in enumerate(plan["batch_ids"]):
            record = svc.store.get_batch(spec.name, batch_id)
            if record is None or not record.staged_uri:
                raise RuntimeError(f"batch {batch_id} has no staged copy (status "
                                   f"{None if record is None else record.status})")
            bucket, key = record.staged_uri.removeprefix("s3://").split("/", 1)
            parts.append(Path(tmp) / f"{i}.parquet")
            svc.s3.download_file(bucket, key, str(parts[-1]))  # streamed, never held whole
        if len(parts) == 1:  # the staged copy as it is
            Path(parts[0]).replace(path)
            rows = pq.ParquetFile(path).metadata.num_rows
        else:  # in Arrow: no pandas copy of the whole training set
            table = pa.concat_tables([pq.read_table(p) for p in parts],
                                     promote_options="permissive")  # as pd.concat would
            pq.write_table(table, path)
            rows = table.num_rows
            del table
    version = svc.versioner.version(spec.name, plan["dataset_key"], path)
    svc.store.update_training_run(spec.name, dag_run_id, data_rev=version.rev,
                                  data_md5=version.md5)
    log.info("Training set of %d batch(es), %d rows, versioned with DVC: rev %s, md5 %s, "
             "remote %s", len(parts), rows, version.rev[:12], version.md5,
             version.remote_url)
    return version.to_dict()


def train(svc: Services, spec: PipelineSpec, version: dict[str, Any], dag_run_id: str,
          trigger: dict[str, Any]) -> dict[str, Any]:
    """Train the challenger on the versioned data and register it (once per run)."""
    data_version = DataVersion(**version)
    run_id = svc.registry.ensure_run(spec.registered_model_name, dag_run_id, {
        "ct.pipeline": spec.name, "ct.data_rev": data_version.rev,
        "ct.data_md5": data_version.md5, "ct.trigger": planning.describe(trigger)[:5000],
        "ct.trigger.type": str(trigger.get("type", "unknown")),
        "ct.trigger.detail": json.dumps(trigger, sort_keys=True)[:5000]})
    model_name = spec.registered_model_name
    key = idempotency_key(spec, data_version.rev)
    model_version = (svc.registry.version_of_run(model_name, run_id)
                     or svc.registry.version_by_tag(model_name, "ct.idempotency_key", key))
    if model_version is None:
        table = _versioned_table(svc, spec, data_version, dag_run_id)
        model = train_model(table, spec, rows=np.flatnonzero(~_holdout(table, spec)))
        del table  # the model is trained; the run's logging needs none of the data
        svc.registry.log_run_data(
            run_id, params={**model.params, "num_boost_round": model.num_boost_round,
                            "holdout_share": spec.training.holdout_share,
                            "validation_share": spec.training.validation_share,
                            "early_stopping_rounds": spec.training.early_stopping_rounds,
                            "time_column": spec.training.time_column or "",
                            "max_train_rows": spec.training.max_train_rows or "",
                            **_engine_params(spec)},
            metrics={"train_rows": model.train_rows, "train_seconds": model.train_seconds,
                     "train_rows_available": model.rows_available,
                     "matrix_seconds": model.matrix_seconds,
                     "validation_rows": model.validation_rows,
                     "best_iteration": model.best_iteration}
            | ({} if model.best_score is None else {"best_score": model.best_score}),
            tags={f"ct.env.{k}": v for k, v in model.environment.items()}
            | {"ct.train_sampled": str(model.sampled).lower()})
        reports = svc.store.validation_reports(
            spec.name, svc.store.training_batch_ids(spec.name, dag_run_id))
        if reports:  # what the training data passed, beside the model it made
            svc.registry.client.log_dict(run_id, reports, "validation/reports.json")
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
    table = _versioned_table(svc, spec, DataVersion(**version), dag_run_id)
    holdout = _frame(table.take(np.flatnonzero(_holdout(table, spec))))
    del table
    y = target_values(holdout, spec)  # multiclass: class indices, the columns of predict()
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


def decide(svc: Services, spec: PipelineSpec, plan: dict[str, Any], evaluation: dict[str, Any],
           reports: dict[str, Any], dag_run_id: str,
           approval: ApprovalOutcome | None = None) -> dict[str, Any]:
    """Record the decision and, on promote, move the champion: one transaction, then the alias.

    No promotion without the run's reports: a failed report turns promote into keep. A shadow
    run (a backfill) records `shadow` where the gate said promote. A champion that moved since
    the evaluation makes this run's promote `superseded`. With `promotion: manual`, a promote
    needs `approval` (the person's answer, recorded in the details): a reject or a timeout
    records `rejected`, and an approved move is audited under the approver's name.
    """
    from mlops_lib.approval import apply_approval
    from mlops_lib.champion import reconcile

    decision, reason = evaluation["decision"], evaluation["reason"]
    if decision == "promote" and reports.get("error"):
        decision, reason = "keep", f"no promotion: report missing ({reports['error']})"
    if decision == "promote":
        shadow = _shadow_reason(svc, spec, plan)
        if shadow:
            decision, reason = "shadow", f"{reason}; not promoted: {shadow}"
    actor, approved = "pipeline", None
    if spec.promotion == "manual":
        approved = apply_approval(decision, reason, approval, timeout_h=spec.approval_timeout_h)
        decision, reason, actor = approved.decision, approved.reason, approved.actor
    record, moved = svc.store.record_decision_and_move(DecisionRecord(
        pipeline=spec.name, dag_run_id=dag_run_id,
        candidate_version=evaluation["candidate_version"],
        baseline_version=evaluation["baseline_version"], metric=evaluation["metric"],
        candidate_value=evaluation["candidate_value"],
        baseline_value=evaluation["baseline_value"], decision=decision, reason=reason,
        data_rev=evaluation["data_rev"],
        details={**evaluation["verdict"], "holdout_rows": evaluation["holdout_rows"],
                 "champion_epoch": evaluation["champion_epoch"],
                 "reports": reports.get("reports", {})}
        | ({"approval": approved.approval} if approved and approved.approval else {})),
        expected_epoch=int(evaluation["champion_epoch"]), actor=actor)
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


def build_reports(svc: Services, spec: PipelineSpec, version: dict[str, Any],
                  trained: dict[str, Any], champion: dict[str, Any] | None,
                  dag_run_id: str) -> dict[str, Any]:
    """The Evidently drift (training set vs the champion's training data) and data-summary
    reports, logged to the MLflow run and recorded in the store."""
    from mlops_lib.reports import build_reports as build

    current = _report_sample(_versioned_table(svc, spec, DataVersion(**version), dag_run_id),
                             spec)
    reference = _champion_reference(svc, spec, champion, dag_run_id)
    if reference is not None:
        reference = _report_sample(reference, spec)
    run_id = trained["mlflow_run_id"]
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
    return {"reports": uris, "run_page": run_page, "downloads": downloads,
            "skipped": list(bundle.skipped)}


def measure_drift(svc: Services, spec: PipelineSpec, batch_ids: Sequence[str],
                  dag_run_id: str) -> dict[str, Any]:
    """Drift of each accepted batch against the champion's training data, on all rows; one
    row per batch and feature in the store (a batch measured before keeps its numbers)."""
    from mlops_lib import drift as drift_stats

    champion = _champion_snapshot(svc, spec)
    if champion is None or not champion.get("data_rev"):
        log.info("No champion yet: nothing to measure drift against")
        return {"measured": [], "champion": None}
    reference = _frame(_versioned_table(svc, spec, svc.versioner.at(spec.name,
                                                                    champion["data_rev"]),
                                        dag_run_id, spec.feature_names))
    measured = []
    for batch_id in batch_ids:
        record = svc.store.get_batch(spec.name, batch_id)
        if record is None or record.status != "accepted" or not record.staged_uri:
            log.info("Batch %s is not an accepted batch; not measured", batch_id)
            continue
        if svc.store.drift_metrics(spec.name, batch_id):
            log.info("Batch %s was measured before; its statistics stay", batch_id)
            measured.append(batch_id)
            continue
        bucket, key = record.staged_uri.removeprefix("s3://").split("/", 1)
        with tempfile.TemporaryDirectory(dir=svc.scratch_dir(spec.name, dag_run_id)) as tmp:
            staged = Path(tmp) / "batch.parquet"
            svc.s3.download_file(bucket, key, str(staged))
            current = _frame(pq.read_table(staged, columns=spec.feature_names))
        result = drift_stats.compute(reference, current, spec)
        svc.store.record_drift(spec.name, batch_id, dag_run_id, result)
        measured.append(batch_id)
        log.info("Batch %s vs champion v%s data: %d of %d features drifted %s", batch_id,
                 champion["version"], result.n_drifted, result.n_compared,
                 list(result.drifted_features))
        for f in result.features:
            log.info("  %-16s %-11s %s=%.4f (threshold %.3g) psi=%s%s", f.feature, f.kind,
                     f.method, f.score if f.score is not None else float("nan"), f.threshold,
                     "-" if f.psi is None else f"{f.psi:.4f}", "  DRIFTED" if f.drifted else "")
    return {"measured": measured, "champion": champion["version"]}


def check_drift_policy(svc: Services, spec: PipelineSpec, dag_run_id: str,
                       now: datetime | None = None) -> dict[str, Any]:
    """Apply the spec's drift policy to the stored history; record a crossing once.

    Returns the verdict; `crossed` True means a retrain is due (the caller announces it).
    Without a champion a retrain is always due.
    """
    from mlops_lib.drift_policy import evaluate

    if svc.store.get_champion(spec.name) is None:
        # Nothing to drift from: the first model is due. Not recorded as a crossing, so no
        # cooldown starts; the training run's plan decides which batches it takes.
        return {"crossed": True, "reason": "no champion yet: the first model is due",
                "batch_ids": [], "evidence": {}}
    history = svc.store.drift_history(spec.name)
    if not history:
        return {"crossed": False, "reason": "no drift measured yet", "batch_ids": [],
                "evidence": {}}
    newest = history[-1].batch_id
    recorded = next((c for c in svc.store.drift_crossings(spec.name)
                     if c["batch_id"] == newest), None)
    if recorded is not None:  # a retry of the run that recorded it: announce the same one
        return {"crossed": True, "reason": recorded["reason"],
                "batch_ids": [newest], "evidence": json.loads(recorded["evidence_json"])}
    last = svc.store.last_drift_crossing(spec.name)
    verdict = evaluate(history, spec.trigger.drift,
                       last_crossing_at=None if last is None else last["created_at"],
                       now=now or datetime.now(UTC))
    if verdict.crossed:
        svc.store.record_drift_crossing(spec.name, newest, dag_run_id, verdict)
        log.warning("Drift policy crossed: %s", verdict.reason)
    else:
        log.info("Drift policy not crossed: %s", verdict.reason)
    return verdict.to_dict()


def idempotency_key(spec: PipelineSpec, data_rev: str) -> str:
    """Same pipeline, data revision, code and training settings: the same model, registered once
    (a retried or re-run task finds the version instead of creating another)."""
    from dataclasses import asdict

    from mlops_lib.training import git_sha

    material = {"pipeline": spec.name, "data_rev": data_rev, "code": git_sha(),
                "training": asdict(spec.training), "inputs": spec.model_inputs,
                "target": spec.target, "task": spec.task}
    if spec.classes:  # multiclass: the class order fixes what each output column means
        material["classes"] = list(spec.classes)
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
    """Log report files to the MLflow run under reports/ (its run page shows them) and copy
    each to `s3://<artifact bucket>/reports/<pipeline>/<run folder>/<file>`, the URI recorded
    in the store and linked from the pipeline's index page. The keys depend on the DAG run id
    only, so a retry overwrites the same objects."""
    from mlops_lib.report_index import REPORT_CONTENT_TYPES, report_key

    svc.registry.log_artifacts(run_id, out_dir, "reports")
    uris = {}
    for f in files:
        uri = s3io.put_file(svc.s3, svc.settings.artifact_bucket,
                            report_key(spec.name, dag_run_id, f.path.name), f.path.read_bytes(),
                            content_type=REPORT_CONTENT_TYPES.get(f.format,
                                                                  "application/octet-stream"))
        svc.store.record_report(spec.name, dag_run_id, f.kind, f.format, uri)
        uris[f.path.name] = uri
    return uris


def _engine_params(spec: PipelineSpec) -> dict[str, Any]:
    """Where the model was trained: the engine and, on Dask, the cluster, whose worker count
    changes the model (each worker sketches the quantile cuts of its own rows)."""
    cfg = spec.training
    if cfg.engine != "dask":
        return {"engine": cfg.engine}
    return {"engine": "dask", "dask_cluster": cfg.dask.scheduler_address
            or f"LocalCluster {cfg.dask.n_workers}x{cfg.dask.threads_per_worker} threads"}


def _versioned_table(svc: Services, spec: PipelineSpec, version: DataVersion, dag_run_id: str,
                     columns: Sequence[str] | None = None) -> pa.Table:
    """Exactly the versioned bytes (so lineage is what was trained on), as an Arrow table.

    Streamed to a scratch file and read from there: the process never holds the file's bytes
    beside the table, and the file is gone once read.
    """
    with tempfile.TemporaryDirectory(dir=svc.scratch_dir(spec.name, dag_run_id)) as tmp:
        path = svc.versioner.read_to(version, Path(tmp) / "data.parquet")
        return pq.read_table(path, columns=None if columns is None else list(columns))


def _holdout(table: pa.Table, spec: PipelineSpec) -> np.ndarray:
    """True for the holdout rows: the same split for the challenger's training, the scoring of
    both models and any later reproduction (training.split_holdout on a pandas frame)."""
    return holdout_mask(table, spec.training.holdout_share, spec.training.seed,
                        spec.training.time_column)


def _frame(table: pa.Table) -> pd.DataFrame:
    """A table the caller no longer needs as pandas, releasing Arrow memory column by column
    while converting (the peak is about one copy, not two)."""
    return table.to_pandas(self_destruct=True, split_blocks=True)


def _report_sample(table: pa.Table, spec: PipelineSpec) -> pd.DataFrame:
    """The rows the data reports are built on (reports.build_reports samples larger frames the
    same way), taken before the conversion so a large data set never becomes a pandas frame."""
    from mlops_lib.reports import DATA_REPORT_MAX_ROWS, data_report_rows

    labels = (table.column(spec.target).to_pandas().to_numpy()
              if spec.target in table.column_names else None)
    rows = data_report_rows(table.num_rows, labels, spec, DATA_REPORT_MAX_ROWS)
    return _frame(table if rows is None else table.take(rows))


def _decision_dict(record: DecisionRecord) -> dict[str, Any]:
    return {"decision": record.decision, "reason": record.reason, "metric": record.metric,
            "candidate_version": record.candidate_version,
            "candidate_value": record.candidate_value,
            "baseline_version": record.baseline_version,
            "baseline_value": record.baseline_value}


def _champion_snapshot(svc: Services, spec: PipelineSpec) -> dict[str, Any] | None:
    champion = svc.store.get_champion(spec.name)
    return None if champion is None else {
        "version": champion.model_version, "data_rev": champion.data_rev,
        "epoch": champion.epoch, "dag_run_id": champion.dag_run_id}


def _champion_reference(svc: Services, spec: PipelineSpec, champion: dict[str, Any] | None,
                        dag_run_id: str) -> pa.Table | None:
    """The champion's training data, exactly as versioned; None without a champion."""
    if champion is None or not champion.get("data_rev"):
        return None
    return _versioned_table(svc, spec, svc.versioner.at(spec.name, champion["data_rev"]),
                            dag_run_id)


def _in_window(store: Any, pipeline: str, ctx: RunContext) -> list[BatchRecord]:
    """Accepted batches that arrived in a backfill's interval or a manual run's window."""
    params = ctx.params or {}
    if ctx.run_type == "backfill":
        start, end = ctx.interval_start, ctx.interval_end
    elif params.get("window_start") or params.get("window_end"):
        start, end = (_utc_iso(params.get(k)) for k in ("window_start", "window_end"))
    else:
        return []
    return store.accepted_batches(pipeline, arrived_from=start, arrived_before=end)


def _utc_iso(value: Any) -> str | None:
    """A window bound as the store writes times (UTC, milliseconds), so strings compare."""
    if not value:
        return None
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat(timespec="milliseconds")


def _candidates(records: Sequence[BatchRecord]) -> list[Candidate]:
    return [Candidate(batch_id=r.batch_id, rows=int(r.rows_accepted or 0),
                      arrived_at=r.arrived_at) for r in records]


def _shadow_reason(svc: Services, spec: PipelineSpec, plan: dict[str, Any]) -> str | None:
    """Why a run that the gate would promote must not move the champion, if it must not."""
    trigger = plan.get("trigger", {})
    if not plan.get("may_promote", True):
        return (f"{trigger.get('type', 'this')} runs are shadow runs (decision recorded, "
                "champion kept); give the run promote=true to let it promote")
    if trigger.get("type") != "backfill":
        return None
    champion = svc.store.get_champion(spec.name)
    if champion is None:
        return None
    run = svc.store.get_training_run(spec.name, champion.dag_run_id)
    theirs = (run or {}).get("trigger", {}).get("data_watermark")
    ours = trigger.get("data_watermark")
    if theirs and ours and ours <= theirs:
        return (f"backfilled data (arrived up to {ours}) is not newer than the champion's "
                f"(arrived up to {theirs})")
    return None
