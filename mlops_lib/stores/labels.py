"""Late labels in the store: label drops (claims), one label per scored row, the audit of
corrections, and the realized performance per model version and window.

A drop is claimed by the run whose sensor found it (pipeline + drop id + fingerprint); its
labels and corrections are written with its status in one transaction, so a retried task finds
either nothing written or the drop accepted. Performance windows are rewritten whole as labels
arrive: a measurement replaces all of a pipeline's windows in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from sqlalchemy import Connection, text

from mlops_lib.stores.records import utcnow
from mlops_lib.stores.tables import Tables

DropStatus = Literal["claimed", "accepted", "rejected"]


@dataclass(frozen=True)
class LabelDropClaim:
    pipeline: str
    drop_id: str
    fingerprint: str
    status: str
    reason_code: str | None
    rows_labelled: int | None
    corrections: int | None
    dag_run_id: str
    claimed_at: str
    updated_at: str

    @property
    def ref(self) -> str:
        """How a label names the drop it came from: `<drop id>@<fingerprint[:12]>`."""
        return drop_ref(self.drop_id, self.fingerprint)


def drop_ref(drop_id: str, fingerprint: str) -> str:
    return f"{drop_id}@{fingerprint[:12]}"


@dataclass(frozen=True)
class StoredLabel:
    row_id: str
    label: float
    event_time: str | None
    drop_ref: str
    received_at: str


@dataclass(frozen=True)
class StoredCorrection:
    row_id: str
    old_label: float
    new_label: float
    old_drop_ref: str
    new_drop_ref: str
    corrected_at: str


@dataclass(frozen=True)
class PerformanceWindow:
    """A row of `performance_windows` (see sql/012_label_feedback.sql)."""

    pipeline: str
    model_version: str
    role: str
    window_kind: str
    window_key: str
    metric: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    estimated: float | None
    rows_labelled: int
    rows_scored: int
    metrics_json: str
    reliability_json: str
    scored_from: str | None
    scored_to: str | None
    computed_at: str
    drift_json: str = "{}"  # prediction and calibration drift against the version's holdout

    @property
    def coverage(self) -> float:
        return self.rows_labelled / self.rows_scored if self.rows_scored else 0.0


class LabelTables(Tables):
    """`label_drops`, `labels`, `label_corrections`, `performance_windows` and
    `performance_crossings`."""

    def _insert_many(self, conn: Connection, table: str, rows: list[dict[str, Any]]) -> None:
        """One INSERT of `rows` (all with the same columns), as executemany."""
        conn.execute(self._insert_sql(table, rows[0])[0], rows)

    def claim_label_drop(self, pipeline: str, drop_id: str, fingerprint: str,
                         dag_run_id: str) -> tuple[LabelDropClaim, bool]:
        now = utcnow()
        created = self._insert_once("label_drops", {
            "pipeline": pipeline, "drop_id": drop_id, "fingerprint": fingerprint,
            "status": "claimed", "reason_code": None, "rows_labelled": None,
            "corrections": None, "dag_run_id": dag_run_id, "claimed_at": now,
            "updated_at": now})
        claim = self.label_drop(pipeline, drop_id, fingerprint)
        assert claim is not None  # inserted, or there before: claims are never deleted
        return claim, created

    def label_drop(self, pipeline: str, drop_id: str,
                   fingerprint: str) -> LabelDropClaim | None:
        row = self._one("SELECT * FROM label_drops WHERE pipeline = :p AND drop_id = :d "
                        "AND fingerprint = :f", p=pipeline, d=drop_id, f=fingerprint)
        return None if row is None else LabelDropClaim(**row)

    def label_drops(self, pipeline: str, *, limit: int = 100) -> list[LabelDropClaim]:
        rows = self._all("SELECT * FROM label_drops WHERE pipeline = :p "
                         "ORDER BY claimed_at DESC, drop_id LIMIT :n", p=pipeline, n=int(limit))
        return [LabelDropClaim(**r) for r in rows]

    def reject_label_drop(self, claim: LabelDropClaim, reason_code: str) -> None:
        self._exec("UPDATE label_drops SET status = 'rejected', reason_code = :r, "
                   "updated_at = :t WHERE pipeline = :p AND drop_id = :d AND fingerprint = :f "
                   "AND status = 'claimed'", r=reason_code, t=utcnow(), p=claim.pipeline,
                   d=claim.drop_id, f=claim.fingerprint)

    def accept_label_drop(self, claim: LabelDropClaim, *, rows: int,
                          new: Sequence[StoredLabel],
                          changed: Sequence[StoredLabel],
                          corrections: Sequence[StoredCorrection]) -> bool:
        """Write the drop's new and corrected labels, the corrections' audit and the drop's
        status at once; False (nothing written) when the drop was accepted before."""
        with self._begin() as conn:
            status = conn.execute(text(
                "SELECT status FROM label_drops WHERE pipeline = :p AND drop_id = :d "
                "AND fingerprint = :f"), {"p": claim.pipeline, "d": claim.drop_id,
                                          "f": claim.fingerprint}).scalar_one()
            if status != "claimed":
                return False
            base = {"pipeline": claim.pipeline}
            if new:
                self._insert_many(conn, "labels", [{**base, **asdict(x)} for x in new])
            if changed:
                conn.execute(text(
                    "UPDATE labels SET label = :label, event_time = :event_time, "
                    "drop_ref = :drop_ref, received_at = :received_at "
                    "WHERE pipeline = :pipeline AND row_id = :row_id"),
                    [{**base, **asdict(x)} for x in changed])
            if corrections:
                self._insert_many(conn, "label_corrections",
                                  [{**base, **asdict(c)} for c in corrections])
            conn.execute(text(
                "UPDATE label_drops SET status = 'accepted', rows_labelled = :n, "
                "corrections = :c, updated_at = :t WHERE pipeline = :p AND drop_id = :d "
                "AND fingerprint = :f"),
                {"n": rows, "c": len(corrections), "t": utcnow(),
                 "p": claim.pipeline, "d": claim.drop_id, "f": claim.fingerprint})
        return True

    def labels(self, pipeline: str) -> list[StoredLabel]:
        rows = self._all("SELECT row_id, label, event_time, drop_ref, received_at FROM labels "
                         "WHERE pipeline = :p ORDER BY received_at, row_id", p=pipeline)
        return [StoredLabel(**{**r, "label": float(r["label"])}) for r in rows]

    def label_corrections(self, pipeline: str) -> list[StoredCorrection]:
        rows = self._all("SELECT row_id, old_label, new_label, old_drop_ref, new_drop_ref, "
                         "corrected_at FROM label_corrections WHERE pipeline = :p "
                         "ORDER BY corrected_at, row_id", p=pipeline)
        return [StoredCorrection(**r) for r in rows]

    def record_performance(self, pipeline: str, windows: Sequence[PerformanceWindow]) -> None:
        """Replace the pipeline's windows with `windows` (a measurement covers them all: a
        rolling window's rows move as late labels arrive)."""
        with self._begin() as conn:
            conn.execute(text("DELETE FROM performance_windows WHERE pipeline = :p"),
                         {"p": pipeline})
            if windows:
                self._insert_many(conn, "performance_windows", [asdict(w) for w in windows])

    def performance(self, pipeline: str, *, model_version: str | None = None
                    ) -> list[PerformanceWindow]:
        """Windows oldest first (by scoring time), per version and role."""
        where = "pipeline = :p" + ("" if model_version is None else " AND model_version = :v")
        rows = self._all(f"SELECT * FROM performance_windows WHERE {where} "
                         "ORDER BY model_version, role, window_kind, scored_from, window_key",
                         p=pipeline, v=None if model_version is None else str(model_version))
        return [_window(r) for r in rows]


    def record_performance_crossing(self, pipeline: str, dag_run_id: str, *,
                                    model_version: str, window_kind: str, window_key: str,
                                    reason: str, evidence: dict[str, Any]) -> bool:
        """Record a crossing keyed by the champion's newest breaching window; False when it
        was recorded before (by this run's earlier try, or by another run)."""
        return self._insert_once("performance_crossings", {
            "pipeline": pipeline, "model_version": str(model_version),
            "window_kind": window_kind, "window_key": window_key, "dag_run_id": dag_run_id,
            "reason": reason, "evidence_json": json.dumps(evidence, default=str),
            "created_at": utcnow()})

    def performance_crossings(self, pipeline: str) -> list[dict[str, Any]]:
        """Every crossing of the pipeline, oldest first, `evidence` parsed."""
        rows = self._all("SELECT * FROM performance_crossings WHERE pipeline = :p "
                         "ORDER BY created_at, window_key", p=pipeline)
        return [{**{k: v for k, v in r.items() if k != "evidence_json"},
                 "evidence": json.loads(r["evidence_json"])} for r in rows]


def _window(row: dict[str, Any]) -> PerformanceWindow:
    floats = ("value", "ci_low", "ci_high", "estimated")
    return PerformanceWindow(**{
        **row, **{k: None if row[k] is None else float(row[k]) for k in floats},
        "rows_labelled": int(row["rows_labelled"]), "rows_scored": int(row["rows_scored"])})
