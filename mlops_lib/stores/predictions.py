"""The prediction log: which model version scored which batch, where the predictions are.

Keyed by pipeline + batch + model version + role: a re-run of the same batch with the same
version finds the row it wrote before (insert-once), and its file is rewritten with the same
bytes (the scoring time in the file is the record's).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from mlops_lib.stores.tables import Tables

Role = Literal["champion", "shadow"]


@dataclass(frozen=True)
class PredictionRecord:
    """One scored batch: by which version (in which role), how many rows, where, on what."""

    pipeline: str
    batch_id: str
    model_version: str
    role: Role
    rows_scored: int
    predictions_uri: str
    input_fingerprint: str
    scored_at: str
    dag_run_id: str | None = None


class PredictionTables(Tables):
    """`prediction_log`."""

    def record_prediction(self, record: PredictionRecord) -> tuple[PredictionRecord, bool]:
        """Record a scored batch once; returns the record as stored and whether it is new (a
        re-run gets the first record back, and keeps its scoring time)."""
        created = self._insert_once("prediction_log", asdict(record))
        stored = self.prediction(record.pipeline, record.batch_id, record.model_version,
                                 record.role)
        assert stored is not None  # inserted, or there before: rows are never deleted
        return stored, created

    def prediction(self, pipeline: str, batch_id: str, model_version: str,
                   role: Role) -> PredictionRecord | None:
        row = self._one("SELECT * FROM prediction_log WHERE pipeline = :p AND batch_id = :b "
                        "AND model_version = :v AND role = :r", p=pipeline, b=batch_id,
                        v=str(model_version), r=role)
        return None if row is None else _record(row)

    def predictions(self, pipeline: str, *, batch_id: str | None = None,
                    limit: int = 100) -> list[PredictionRecord]:
        """The newest records first (of one batch when given)."""
        where = "pipeline = :p" + ("" if batch_id is None else " AND batch_id = :b")
        rows = self._all(f"SELECT * FROM prediction_log WHERE {where} "
                         "ORDER BY scored_at DESC, batch_id, role LIMIT :n",
                         p=pipeline, b=batch_id, n=int(limit))
        return [_record(r) for r in rows]


def _record(row: dict[str, Any]) -> PredictionRecord:
    return PredictionRecord(**{**row, "rows_scored": int(row["rows_scored"])})
