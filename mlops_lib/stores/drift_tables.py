"""Drift statistics per batch and feature, and the crossings of a pipeline's drift policy."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mlops_lib.stores.drift_rows import BatchDrift, summarise
from mlops_lib.stores.records import utcnow
from mlops_lib.stores.tables import Tables

if TYPE_CHECKING:  # the store never imports pandas or the domain: cheap for triggers polling it
    from mlops_lib.monitoring.drift import DriftResult
    from mlops_lib.monitoring.drift_policy import DriftVerdict


class DriftTables(Tables):
    """`drift_metrics` and `drift_crossings`."""

    def record_drift(self, pipeline: str, batch_id: str, dag_run_id: str,
                     result: DriftResult) -> int:
        """Store a drift result, one row per feature; returns the rows written now.

        Keyed by pipeline + batch + feature: a retried or repeated run writes nothing and the
        first statistics stored for a batch stay.
        """
        now = utcnow()
        return sum(self._insert_once("drift_metrics", {
            "pipeline": pipeline, "batch_id": batch_id, "dag_run_id": dag_run_id,
            "feature": f.feature, "kind": f.kind, "method": f.method, "score": f.score,
            "threshold": f.threshold, "psi": f.psi, "wasserstein": f.wasserstein, "js": f.js,
            "unseen_share": f.unseen_share, "null_share": f.null_share,
            "drifted": int(f.drifted), "created_at": now, "verdict": f.verdict,
            "noise_floor": f.noise_floor, "n_current": f.n_current,
        }) for f in result.features)

    def drift_metrics(self, pipeline: str, batch_id: str) -> list[dict[str, Any]]:
        """The stored drift rows of a batch, by feature name; `drifted` as a bool."""
        rows = self._all("SELECT * FROM drift_metrics WHERE pipeline = :p AND batch_id = :b "
                         "ORDER BY feature", p=pipeline, b=batch_id)
        return [{**r, "drifted": bool(r["drifted"])} for r in rows]

    def drift_history(self, pipeline: str, limit_batches: int = 50) -> list[BatchDrift]:
        """Per-batch drift summaries of the newest `limit_batches` batches, oldest first."""
        rows = self._all(
            "SELECT m.batch_id, m.feature, m.score, m.psi, m.drifted, m.verdict, m.created_at "
            "FROM drift_metrics m JOIN (SELECT batch_id, MIN(created_at) AS first_at "
            "FROM drift_metrics WHERE pipeline = :p GROUP BY batch_id "
            "ORDER BY first_at DESC, batch_id DESC LIMIT :n) recent "
            "ON m.batch_id = recent.batch_id WHERE m.pipeline = :p", p=pipeline, n=limit_batches)
        return summarise(rows)

    def record_drift_crossing(self, pipeline: str, batch_id: str, dag_run_id: str,
                              verdict: DriftVerdict) -> bool:
        """Record a crossing keyed by its newest batch; False when it was recorded before."""
        if not verdict.crossed:
            raise ValueError(f"not a crossing: {verdict.reason}")
        evidence = {"batch_ids": list(verdict.batch_ids), **verdict.evidence}
        return self._insert_once("drift_crossings", {
            "pipeline": pipeline, "batch_id": batch_id, "dag_run_id": dag_run_id,
            "reason": verdict.reason, "evidence_json": json.dumps(evidence),
            "created_at": utcnow()})

    def last_drift_crossing(self, pipeline: str) -> dict[str, Any] | None:
        """The newest crossing (its `created_at` starts the cooldown), or None."""
        row = self._one("SELECT * FROM drift_crossings WHERE pipeline = :p "
                        "ORDER BY created_at DESC, batch_id DESC LIMIT 1", p=pipeline)
        return None if row is None else _crossing(row)

    def drift_crossings(self, pipeline: str) -> list[dict[str, Any]]:
        """Every crossing of the pipeline, oldest first, `evidence` parsed."""
        rows = self._all("SELECT * FROM drift_crossings WHERE pipeline = :p "
                         "ORDER BY created_at, batch_id", p=pipeline)
        return [_crossing(r) for r in rows]


def _crossing(row: dict[str, Any]) -> dict[str, Any]:
    return {**{k: v for k, v in row.items() if k != "evidence_json"},
            "evidence": json.loads(row["evidence_json"])}
