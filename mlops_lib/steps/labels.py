"""The labels DAG's first step: accept a label drop, or refuse and quarantine it.

A drop is claimed by the run whose sensor found it (pipeline + drop id + fingerprint, as
batches are). Its files are read (CSV by a `.csv` name, else parquet), checked against the
target and the rows the champion scored (`monitoring.labels.check_drop`), and merged with the
labels already stored by `labels.on_correction` (`monitoring.label_join.add_drop`). New and
corrected labels, the corrections' audit and the drop's status are written in one
transaction: a retry finds either nothing written or the drop accepted, and writes nothing
twice. A refused drop is copied (never moved) to `quarantine/<pipeline>/labels/<drop>/` with
its `_REASON.json`, and its reason code is recorded.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

import pandas as pd

from mlops_lib.landing.batches import BatchRef
from mlops_lib.monitoring.label_join import DROP_ID, MergedLabels, add_drop
from mlops_lib.monitoring.labels import (
    EVENT_TIME,
    LABEL,
    ROW_ID,
    LabelReason,
    LabelsRejected,
    LabelTask,
    check_drop,
    id_text,
)
from mlops_lib.services import Services
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps.ingest import BatchAlreadyClaimed
from mlops_lib.stores.labels import LabelDropClaim, StoredCorrection, StoredLabel
from mlops_lib.stores.predictions import PredictionRecord
from mlops_lib.stores.records import utcnow

log = logging.getLogger(__name__)

__all__ = ["BatchAlreadyClaimed", "LabelsAccepted", "LabelsRejected", "ingest_label_drop"]


@dataclass(frozen=True)
class LabelsAccepted:
    """An accepted drop: its labels (new ids and corrected ones) and the corrections."""

    pipeline: str
    drop_id: str
    fingerprint: str
    rows: int
    new_labels: int
    corrections: int
    created: bool  # False: a re-run that found the drop accepted before


def ingest_label_drop(svc: Services, spec: PipelineSpec, drop: BatchRef,
                      dag_run_id: str) -> LabelsAccepted:
    """Claim, check and merge one label drop. Raises LabelsRejected (after quarantining it)
    for a drop that cannot count, BatchAlreadyClaimed when another run has it."""
    if spec.labels is None or spec.label_id_column is None:
        raise ValueError(f"{spec.name} has no `labels:` section")
    claim, created = svc.store.claim_label_drop(spec.name, drop.batch_id, drop.fingerprint,
                                                dag_run_id)
    if not created and claim.dag_run_id != dag_run_id:
        raise BatchAlreadyClaimed(f"label drop {drop.batch_id} was claimed by run "
                                  f"{claim.dag_run_id} ({claim.status})")
    if claim.status == "accepted":
        return _accepted(claim, created=False)
    if claim.status == "rejected":  # a re-run refuses it again, for the recorded reason
        quarantined = svc.store.get_quarantine(spec.name, f"labels/{drop.batch_id}") or {}
        raise LabelsRejected(LabelReason(claim.reason_code or LabelReason.LABELS_EMPTY),
                             str(quarantined.get("reason", "refused by an earlier attempt")))
    merged = stored_labels(svc, spec.name)
    try:
        checked = check_drop(
            read_label_files(svc, spec, drop),
            LabelTask(spec.target, spec.task, tuple(spec.classes)),
            id_column=spec.label_id_column, drop_id=claim.ref, received_at=utcnow(),
            scored_ids=scored_ids(svc, spec), event_time_column=spec.labels.event_time_column)
        after = add_drop(merged, checked, spec.labels.on_correction)
    except LabelsRejected as exc:
        _quarantine(svc, spec, drop, claim, exc, dag_run_id)
        raise
    new, changed = _written(merged, after, checked.received_at)
    corrections = [StoredCorrection(row_id=c.row_id, old_label=c.old_label,
                                    new_label=c.new_label, old_drop_ref=c.old_drop,
                                    new_drop_ref=c.new_drop, corrected_at=checked.received_at)
                   for c in after.corrections[len(merged.corrections):]]
    svc.store.accept_label_drop(claim, rows=checked.rows, new=new, changed=changed,
                                corrections=corrections)
    done = svc.store.label_drop(spec.name, drop.batch_id, drop.fingerprint)
    assert done is not None
    log.info("Label drop %s of %s: %d labels, %d new, %d corrected", drop.batch_id, spec.name,
             checked.rows, len(new), len(corrections))
    return _accepted(done, created=True, new_labels=len(new))


def read_label_files(svc: Services, spec: PipelineSpec, drop: BatchRef) -> pd.DataFrame:
    """The drop's files as one frame: CSV by a `.csv` name, else parquet."""
    from mlops_lib.stores import s3io

    frames = []
    for key, content in s3io.read_batch_files(svc.s3, spec.labels_bucket, drop):
        if key.lower().endswith(".csv"):
            frames.append(pd.read_csv(io.BytesIO(content), keep_default_na=False,
                                      na_values=list(spec.source.csv.null_values)))
        else:
            frames.append(pd.read_parquet(io.BytesIO(content)))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def stored_labels(svc: Services, pipeline: str) -> MergedLabels:
    """The labels the store holds, as the merge takes them."""
    rows = svc.store.labels(pipeline)
    if not rows:
        return MergedLabels.empty()
    frame = pd.DataFrame({
        ROW_ID: [r.row_id for r in rows], LABEL: [r.label for r in rows],
        EVENT_TIME: pd.to_datetime([r.event_time for r in rows], utc=True),
        DROP_ID: [r.drop_ref for r in rows]})
    return MergedLabels(frame=frame)


