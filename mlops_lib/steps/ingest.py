"""Ingest steps: claim a landed batch, validate and stage it, or quarantine it.

Idempotent: every write is keyed by pipeline and batch id (+ content fingerprint), so
Airflow's at-least-once execution (retries, clears) changes nothing the second time.
Registering imports nothing heavy; validation reads the batch with pandas, imported when it
runs.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_lib.landing.batches import BatchRef
from mlops_lib.landing.partitions import event_time_text
from mlops_lib.services import Services
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps.records import LandedFile, ValidatedBatch
from mlops_lib.validation.listing import check_listing
from mlops_lib.validation.reasons import BatchRejected, ReasonCode

if TYPE_CHECKING:
    import pandas as pd

    from mlops_lib.validation.report import ValidationReport

log = logging.getLogger(__name__)


class BatchAlreadyClaimed(Exception):
    """The batch belongs to another run: this run has nothing to do."""


def register_batch(svc: Services, spec: PipelineSpec, batch: BatchRef,
                   dag_run_id: str) -> BatchRef:
    """Claim the batch for this ingest run, keyed by batch id and content fingerprint.

    The same content again (a re-fired sensor, a retry, a re-upload of identical bytes) finds
    its record; a batch id that lands again with *other* content is refused (BATCH_CHANGED)
    and recorded, never trained on in place of what was accepted.
    """
    files = [f.to_dict() for f in batch.files]
    event_time = event_time_text(batch.batch_id, spec.source.partition_date)
    record, created = svc.store.claim_batch(spec.name, batch.batch_id, batch.fingerprint,
                                            files, dag_run_id, event_time=event_time)
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
    log.info("Batch %s claimed by %s: %d files, fingerprint %s%s", batch.batch_id, dag_run_id,
             len(files), batch.fingerprint[:12],
             f"; its data belongs to {record.event_time[:10]} (date partition)"
             if record.event_time else "")
    for f in batch.files:
        log.info("  s3://%s/%s etag %s (%d bytes)", spec.source.bucket, f.key, f.etag, f.size)
    return batch


def validate(svc: Services, spec: PipelineSpec, batch: BatchRef,
             dag_run_id: str) -> ValidatedBatch:
    """Check the batch against the spec; a bad batch is quarantined (copied) and rejected.

    An accepted batch is conformed to the spec's dtypes and staged on S3, where training
    runs read it (the raw drop is read once, here). Unsafe keys and files above the spec's
    size limit are refused on the listing, before anything is downloaded; so is a manifest
    above `s3io.MANIFEST_MAX_BYTES` (or max_file_bytes, if smaller), by its HEAD. A batch
    above source.max_rows or max_uncompressed_bytes is refused before it is decoded.

    The batch is claimed by now, so every way out ends it: accepted, or quarantined with a
    reason code. A crash on the batch's data in reading or checking is INTERNAL_ERROR, in
    conforming or writing the staged copy CONFORM_FAILED; an infrastructure failure
    (`is_infrastructure_failure`) is raised for Airflow to retry, the batch still this run's."""
    _raise_if_rejected(svc, spec, batch)
    with _ends_the_batch(svc, spec, batch, dag_run_id, ReasonCode.INTERNAL_ERROR):
        frame, report, stated_span = check_batch(svc, spec, batch)
    held = [frame]  # handed over, not kept: conform's input is freed once its copy exists
    del frame
    with _ends_the_batch(svc, spec, batch, dag_run_id, ReasonCode.CONFORM_FAILED):
        staged, span = stage_batch(svc, spec, batch, dag_run_id, held)
    with _ends_the_batch(svc, spec, batch, dag_run_id, ReasonCode.INTERNAL_ERROR):
        svc.store.accept_batch(spec.name, batch.batch_id, report.n_rows, staged,
                               report.to_dict(), event_span=span or stated_span)
    for warning in report.warnings:
        log.warning("Validation warning [%s] %s: %s", warning.reason_code, warning.name,
                    warning.observed)
    log.info("Batch %s passed validation: %d rows, %d checks; staged at %s", batch.batch_id,
             report.n_rows, len(report.checks), staged)
    return ValidatedBatch(batch_id=batch.batch_id, fingerprint=batch.fingerprint,
                          rows=report.n_rows, staged_uri=staged,
                          files=tuple(LandedFile(f.key, f.etag) for f in batch.files),
                          report=report.to_dict())


