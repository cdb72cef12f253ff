"""Scored rows with late labels become training data: one *labelled batch* per label drop.

The rows a drop labelled (the champion scored them; their current label comes from this drop)
are read back from their raw scoring batches (pinned by the fingerprint the prediction log
recorded), given the label as the target, and written in the landing format to
`s3://<landing bucket>/labelled/<pipeline>/labelled-<drop>/` with the completion the spec
expects. That folder is outside the landing prefix: the labels run registers and validates it
itself, through the same steps as the ingest DAG (`steps.ingest`), so it is claimed, checked
against the data contract, staged and, once accepted, versioned with DVC by the training run
that takes it, like any batch. A retrain on performance therefore trains on the new labels.

Idempotent: an accepted labelled batch is returned as recorded; objects written by an earlier
try are reused, not rewritten; a labelled batch the contract refuses is quarantined as any
batch is, and the label drop stays accepted (its labels still count for performance).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from mlops_lib.landing.batches import BatchRef, ObjectInfo, completed_batches
from mlops_lib.monitoring.labels import id_text
from mlops_lib.services import Services
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps.labels import champion_predictions
from mlops_lib.stores import s3io
from mlops_lib.stores.labels import drop_ref

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelledBatch:
    """The outcome for one drop: the batch id and, when accepted, what the asset announces."""

    batch_id: str
    status: str  # accepted | rejected | empty | elsewhere (another run holds it)
    rows: int = 0
    fingerprint: str | None = None
    files: tuple[str, ...] = ()
    reason: str = ""


def labelled_batch_id(drop_id: str) -> str:
    return f"labelled-{drop_id.strip('/').replace('/', '-')}"


def labelled_prefix(spec: PipelineSpec) -> str:
    return f"labelled/{spec.name}/"


def stage_labelled_rows(svc: Services, spec: PipelineSpec, drop_id: str, fingerprint: str,
                        dag_run_id: str) -> LabelledBatch:
    """Write (once), register and validate the drop's labelled rows as a landing batch."""
    from mlops_lib.steps import ingest
    from mlops_lib.validation.reasons import BatchRejected

    batch_id = labelled_batch_id(drop_id)
    record = svc.store.get_batch(spec.name, batch_id)
    if record is not None and record.status in ("accepted", "rejected"):
        return LabelledBatch(batch_id, record.status, int(record.rows_accepted or 0),
                             record.fingerprint, tuple(f["key"] for f in record.files),
                             record.reason or "")
    ref = _listed(svc, spec, batch_id)
    if ref is None:
        frame = labelled_frame(svc, spec, drop_ref(drop_id, fingerprint))
        if frame.empty:
            return LabelledBatch(batch_id, "empty", reason="no scored row of this drop's "
                                                           "labels could be read back")
        _write(svc, spec, batch_id, frame)
        ref = _listed(svc, spec, batch_id)
        assert ref is not None, f"{batch_id} was written but is not complete"
    try:
        ingest.register_batch(svc, spec, ref, dag_run_id)
        validated = ingest.validate(svc, spec, ref, dag_run_id)
    except ingest.BatchAlreadyClaimed as exc:
        return LabelledBatch(batch_id, "elsewhere", reason=str(exc))
    except BatchRejected as exc:  # quarantined by validate; the drop's labels still count
        log.warning("Labelled batch %s refused by the contract: %s", batch_id, exc)
        return LabelledBatch(batch_id, "rejected", fingerprint=ref.fingerprint, reason=str(exc))
    log.info("Labelled batch %s accepted: %d rows for training", batch_id, validated.rows)
    return LabelledBatch(batch_id, "accepted", validated.rows, validated.fingerprint,
                         tuple(f.key for f in validated.files))


def labelled_frame(svc: Services, spec: PipelineSpec, ref: str) -> pd.DataFrame:
    """The rows whose current label comes from drop `ref`, as training data (spec.columns)."""
    labels = {x.row_id: x.label for x in svc.store.labels(spec.name) if x.drop_ref == ref}
    id_column = spec.label_id_column or ""
    parts = []
    for record in champion_predictions(svc, spec.name):
        if not labels:
            break
        raw = scoring_rows(svc, spec, record.batch_id, record.input_fingerprint)
        if raw is None:
            continue
        ids = id_text(raw[id_column])
        keep = ids.isin(labels.keys()).to_numpy()
        rows = raw.loc[keep, spec.feature_names].reset_index(drop=True)
        rows[spec.target] = [_target(spec, labels.pop(i)) for i in ids[keep]]
        parts.append(rows)
    if not parts:
        return pd.DataFrame(columns=spec.columns)
    return pd.concat(parts, ignore_index=True)[spec.columns]


def _target(spec: PipelineSpec, label: float) -> object:
    """A stored label (float: 0/1, a class index, a number) as the landing data writes it."""
    if spec.task == "binary_classification":
        return int(label)
    if spec.task == "multiclass_classification":
        name = spec.classes[int(label)]
        return int(name) if all(c.lstrip("-").isdigit() for c in spec.classes) else name
    return float(label)


def scoring_rows(svc: Services, spec: PipelineSpec, batch_id: str,
                  fingerprint: str) -> pd.DataFrame | None:
    """A scoring batch's raw rows, only if its content is the one that was scored."""
    from mlops_lib.validation.bounds import ReadRules
    from mlops_lib.validation.reading import read_batch

    prefix = spec.scoring_prefix
    objects = s3io.list_objects(svc.s3, spec.scoring_bucket, f"{prefix}{batch_id}/")
    found = [b for b in completed_batches(objects, prefix, spec.scoring.completion_rule)
             if b.batch_id == batch_id and b.fingerprint == fingerprint]
    if not found:
        log.warning("Scoring batch %s is gone or changed since it was scored: its labelled "
                    "rows are not turned into training data", batch_id)
        return None
    files = s3io.read_batch_files(svc.s3, spec.scoring_bucket, found[0])
    return read_batch(files, spec.source.format, ReadRules.of(spec.source))


def _write(svc: Services, spec: PipelineSpec, batch_id: str, frame: pd.DataFrame) -> None:
    from mlops_lib.landing.manifest import build_manifest

    name = f"part-00000.{spec.source.format}"
    if spec.source.format == "csv":
        body = frame.to_csv(index=False).encode("utf-8")
    else:
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        body = buf.getvalue()
    completion = spec.source.completion_rule
    marker: str | None = None if completion.mode == "quiet" else completion.marker
    marker_body = (build_manifest({name: body}, {name: len(frame)})
                   if completion.mode == "manifest" else b"")
    s3io.upload_batch(svc.s3, spec.source.bucket, labelled_prefix(spec), batch_id,
                      {name: body}, marker=marker, marker_body=marker_body)


def _listed(svc: Services, spec: PipelineSpec, batch_id: str) -> BatchRef | None:
    """The labelled batch as written (complete by the spec's rule, or by its own write for a
    quiet-period spec: this step wrote it whole), or None when nothing is there yet."""
    prefix = labelled_prefix(spec)
    objects: list[ObjectInfo] = list(s3io.list_objects(svc.s3, spec.source.bucket,
                                                        f"{prefix}{batch_id}/"))
    if not objects:
        return None
    if spec.source.completion_rule.mode == "quiet":
        return BatchRef(batch_id=batch_id, prefix=f"{prefix}{batch_id}/", marker_key="",
                        completed_at=datetime.now(UTC).isoformat(), files=tuple(objects))
    found = [b for b in completed_batches(objects, prefix, spec.source.completion_rule)
             if b.batch_id == batch_id]
    return found[0] if found else None
