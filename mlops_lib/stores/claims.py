"""Model-registration claims: one registered version per idempotency key.

MLflow cannot make "register unless a version with this tag exists" atomic (a lookup and then
a registration race), so the store serialises it: a run takes the key's claim row (insert-once
on pipeline + key) before it registers, and only the attempt holding the claim registers.
Every later change is a compare-and-set on the claimant's attempt token, so a claimant that
was taken over (it looked dead) can no longer record anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text

from mlops_lib.stores.records import utcnow
from mlops_lib.stores.tables import Tables


@dataclass(frozen=True)
class ModelClaim:
    """Who registers the model of an idempotency key and, once done, which version it is."""

    pipeline: str
    idempotency_key: str
    dag_run_id: str
    claim_token: str
    mlflow_run_id: str | None
    model_version: str | None
    claimed_at: str
    updated_at: str

    def idle_seconds(self, now: str | None = None) -> float:
        """Seconds since the claimant last showed life (claimed, or renewed before registering)."""
        return (datetime.fromisoformat(now or utcnow())
                - datetime.fromisoformat(self.updated_at)).total_seconds()


class ClaimTables(Tables):
    """`model_claims`."""

    def claim_model(self, pipeline: str, key: str, *, dag_run_id: str, token: str,
                    mlflow_run_id: str) -> ModelClaim:
        """Take the key's claim unless someone holds it; returns the claim as stored (this
        attempt's when `claim_token == token`)."""
        now = utcnow()
        self._insert_once("model_claims", {
            "pipeline": pipeline, "idempotency_key": key, "dag_run_id": dag_run_id,
            "claim_token": token, "mlflow_run_id": mlflow_run_id, "model_version": None,
            "claimed_at": now, "updated_at": now})
        claim = self.model_claim(pipeline, key)
        if claim is None:  # released between our failed insert and the read: try again
            return self.claim_model(pipeline, key, dag_run_id=dag_run_id, token=token,
                                    mlflow_run_id=mlflow_run_id)
        return claim

    def model_claim(self, pipeline: str, key: str) -> ModelClaim | None:
        row = self._one("SELECT * FROM model_claims WHERE pipeline = :p AND idempotency_key = :k",
                        p=pipeline, k=key)
        return None if row is None else ModelClaim(**row)

    def take_over_model_claim(self, pipeline: str, key: str, *, expected_token: str,
                              dag_run_id: str, token: str, mlflow_run_id: str) -> bool:
        """Replace a claimant that never registered (compare-and-set on its token)."""
        return self._claim_update(
            "dag_run_id = :dag_run_id, claim_token = :token, mlflow_run_id = :mlflow_run_id, "
            "claimed_at = :now, updated_at = :now", pipeline, key, expected_token,
            dag_run_id=dag_run_id, token=token, mlflow_run_id=mlflow_run_id)

    def renew_model_claim(self, pipeline: str, key: str, token: str) -> bool:
        """Show life (just before registering); False when the claim is no longer this one's."""
        return self._claim_update("updated_at = :now", pipeline, key, token)

    def record_claimed_version(self, pipeline: str, key: str, token: str, version: str) -> bool:
        """The claimant's registered version, set once; False when the claim is not its own."""
        return self._claim_update("model_version = :version, updated_at = :now", pipeline, key,
                                  token, version=str(version))

    def release_model_claim(self, pipeline: str, key: str, token: str) -> bool:
        """Give up a claim that has no version (the attempt failed before registering), so the
        next attempt takes it at once instead of waiting for it to look dead."""
        with self._begin() as conn:
            result = conn.execute(text(
                "DELETE FROM model_claims WHERE pipeline = :p AND idempotency_key = :k "
                "AND claim_token = :t AND model_version IS NULL"),
                {"p": pipeline, "k": key, "t": token})
        return bool(result.rowcount == 1)

    def _claim_update(self, assignments: str, pipeline: str, key: str, expected_token: str,
                      **values: str) -> bool:
        with self._begin() as conn:
            result = conn.execute(text(
                f"UPDATE model_claims SET {assignments} WHERE pipeline = :p "
                "AND idempotency_key = :k AND claim_token = :expected "
                "AND model_version IS NULL"),
                {**values, "now": utcnow(), "p": pipeline, "k": key,
                 "expected": expected_token})
        return bool(result.rowcount == 1)