def _raise_if_rejected(svc: Services, spec: PipelineSpec, batch: BatchRef) -> None:
    """A cleared or retried task keeps the batch's verdict: once quarantined, it is never
    judged again (a transient crash that rejected it does not make it acceptable later)."""
    record = svc.store.get_batch(spec.name, batch.batch_id)
    if record is not None and record.status == "rejected" and record.reason_code:
        raise BatchRejected(ReasonCode(record.reason_code),
                            f"{record.reason} (already quarantined)")


def check_batch(svc: Services, spec: PipelineSpec, batch: BatchRef, *,
                with_manifest: bool = True) -> tuple[pd.DataFrame, ValidationReport,
                                                     tuple[str, str] | None]:
    """Read and check a batch against the spec: its frame, its passing validation report and
    the span of event times its manifest states; BatchRejected when it fails. Writes nothing,
    so the validate step and a quarantine replay judge a batch alike. `with_manifest=False`:
    a batch without its manifest (a quarantine copy) is judged on its data files alone."""
    from mlops_lib.validation.bounds import ReadRules
    from mlops_lib.validation.checks import validate_batch
    from mlops_lib.validation.reading import read_batch

    check_listing(batch, spec)
    files, stated_span = _data_files(svc, spec, batch, with_manifest=with_manifest)
    frame = read_batch(files, spec.source.format, ReadRules.of(spec.source))
    del files  # the parsed frame is all that is used from here on
    report = validate_batch(frame, spec, batch_id=batch.batch_id)
    report.raise_for_failures()
    return frame, report, stated_span


def _data_files(svc: Services, spec: PipelineSpec, batch: BatchRef, *, with_manifest: bool
                ) -> tuple[list[tuple[str, bytes]], tuple[str, str] | None]:
    """The batch's data files pinned by ETag, checked against its manifest if it has one;
    and the span of event times the manifest states, if it states one."""
    from mlops_lib.stores import s3io
    from mlops_lib.validation.bounds import ReadRules
    from mlops_lib.validation.manifest_check import check_manifest

    manifest = _manifest(svc, spec, batch) if with_manifest else None
    files = s3io.read_batch_files(svc.s3, spec.source.bucket, batch)
    if manifest is None:
        return files, None
    return files, check_manifest(manifest, batch.prefix, files, spec.source.format,
                                 ReadRules.of(spec.source)).event_span


def stage_batch(svc: Services, spec: PipelineSpec, batch: BatchRef, dag_run_id: str,
                held: list[pd.DataFrame]) -> tuple[str, tuple[str, str] | None]:
    """The batch (the one frame in `held`, taken out of it) conformed to the spec's dtypes,
    written to parquet and uploaded to staging; and the span of its event-time column."""
    from mlops_lib.steps.event_span import column_span, time_column
    from mlops_lib.stores import s3io
    from mlops_lib.validation.conform import conform

    with tempfile.TemporaryDirectory(dir=svc.scratch_dir(spec.name, dag_run_id)) as tmp:
        # one frame at a time: a large batch's peak is about two copies, not three
        conformed = conform(held.pop(), spec)
        column = time_column(spec)
        span = None if column is None else column_span(conformed[column])
        path = Path(tmp) / "staged.parquet"
        conformed.to_parquet(path, index=False)
        del conformed
        return s3io.upload_path(svc.s3, svc.settings.artifact_bucket, s3io.staging_key(
            spec.name, batch.batch_id, batch.fingerprint), path), span


