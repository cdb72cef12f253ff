"""Scoring batches: the scoring DAG's claim on each unlabelled batch, and the versions pinned
to it.

As `batches` is for ingest: a batch is claimed by the run whose sensor found it, keyed by
pipeline + batch id with its content fingerprint, and the scoring sensor fires only on content
not seen here (`known_scoring_batches`). The model versions that score a batch are pinned on
its claim the first time they are resolved (compare-and-set on NULL), so a retried or cleared
task scores with the same versions whatever was promoted meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from mlops_lib.stores.database import query
from mlops_lib.stores.records import utcnow
from mlops_lib.stores.tables import Tables

ScoringStatus = Literal["claimed", "scored", "rejected"]
PinnedRole = Literal["model_version", "shadow_version"]


@dataclass(frozen=True)
class ScoringClaim:
    """A scoring batch as claimed: by which run, on what content, scored by which versions."""

    pipeline: str
    batch_id: str
    fingerprint: str
    status: str
    reason_code: str | None
    model_version: str | None
    shadow_version: str | None
    dag_run_id: str
    claimed_at: str
    updated_at: str


class ScoringBatchTables(Tables):
    """`scoring_batches` and `scoring_batch_conflicts`."""

    def claim_scoring_batch(self, pipeline: str, batch_id: str, fingerprint: str,
                            dag_run_id: str) -> tuple[ScoringClaim, bool]:
        """Claim a scoring batch for a run; returns (claim as stored, created). A batch already
        claimed comes back unchanged (its fingerprint may differ: the caller refuses that)."""
        now = utcnow()
        created = self._insert_once("scoring_batches", {
            "pipeline": pipeline, "batch_id": batch_id, "fingerprint": fingerprint,
            "status": "claimed", "reason_code": None, "model_version": None,
            "shadow_version": None, "dag_run_id": dag_run_id, "claimed_at": now,
            "updated_at": now})
        claim = self.scoring_claim(pipeline, batch_id)
        assert claim is not None  # inserted, or there before: claims are never deleted
        return claim, created

    def scoring_claim(self, pipeline: str, batch_id: str) -> ScoringClaim | None:
        row = self._one("SELECT * FROM scoring_batches WHERE pipeline = :p AND batch_id = :b",
                        p=pipeline, b=batch_id)
        return None if row is None else ScoringClaim(**row)

    def known_scoring_batches(self, pipeline: str) -> set[tuple[str, str]]:
        """(batch id, fingerprint) of every scoring batch content seen: claimed or refused."""
        rows = self._all(query("known_scoring_batches"), pipeline=pipeline)
        return {(r["batch_id"], r["fingerprint"]) for r in rows}

    def record_scoring_conflict(self, pipeline: str, batch_id: str, fingerprint: str,
                                dag_run_id: str) -> bool:
        return self._insert_once("scoring_batch_conflicts", {
            "pipeline": pipeline, "batch_id": batch_id, "fingerprint": fingerprint,
            "dag_run_id": dag_run_id, "created_at": utcnow()})

    def pin_scoring_version(self, pipeline: str, batch_id: str, role: PinnedRole,
                            version: str) -> str:
        """Pin `version` as the batch's champion (`model_version`) or shadow version unless
        one is pinned already; returns the pinned one (the first writer's)."""
        column = {"model_version": "model_version", "shadow_version": "shadow_version"}[role]
        self._exec(f"UPDATE scoring_batches SET {column} = :v, updated_at = :t "
                   f"WHERE pipeline = :p AND batch_id = :b AND {column} IS NULL",
                   v=str(version), t=utcnow(), p=pipeline, b=batch_id)
        claim = self.scoring_claim(pipeline, batch_id)
        pinned: Any = None if claim is None else getattr(claim, column)
        if pinned is None:
            raise LookupError(f"scoring batch {batch_id} of {pipeline} is not claimed")
        return str(pinned)

    def set_scoring_status(self, pipeline: str, batch_id: str, status: ScoringStatus,
                           reason_code: str | None = None) -> None:
        self._exec("UPDATE scoring_batches SET status = :s, reason_code = :c, updated_at = :t "
                   "WHERE pipeline = :p AND batch_id = :b",
                   s=status, c=reason_code, t=utcnow(), p=pipeline, b=batch_id)