def scored_ids(svc: Services, spec: PipelineSpec) -> set[str]:
    """Every id the pipeline's champions scored (the prediction files' id column)."""
    ids: set[str] = set()
    for record in champion_predictions(svc, spec.name):
        frame = read_predictions(svc, record, [spec.label_id_column or ""])
        ids.update(id_text(frame[spec.label_id_column]).tolist())
    return ids


def champion_predictions(svc: Services, pipeline: str) -> list[PredictionRecord]:
    return [r for r in svc.store.predictions(pipeline, limit=1_000_000) if r.role == "champion"]


def read_predictions(svc: Services, record: PredictionRecord,
                     columns: list[str]) -> pd.DataFrame:
    """Columns of one logged predictions file."""
    import pyarrow.parquet as pq

    bucket, key = record.predictions_uri.removeprefix("s3://").split("/", 1)
    body = svc.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return pq.read_table(io.BytesIO(body), columns=columns).to_pandas()


def _written(before: MergedLabels, after: MergedLabels,
             received_at: str) -> tuple[list[StoredLabel], list[StoredLabel]]:
    """The labels to insert (ids new to the store) and to update (corrected ids)."""
    old_ids = set(before.frame[ROW_ID])
    corrected = {c.row_id for c in after.corrections[len(before.corrections):]}
    ids = after.frame[ROW_ID]
    written = after.frame[~ids.isin(old_ids) | ids.isin(corrected)]
    new: list[StoredLabel] = []
    changed: list[StoredLabel] = []
    for row_id, label, event_time, ref in written[[ROW_ID, LABEL, EVENT_TIME, DROP_ID]] \
            .itertuples(index=False):
        stored = StoredLabel(row_id=str(row_id), label=float(label),
                             event_time=None if pd.isna(event_time) else
                             pd.Timestamp(event_time).isoformat(),
                             drop_ref=str(ref), received_at=received_at)
        (changed if row_id in old_ids else new).append(stored)
    return new, changed


def _quarantine(svc: Services, spec: PipelineSpec, drop: BatchRef, claim: LabelDropClaim,
                exc: LabelsRejected, dag_run_id: str) -> None:
    from mlops_lib.stores import s3io

    uri = s3io.copy_to_quarantine(svc.s3, spec.labels_bucket, drop, f"{spec.name}/labels", {
        "reason_code": str(exc.code), "reason": str(exc), "dag_run_id": dag_run_id,
        "kind": "labels"})
    svc.store.quarantine_batch(spec.name, f"labels/{drop.batch_id}", str(exc.code),
                               exc.message, uri, None)
    svc.store.reject_label_drop(claim, str(exc.code))
    log.error("Label drop %s rejected: %s. A copy is in %s; the original is untouched.",
              drop.batch_id, exc, uri)


def _accepted(claim: LabelDropClaim, *, created: bool, new_labels: int = 0) -> LabelsAccepted:
    return LabelsAccepted(pipeline=claim.pipeline, drop_id=claim.drop_id,
                          fingerprint=claim.fingerprint, rows=int(claim.rows_labelled or 0),
                          new_labels=new_labels, corrections=int(claim.corrections or 0),
                          created=created)