@contextmanager
def _ends_the_batch(svc: Services, spec: PipelineSpec, batch: BatchRef, dag_run_id: str,
                    crash_code: ReasonCode) -> Iterator[None]:
    """Quarantine the claimed batch on a rejection, or on a crash that is not the
    infrastructure's (as `crash_code`), and raise BatchRejected: Airflow fails the task
    without retries, since the same bytes would crash the same way."""
    try:
        with crashes_reject(batch, dag_run_id, crash_code):
            yield
    except BatchRejected as exc:
        quarantine(svc, spec, batch, exc, dag_run_id)
        raise


@contextmanager
def crashes_reject(batch: BatchRef, dag_run_id: str, crash_code: ReasonCode) -> Iterator[None]:
    """A crash on the batch's data raised as BatchRejected (`crash_code`); an infrastructure
    failure raised as it is, for a retry."""
    try:
        yield
    except BatchRejected:
        raise
    except Exception as exc:
        if is_infrastructure_failure(exc):
            log.warning("Batch %s: %s: %s; left claimed by %s for a retry", batch.batch_id,
                        type(exc).__name__, exc, dag_run_id)
            raise
        log.exception("Batch %s crashed the ingest step", batch.batch_id)
        raise BatchRejected(crash_code, f"{type(exc).__name__}: {exc}") from exc


def is_infrastructure_failure(exc: BaseException) -> bool:
    """Whether `exc` is the infrastructure failing rather than this batch's data: S3 or the
    store (botocore, SQLAlchemy), the network, the disk (OSError: connections, timeouts, a
    full scratch disk), memory, or a missing module. These are retried, never quarantined:
    good data must not be refused for an outage, and a quarantine would need S3 and the
    store too. Everything else raised while handling a batch (pandas, numpy, pyarrow errors
    on its values) is the batch's: retrying the same bytes would fail the same way."""
    from botocore.exceptions import BotoCoreError, ClientError
    from sqlalchemy.exc import SQLAlchemyError

    return isinstance(exc, OSError | MemoryError | ImportError | BotoCoreError | ClientError
                      | SQLAlchemyError)


def _manifest(svc: Services, spec: PipelineSpec, batch: BatchRef) -> bytes | None:
    """The batch's manifest (spec `completion: manifest`), refused above its size limit."""
    from mlops_lib.stores import s3io

    if spec.source.completion != "manifest":
        return None
    limit = min(s3io.MANIFEST_MAX_BYTES, spec.source.max_file_bytes)
    try:
        return s3io.read_small(svc.s3, spec.source.bucket, batch.marker_key, limit)
    except s3io.ObjectTooLarge as exc:
        raise BatchRejected(ReasonCode.MANIFEST_INVALID, f"manifest {exc}") from exc


def quarantine(svc: Services, spec: PipelineSpec, batch: BatchRef, exc: BatchRejected,
               dag_run_id: str) -> str:
    """Copy a refused batch under quarantine/ with its reason, and record it; never delete."""
    from mlops_lib.stores import s3io

    report_dict = exc.report.to_dict() if exc.report is not None else None
    # other content under an id already judged: beside the first copy, never over it (a
    # replay reads that copy)
    folder = f"changed-{batch.fingerprint[:16]}/" if exc.code == ReasonCode.BATCH_CHANGED else ""
    uri = s3io.copy_to_quarantine(svc.s3, spec.source.bucket, batch, spec.name, {
        "reason_code": str(exc.code), "reason": str(exc), "dag_run_id": dag_run_id,
        "report": report_dict}, folder=folder)
    if exc.code != ReasonCode.BATCH_CHANGED:  # the accepted record of that id stays as it is
        svc.store.quarantine_batch(spec.name, batch.batch_id, str(exc.code), str(exc), uri,
                                   report_dict)
    log.error("Batch %s rejected: %s. A copy is in %s; the original is untouched.",
              batch.batch_id, exc, uri)
    from mlops_lib.alerting import events

    events.batch_rejected(svc.store, svc.settings, spec, batch.batch_id, str(exc.code),
                          str(exc), uri, dag_run_id)
    return uri
