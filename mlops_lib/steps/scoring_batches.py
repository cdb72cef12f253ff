"""The scoring DAG's steps: claim an unlabelled batch, score it with the champion, and with the
challenger beside it (shadow).

As ingest does for landed batches: the run whose sensor found a batch claims it in the store
(`scoring_batches`, keyed by pipeline + batch id with its content fingerprint), which is also
the scoring sensor's seen-set. The versions are resolved once per batch and pinned on the
claim (`pin_scoring_version`), so a retried or cleared task scores with the same versions, writes
the same file and finds the same prediction-log record, whatever was promoted meanwhile.
Imports nothing heavy: scoring itself (`steps.scoring`) loads pandas and the model when it runs.
"""

from __future__ import annotations

import logging

from mlops_lib.landing.batches import BatchRef
from mlops_lib.services import Services
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps.ingest import BatchAlreadyClaimed
from mlops_lib.steps.scoring import (
    NoChallenger,
    ScoredPredictions,
    quarantine_scoring_batch,
    resolve_challenger,
    resolve_champion,
    score_batch,
)
from mlops_lib.stores.scoring_batches import PinnedRole
from mlops_lib.validation.reasons import BatchRejected, ReasonCode

log = logging.getLogger(__name__)

__all__ = ["BatchAlreadyClaimed", "NoChallenger", "claim_scoring_batch", "score_with_champion",
           "score_with_challenger"]


def claim_scoring_batch(svc: Services, spec: PipelineSpec, batch: BatchRef,
                        dag_run_id: str) -> BatchRef:
    """Claim the scoring batch for this run. The same content again (a re-fired sensor, a
    retry) finds its claim; claimed by another run: BatchAlreadyClaimed (nothing to do); the
    same batch id with other content: quarantined and refused (BATCH_CHANGED), as in ingest,
    since its predictions are keyed by batch id."""
    claim, created = svc.store.claim_scoring_batch(spec.name, batch.batch_id,
                                                   batch.fingerprint, dag_run_id)
    if claim.fingerprint != batch.fingerprint:
        svc.store.record_scoring_conflict(spec.name, batch.batch_id, batch.fingerprint,
                                          dag_run_id)
        rejected = BatchRejected(ReasonCode.BATCH_CHANGED,
                                 f"scoring batch {batch.batch_id} was {claim.status} on "
                                 f"{claim.claimed_at} with other content; land new rows to "
                                 "score under a new batch id")
        # Quarantined under its id; the claim of the first content is left as it was.
        quarantine_scoring_batch(svc, spec, batch, rejected, dag_run_id, ends_claim=False)
        raise rejected
    if not created and claim.dag_run_id != dag_run_id:
        raise BatchAlreadyClaimed(f"scoring batch {batch.batch_id} was claimed by run "
                                  f"{claim.dag_run_id} ({claim.status})")
    log.info("Scoring batch %s claimed by %s: %d files, fingerprint %s", batch.batch_id,
             dag_run_id, len(batch.files), batch.fingerprint[:12])
    return batch


def score_with_champion(svc: Services, spec: PipelineSpec, batch: BatchRef,
                        dag_run_id: str) -> ScoredPredictions:
    """Score the claimed batch with the champion pinned on its claim (resolved and pinned now,
    the first time). Raises NoChampion before the first promotion (nothing is pinned: once a
    champion exists, clearing the task scores the batch) and BatchRejected for a bad batch."""
    version = _pinned(svc, spec, batch, "model_version") or svc.store.pin_scoring_version(
        spec.name, batch.batch_id, "model_version", resolve_champion(svc, spec))
    scored = score_batch(svc, spec, batch, dag_run_id, version=version, role="champion")
    svc.store.set_scoring_status(spec.name, batch.batch_id, "scored")
    return scored


def score_with_challenger(svc: Services, spec: PipelineSpec, batch: BatchRef,
                          dag_run_id: str) -> ScoredPredictions:
    """Shadow scoring: the challenger (`resolve_challenger`, pinned on the claim) scores the
    batch beside the champion, logged with role `shadow` to `shadow-v<N>.parquet`. Raises
    NoChallenger, with the reason, when there is none distinct from the batch's champion."""
    version = _pinned(svc, spec, batch, "shadow_version")
    if version is None:
        champion = _pinned(svc, spec, batch, "model_version") or resolve_champion(svc, spec)
        version = svc.store.pin_scoring_version(spec.name, batch.batch_id, "shadow_version",
                                                resolve_challenger(svc, spec, champion))
    return score_batch(svc, spec, batch, dag_run_id, version=version, role="shadow")


def _pinned(svc: Services, spec: PipelineSpec, batch: BatchRef,
            column: PinnedRole) -> str | None:
    claim = svc.store.scoring_claim(spec.name, batch.batch_id)
    if claim is None:
        raise LookupError(f"scoring batch {batch.batch_id} of {spec.name} is not claimed")
    value = claim.model_version if column == "model_version" else claim.shadow_version
    return None if value is None else str(value)
