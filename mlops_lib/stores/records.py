"""The store's record types and how they map to and from table rows."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any


def utcnow() -> str:
    """Now as UTC ISO-8601 text: the store's timestamps sort as text on SQLite and PostgreSQL."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class BatchRecord:
    pipeline: str
    batch_id: str
    fingerprint: str
    files: list[dict[str, Any]]
    status: str
    reason_code: str | None
    reason: str | None
    dag_run_id: str
    arrived_at: str
    rows_accepted: int | None = None
    staged_uri: str | None = None
    # When its data happened: the oldest and newest event time of its rows (the time column
    # or the manifest), else the day of its date partition (event_time only), else unknown.
    event_time: str | None = None
    event_time_end: str | None = None

    @property
    def data_time(self) -> str:
        """When its data begins: its oldest event time, the partition's day, else arrival."""
        return self.event_time or self.arrived_at

    @property
    def data_end(self) -> str:
        """When its data ends: its newest event time, else `data_time`."""
        return self.event_time_end or self.data_time

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class BatchTaken(Exception):
    """Another live training run consumed one of these batches first."""


@dataclass(frozen=True)
class DecisionRecord:
    pipeline: str
    dag_run_id: str
    candidate_version: str
    baseline_version: str | None
    metric: str
    candidate_value: float
    baseline_value: float | None
    decision: str
    reason: str
    data_rev: str | None
    details: dict[str, Any]
    created_at: str = ""

    @property
    def promote(self) -> bool:
        return self.decision == "promote"


@dataclass(frozen=True)
class ChampionRecord:
    pipeline: str
    model_version: str
    data_rev: str | None
    dag_run_id: str
    epoch: int
    updated_at: str


def batch_of_row(row: dict[str, Any]) -> BatchRecord:
    return BatchRecord(pipeline=row["pipeline"], batch_id=row["batch_id"],
                       fingerprint=row["fingerprint"], files=json.loads(row["files_json"]),
                       status=row["status"], reason_code=row["reason_code"],
                       reason=row["reason"], dag_run_id=row["dag_run_id"],
                       arrived_at=row["arrived_at"], rows_accepted=row.get("rows_accepted"),
                       staged_uri=row.get("staged_uri"), event_time=row.get("event_time"),
                       event_time_end=row.get("event_time_end"))


def decision_row(d: DecisionRecord, created_at: str | None = None) -> dict[str, Any]:
    return {"pipeline": d.pipeline, "dag_run_id": d.dag_run_id,
            "candidate_version": d.candidate_version, "baseline_version": d.baseline_version,
            "metric": d.metric, "candidate_value": d.candidate_value,
            "baseline_value": d.baseline_value, "decision": d.decision, "reason": d.reason,
            "data_rev": d.data_rev, "details_json": json.dumps(d.details),
            "created_at": created_at or utcnow()}


def decision_of_row(row: dict[str, Any]) -> DecisionRecord:
    details = json.loads(row.pop("details_json"))
    return DecisionRecord(**row, details=details)
