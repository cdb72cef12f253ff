"""Score an unlabelled batch with the champion (resolved once) and log the predictions.

`score_batch` is the whole task: the version is resolved once (`resolve_champion`) before
anything is read, so a promotion while the batch is scored never mixes versions within it;
the batch is validated against the contract without the target, scored chunk by chunk
(mlops_lib.scoring.batch) and written to
`s3://<artifacts>/predictions/<pipeline>/<batch>/<role>-v<version>.parquet`; the prediction log
records it. Keyed by pipeline + batch + version + role: a re-run rewrites the same bytes (the
scoring time in the file is the first record's) and finds the same record. A bad batch is
quarantined with a reason code, as ingest does (under `quarantine/<pipeline>/scoring/`).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mlops_lib.landing.batches import BatchRef
from mlops_lib.landing.keys import safe_segment
from mlops_lib.services import Services
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps.ingest import is_infrastructure_failure
from mlops_lib.stores.predictions import PredictionRecord, Role
from mlops_lib.stores.records import utcnow
from mlops_lib.validation.reasons import BatchRejected, ReasonCode

log = logging.getLogger(__name__)


class NoChampion(LookupError):
    """The pipeline has no champion yet: there is no model to score with."""


class NoChallenger(LookupError):
    """No version to score beside the champion (shadow scoring is skipped; the reason says
    why)."""


@dataclass(frozen=True)
class ScoredPredictions:
    """A batch's predictions by one version, as logged (`created`: this call logged them)."""

    record: PredictionRecord
    created: bool


def resolve_champion(svc: Services, spec: PipelineSpec) -> str:
    """The champion's version now (the store's, which the MLflow alias follows)."""
    champion = svc.store.get_champion(spec.name)
    if champion is None:
        raise NoChampion(f"{spec.name} has no champion yet: nothing to score with")
    return str(champion.model_version)


def resolve_challenger(svc: Services, spec: PipelineSpec, champion: str) -> str:
    """The current challenger, which shadow-scores beside `champion`: the newest version the
    gate judged, if it was kept (decision `keep`) or waits for live rows (`pending_live`; its
    live decision, keyed apart, is judged too), or, with `promotion: manual`, a version
    trained after it that waits for a person's approval (no decision yet). Decisions of
    backfill runs (`shadow`) and superseded ones are history, not challengers.

    Raises NoChallenger, with the reason, when the newest judged version was promoted, when
    nothing was judged yet, or when the challenger is the champion itself (an operator
    promoted it)."""
    judged = [(d.created_at, d.candidate_version, d.decision, d.dag_run_id)
              for d in svc.store.decisions(spec.name)
              if d.decision in ("promote", "keep", "pending_live")]
    if spec.promotion == "manual":
        judged += [(str(r["updated_at"]), str(r["model_version"]), "awaiting approval",
                    str(r["dag_run_id"])) for r in svc.store.undecided_runs(spec.name)]
    if not judged:
        raise NoChallenger(f"{spec.name}: no version has been judged by the gate yet")
    # Newest first; registry versions break a tie of timestamps (numbers, not text).
    _, version, outcome, run = max(judged, key=lambda j: (j[0], int(j[1]) if j[1].isdigit()
                                                          else -1))
    if outcome == "promote":
        raise NoChallenger(f"{spec.name}: the newest judged version, v{version} (run {run}), "
                           "was promoted: no challenger besides the champion")
    if str(version) == str(champion):
        raise NoChallenger(f"{spec.name}: the challenger v{version} is the champion")
    log.info("Challenger of %s: v%s (%s, run %s)", spec.name, version, outcome, run)
    return str(version)


def predictions_key(pipeline: str, batch_id: str, role: Role, version: str) -> str:
    """`predictions/<pipeline>/<batch id>/<role>-v<version>.parquet`, the id made a safe
    folder name as the staging and quarantine keys make it."""
    folder = safe_segment(batch_id, fallback="batch")
    return f"predictions/{pipeline}/{folder}/{role}-v{version}.parquet"


def score_batch(svc: Services, spec: PipelineSpec, batch: BatchRef, dag_run_id: str, *,
                version: str | None = None, role: Role = "champion") -> ScoredPredictions:
    """Validate, score and log one scoring batch with `version` (default: the champion,
    resolved once here). Raises BatchRejected (after quarantining the batch) for a batch the
    contract or the model refuses, NoChampion before the first promotion."""
    version = str(version) if version is not None else resolve_champion(svc, spec)
    before = svc.store.prediction(spec.name, batch.batch_id, version, role)
    scored_at = before.scored_at if before is not None else utcnow()
    with _ends_the_batch(svc, spec, batch, dag_run_id):
        files = _validated_files(svc, spec, batch)
        uri, rows = _score_and_upload(svc, spec, batch, files, dag_run_id, version=version,
                                      role=role, scored_at=scored_at)
    record, created = svc.store.record_prediction(PredictionRecord(
        pipeline=spec.name, batch_id=batch.batch_id, model_version=version, role=role,
        rows_scored=rows, predictions_uri=uri, input_fingerprint=batch.fingerprint,
        scored_at=scored_at, dag_run_id=dag_run_id))
    log.info("Batch %s: %d rows scored by %s v%s (%s) -> %s%s", batch.batch_id, rows,
             spec.registered_model_name, version, role, uri, "" if created else " (again)")
    return ScoredPredictions(record=record, created=created)


def _validated_files(svc: Services, spec: PipelineSpec,
                     batch: BatchRef) -> list[tuple[str, bytes]]:
    """The batch's files pinned by ETag, once the contract (without target) accepts them.

    Judged column by column (parquet): the batch is never one frame, as it is never one when
    scored."""
    from mlops_lib.stores import s3io
    from mlops_lib.validation.bounds import ReadRules
    from mlops_lib.validation.checks import validate_columns
    from mlops_lib.validation.listing import check_listing
    from mlops_lib.validation.reading import read_columns

    check_listing(batch, spec)
    files = s3io.read_batch_files(svc.s3, spec.scoring_bucket, batch)
    columns = read_columns(files, spec.source.format, ReadRules.of(spec.source))
    validate_columns(columns, spec, batch_id=batch.batch_id,
                     labelled=False).raise_for_failures()
    return files


def _score_and_upload(svc: Services, spec: PipelineSpec, batch: BatchRef,
                      files: list[tuple[str, bytes]], dag_run_id: str, *, version: str,
                      role: Role, scored_at: str) -> tuple[str, int]:
    from mlops_lib.scoring.batch import read_chunks, score_chunks
    from mlops_lib.scoring.loading import load_serving_model
    from mlops_lib.stores import s3io

    model = load_serving_model(svc.registry, spec, version)
    chunks = read_chunks(files, spec.source.format, null_values=spec.source.csv.null_values)
    with tempfile.TemporaryDirectory(dir=svc.scratch_dir(spec.name, dag_run_id)) as tmp:
        scored = score_chunks(model, chunks, Path(tmp) / "predictions.parquet",
                              model_version=version,
                              scored_at=datetime.fromisoformat(scored_at),
                              id_column=spec.scoring_id_column)
        uri = s3io.upload_path(svc.s3, svc.settings.artifact_bucket, predictions_key(
            spec.name, batch.batch_id, role, version), scored.path)
    return uri, scored.rows


@contextmanager
def _ends_the_batch(svc: Services, spec: PipelineSpec, batch: BatchRef,
                    dag_run_id: str) -> Iterator[None]:
    """Quarantine a refused batch (or one whose data crashes the step: INTERNAL_ERROR) and
    raise BatchRejected; infrastructure failures are raised as they are, for a retry."""
    from mlops_lib.scoring.ct_serving import MISSING_COLUMNS, ScoringInputError

    try:
        yield
    except BatchRejected as exc:
        quarantine_scoring_batch(svc, spec, batch, exc, dag_run_id)
        raise
    except Exception as exc:
        if is_infrastructure_failure(exc):
            raise
        if isinstance(exc, ScoringInputError):
            code = (ReasonCode.MISSING_COLUMNS if exc.code == MISSING_COLUMNS
                    else ReasonCode.DTYPE_MISMATCH)
        else:
            log.exception("Batch %s crashed the scoring step", batch.batch_id)
            code = ReasonCode.INTERNAL_ERROR
        rejected = BatchRejected(code, f"{type(exc).__name__}: {exc}")
        quarantine_scoring_batch(svc, spec, batch, rejected, dag_run_id)
        raise rejected from exc


def quarantine_scoring_batch(svc: Services, spec: PipelineSpec, batch: BatchRef,
                             exc: BatchRejected, dag_run_id: str, *,
                             ends_claim: bool = True) -> str:
    """Copy a refused scoring batch to `quarantine/<pipeline>/scoring/<batch>/` with its
    `_REASON.json`, record it in `quarantine` as batch `scoring/<batch id>`, and (unless
    `ends_claim` is false: a changed re-upload of a claimed batch) mark its scoring claim
    rejected."""
    from mlops_lib.stores import s3io

    report = exc.report.to_dict() if exc.report is not None else None
    uri = s3io.copy_to_quarantine(svc.s3, spec.scoring_bucket, batch, f"{spec.name}/scoring", {
        "reason_code": str(exc.code), "reason": str(exc), "dag_run_id": dag_run_id,
        "report": report, "kind": "scoring"})
    svc.store.quarantine_batch(spec.name, f"scoring/{batch.batch_id}", str(exc.code), str(exc),
                               uri, report)
    if ends_claim:  # the scoring DAG's claim (ad hoc scoring has none: nothing is updated)
        svc.store.set_scoring_status(spec.name, batch.batch_id, "rejected", str(exc.code))
    log.error("Scoring batch %s rejected: %s. A copy is in %s; the original is untouched.",
              batch.batch_id, exc, uri)
    return uri


def score_file(svc: Services, spec: PipelineSpec, source: str, out: Path, *,
               version: str | None = None,
               progress: Callable[[str], None] | None = None) -> tuple[str, int]:
    """Ad hoc (`mlops score`): score a local file or one `s3://bucket/key` object (parquet, or
    CSV by its `.csv` name) with `version` (default: the champion) into the parquet file
    `out`. The model's own input check applies (ScoringInputError), not the batch contract,
    and nothing is logged. Returns the version and the rows scored. `progress`: told each
    stage as it starts."""
    from mlops_lib.scoring.batch import read_chunks, score_chunks
    from mlops_lib.scoring.loading import load_serving_model
    from mlops_lib.stores import s3io

    say = progress or (lambda _: None)
    version = str(version) if version is not None else resolve_champion(svc, spec)
    say(f"reading {source}")
    if source.startswith("s3://"):
        bucket, key = source.removeprefix("s3://").split("/", 1)
        content = s3io.read_small(svc.s3, bucket, key, spec.source.max_file_bytes)
    else:
        content = Path(source).read_bytes()
    fmt = "csv" if source.lower().endswith(".csv") else "parquet"
    say(f"loading {spec.registered_model_name} v{version} from MLflow")
    model = load_serving_model(svc.registry, spec, version)
    say(f"scoring into {out}")
    chunks = read_chunks([(source, content)], fmt, null_values=spec.source.csv.null_values)
    scored = score_chunks(model, chunks, out, model_version=version,
                          scored_at=datetime.fromisoformat(utcnow()),
                          id_column=spec.scoring_id_column)
    return version, scored.rows
